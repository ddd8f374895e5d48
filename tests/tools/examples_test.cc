// The examples, run as a newcomer runs them, against the stand-in Aim server.
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/server/grpc_test_server.h"
#include "tests/support/server/http_test_server.h"
#include "tests/tools/subprocess.h"

namespace aim::tools_test {
namespace {

using ::aim::test_server::HttpTestServer;
using ::testing::HasSubstr;

TEST(ExamplesTest, TrainLoopTracksIntoAimRepo) {
  auto server = HttpTestServer::Start();
  ASSERT_TRUE(server.ok());
  ProcessResult r = RunProcess({TRAIN_LOOP}, {{"AIM_REPO", (*server)->aim_url()}});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("points tracked into"));
  const auto hashes = (*server)->repo().RunHashes();
  ASSERT_EQ(hashes.size(), 1u);
  auto props = (*server)->repo().Props(hashes[0]);
  EXPECT_EQ(props->experiment, "train_loop_example");
  EXPECT_THAT(props->tags, ::testing::ElementsAre("example", "finished"));
}

// The same program against an Aim 3.4-3.18 gRPC server: Protocol::kAuto finds it.
TEST(ExamplesTest, TrainLoopTracksIntoAnOldGrpcServer) {
  auto server = test_server::GrpcTestServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  ProcessResult r = RunProcess({TRAIN_LOOP, "--epochs", "2", "--steps", "50"},
                               {{"AIM_REPO", (*server)->aim_url()}});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ((*server)->repo().RunHashes().size(), 1u);
}

TEST(ExamplesTest, TrainLoopReportsTheSdkErrorWhenTrackingFails) {
  auto server = HttpTestServer::Start();
  ASSERT_TRUE(server.ok());
  (*server)->SetForcedStatus(401);
  ProcessResult r = RunProcess({TRAIN_LOOP, "--repo", (*server)->aim_url()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("401"));
}

TEST(ExamplesTest, SharedCredentialsTracksWithTheSharedObject) {
  auto server = HttpTestServer::Start();
  ASSERT_TRUE(server.ok());
  ProcessResult r = RunProcess({SHARED_CREDENTIALS, (*server)->aim_url()},
                               {{"AIM_AUTH_TOKEN", "example-token"}});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("Authorization"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("example-token")));
  // Every request the server saw carried the shared token, except the SDK's plaintext
  // scheme probe, which deliberately sends no credentials.
  int with_token = 0;
  for (const auto& request : (*server)->Requests()) {
    if (!request.Header("Authorization").has_value() && request.target == "/status/") continue;
    EXPECT_EQ(request.Header("Authorization").value_or(""), "Bearer example-token")
        << request.target;
    ++with_token;
  }
  EXPECT_GT(with_token, 3);
}

}  // namespace
}  // namespace aim::tools_test
