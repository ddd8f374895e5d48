// TokenFile: reading, rotation without restart, caching and errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include "aim/auth/credentials.h"
#include "absl/time/clock.h"
#include "tests/auth/test_util.h"
#include "tests/support/nginx/tls.h"

namespace aim::auth {
namespace {

using ::aim::auth::testing::MakeJwt;
using ::aim::auth::testing::StatusIs;
using ::aim::testing::TempDir;
using ::aim::testing::WriteFile;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr TokenFileOptions kAlwaysCheck{absl::ZeroDuration()};

std::string Authorization(const Credentials& c) {
  absl::StatusOr<Headers> headers = c.GetHeaders("https://x");
  if (!headers.ok()) return std::string(headers.status().message());
  return headers->size() == 1 ? (*headers)[0].name + ": " + (*headers)[0].value : "?";
}

// Rotation the way agents do it: write a new file, rename it over the old one.
void Rotate(const TempDir& dir, const std::string& path, const std::string& content) {
  const std::string next = dir.File("next");
  ASSERT_TRUE(WriteFile(next, content).ok());
  ASSERT_EQ(std::rename(next.c_str(), path.c_str()), 0);
}

class TokenFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TempDir> dir = TempDir::Create();
    ASSERT_TRUE(dir.ok());
    dir_.emplace(*std::move(dir));
    path_ = dir_->File("token");
  }
  std::optional<TempDir> dir_;
  std::string path_;
};

TEST_F(TokenFileTest, ReadsTokenAndStripsTrailingWhitespace) {
  ASSERT_TRUE(WriteFile(path_, "tok-1 \t\r\n\n").ok());
  absl::StatusOr<CredentialsPtr> c = TokenFile(path_, TokenFileKind::kBearerToken);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(Authorization(**c), "Authorization: Bearer tok-1");
  EXPECT_EQ((*c)->DebugString(), "TokenFile(" + path_ + "){Authorization}");
}

TEST_F(TokenFileTest, RotationIsPickedUpByTheNextRequest) {
  ASSERT_TRUE(WriteFile(path_, "tok-1\n").ok());
  absl::StatusOr<CredentialsPtr> c = TokenFile(path_, TokenFileKind::kBearerToken, kAlwaysCheck);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(Authorization(**c), "Authorization: Bearer tok-1");
  Rotate(*dir_, path_, "tok-2\n");
  EXPECT_EQ(Authorization(**c), "Authorization: Bearer tok-2");
  // An in-place rewrite of a different length is noticed too.
  ASSERT_TRUE(WriteFile(path_, "tok-three\n").ok());
  EXPECT_EQ(Authorization(**c), "Authorization: Bearer tok-three");
}

TEST_F(TokenFileTest, WithinTheRecheckIntervalTheCachedTokenIsServed) {
  ASSERT_TRUE(WriteFile(path_, "tok-1\n").ok());
  absl::StatusOr<CredentialsPtr> c =
      TokenFile(path_, TokenFileKind::kBearerToken, TokenFileOptions{absl::Hours(1)});
  ASSERT_TRUE(c.ok()) << c.status();
  Rotate(*dir_, path_, "tok-2\n");
  EXPECT_EQ(Authorization(**c), "Authorization: Bearer tok-1");
}

TEST_F(TokenFileTest, MissingFileIsAnErrorWithThePath) {
  absl::StatusOr<CredentialsPtr> c = TokenFile(path_, TokenFileKind::kBearerToken);
  EXPECT_THAT(c, StatusIs(absl::StatusCode::kNotFound,
                          AllOf(HasSubstr(path_), HasSubstr("No such file"))));
}

TEST_F(TokenFileTest, EmptyFileIsAnError) {
  ASSERT_TRUE(WriteFile(path_, " \n").ok());
  EXPECT_THAT(TokenFile(path_, TokenFileKind::kBearerToken),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(path_), HasSubstr("empty"))));
}

TEST_F(TokenFileTest, FileThatDisappearsLaterFailsThenRecovers) {
  ASSERT_TRUE(WriteFile(path_, "secret-one\n").ok());
  absl::StatusOr<CredentialsPtr> c = TokenFile(path_, TokenFileKind::kBearerToken, kAlwaysCheck);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(std::remove(path_.c_str()), 0);
  EXPECT_THAT((*c)->GetHeaders("x"), StatusIs(absl::StatusCode::kNotFound, HasSubstr(path_)));
  ASSERT_TRUE(WriteFile(path_, "secret-two").ok());
  EXPECT_EQ(Authorization(**c), "Authorization: Bearer secret-two");
}

TEST_F(TokenFileTest, InvalidContentIsRejectedWithoutEchoingIt) {
  for (const std::string& content :
       {std::string("Bearer secret-abc\n"), std::string("secret-abc\nX-Evil: 1\n"),
        std::string("secret-abc\0x", 12)}) {
    ASSERT_TRUE(WriteFile(path_, content).ok());
    absl::StatusOr<CredentialsPtr> c = TokenFile(path_, TokenFileKind::kBearerToken);
    EXPECT_THAT(c, StatusIs(absl::StatusCode::kInvalidArgument,
                            AllOf(HasSubstr(path_), Not(HasSubstr("secret-abc")))));
  }
}

TEST_F(TokenFileTest, JwtFileRotatesAndReportsExpiry) {
  const std::string valid =
      MakeJwt(absl::StrCat(R"({"exp":)", absl::ToUnixSeconds(absl::Now()) + 600, "}"));
  ASSERT_TRUE(WriteFile(path_, valid + "\n").ok());
  absl::StatusOr<CredentialsPtr> c =
      TokenFile(path_, TokenFileKind::kCloudflareAccessJwt, kAlwaysCheck);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(Authorization(**c), "cf-access-token: " + valid);
  EXPECT_EQ((*c)->DebugString(), "TokenFile(" + path_ + "){cf-access-token}");
  const std::string expired = MakeJwt(R"({"exp":1700000000})");
  Rotate(*dir_, path_, expired);
  EXPECT_THAT((*c)->GetHeaders("x"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(path_), HasSubstr("expired at 2023-11-14T22:13:20Z"),
                             Not(HasSubstr(expired)))));
}

TEST_F(TokenFileTest, ConcurrentReadersDuringRotationAlwaysGetAToken) {
  ASSERT_TRUE(WriteFile(path_, "tok-old").ok());
  absl::StatusOr<CredentialsPtr> c = TokenFile(path_, TokenFileKind::kBearerToken, kAlwaysCheck);
  ASSERT_TRUE(c.ok());
  std::vector<std::thread> readers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        const std::string line = Authorization(**c);
        if (line != "Authorization: Bearer tok-old" && line != "Authorization: Bearer tok-new") {
          ++failures;
        }
      }
    });
  }
  Rotate(*dir_, path_, "tok-new");
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Authorization(**c), "Authorization: Bearer tok-new");
}

}  // namespace
}  // namespace aim::auth
