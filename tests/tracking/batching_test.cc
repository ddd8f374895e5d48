// Issue 7's server-side bounds, as counts (stable, unlike times): how many instructions the
// server executes per tracked point, for servers with and without TreeView.update, and proof
// that batching stores exactly what the one-instruction-per-field path stores.
#include <string>

#include "aim/auth/credentials.h"
#include "aim/run.h"
#include "gtest/gtest.h"
#include "tests/support/server/http_test_server.h"
#include "tests/support/server/stored_records.h"

namespace aim {
namespace {

constexpr int kPoints = 10000;

RunOptions OptionsFor(const test_server::HttpTestServer& server) {
  return {.repo = server.aim_url(), .credentials = auth::NoCredentials(), .scheme = Scheme::kHttp};
}

// Instructions per point in steady state: the sequence already exists and points arrive
// faster than messages leave.
double SteadyInstructionsPerPoint(const std::string& server_version) {
  auto server = test_server::HttpTestServer::Start();
  EXPECT_TRUE(server.ok()) << server.status();
  (*server)->repo().SetVersion(server_version);
  auto run = Run::Create(OptionsFor(**server));
  EXPECT_TRUE(run.ok()) << run.status();
  const Context train({{"subset", "train"}});
  EXPECT_TRUE((*run)->Track(0.0, "loss", {.context = train}).ok());
  EXPECT_TRUE((*run)->Flush(absl::Minutes(5)).ok());
  (*server)->repo().ResetCounters();
  for (int i = 1; i <= kPoints; ++i) {
    EXPECT_TRUE((*run)->Track(1.0 / i, "loss", {.context = train}).ok());
  }
  EXPECT_TRUE((*run)->Flush(absl::Minutes(5)).ok());
  const auto counters = (*server)->repo().Counters();
  EXPECT_TRUE((*run)->Close().ok());
  return static_cast<double>(counters.write_instructions) / kPoints;
}

TEST(Batching, ServersWithTreeViewUpdateRunAtMostAQuarterInstructionPerPoint) {
  EXPECT_LE(SteadyInstructionsPerPoint("3.29.1"), 0.25);
}

TEST(Batching, OlderServersRunAtMost4Point2InstructionsPerPoint) {
  EXPECT_LE(SteadyInstructionsPerPoint("3.23.0"), 4.2);
}

// 10k points over 3 contexts, with steps out of order and repeated, ints and floats.
std::vector<test_server::NormalizedRecord> TrackMixedAndRead(bool per_field, const char* version) {
  auto server = test_server::HttpTestServer::Start();
  EXPECT_TRUE(server.ok()) << server.status();
  (*server)->repo().SetVersion(version);
  RunOptions options = OptionsFor(**server);
  options.per_field_writes = per_field;
  auto run = Run::Create(options);
  EXPECT_TRUE(run.ok()) << run.status();
  const Context contexts[] = {Context({{"subset", "train"}}), Context({{"subset", "val"}}),
                              Context()};
  for (int i = 0; i < kPoints; ++i) {
    const Context& ctx = contexts[i % 3];
    const std::int64_t step = (i / 3) % 2000;  // every step is written several times
    if (i % 7 == 0) {
      EXPECT_TRUE((*run)->Track(i, "acc", {.step = step, .epoch = i / 1000, .context = ctx}).ok());
    } else {
      EXPECT_TRUE((*run)->Track(1.0 / (i + 1), "loss", {.step = step, .context = ctx}).ok());
    }
  }
  EXPECT_TRUE((*run)->Close().ok());
  const std::string hash = (*run)->hash();
  auto records = test_server::NormalizeRecords((*server)->repo().Records("seqs", hash), hash);
  for (auto& r : test_server::NormalizeRecords((*server)->repo().Records("meta", hash), hash)) {
    // end_time is already normalised; everything else in meta must match exactly.
    records.push_back(std::move(r));
  }
  return records;
}

TEST(Batching, BatchedPathStoresExactlyWhatThePerFieldPathStores) {
  const auto per_field = TrackMixedAndRead(/*per_field=*/true, "3.29.1");
  ASSERT_GT(per_field.size(), 6000u);
  EXPECT_EQ(test_server::DiffRecords(per_field, TrackMixedAndRead(false, "3.29.1")), "");
  EXPECT_EQ(test_server::DiffRecords(TrackMixedAndRead(true, "3.23.0"),
                                     TrackMixedAndRead(false, "3.23.0")),
            "");
}

}  // namespace
}  // namespace aim
