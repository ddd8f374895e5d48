// examples/train_loop.cc, unchanged, against the gRPC stand-in server: only AIM_REPO differs
// from the HTTP run in tests/tools/examples_test.cc; Protocol::kAuto finds the gRPC server.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/server/grpc_test_server.h"
#include "tests/tools/subprocess.h"

namespace aim {
namespace {

using ::aim::test_server::GrpcTestServer;
using ::testing::HasSubstr;

TEST(GrpcExample, TrainLoopTracksIntoAGrpcServer) {
  auto server = GrpcTestServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->repo().SetVersion("3.18.1");
  tools_test::ProcessResult r = tools_test::RunProcess(
      {TRAIN_LOOP, "--epochs", "2", "--steps", "50"}, {{"AIM_REPO", (*server)->aim_url()}});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("points tracked into"));
  const auto hashes = (*server)->repo().RunHashes();
  ASSERT_EQ(hashes.size(), 1u);
  EXPECT_EQ((*server)->repo().Props(hashes[0])->experiment, "train_loop_example");
  // Everything went over gRPC: the router saw the registration.
  bool connected = false;
  for (const auto& call : (*server)->Calls()) connected |= call.method == "/RemoteRouterService/connect";
  EXPECT_TRUE(connected);
}

}  // namespace
}  // namespace aim
