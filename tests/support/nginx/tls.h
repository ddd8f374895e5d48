// Test support: a temporary directory, a throwaway PKI for 127.0.0.1/::1/localhost, and a raw
// TLS request for what libcurl cannot send (a WebSocket upgrade).
#ifndef AIMCPP_TESTS_SUPPORT_NGINX_TLS_H_
#define AIMCPP_TESTS_SUPPORT_NGINX_TLS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

#include "absl/status/statusor.h"

namespace aim::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  static absl::StatusOr<TempDir> Create();
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  ~TempDir();

  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string File(const std::string& name) const;

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Writes `content` to `path` (created or truncated).
absl::Status WriteFile(const std::string& path, const std::string& content);
absl::StatusOr<std::string> ReadFile(const std::string& path);

// A CA and a server certificate it signed, valid for 127.0.0.1, ::1 and localhost, made with
// the openssl command line in a directory of its own. Both *_path and *_pem are filled.
struct TestPki {
  std::string ca_cert_path, server_cert_path, server_key_path;
  std::string ca_cert_pem, server_cert_pem, server_key_pem;
};
absl::StatusOr<TestPki> MakeTestPki(const std::string& dir);

// Connects to 127.0.0.1:`port` over TLS (verifying the peer against `ca_cert_path` and the
// IP address 127.0.0.1), sends `request` as is and returns the response head (up to and
// including the blank line).
absl::StatusOr<std::string> TlsRequestHead(int port, const std::string& ca_cert_path,
                                           const std::string& request);

// Runs `argv` (argv[0] is a path) to completion; stdout and stderr go to `log_path`.
// An error if it cannot start or exits non-zero; the message includes the log.
absl::Status RunCommand(const std::vector<std::string>& argv, const std::string& log_path);

}  // namespace aim::testing

#endif  // AIMCPP_TESTS_SUPPORT_NGINX_TLS_H_
