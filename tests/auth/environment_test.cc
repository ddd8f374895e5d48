// FromEnvironment: every variable, every combination rule, every error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aim/auth/credentials.h"
#include "tests/auth/test_util.h"
#include "tests/support/nginx/tls.h"

namespace aim::auth {
namespace {

using ::aim::auth::testing::MakeJwt;
using ::aim::auth::testing::ScopedEnv;
using ::aim::auth::testing::StatusIs;
using ::aim::testing::TempDir;
using ::aim::testing::WriteFile;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kSecret[] = "s3cr3t-ENV-7";

std::vector<std::string> Lines(const absl::StatusOr<CredentialsPtr>& c) {
  std::vector<std::string> lines;
  if (!c.ok()) return {std::string(c.status().message())};
  absl::StatusOr<Headers> headers = (*c)->GetHeaders("https://x");
  if (!headers.ok()) return {std::string(headers.status().message())};
  for (const Header& h : *headers) lines.push_back(h.name + ": " + h.value);
  return lines;
}

// The error for the current environment, checked to name `variable` and no secret.
std::string ErrorNaming(const std::string& variable) {
  absl::StatusOr<CredentialsPtr> c = FromEnvironment();
  EXPECT_FALSE(c.ok());
  if (c.ok()) return "";
  const std::string message(c.status().message());
  EXPECT_THAT(message, HasSubstr(variable));
  EXPECT_THAT(message, Not(HasSubstr("s3cr3t")));
  return message;
}

TEST(FromEnvironment, NothingSetMeansNoCredentials) {
  ScopedEnv env = ScopedEnv::Clean();
  absl::StatusOr<CredentialsPtr> c = FromEnvironment();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(Lines(c), IsEmpty());
  EXPECT_EQ((*c)->DebugString(), "NoCredentials{}");
}

TEST(FromEnvironment, EmptyVariablesCountAsUnset) {
  ScopedEnv env = ScopedEnv::Clean();
  env.Set("AIM_AUTH_TOKEN", "").Set("CF_ACCESS_CLIENT_ID", "").Set("AIM_CUSTOM_HEADERS", "");
  EXPECT_THAT(Lines(FromEnvironment()), IsEmpty());
}

TEST(FromEnvironment, AimAuthToken) {
  ScopedEnv env = ScopedEnv::Clean();
  env.Set("AIM_AUTH_TOKEN", kSecret);
  EXPECT_THAT(Lines(FromEnvironment()), ElementsAre(std::string("Authorization: Bearer ") + kSecret));
}

TEST(FromEnvironment, AimAuthTokenWithBearerPrefix) {
  ScopedEnv env = ScopedEnv::Clean();
  env.Set("AIM_AUTH_TOKEN", std::string("Bearer ") + kSecret);
  EXPECT_THAT(ErrorNaming("AIM_AUTH_TOKEN"), HasSubstr("Bearer"));
}

TEST(FromEnvironment, AimAuthTokenFile) {
  absl::StatusOr<TempDir> dir = TempDir::Create();
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(WriteFile(dir->File("t"), "tok-file\n").ok());
  ScopedEnv env = ScopedEnv::Clean();
  env.Set("AIM_AUTH_TOKEN_FILE", dir->File("t"));
  EXPECT_THAT(Lines(FromEnvironment()), ElementsAre("Authorization: Bearer tok-file"));
}

TEST(FromEnvironment, AimAuthTokenFileMissing) {
  ScopedEnv env = ScopedEnv::Clean();
  env.Set("AIM_AUTH_TOKEN_FILE", "/nonexistent/aim-token");
  EXPECT_THAT(ErrorNaming("AIM_AUTH_TOKEN_FILE"), HasSubstr("/nonexistent/aim-token"));
}

TEST(FromEnvironment, TokenAndTokenFileTogetherIsAnError) {
  ScopedEnv env = ScopedEnv::Clean();
  env.Set("AIM_AUTH_TOKEN", kSecret).Set("AIM_AUTH_TOKEN_FILE", "/tmp/x");
  EXPECT_THAT(ErrorNaming("AIM_AUTH_TOKEN_FILE"), HasSubstr("both set"));
}

TEST(FromEnvironment, CloudflareServiceToken) {
  ScopedEnv env = ScopedEnv::Clean();
  env.Set("CF_ACCESS_CLIENT_ID", "id.access").Set("CF_ACCESS_CLIENT_SECRET", kSecret);
  EXPECT_THAT(Lines(FromEnvironment()),
              ElementsAre("CF-Access-Client-Id: id.access",
                          std::string("CF-Access-Client-Secret: ") + kSecret));
}

TEST(FromEnvironment, CloudflareServiceTokenHalfSetIsAnError) {
  {
    ScopedEnv env = ScopedEnv::Clean();
    env.Set("CF_ACCESS_CLIENT_ID", "id.access");
    EXPECT_THAT(ErrorNaming("CF_ACCESS_CLIENT_SECRET"), HasSubstr("CF_ACCESS_CLIENT_ID is set"));
  }
  {
    ScopedEnv env = ScopedEnv::Clean();
    env.Set("CF_ACCESS_CLIENT_SECRET", kSecret);
    EXPECT_THAT(ErrorNaming("CF_ACCESS_CLIENT_ID"), HasSubstr("CF_ACCESS_CLIENT_SECRET is set"));
  }
}

TEST(FromEnvironment, CloudflareServiceTokenWithNewline) {
  ScopedEnv env = ScopedEnv::Clean();
  env.Set("CF_ACCESS_CLIENT_ID", "id").Set("CF_ACCESS_CLIENT_SECRET", std::string(kSecret) + "\n");
  EXPECT_THAT(ErrorNaming("CF_ACCESS_CLIENT_SECRET"), HasSubstr("CR, LF or NUL"));
}

TEST(FromEnvironment, CloudflareAccessToken) {
  const std::string jwt = MakeJwt(R"({"sub":"me"})");
  ScopedEnv env = ScopedEnv::Clean();
  env.Set("CF_ACCESS_TOKEN", jwt);
  EXPECT_THAT(Lines(FromEnvironment()), ElementsAre("cf-access-token: " + jwt));
}

TEST(FromEnvironment, CloudflareAccessTokenMalformed) {
  ScopedEnv env = ScopedEnv::Clean();
  env.Set("CF_ACCESS_TOKEN", kSecret);
  EXPECT_THAT(ErrorNaming("CF_ACCESS_TOKEN"), HasSubstr("not a JWT"));
}

TEST(FromEnvironment, CloudflareAccessTokenFile) {
  absl::StatusOr<TempDir> dir = TempDir::Create();
  ASSERT_TRUE(dir.ok());
  const std::string jwt = MakeJwt(R"({"sub":"me"})");
  ASSERT_TRUE(WriteFile(dir->File("jwt"), jwt + "\n").ok());
  ScopedEnv env = ScopedEnv::Clean();
  env.Set("CF_ACCESS_TOKEN_FILE", dir->File("jwt"));
  EXPECT_THAT(Lines(FromEnvironment()), ElementsAre("cf-access-token: " + jwt));
}

TEST(FromEnvironment, CloudflareAccessTokenFileEmpty) {
  absl::StatusOr<TempDir> dir = TempDir::Create();
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(WriteFile(dir->File("jwt"), "").ok());
  ScopedEnv env = ScopedEnv::Clean();
  env.Set("CF_ACCESS_TOKEN_FILE", dir->File("jwt"));
  EXPECT_THAT(ErrorNaming("CF_ACCESS_TOKEN_FILE"), HasSubstr("empty"));
}

TEST(FromEnvironment, CloudflareAccessTokenAndFileTogetherIsAnError) {
  ScopedEnv env = ScopedEnv::Clean();
  env.Set("CF_ACCESS_TOKEN", MakeJwt("{}")).Set("CF_ACCESS_TOKEN_FILE", "/tmp/x");
  EXPECT_THAT(ErrorNaming("CF_ACCESS_TOKEN_FILE"), HasSubstr("both set"));
}

TEST(FromEnvironment, CustomHeaders) {
  ScopedEnv env = ScopedEnv::Clean();
  env.Set("AIM_CUSTOM_HEADERS", absl::StrCat(R"({"X-Api-Key": ")", kSecret, R"(", "X-Team": "ml"})"));
  EXPECT_THAT(Lines(FromEnvironment()),
              ElementsAre(std::string("X-Api-Key: ") + kSecret, "X-Team: ml"));
}

TEST(FromEnvironment, CustomHeadersErrors) {
  const std::pair<std::string, std::string> cases[] = {
      {absl::StrCat(R"({"X-Api-Key": ")", kSecret), "not valid JSON"},
      {absl::StrCat(R"([")", kSecret, R"("])"), "expected a JSON object"},
      {absl::StrCat(R"({"X-Api-Key": 42, "X-B": ")", kSecret, R"("})"), "'X-Api-Key' is not a string"},
      {absl::StrCat(R"({"X-Api-Key": {"v": ")", kSecret, R"("}})"), "is not a string"},
      {absl::StrCat(R"({"Bad Name": ")", kSecret, R"("})"), "RFC 7230 token"},
      {absl::StrCat(R"({"s3cr3t: x": 1})"), "an entry is not a string"},
      {absl::StrCat(R"({"X-A": ")", kSecret, R"(\r\nX-Evil: 1"})"), "CR, LF or NUL"},
      {absl::StrCat(R"({"X-A": "a", "x-a": ")", kSecret, R"("})"), "given twice"},
      {"{}", "empty"},
  };
  for (const auto& [json, problem] : cases) {
    ScopedEnv env = ScopedEnv::Clean();
    env.Set("AIM_CUSTOM_HEADERS", json);
    EXPECT_THAT(ErrorNaming("AIM_CUSTOM_HEADERS"), HasSubstr(problem)) << json;
  }
}

TEST(FromEnvironment, AllSourcesCombineInDocumentedOrder) {
  const std::string jwt = MakeJwt(R"({"sub":"me"})");
  ScopedEnv env = ScopedEnv::Clean();
  env.Set("AIM_CUSTOM_HEADERS", R"({"X-Team": "ml"})")
      .Set("CF_ACCESS_TOKEN", jwt)
      .Set("CF_ACCESS_CLIENT_SECRET", "sec")
      .Set("CF_ACCESS_CLIENT_ID", "id")
      .Set("AIM_AUTH_TOKEN", "tok");
  absl::StatusOr<CredentialsPtr> c = FromEnvironment();
  EXPECT_THAT(Lines(c), ElementsAre("Authorization: Bearer tok", "CF-Access-Client-Id: id",
                                    "CF-Access-Client-Secret: sec", "cf-access-token: " + jwt,
                                    "X-Team: ml"));
}

TEST(FromEnvironment, ConflictBetweenVariablesIsAnError) {
  ScopedEnv env = ScopedEnv::Clean();
  env.Set("AIM_AUTH_TOKEN", kSecret)
      .Set("AIM_CUSTOM_HEADERS", absl::StrCat(R"({"authorization": ")", kSecret, R"("})"));
  EXPECT_THAT(ErrorNaming("conflict"), AllOf(HasSubstr("'authorization'"), HasSubstr("BearerToken")));
}

TEST(ScopedEnv, RestoresPreviousValues) {
  ::setenv("AIM_AUTH_TOKEN", "before", 1);
  ::unsetenv("AIM_CUSTOM_HEADERS");
  {
    ScopedEnv env = ScopedEnv::Clean();
    env.Set("AIM_AUTH_TOKEN", "during").Set("AIM_CUSTOM_HEADERS", "{}");
  }
  EXPECT_STREQ(std::getenv("AIM_AUTH_TOKEN"), "before");
  EXPECT_EQ(std::getenv("AIM_CUSTOM_HEADERS"), nullptr);
  ::unsetenv("AIM_AUTH_TOKEN");
}

}  // namespace
}  // namespace aim::auth
