// Debian's Abseil is built with its own absl::string_view (not std::string_view), so
// std::string_view arguments to absl::StrCat and friends need an explicit conversion.
#ifndef AIM_SDK_WIRE_STRING_VIEW_COMPAT_H_
#define AIM_SDK_WIRE_STRING_VIEW_COMPAT_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace aim::internal {

inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace aim::internal

#endif  // AIM_SDK_WIRE_STRING_VIEW_COMPAT_H_
