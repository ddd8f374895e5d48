// The scenario of tests/data/aim-vectors/scenario_basic, run through the public aim::Run API,
// and the check that a test server stored exactly what the real Aim server stored for the
// official Python client. Shared by every transport's end-to-end tests.
#ifndef AIM_TESTS_TRACKING_SCENARIO_H_
#define AIM_TESTS_TRACKING_SCENARIO_H_

#include <string>

#include "absl/status/statusor.h"
#include "aim/run.h"
#include "tests/support/server/fake_repo.h"

namespace aim::scenario {

// Creates the run, makes the recorded calls, closes it. Returns the run hash.
absl::StatusOr<std::string> RunBasicScenario(RunOptions options);

// Empty when `repo` holds, for run `hash`, exactly the golden meta and seqs records and SQL
// summary (after normalisation); otherwise a readable description of the differences.
// Servers older than 3.26.1 get no `typed_traces` records (as from a Python client of their
// version); `typed_traces` false drops those from the golden records.
std::string DiffFromGolden(const test_server::FakeAimRepo& repo, const std::string& hash,
                           bool typed_traces = true);

}  // namespace aim::scenario

#endif  // AIM_TESTS_TRACKING_SCENARIO_H_
