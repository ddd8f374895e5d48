// Aim's value codec: scalar encoding, key paths, tree flattening and record framing.
// Pure functions, no I/O. Internal to the SDK (namespace aim::wire).
//
// Encoding follows Aim's rules exactly (checked against golden vectors from the real
// implementation). Decoding never trusts its input: every malformed stream is an
// InvalidArgument status naming the offset and the problem, including streams that Aim's own
// lenient decoder would silently accept.
#ifndef AIM_SDK_WIRE_CODEC_H_
#define AIM_SDK_WIRE_CODEC_H_

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aim/value.h"

namespace aim::wire {

// One (key, value) pair of a flattened tree: `key` is an encoded path, `value` a type byte
// plus payload; `is_blob` marks a BLOB (the value is then the encoding of the inner value).
struct Record {
  std::string key;
  std::string value;
  bool is_blob = false;

  friend bool operator==(const Record&, const Record&) = default;
};

// How records are laid out in a byte stream.
enum class Framing {
  // u32le key_len, key, u8 is_blob, u32le value_len, value. HTTP args and bodies, WebSocket
  // messages, and each message of a gRPC stream.
  kStream,
  // u32le key_len, key, u32le value_len, value. Only gRPC ResourceRequest.args (Aim <= 3.18).
  kArgs,
};

// Deepest path (number of keys) the codec encodes or decodes. Deeper trees are rejected so
// that a hostile stream cannot build a Value whose recursive destructor overflows the stack.
inline constexpr std::size_t kMaxPathDepth = 512;

// Custom-object type names registered in Aim 3.29 (`aim.resource`, `aim.text`, `aim.image`,
// ...). Aim's decoder raises KeyError for any other name, so both directions reject them.
bool IsRegisteredObjectType(std::string_view type_name);

// Key paths. A string key is its UTF-8 bytes then 0xFE; an int key is 0xFE, i64 big-endian,
// 0xFE. Empty-string keys and invalid UTF-8 are rejected (Aim cannot decode them back).
absl::Status AppendKey(const Key& key, std::string* out);
absl::StatusOr<std::string> EncodePath(std::span<const Key> path);
absl::StatusOr<Path> DecodePath(std::string_view encoded);

// Flattens `value` into records (Aim's encode_tree), appending them to `out` in the given
// framing, each key prefixed with `prefix` (an already encoded path; empty for a top-level
// value). Fails on invalid UTF-8, empty-string dict keys and other values Aim cannot store;
// on failure `out` is left as it was.
absl::Status AppendTree(const Value& value, std::string_view prefix, Framing framing,
                        std::string* out);
absl::StatusOr<std::vector<Record>> EncodeTree(const Value& value);
// AppendTree into a fresh buffer with an empty prefix.
absl::StatusOr<std::string> Pack(const Value& value, Framing framing = Framing::kStream);

// Appends one framed record. With Framing::kArgs `is_blob` must be false (Aim 3.18 cannot
// send BLOBs in resource arguments); key and value must be shorter than 4 GiB.
void AppendRecord(std::string_view key, std::string_view value, bool is_blob,
                  Framing framing, std::string* out);
// Splits a framed stream into records; every length is bounds-checked.
absl::StatusOr<std::vector<Record>> Unpack(std::string_view data,
                                           Framing framing = Framing::kStream);

// Scalar values: one type byte plus payload (None, bool, int, double, str, bytes, and the
// 0x06 / 0x07 / 0x0F flags of lists, dicts and custom objects).
// A BLOB appends its inner value's encoding (the record header carries the blob flag).
absl::Status AppendScalar(const Value& value, std::string* out);
// Decodes one record value. Container flags decode to an empty list / dict / object.
absl::StatusOr<Value> DecodeScalar(std::string_view encoded);

// Rebuilds a value from records (Aim's decode_tree), rejecting what Aim would mangle:
// duplicate or out-of-order paths, children that do not follow their parent, list indexes
// that would need unbounded padding (the total None padding may not exceed the number of
// input bytes), negative list indexes, paths deeper than kMaxPathDepth, BLOBs of
// containers. An empty record list is an error, as in Aim.
absl::StatusOr<Value> DecodeTree(std::span<const Record> records);
// Unpack + DecodeTree.
absl::StatusOr<Value> UnpackTree(std::string_view data, Framing framing = Framing::kStream);

}  // namespace aim::wire

#endif  // AIM_SDK_WIRE_CODEC_H_
