// aim-doctor's checks: from a repository URL and the environment's credentials to "tracking
// would work", one step at a time, each failure named in plain words with its fix.
#ifndef AIM_TOOLS_DOCTOR_H_
#define AIM_TOOLS_DOCTOR_H_

#include <ostream>
#include <string>

#include "absl/time/time.h"

namespace aim::tools {

// The exit codes, one per failure class (aim-doctor --help prints this table).
enum DoctorExit : int {
  kExitOk = 0,               // every check passed: tracking would work
  kExitInternal = 1,         // the doctor itself failed (out of memory, libcurl setup)
  kExitUsage = 2,            // bad arguments or repository URL
  kExitCredentials = 3,      // the credential environment is invalid or its source failed
  kExitPlaintext = 4,        // credentials would travel in clear text to a remote host
  kExitDns = 10,             // the host name does not resolve
  kExitTcp = 11,             // nothing accepts connections on host:port (server down)
  kExitTls = 12,             // TLS failed: unknown CA, name mismatch, expired, not TLS
  kExitNotAim = 13,          // something answers, but it is not an Aim server (wrong port)
  kExitUnauthenticated = 14, // 401: credentials missing or not recognised
  kExitForbidden = 15,       // 403: credentials refused
  kExitLoginRedirect = 16,   // 3xx to a login page (Cloudflare Access and other SSO proxies)
  kExitWebSocket = 17,       // plain requests pass, the WebSocket upgrade does not
  kExitOldServer = 18,       // 404 / no HTTP/1.1 and no Aim gRPC server: wrong base path?
  kExitUpstream = 19,        // a proxy answers 502/503/504: the Aim server behind it is down
};

// The table above as --help text.
std::string DoctorExitCodesHelp();

struct DoctorOptions {
  std::string repo;     // aim://host:port[/base], http://..., https://...
  std::string ca_file;  // PEM CAs to trust for TLS; empty: the system's
  bool insecure = false;  // allow credentials over plaintext to a non-loopback host
  absl::Duration timeout = absl::Seconds(10);  // per step
};

// Runs every check in order, printing one line per step to `out`, and stops at the first
// failure. Returns a DoctorExit. Secret values are never printed, only header names.
int RunDoctor(const DoctorOptions& options, std::ostream& out);

}  // namespace aim::tools

#endif  // AIM_TOOLS_DOCTOR_H_
