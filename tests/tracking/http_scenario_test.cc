// The recorded scenario through aim::Run and the HTTP + WebSocket transport into the test
// server: what it stores must equal what the real Aim server stored for the Python client,
// whatever write strategy the server's version selects.
#include <ostream>
#include <string>

#include "aim/auth/credentials.h"
#include "aim/run.h"
#include "gtest/gtest.h"
#include "tests/support/server/http_test_server.h"
#include "tests/tracking/scenario.h"

namespace aim {
namespace {

struct Strategy {
  const char* name;
  const char* server_version;
  bool per_field_writes;
  bool typed_traces;  // the server's version has them (>= 3.26.1)

  friend void PrintTo(const Strategy& s, std::ostream* os) { *os << s.name; }
};

class HttpScenarioTest : public ::testing::TestWithParam<Strategy> {};

TEST_P(HttpScenarioTest, StoresExactlyWhatThePythonClientStored) {
  auto server = test_server::HttpTestServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->repo().SetVersion(GetParam().server_version);

  absl::StatusOr<std::string> hash = scenario::RunBasicScenario(
      {.repo = (*server)->aim_url(),
       .credentials = auth::NoCredentials(),
       .scheme = Scheme::kHttp,
       .per_field_writes = GetParam().per_field_writes});
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(scenario::DiffFromGolden((*server)->repo(), *hash, GetParam().typed_traces), "");
  EXPECT_FALSE((*server)->repo().IsLocked(*hash));
}

INSTANTIATE_TEST_SUITE_P(
    AllWriteStrategies, HttpScenarioTest,
    ::testing::Values(Strategy{"TreeViewUpdate", "3.29.1", false, true},
                      Strategy{"CoalescedSetItem", "3.23.0", false, false},
                      Strategy{"PerFieldLikePython", "3.29.1", true, true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(HttpRun, ResumedRunContinuesItsSequences) {
  auto server = test_server::HttpTestServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  RunOptions options{.repo = (*server)->aim_url(), .credentials = auth::NoCredentials(),
                     .scheme = Scheme::kHttp};
  std::string hash;
  {
    auto run = Run::Create(options);
    ASSERT_TRUE(run.ok()) << run.status();
    hash = (*run)->hash();
    ASSERT_TRUE((*run)->Set("hparams", {{"lr", 0.1}}).ok());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*run)->Track(i * 1.0, "loss").ok());
    ASSERT_TRUE((*run)->Close().ok());
  }
  options.resume_hash = hash;
  auto resumed = Run::Create(options);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_TRUE((*resumed)->Track(-1.0, "loss").ok());  // no step: continues at 5
  ASSERT_TRUE((*resumed)->Close().ok());

  const auto& repo = (*server)->repo();
  std::string params_key = std::string("meta\xfe" "chunks\xfe", 12) + hash + "\xfe" "attrs\xfe" "hparams\xfe" "lr\xfe";
  bool params_kept = false;
  int points = 0;
  for (const auto& [key, value] : repo.Records("meta", hash)) params_kept |= key == params_key;
  for (const auto& [key, value] : repo.Records("seqs", hash)) {
    points += key.find(std::string("step\xfe\xfe", 6)) != std::string::npos;
  }
  EXPECT_TRUE(params_kept) << "resuming must not reset the run's params";
  EXPECT_EQ(points, 6);
}

TEST(HttpRun, ResumingAnUnknownRunIsNotFound) {
  auto server = test_server::HttpTestServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  auto run = Run::Create({.repo = (*server)->aim_url(), .resume_hash = "0123456789abcdef01234567",
                          .credentials = auth::NoCredentials(), .scheme = Scheme::kHttp});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kNotFound) << run.status();
}

}  // namespace
}  // namespace aim
