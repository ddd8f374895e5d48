// aim::auth::Credentials - one credential object that yields the request headers for every
// HTTP request, WebSocket handshake and gRPC call a process makes, so one secret serves the
// Aim SDK and any other service behind the same proxy (Cloudflare Access, nginx, ...).
//
// Secrets never appear in DebugString(), in error messages or in logs: only header names do.
#ifndef AIM_AUTH_CREDENTIALS_H_
#define AIM_AUTH_CREDENTIALS_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace aim::auth {

struct Header {
  std::string name;   // an RFC 7230 token, e.g. "Authorization"
  std::string value;  // secret; no CR, LF or NUL
};
using Headers = std::vector<Header>;

// The interface every credential source implements.
//
// Thread safety: GetHeaders and DebugString may be called concurrently from any number of
// threads. Implementations never block on I/O in GetHeaders for longer than a cached
// file stat.
class Credentials {
 public:
  virtual ~Credentials() = default;

  // The headers to attach to a request for `target`: a URL ("https://host/path") or a gRPC
  // authority ("host:port"). An empty list means "send nothing". Errors (an expired JWT, an
  // unreadable token file) name the source and the problem, never the secret.
  virtual absl::StatusOr<Headers> GetHeaders(std::string_view target) const = 0;

  // Describes the source with header names only, e.g. "BearerToken{Authorization}".
  virtual std::string DebugString() const = 0;
};

using CredentialsPtr = std::shared_ptr<const Credentials>;

// Sends nothing.
CredentialsPtr NoCredentials();

// `Authorization: Bearer <token>`. A token that already starts with "Bearer " is rejected.
absl::StatusOr<CredentialsPtr> BearerToken(std::string token);

// Cloudflare Access service token: `CF-Access-Client-Id` and `CF-Access-Client-Secret`.
absl::StatusOr<CredentialsPtr> CloudflareServiceToken(std::string client_id,
                                                      std::string client_secret);

// Cloudflare Access JWT sent as `cf-access-token` (e.g. what `cloudflared access login`
// stores). A JWT whose `exp` claim has passed is reported as expired by GetHeaders.
absl::StatusOr<CredentialsPtr> CloudflareAccessJwt(std::string jwt);

// Any fixed set of headers.
absl::StatusOr<CredentialsPtr> CustomHeaders(Headers headers);

// What a rotating token file holds.
enum class TokenFileKind {
  kBearerToken,         // sent as `Authorization: Bearer <token>`
  kCloudflareAccessJwt  // sent as `cf-access-token: <jwt>`
};
// A token read from `path` and re-read whenever the file changes, so a token rotated on disk
// is used by the next request without a restart. Trailing whitespace is stripped; a missing
// or empty file is an error (at creation, and from GetHeaders if it later disappears).
absl::StatusOr<CredentialsPtr> TokenFile(std::string path, TokenFileKind kind);

// How often a TokenFile looks at its file. Within the interval GetHeaders serves the cached
// token without touching the file system; after it, the next call does one stat() and
// re-reads the file only if its inode, size, mtime or ctime changed. Rotate a token by
// writing a new file and renaming it over the old one (what Kubernetes and most agents do):
// an in-place rewrite of the same length within the file system's timestamp granularity
// can go unnoticed until the next change.
inline constexpr absl::Duration kDefaultTokenFileRecheckInterval = absl::Milliseconds(200);
struct TokenFileOptions {
  // Default kDefaultTokenFileRecheckInterval. Zero means "stat on every call".
  absl::Duration recheck_interval = kDefaultTokenFileRecheckInterval;
};
absl::StatusOr<CredentialsPtr> TokenFile(std::string path, TokenFileKind kind,
                                         const TokenFileOptions& options);

// Several sources merged in order; two sources producing the same header name (compared
// case-insensitively) is an error.
absl::StatusOr<CredentialsPtr> Composite(std::vector<CredentialsPtr> sources);

// Credentials from the environment (see README "Configuration" for the precedence):
//   AIM_AUTH_TOKEN or AIM_AUTH_TOKEN_FILE       -> Bearer token
//   CF_ACCESS_CLIENT_ID + CF_ACCESS_CLIENT_SECRET -> Cloudflare service token
//   CF_ACCESS_TOKEN or CF_ACCESS_TOKEN_FILE     -> Cloudflare Access JWT
//   AIM_CUSTOM_HEADERS (a JSON object of strings) -> custom headers
// Nothing set yields NoCredentials(), not an error.
//
// Precedence: there is none to guess. Every variable that is set contributes, and the
// sources are combined with Composite() in the order above (so a Cloudflare service token
// and a Bearer token for the server behind it can be used together). Consequently:
//   * a variable set to the empty string counts as unset;
//   * setting both X and X_FILE is an error (which one did you mean?);
//   * setting only one of CF_ACCESS_CLIENT_ID / CF_ACCESS_CLIENT_SECRET is an error;
//   * two variables producing the same header (e.g. AIM_AUTH_TOKEN and an "Authorization"
//     entry in AIM_CUSTOM_HEADERS) is an error, never a silent override.
// Errors name the variable and the problem, never a value. Files named by *_FILE are
// re-read when they change (see TokenFile).
absl::StatusOr<CredentialsPtr> FromEnvironment();

}  // namespace aim::auth

#endif  // AIM_AUTH_CREDENTIALS_H_
