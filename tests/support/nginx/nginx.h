// Test support: REAL nginx (/usr/sbin/nginx) on 127.0.0.1, an ephemeral port and TLS with a
// test-made certificate, running examples/server/nginx/aim.conf.template - the very file
// operators deploy - in front of an upstream the test provides. Each instance requires one
// credential scheme and answers 401 (missing) / 403 (wrong), optionally like Cloudflare
// Access (302 to a login page) or refusing WebSocket upgrades.
#ifndef AIMCPP_TESTS_SUPPORT_NGINX_NGINX_H_
#define AIMCPP_TESTS_SUPPORT_NGINX_NGINX_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tests/support/nginx/tls.h"

namespace aim::testing {

// What nginx requires. At most one of bearer_token, cf_client_id/secret and header_name may
// be set; none means "no credential check". Values must be [A-Za-z0-9._~+/=-] so that they
// are safe inside nginx's quoted strings.
struct NginxOptions {
  int upstream_port = 0;  // required: the test's server on 127.0.0.1

  std::string bearer_token;  // require `Authorization: Bearer <token>`
  std::string cf_client_id;  // require CF-Access-Client-Id + CF-Access-Client-Secret
  std::string cf_client_secret;
  std::string header_name;  // require `<header_name>: <header_value>`
  std::string header_value;

  // Answer a missing or wrong credential with 302 to kNginxLoginUrl instead of 401/403, like
  // a Cloudflare Access application with an identity provider.
  bool login_redirect = false;
  // Answer every request carrying `Upgrade` with 403 (a proxy that does not allow WebSocket).
  bool block_websocket = false;
};

inline constexpr char kNginxLoginUrl[] = "https://login.invalid/cdn-cgi/access/login";

class NginxProxy {
 public:
  // Starts nginx on a free ephemeral port (retrying if another process takes it first) and
  // returns once it is listening. Errors carry nginx's own log.
  static absl::StatusOr<std::unique_ptr<NginxProxy>> Start(const NginxOptions& options);

  NginxProxy(const NginxProxy&) = delete;
  NginxProxy& operator=(const NginxProxy&) = delete;
  ~NginxProxy();  // kills nginx and removes its directory

  int port() const { return port_; }
  std::string url() const;  // "https://127.0.0.1:<port>"
  // The CA that signed nginx's certificate; verify against it.
  const TestPki& pki() const { return pki_; }
  // What nginx wrote to stderr so far (for failure messages).
  std::string Log() const;

 private:
  NginxProxy(TempDir dir, TestPki pki) : dir_(std::move(dir)), pki_(std::move(pki)) {}

  TempDir dir_;
  TestPki pki_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace aim::testing

#endif  // AIMCPP_TESTS_SUPPORT_NGINX_NGINX_H_
