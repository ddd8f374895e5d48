#include "tests/support/server/stored_records.h"

#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "nlohmann/json.hpp"
#include "wire/codec.h"

namespace aim::test_server {
namespace {

// normalization.md: the v2 `time` column point ('seqs','v2','chunks',H,ctx,name,'time',step)
// and the run's ('meta','chunks',H,'end_time') hold wall-clock floats.
bool IsTimePath(std::string_view key) {
  absl::StatusOr<Path> p = wire::DecodePath(key);
  if (!p.ok()) return false;
  auto is = [&](std::size_t i, std::string_view s) {
    const auto* v = std::get_if<std::string>(&(*p)[i]);
    return v && *v == s;
  };
  if (p->size() == 8 && is(0, "seqs") && is(1, "v2") && is(6, "time")) return true;
  return p->size() == 4 && is(0, "meta") && is(1, "chunks") && is(3, "end_time");
}

}  // namespace

absl::StatusOr<std::vector<NormalizedRecord>> LoadGoldenRecords(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("records") || !j["records"].is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a stored-records file"));
  }
  std::vector<NormalizedRecord> out;
  for (const nlohmann::json& r : j["records"]) {
    if (!r.is_object() || !r.contains("key_hex") || !r["key_hex"].is_string() ||
        !r.contains("value_hex") || !r["value_hex"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": record without key_hex/value_hex"));
    }
    out.push_back({r["key_hex"].get<std::string>(), r["value_hex"].get<std::string>()});
  }
  return out;
}

std::vector<NormalizedRecord> NormalizeRecords(const std::vector<StoredRecord>& records,
                                               std::string_view run_hash) {
  const std::string hash_hex = absl::BytesToHexString(absl::string_view(run_hash.data(), run_hash.size()));
  std::vector<NormalizedRecord> out;
  out.reserve(records.size());
  for (const auto& [key, value] : records) {
    NormalizedRecord r;
    r.key_hex = absl::BytesToHexString(key);
    if (!hash_hex.empty()) r.key_hex = absl::StrReplaceAll(r.key_hex, {{hash_hex, "<RUN>"}});
    r.value_hex = !value.empty() && value[0] == '\x03' && IsTimePath(key)
                      ? "03<TIME>"
                      : absl::BytesToHexString(value);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<NormalizedRecord> HexRecords(const std::vector<StoredRecord>& records) {
  std::vector<NormalizedRecord> out;
  out.reserve(records.size());
  for (const auto& [key, value] : records) {
    out.push_back({absl::BytesToHexString(key), absl::BytesToHexString(value)});
  }
  return out;
}

std::string DiffRecords(const std::vector<NormalizedRecord>& expected,
                        const std::vector<NormalizedRecord>& actual) {
  std::string diff;
  int shown = 0;
  const std::size_t n = std::max(expected.size(), actual.size());
  for (std::size_t i = 0; i < n && shown < 10; ++i) {
    const NormalizedRecord* e = i < expected.size() ? &expected[i] : nullptr;
    const NormalizedRecord* a = i < actual.size() ? &actual[i] : nullptr;
    if (e && a && *e == *a) continue;
    ++shown;
    absl::StrAppend(&diff, "record ", i, ":\n  expected ",
                    e ? absl::StrCat(e->key_hex, " = ", e->value_hex) : "(none)", "\n  actual   ",
                    a ? absl::StrCat(a->key_hex, " = ", a->value_hex) : "(none)", "\n");
  }
  if (!diff.empty()) {
    diff = absl::StrCat("expected ", expected.size(), " records, got ", actual.size(), "\n", diff);
  }
  return diff;
}

}  // namespace aim::test_server
