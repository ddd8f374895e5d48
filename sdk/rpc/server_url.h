// Parsing the user's repository URL (`aim://host:port[/base-path]`, SPEC 2.1) into the parts
// every transport needs. Shared by the HTTP and the gRPC transports.
#ifndef AIM_SDK_RPC_SERVER_URL_H_
#define AIM_SDK_RPC_SERVER_URL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace aim::rpc {

struct ServerUrl {
  // "http" or "https" when the URL said so (or a probe decided); empty for `aim://`, which
  // leaves the choice to the scheme probe.
  std::string scheme;
  // A DNS name or an IP address; IPv6 without brackets ("::1").
  std::string host;
  // 0: the scheme's default port (80 / 443), as Aim's client does for a URL without a port.
  std::uint16_t port = 0;
  // "" or "/x[/y]": a leading slash, no trailing slash (Aim's `--base-path` normalisation).
  std::string base_path;

  friend bool operator==(const ServerUrl&, const ServerUrl&) = default;
};

// Accepts `aim://`, `http://` and `https://` URLs: host (IPv6 in brackets), optional port,
// optional base path; one trailing '/' is dropped as Aim does. Rejects user info (secrets do
// not belong in URLs), queries, fragments, empty hosts and bad ports.
absl::StatusOr<ServerUrl> ParseServerUrl(std::string_view url);

// "host:port" with IPv6 hosts in brackets and the port omitted when 0 (a gRPC target when
// the port is set).
std::string Authority(const ServerUrl& url);

// "<scheme>://<authority><base_path>" with `scheme` given explicitly (e.g. "wss").
std::string UrlPrefix(const ServerUrl& url, std::string_view scheme);

}  // namespace aim::rpc

#endif  // AIM_SDK_RPC_SERVER_URL_H_
