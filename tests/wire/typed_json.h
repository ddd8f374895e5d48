// The typed JSON notation of Aim's golden vectors (tests/data/aim-vectors/README.md, section 1)
// converted to and from aim::Value. Test-only; shared by the wire, tracking and test-server
// suites to compare records with values.json, stored_meta.json and stored_seqs.json.
//
// No exceptions escape: every malformed input is a Status.
#ifndef AIM_TESTS_WIRE_TYPED_JSON_H_
#define AIM_TESTS_WIRE_TYPED_JSON_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "aim/value.h"
#include "nlohmann/json.hpp"

namespace aim::test_vectors {

// Reads and parses a JSON file. NotFound if it cannot be opened, InvalidArgument if it does
// not parse.
absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path);

// Lowercase hex, as the vectors write bytes.
absl::StatusOr<std::string> HexToBytes(std::string_view hex);
std::string BytesToHex(std::string_view bytes);

// {"t": ...} -> Value. int/float/str/bytes/list/dict/custom/blob map to the same kinds; the
// record-level flags map to what aim::wire::DecodeScalar returns for them: array_flag -> [],
// object_flag -> {}, custom_flag -> MakeObject(name, {}). An int outside int64 (3 entries in
// hashes.json) is OutOfRange.
absl::StatusOr<Value> ValueFromTypedJson(const nlohmann::json& typed);
// A typed key: str or int; bool keys become int 0/1 as in Aim.
absl::StatusOr<Key> KeyFromTypedJson(const nlohmann::json& typed);
// A JSON array of typed keys.
absl::StatusOr<Path> PathFromTypedJson(const nlohmann::json& typed_keys);

// Value -> typed JSON (flags never appear: containers are written as values). Floats carry
// only "v" (no informative "r").
nlohmann::json ValueToTypedJson(const Value& value);

}  // namespace aim::test_vectors

#endif  // AIM_TESTS_WIRE_TYPED_JSON_H_
