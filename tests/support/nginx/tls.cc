#include "tests/support/nginx/tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"

namespace aim::testing {

absl::StatusOr<TempDir> TempDir::Create() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(base != nullptr && *base != '\0' ? base : "/tmp",
                                     "/aimcpp-test-XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", std::strerror(errno)));
  }
  return TempDir(std::move(pattern));
}

TempDir::TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) {
  other.path_.clear();
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::File(const std::string& name) const { return absl::StrCat(path_, "/", name); }

absl::Status WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

absl::Status RunCommand(const std::vector<std::string>& argv, const std::string& log_path) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log < 0) return absl::InternalError(absl::StrCat("open ", log_path, ": ", std::strerror(errno)));
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(log);
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  absl::StatusOr<std::string> output = ReadFile(log_path);
  return absl::InternalError(absl::StrCat(argv[0], " failed (status ", status, "): ",
                                          output.ok() ? *output : ""));
}

absl::StatusOr<TestPki> MakeTestPki(const std::string& dir) {
  const std::string openssl = "/usr/bin/openssl";
  const std::string log = dir + "/openssl.log";
  TestPki pki{dir + "/ca.pem", dir + "/server.pem", dir + "/server.key", "", "", ""};
  const std::string ca_key = dir + "/ca.key", csr = dir + "/server.csr", ext = dir + "/server.ext";
  if (absl::Status s = WriteFile(ext,
                                 "basicConstraints=critical,CA:FALSE\n"
                                 "keyUsage=critical,digitalSignature,keyEncipherment\n"
                                 "extendedKeyUsage=serverAuth\n"
                                 "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n");
      !s.ok()) {
    return s;
  }
  const std::vector<std::vector<std::string>> commands = {
      {openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", ca_key, "-out", pki.ca_cert_path, "-days", "2", "-subj", "/CN=aim-cpp test CA",
       "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
       "keyUsage=critical,keyCertSign,cRLSign"},
      {openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", pki.server_key_path, "-out", csr, "-subj", "/CN=localhost"},
      {openssl, "x509", "-req", "-in", csr, "-CA", pki.ca_cert_path, "-CAkey", ca_key,
       "-set_serial", "2", "-days", "2", "-extfile", ext, "-out", pki.server_cert_path},
  };
  for (const auto& command : commands) {
    if (absl::Status s = RunCommand(command, log); !s.ok()) return s;
  }
  for (auto [path, pem] : {std::pair{&pki.ca_cert_path, &pki.ca_cert_pem},
                           std::pair{&pki.server_cert_path, &pki.server_cert_pem},
                           std::pair{&pki.server_key_path, &pki.server_key_pem}}) {
    absl::StatusOr<std::string> content = ReadFile(*path);
    if (!content.ok()) return content.status();
    *pem = *std::move(content);
  }
  return pki;
}

namespace {

std::string OpenSslError(const char* what) {
  char buffer[256] = {};
  ERR_error_string_n(ERR_get_error(), buffer, sizeof(buffer));
  return absl::StrCat(what, ": ", buffer);
}

struct SslDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

}  // namespace

absl::StatusOr<std::string> TlsRequestHead(int port, const std::string& ca_cert_path,
                                           const std::string& request) {
  std::unique_ptr<SSL_CTX, SslDeleter> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return absl::InternalError(OpenSslError("SSL_CTX_new"));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(ctx.get(), ca_cert_path.c_str(), nullptr) != 1) {
    return absl::InternalError(OpenSslError("SSL_CTX_load_verify_locations"));
  }
  X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx.get()), "127.0.0.1");

  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("connect: ", std::strerror(errno)));
  }
  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  absl::StatusOr<std::string> head;
  if (SSL_connect(ssl.get()) != 1) {
    head = absl::UnavailableError(OpenSslError("TLS handshake"));
  } else if (SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())) <= 0) {
    head = absl::UnavailableError(OpenSslError("SSL_write"));
  } else {
    std::string response;
    char buffer[1024];
    while (response.find("\r\n\r\n") == std::string::npos) {
      const int n = SSL_read(ssl.get(), buffer, sizeof(buffer));
      if (n <= 0) break;
      response.append(buffer, static_cast<std::size_t>(n));
    }
    const std::size_t end = response.find("\r\n\r\n");
    if (end == std::string::npos) {
      head = absl::UnavailableError(absl::StrCat("incomplete response: ", response));
    } else {
      head = response.substr(0, end + 4);
    }
  }
  ssl.reset();
  ::close(fd);
  return head;
}

}  // namespace aim::testing
