// HttpHeaderLines and the libcurl header list.
#include "aim/auth/http.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aim/auth/curl.h"
#include "tests/auth/test_util.h"

namespace aim::auth {
namespace {

using ::aim::auth::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

CredentialsPtr Bearer() {
  absl::StatusOr<CredentialsPtr> c = BearerToken("s3cr3t-http");
  EXPECT_TRUE(c.ok());
  return *c;
}

TEST(HttpHeaderLines, FormatsLines) {
  absl::StatusOr<CredentialsPtr> cf = CloudflareServiceToken("id", "sec");
  ASSERT_TRUE(cf.ok());
  EXPECT_THAT(*HttpHeaderLines(**cf, "https://aim.example.com/api/runs"),
              ElementsAre("CF-Access-Client-Id: id", "CF-Access-Client-Secret: sec"));
}

TEST(HttpHeaderLines, SecureAndLoopbackUrlsAreAllowed) {
  for (const char* url :
       {"https://aim.example.com", "wss://aim.example.com:443/ws", "HTTPS://AIM.EXAMPLE.COM",
        "http://127.0.0.1:43800/api", "ws://127.1.2.3/x", "http://localhost:80",
        "http://LOCALHOST", "http://[::1]:8080/", "ws://user:pw@127.0.0.1/"}) {
    EXPECT_TRUE(HttpHeaderLines(*Bearer(), url).ok()) << url;
  }
}

TEST(HttpHeaderLines, PlaintextToOtherHostsIsRefused) {
  for (const char* url : {"http://aim.example.com/api", "ws://10.0.0.5:43800/ws",
                          "http://[2001:db8::1]/", "http://localhost.evil.com/",
                          "http://127.0.0.1@evil.com/", "http://[::2]/"}) {
    EXPECT_THAT(HttpHeaderLines(*Bearer(), url),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         AllOf(HasSubstr("plaintext"), HasSubstr("BearerToken{Authorization}"),
                               Not(HasSubstr("s3cr3t")))))
        << url;
  }
}

TEST(HttpHeaderLines, PlaintextAllowedWithOptIn) {
  EXPECT_THAT(*HttpHeaderLines(*Bearer(), "http://aim.internal/", {.allow_insecure_plaintext = true}),
              ElementsAre("Authorization: Bearer s3cr3t-http"));
}

TEST(HttpHeaderLines, NoCredentialsNeverRefused) {
  absl::StatusOr<std::vector<std::string>> lines =
      HttpHeaderLines(*NoCredentials(), "http://aim.example.com/");
  ASSERT_TRUE(lines.ok()) << lines.status();
  EXPECT_THAT(*lines, IsEmpty());
}

TEST(HttpHeaderLines, MalformedUrls) {
  for (const char* url : {"aim.example.com", "ftp://x/", "https://", "https:///path", "http://[::1"}) {
    EXPECT_THAT(HttpHeaderLines(*Bearer(), url), StatusIs(absl::StatusCode::kInvalidArgument)) << url;
  }
}

TEST(HttpHeaderLines, SourceErrorsPassThrough) {
  absl::StatusOr<CredentialsPtr> expired =
      CloudflareAccessJwt(testing::MakeJwt(R"({"exp":1})"));
  ASSERT_TRUE(expired.ok());
  EXPECT_THAT(HttpHeaderLines(**expired, "https://x/"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("expired")));
}

std::vector<std::string> Lines(const curl_slist* list) {
  std::vector<std::string> lines;
  for (; list != nullptr; list = list->next) lines.emplace_back(list->data);
  return lines;
}

TEST(CurlHeaderList, HoldsCredentialAndExtraLines) {
  absl::StatusOr<CurlHeaderList> list = CurlHeaderList::Create(*Bearer(), "https://x/");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_TRUE(list->Append("Accept: application/json").ok());
  EXPECT_THAT(Lines(list->get()),
              ElementsAre("Authorization: Bearer s3cr3t-http", "Accept: application/json"));
  CurlHeaderList moved = *std::move(list);
  EXPECT_EQ(list->get(), nullptr);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_THAT(Lines(moved.get()), ElementsAre("Authorization: Bearer s3cr3t-http",
                                              "Accept: application/json"));
  CURL* curl = curl_easy_init();
  ASSERT_NE(curl, nullptr);
  EXPECT_TRUE(moved.ApplyTo(curl).ok());
  curl_easy_cleanup(curl);
}

TEST(CurlHeaderList, RejectsInjectedLinesAndPlaintext) {
  absl::StatusOr<CurlHeaderList> list = CurlHeaderList::Create(*NoCredentials(), "https://x/");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->get(), nullptr);
  EXPECT_THAT(list->Append("X-A: 1\r\nX-Evil: 2"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CurlHeaderList::Create(*Bearer(), "http://aim.example.com/"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace aim::auth
