// Unit tests of the fixed sources, validation and redaction.
#include "aim/auth/credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "tests/auth/test_util.h"

namespace aim::auth {
namespace {

using ::aim::auth::testing::MakeJwt;
using ::aim::auth::testing::StatusIs;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kSecret[] = "s3cr3t-VALUE-42";

auto IsHeader(const std::string& name, const std::string& value) {
  return AllOf(Field(&Header::name, name), Field(&Header::value, value));
}

TEST(NoCredentials, SendsNothing) {
  CredentialsPtr none = NoCredentials();
  absl::StatusOr<Headers> headers = none->GetHeaders("https://example.com");
  ASSERT_TRUE(headers.ok());
  EXPECT_THAT(*headers, IsEmpty());
  EXPECT_EQ(none->DebugString(), "NoCredentials{}");
}

TEST(BearerToken, AddsAuthorizationHeader) {
  absl::StatusOr<CredentialsPtr> bearer = BearerToken(kSecret);
  ASSERT_TRUE(bearer.ok()) << bearer.status();
  absl::StatusOr<Headers> headers = (*bearer)->GetHeaders("https://example.com/x");
  ASSERT_TRUE(headers.ok());
  EXPECT_THAT(*headers, ElementsAre(IsHeader("Authorization", std::string("Bearer ") + kSecret)));
  EXPECT_EQ((*bearer)->DebugString(), "BearerToken{Authorization}");
}

TEST(BearerToken, RejectsTokenWithBearerPrefixAnyCase) {
  for (const char* token : {"Bearer abc", "bearer abc", "BEARER abc"}) {
    absl::StatusOr<CredentialsPtr> bearer = BearerToken(token);
    EXPECT_THAT(bearer, StatusIs(absl::StatusCode::kInvalidArgument,
                                 AllOf(HasSubstr("starts with \"Bearer \""), Not(HasSubstr("abc")))))
        << token;
  }
}

TEST(BearerToken, RejectsEmptyToken) {
  EXPECT_THAT(BearerToken(""), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

TEST(CloudflareServiceToken, AddsBothHeaders) {
  absl::StatusOr<CredentialsPtr> cf = CloudflareServiceToken("id.access", kSecret);
  ASSERT_TRUE(cf.ok()) << cf.status();
  absl::StatusOr<Headers> headers = (*cf)->GetHeaders("https://example.com");
  ASSERT_TRUE(headers.ok());
  EXPECT_THAT(*headers, ElementsAre(IsHeader("CF-Access-Client-Id", "id.access"),
                                    IsHeader("CF-Access-Client-Secret", kSecret)));
  EXPECT_EQ((*cf)->DebugString(),
            "CloudflareServiceToken{CF-Access-Client-Id,CF-Access-Client-Secret}");
}

TEST(CloudflareServiceToken, RequiresBoth) {
  EXPECT_THAT(CloudflareServiceToken("", kSecret),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("both")));
  EXPECT_THAT(CloudflareServiceToken("id", ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("both")));
}

TEST(CloudflareAccessJwt, SendsTokenWhileValid) {
  const std::string jwt =
      MakeJwt(absl::StrCat(R"({"sub":"me","exp":)", absl::ToUnixSeconds(absl::Now()) + 3600, "}"));
  absl::StatusOr<CredentialsPtr> cf = CloudflareAccessJwt(jwt);
  ASSERT_TRUE(cf.ok()) << cf.status();
  absl::StatusOr<Headers> headers = (*cf)->GetHeaders("https://example.com");
  ASSERT_TRUE(headers.ok()) << headers.status();
  EXPECT_THAT(*headers, ElementsAre(IsHeader("cf-access-token", jwt)));
  EXPECT_EQ((*cf)->DebugString(), "CloudflareAccessJwt{cf-access-token}");
}

TEST(CloudflareAccessJwt, WithoutExpiryNeverExpires) {
  absl::StatusOr<CredentialsPtr> cf = CloudflareAccessJwt(MakeJwt(R"({"sub":"me"})"));
  ASSERT_TRUE(cf.ok()) << cf.status();
  EXPECT_TRUE((*cf)->GetHeaders("x").ok());
}

TEST(CloudflareAccessJwt, ExpiredIsReportedWithTimeButNotToken) {
  const std::string jwt = MakeJwt(R"({"exp":1700000000})");  // 2023-11-14T22:13:20Z
  absl::StatusOr<CredentialsPtr> cf = CloudflareAccessJwt(jwt);
  ASSERT_TRUE(cf.ok()) << cf.status();
  absl::StatusOr<Headers> headers = (*cf)->GetHeaders("https://example.com");
  EXPECT_THAT(headers, StatusIs(absl::StatusCode::kFailedPrecondition,
                                AllOf(HasSubstr("expired at 2023-11-14T22:13:20Z"),
                                      Not(HasSubstr(jwt.substr(0, 10))))));
}

TEST(CloudflareAccessJwt, RejectsMalformedTokens) {
  const std::string not_json = absl::StrCat("eyJhbGciOiJub25lIn0.", "bm90IGpzb24", ".sig");
  for (const std::string& bad :
       {std::string("abc"), std::string("a.b"), std::string("a..c"), not_json,
        std::string("eyJhIjoxfQ.!!!.sig"), MakeJwt(R"({"exp":"tomorrow"})"), MakeJwt("[1,2]")}) {
    absl::StatusOr<CredentialsPtr> cf = CloudflareAccessJwt(bad);
    EXPECT_THAT(cf, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CloudflareAccessJwt")))
        << bad;
    if (!cf.ok() && bad.size() > 4) {
      EXPECT_THAT(std::string(cf.status().message()), Not(HasSubstr(bad)));
    }
  }
}

TEST(CustomHeaders, SendsAllInOrder) {
  absl::StatusOr<CredentialsPtr> custom =
      CustomHeaders({{"X-Api-Key", kSecret}, {"X-Tenant", "blue"}});
  ASSERT_TRUE(custom.ok()) << custom.status();
  absl::StatusOr<Headers> headers = (*custom)->GetHeaders("https://example.com");
  ASSERT_TRUE(headers.ok());
  EXPECT_THAT(*headers, ElementsAre(IsHeader("X-Api-Key", kSecret), IsHeader("X-Tenant", "blue")));
  EXPECT_EQ((*custom)->DebugString(), "CustomHeaders{X-Api-Key,X-Tenant}");
}

TEST(CustomHeaders, RejectsDuplicateNamesCaseInsensitively) {
  EXPECT_THAT(CustomHeaders({{"X-Key", "a"}, {"x-key", "b"}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("given twice")));
}

TEST(Validation, RejectsNamesThatAreNotTokens) {
  for (const char* name : {"", "X Key", "X-Key:", "X\r\nEvil", "Käse", "(x)", "a/b", "a@b"}) {
    absl::StatusOr<CredentialsPtr> custom = CustomHeaders({{name, "v"}});
    EXPECT_THAT(custom, StatusIs(absl::StatusCode::kInvalidArgument)) << name;
  }
  EXPECT_TRUE(CustomHeaders({{"!#$%&'*+-.^_`|~09azAZ", "v"}}).ok());
}

TEST(Validation, RejectsCrLfNulInjectionInEverySource) {
  const std::string injections[] = {std::string("tok\r\nX-Evil: 1"), std::string("tok\nX-Evil: 1"),
                                    std::string("tok\rX"), std::string("tok\0X", 5)};
  for (const std::string& value : injections) {
    EXPECT_THAT(BearerToken(value), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CR, LF or NUL")));
    EXPECT_THAT(CloudflareServiceToken(value, "s"), StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(CloudflareServiceToken("id", value), StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(CloudflareAccessJwt(value), StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(CustomHeaders({{"X-Key", value}}),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'X-Key'")));
  }
}

TEST(Composite, MergesInOrder) {
  absl::StatusOr<CredentialsPtr> a = CloudflareServiceToken("id", "secret");
  absl::StatusOr<CredentialsPtr> b = BearerToken("tok");
  ASSERT_TRUE(a.ok() && b.ok());
  absl::StatusOr<CredentialsPtr> composite = Composite({*a, NoCredentials(), *b});
  ASSERT_TRUE(composite.ok()) << composite.status();
  absl::StatusOr<Headers> headers = (*composite)->GetHeaders("https://x");
  ASSERT_TRUE(headers.ok());
  EXPECT_THAT(*headers, ElementsAre(Field(&Header::name, "CF-Access-Client-Id"),
                                    Field(&Header::name, "CF-Access-Client-Secret"),
                                    Field(&Header::name, "Authorization")));
  EXPECT_EQ((*composite)->DebugString(),
            "Composite{CloudflareServiceToken{CF-Access-Client-Id,CF-Access-Client-Secret},"
            "NoCredentials{},BearerToken{Authorization}}");
}

TEST(Composite, RejectsConflictingHeaderNames) {
  absl::StatusOr<CredentialsPtr> bearer = BearerToken(kSecret);
  absl::StatusOr<CredentialsPtr> custom = CustomHeaders({{"authorization", kSecret}});
  ASSERT_TRUE(bearer.ok() && custom.ok());
  absl::StatusOr<CredentialsPtr> composite = Composite({*bearer, *custom});
  EXPECT_THAT(composite, StatusIs(absl::StatusCode::kInvalidArgument,
                                  AllOf(HasSubstr("'authorization'"), HasSubstr("BearerToken"),
                                        HasSubstr("CustomHeaders"), Not(HasSubstr(kSecret)))));
}

TEST(Composite, PassesSourceErrorsThroughGetHeaders) {
  absl::StatusOr<CredentialsPtr> expired = CloudflareAccessJwt(MakeJwt(R"({"exp":1})"));
  ASSERT_TRUE(expired.ok());
  absl::StatusOr<CredentialsPtr> composite = Composite({NoCredentials(), *expired});
  ASSERT_TRUE(composite.ok()) << composite.status();
  EXPECT_THAT((*composite)->GetHeaders("x"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("expired")));
}

TEST(Composite, RejectsNullSource) {
  EXPECT_THAT(Composite({nullptr}), StatusIs(absl::StatusCode::kInvalidArgument));
}

// Every string the library produces about a source: no secret in any of them.
TEST(Redaction, NoSecretInDebugStringsOrErrors) {
  const std::string jwt = MakeJwt(absl::StrCat(R"({"k":")", kSecret, R"(","exp":1})"));
  std::vector<absl::StatusOr<CredentialsPtr>> sources = {
      BearerToken(kSecret), CloudflareServiceToken(kSecret, kSecret), CloudflareAccessJwt(jwt),
      CustomHeaders({{"X-A", kSecret}, {"X-B", kSecret}})};
  std::vector<std::string> produced;
  for (auto& source : sources) {
    ASSERT_TRUE(source.ok()) << source.status();
    produced.push_back((*source)->DebugString());
    absl::StatusOr<Headers> headers = (*source)->GetHeaders("https://x");
    if (!headers.ok()) produced.emplace_back(headers.status().message());
  }
  for (const absl::Status& error :
       {BearerToken(absl::StrCat("Bearer ", kSecret)).status(),
        BearerToken(absl::StrCat(kSecret, "\r\n")).status(),
        CloudflareServiceToken(kSecret, "").status(),
        CloudflareServiceToken(absl::StrCat(kSecret, "\n"), kSecret).status(),
        CloudflareAccessJwt(kSecret).status(),
        CloudflareAccessJwt(MakeJwt(absl::StrCat(R"({"exp":")", kSecret, R"("})"))).status(),
        CustomHeaders({{absl::StrCat(kSecret, ": x"), "v"}}).status(),
        CustomHeaders({{"X-A", absl::StrCat(kSecret, "\n")}}).status(),
        CustomHeaders({{"X-A", kSecret}, {"x-a", kSecret}}).status(),
        Composite({*sources[0], *CustomHeaders({{"Authorization", kSecret}})}).status()}) {
    ASSERT_FALSE(error.ok());
    produced.emplace_back(error.message());
  }
  EXPECT_THAT(produced, Not(Contains(HasSubstr("s3cr3t"))));
  EXPECT_THAT(produced, Not(Contains(HasSubstr(jwt.substr(0, 12)))));
}

}  // namespace
}  // namespace aim::auth
