#include "aim/auth/http.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "internal.h"

namespace aim::auth {
namespace {

struct ParsedUrl {
  bool plaintext;
  std::string host;  // without brackets or port
};

absl::StatusOr<ParsedUrl> ParseUrl(absl::string_view url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos) {
    return absl::InvalidArgumentError("HttpHeaderLines: the URL has no scheme (expected "
                                      "http://, https://, ws:// or wss://)");
  }
  const std::string scheme = absl::AsciiStrToLower(url.substr(0, scheme_end));
  ParsedUrl parsed;
  if (scheme == "http" || scheme == "ws") {
    parsed.plaintext = true;
  } else if (scheme == "https" || scheme == "wss") {
    parsed.plaintext = false;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "HttpHeaderLines: unsupported URL scheme '", scheme, "' (expected http, https, ws or wss)"));
  }
  absl::string_view authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  // user:password@host - the userinfo is neither host nor something we echo.
  if (std::size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  absl::string_view host;
  if (absl::StartsWith(authority, "[")) {
    const std::size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("HttpHeaderLines: unterminated IPv6 address in the URL");
    }
    host = authority.substr(1, close - 1);
  } else {
    host = authority.substr(0, authority.find(':'));
  }
  if (host.empty()) return absl::InvalidArgumentError("HttpHeaderLines: the URL has no host");
  parsed.host = absl::AsciiStrToLower(host);
  return parsed;
}

bool IsLoopback(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;  // 127.0.0.0/8
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return std::memcmp(&v6, &in6addr_loopback, sizeof(v6)) == 0;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> HttpHeaderLines(const Credentials& credentials,
                                                         std::string_view url,
                                                         const HttpOptions& options) {
  absl::StatusOr<ParsedUrl> parsed = ParseUrl(absl::string_view(url.data(), url.size()));
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<Headers> headers = credentials.GetHeaders(url);
  if (!headers.ok()) return headers.status();
  std::vector<std::string> lines;
  if (headers->empty()) return lines;
  if (parsed->plaintext && !options.allow_insecure_plaintext && !IsLoopback(parsed->host)) {
    internal::Wipe(*headers);
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to send credentials (", credentials.DebugString(), ") in plaintext to '",
        parsed->host, "'; use https:// or wss://, or set HttpOptions::allow_insecure_plaintext "
        "for a trusted network"));
  }
  lines.reserve(headers->size());
  for (const Header& h : *headers) lines.push_back(absl::StrCat(h.name, ": ", h.value));
  internal::Wipe(*headers);
  return lines;
}

}  // namespace aim::auth
