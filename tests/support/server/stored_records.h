// Compares what a test server stored with the golden `stored_*.json` of a recorded real run
// (tests/data/aim-vectors/scenario_basic), after the normalisation of its normalization.md:
// the run hash becomes <RUN> in keys, float times (v2 `time` column points and a float
// `end_time`) become `03<TIME>`. Everything else - record count, order, key and value
// bytes - must match exactly.
//
// Usage:
//   auto golden = LoadGoldenRecords(AIMCPP_VECTORS_DIR "/scenario_basic/stored_meta.normalized.json");
//   std::string diff = DiffRecords(*golden, NormalizeRecords(repo.Records("meta", hash), hash));
//   EXPECT_EQ(diff, "");
#ifndef AIM_TESTS_SUPPORT_SERVER_STORED_RECORDS_H_
#define AIM_TESTS_SUPPORT_SERVER_STORED_RECORDS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/support/server/fake_repo.h"

namespace aim::test_server {

// One record in the golden files' notation: lowercase hex with placeholders.
struct NormalizedRecord {
  std::string key_hex;    // e.g. "6d657461fe6368756e6b73fe<RUN>fe..."
  std::string value_hex;  // e.g. "03<TIME>" or "020100000000000000"
  friend bool operator==(const NormalizedRecord&, const NormalizedRecord&) = default;
};

// Reads the `records` of a stored_*.normalized.json file (key_hex / value_hex fields).
absl::StatusOr<std::vector<NormalizedRecord>> LoadGoldenRecords(const std::string& path);

// Applies normalization.md to records read from a FakeAimRepo container of run `run_hash`.
std::vector<NormalizedRecord> NormalizeRecords(const std::vector<StoredRecord>& records,
                                               std::string_view run_hash);

// The records as plain lowercase hex, nothing replaced (to compare with the raw stored_*.json
// when the exact recorded payloads were replayed).
std::vector<NormalizedRecord> HexRecords(const std::vector<StoredRecord>& records);

// Empty when equal; otherwise a readable list of the differences (first ones only).
std::string DiffRecords(const std::vector<NormalizedRecord>& expected,
                        const std::vector<NormalizedRecord>& actual);

}  // namespace aim::test_server

#endif  // AIM_TESTS_SUPPORT_SERVER_STORED_RECORDS_H_
