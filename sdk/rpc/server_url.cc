#include "rpc/server_url.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "wire/string_view_compat.h"

namespace aim::rpc {
namespace {

// Characters allowed in a host name or IP literal: no '%' (zone ids, escapes), nothing that
// would change the meaning of a URL or a request line.
bool IsHostChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

// Path characters passed through verbatim: unreserved, sub-delims, ':', '@', '/' and '%'
// (already percent-encoded paths are the user's business).
bool IsPathChar(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("-._~!$&'()*+,;=:@/%").find(c) != std::string_view::npos;
}

}  // namespace

absl::StatusOr<ServerUrl> ParseServerUrl(std::string_view url) {
  ServerUrl out;
  std::string_view rest = url;
  if (absl::StartsWithIgnoreCase(::aim::internal::Av(rest), "aim://")) {
    rest.remove_prefix(6);
  } else if (absl::StartsWithIgnoreCase(::aim::internal::Av(rest), "http://")) {
    out.scheme = "http";
    rest.remove_prefix(7);
  } else if (absl::StartsWithIgnoreCase(::aim::internal::Av(rest), "https://")) {
    out.scheme = "https";
    rest.remove_prefix(8);
  } else {
    return absl::InvalidArgumentError(
        "server URL must start with aim://, http:// or https:// (e.g. aim://host:53800)");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return absl::InvalidArgumentError("server URL must not contain a query or fragment");
  }
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        "server URL must not contain user info; pass credentials separately");
  }
  std::string_view host;
  std::string_view port;
  if (absl::StartsWith(::aim::internal::Av(authority), "[")) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError("server URL has an unterminated IPv6 literal");
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return absl::InvalidArgumentError("server URL: junk after IPv6 host");
      port = after.substr(1);
      if (port.empty()) return absl::InvalidArgumentError("server URL has an empty port");
    }
    for (char c : host) {
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
        return absl::InvalidArgumentError("server URL has an invalid IPv6 literal");
      }
    }
  } else {
    const std::size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return absl::InvalidArgumentError("server URL has an empty port");
    }
    for (char c : host) {
      if (!IsHostChar(c)) {
        return absl::InvalidArgumentError("server URL has an invalid character in the host");
      }
    }
  }
  if (host.empty()) return absl::InvalidArgumentError("server URL has no host");
  out.host = absl::AsciiStrToLower(::aim::internal::Av(host));
  if (!port.empty()) {
    std::uint32_t p = 0;
    bool digits = true;
    for (char c : port) digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
    if (!digits || port.size() > 5 || !absl::SimpleAtoi(::aim::internal::Av(port), &p) || p == 0 || p > 65535) {
      return absl::InvalidArgumentError("server URL has an invalid port");
    }
    out.port = static_cast<std::uint16_t>(p);
  }
  for (char c : path) {
    if (!IsPathChar(c)) {
      return absl::InvalidArgumentError("server URL has an invalid character in the path");
    }
  }
  // Aim strips one trailing slash; a bare "/" is no base path at all.
  if (absl::EndsWith(::aim::internal::Av(path), "/")) path.remove_suffix(1);
  if (path.find("//") != std::string_view::npos) {
    return absl::InvalidArgumentError("server URL path has an empty segment");
  }
  out.base_path = std::string(path);
  return out;
}

std::string Authority(const ServerUrl& url) {
  const bool ipv6 = url.host.find(':') != std::string::npos;
  std::string out = ipv6 ? absl::StrCat("[", url.host, "]") : url.host;
  if (url.port != 0) absl::StrAppend(&out, ":", url.port);
  return out;
}

std::string UrlPrefix(const ServerUrl& url, std::string_view scheme) {
  return absl::StrCat(::aim::internal::Av(scheme), "://", Authority(url), url.base_path);
}

}  // namespace aim::rpc
