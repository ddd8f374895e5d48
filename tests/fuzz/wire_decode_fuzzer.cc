// libFuzzer target over every wire decoder: Unpack (both framings), UnpackTree / DecodeTree,
// DecodePath and DecodeScalar. Besides "no crash, no out-of-bounds read, no leak", it checks
// that whatever the strict decoder accepts is canonical: it re-encodes to a value (or bytes)
// that decodes back identically.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "wire/codec.h"

namespace {

using aim::wire::Framing;

void Check(bool ok) {
  if (!ok) std::abort();
}

void TreeRoundTrip(std::string_view data, Framing framing) {
  absl::StatusOr<aim::Value> value = aim::wire::UnpackTree(data, framing);
  if (!value.ok()) return;
  absl::StatusOr<std::string> packed = aim::wire::Pack(*value);
  Check(packed.ok());
  absl::StatusOr<aim::Value> again = aim::wire::UnpackTree(*packed);
  Check(again.ok() && *again == *value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);

  for (Framing framing : {Framing::kStream, Framing::kArgs}) {
    absl::StatusOr<std::vector<aim::wire::Record>> records = aim::wire::Unpack(data, framing);
    if (records.ok()) {
      std::string repacked;
      for (const auto& r : *records) {
        aim::wire::AppendRecord(r.key, r.value, r.is_blob, framing, &repacked);
      }
      Check(repacked == data);  // framing is lossless
      (void)aim::wire::DecodeTree(*records);
    }
    TreeRoundTrip(data, framing);
  }

  if (absl::StatusOr<aim::Path> path = aim::wire::DecodePath(data); path.ok()) {
    absl::StatusOr<std::string> enc = aim::wire::EncodePath(*path);
    Check(enc.ok() && *enc == data);
  }
  if (absl::StatusOr<aim::Value> scalar = aim::wire::DecodeScalar(data); scalar.ok()) {
    std::string enc;
    Check(aim::wire::AppendScalar(*scalar, &enc).ok() && enc == data);
  }
  return 0;
}
