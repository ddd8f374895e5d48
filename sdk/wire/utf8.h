// Strict UTF-8 validation, as Python's decoder applies it: no overlong forms, no surrogates,
// nothing above U+10FFFF. Internal to sdk/wire.
#ifndef AIM_SDK_WIRE_UTF8_H_
#define AIM_SDK_WIRE_UTF8_H_

#include <cstddef>
#include <string_view>

namespace aim::wire::internal {

// Returns the offset of the first byte of the first invalid sequence, or npos if `s` is valid.
std::size_t FindInvalidUtf8(std::string_view s);

inline bool IsValidUtf8(std::string_view s) {
  return FindInvalidUtf8(s) == std::string_view::npos;
}

}  // namespace aim::wire::internal

#endif  // AIM_SDK_WIRE_UTF8_H_
