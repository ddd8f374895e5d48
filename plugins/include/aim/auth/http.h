// Applying credentials to HTTP requests (libcurl or hand-made, e.g. a WebSocket upgrade).
#ifndef AIM_AUTH_HTTP_H_
#define AIM_AUTH_HTTP_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "aim/auth/credentials.h"

namespace aim::auth {

struct HttpOptions {
  // Default false: credentials are refused for a plaintext (http://, ws://) URL whose host is
  // not a loopback address, because anyone on the path could read them. Set true only for a
  // trusted network.
  bool allow_insecure_plaintext = false;
};

// The credential header lines ("Name: value", no CRLF) for a request to `url`.
// kFailedPrecondition when non-empty credentials would travel in plaintext to a non-loopback
// host without options.allow_insecure_plaintext; errors of the source are passed through.
absl::StatusOr<std::vector<std::string>> HttpHeaderLines(const Credentials& credentials,
                                                         std::string_view url,
                                                         const HttpOptions& options = {});

}  // namespace aim::auth

#endif  // AIM_AUTH_HTTP_H_
