#include "tests/support/server/python_text.h"

#include <cstdint>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace aim::test_server::internal {
namespace {

// Decodes one UTF-8 sequence at s[*i]; advances *i. nullopt on a malformed sequence.
std::optional<char32_t> NextCodePoint(std::string_view s, std::size_t* i) {
  const auto b0 = static_cast<unsigned char>(s[*i]);
  int len = 0;
  char32_t cp = 0;
  if (b0 < 0x80) {
    ++*i;
    return b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return std::nullopt;
  }
  if (s.size() - *i < static_cast<std::size_t>(len)) return std::nullopt;
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[*i + k]);
    if ((b & 0xC0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (b & 0x3F);
  }
  // Overlong forms, surrogates and out-of-range values are invalid, as in Python's decoder.
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
  *i += len;
  return cp;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (!NextCodePoint(s, &i)) return false;
  }
  return true;
}

std::string PyRepr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == quote || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      absl::StrAppendFormat(&out, "\\x%02x", u);
    } else {
      out += c;  // printable ASCII and UTF-8 bytes of non-ASCII text, as Python 3 prints them
    }
  }
  out += quote;
  return out;
}

std::string PyReprPath(std::span<const Key> path, bool was_list) {
  std::string out = was_list ? "[" : "(";
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (i > 0) out += ", ";
    if (const auto* s = std::get_if<std::string>(&path[i])) {
      out += PyRepr(*s);
    } else {
      absl::StrAppend(&out, std::get<std::int64_t>(path[i]));
    }
  }
  if (!was_list && path.size() == 1) out += ",";
  out += was_list ? "]" : ")";
  return out;
}

std::string PyJsonDumpsStrings(std::span<const std::string> items) {
  std::string out = "[";
  for (std::size_t n = 0; n < items.size(); ++n) {
    if (n > 0) out += ", ";
    out += '"';
    const std::string_view s = items[n];
    std::size_t i = 0;
    while (i < s.size()) {
      const std::optional<char32_t> cp = NextCodePoint(s, &i);
      if (!cp) {
        out += "\\ufffd";
        ++i;
        continue;
      }
      switch (*cp) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (*cp < 0x20 || (*cp > 0x7E && *cp < 0x10000 && *cp != 0x7F)) {
            absl::StrAppendFormat(&out, "\\u%04x", static_cast<std::uint32_t>(*cp));
          } else if (*cp >= 0x10000) {
            const char32_t v = *cp - 0x10000;
            absl::StrAppendFormat(&out, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
          } else {
            out += static_cast<char>(*cp);
          }
      }
    }
    out += '"';
  }
  out += "]";
  return out;
}

}  // namespace aim::test_server::internal
