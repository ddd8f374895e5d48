// Aim's hash_auto: the 64-bit hash that keys every metric point (hash of its step) and names
// every context (hash of the context dict). Bit-exact with aim.storage.hashing.
#ifndef AIM_SDK_WIRE_HASH_H_
#define AIM_SDK_WIRE_HASH_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "aim/value.h"

namespace aim::wire {

// CPython's hash of a double as Aim computes it (NaN -> 0, no -1 -> -2 remapping).
std::int64_t DetHash(double v);

// hash_auto of an int or a double; ints go through double first, as in Aim.
std::int64_t HashNumber(double v);

// hash_auto of any value. Fails only for kinds Aim cannot hash (custom objects, blobs).
absl::StatusOr<std::int64_t> HashAuto(const Value& value);

}  // namespace aim::wire

#endif  // AIM_SDK_WIRE_HASH_H_
