#include "tests/support/nginx/nginx.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

#ifndef AIMCPP_SOURCE_DIR
#error "AIMCPP_SOURCE_DIR must point at the source tree (for examples/server/nginx)"
#endif

namespace aim::testing {
namespace {

constexpr char kNginx[] = "/usr/sbin/nginx";
const std::string kTemplates = AIMCPP_SOURCE_DIR "/examples/server/nginx";

absl::Status CheckSafe(const char* what, const std::string& value) {
  const bool safe = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("._~+/=-", c) != nullptr;
  });
  if (safe) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("NginxOptions: ", what,
                                                 " must be non-empty [A-Za-z0-9._~+/=-]"));
}

// Reads a template from examples/server/nginx and replaces its ${NAME} placeholders, as an
// operator's envsubst would. Every placeholder must be given a value.
absl::StatusOr<std::string> Render(const std::string& name,
                                   const std::vector<std::pair<std::string, std::string>>& values) {
  absl::StatusOr<std::string> text = ReadFile(absl::StrCat(kTemplates, "/", name));
  if (!text.ok()) return text.status();
  std::vector<std::pair<std::string, std::string>> replacements;
  for (const auto& [key, value] : values) replacements.emplace_back("${" + key + "}", value);
  std::string rendered = absl::StrReplaceAll(*text, replacements);
  // Placeholders in comments are documentation; only directives must be fully rendered.
  for (absl::string_view line : absl::StrSplit(rendered, '\n')) {
    line = absl::StripLeadingAsciiWhitespace(line);
    if (!absl::StartsWith(line, "#") && absl::StrContains(line, "${AIM_")) {
      return absl::InternalError(absl::StrCat(name, ": unrendered placeholder in: ", line));
    }
  }
  return rendered;
}

absl::StatusOr<std::string> CredentialsConf(const NginxOptions& o) {
  const int schemes = !o.bearer_token.empty() + (!o.cf_client_id.empty() || !o.cf_client_secret.empty()) +
                      !o.header_name.empty();
  if (schemes > 1) return absl::InvalidArgumentError("NginxOptions: more than one scheme");
  std::string conf;
  if (o.block_websocket) {
    conf += "if ($http_upgrade != \"\") {\n    return 403 \"WebSocket upgrades are blocked\\n\";\n}\n";
  }
  if (o.login_redirect) conf += absl::StrCat("error_page 401 403 ", kNginxLoginUrl, ";\n");
  absl::StatusOr<std::string> check;
  if (!o.bearer_token.empty()) {
    if (absl::Status s = CheckSafe("bearer_token", o.bearer_token); !s.ok()) return s;
    check = Render("credentials/bearer.conf.template", {{"AIM_BEARER_TOKEN", o.bearer_token}});
  } else if (!o.cf_client_id.empty() || !o.cf_client_secret.empty()) {
    if (absl::Status s = CheckSafe("cf_client_id", o.cf_client_id); !s.ok()) return s;
    if (absl::Status s = CheckSafe("cf_client_secret", o.cf_client_secret); !s.ok()) return s;
    check = Render("credentials/cloudflare-service-token.conf.template",
                   {{"AIM_CF_CLIENT_ID", o.cf_client_id},
                    {"AIM_CF_CLIENT_SECRET", o.cf_client_secret}});
  } else if (!o.header_name.empty()) {
    if (absl::Status s = CheckSafe("header_name", o.header_name); !s.ok()) return s;
    if (absl::Status s = CheckSafe("header_value", o.header_value); !s.ok()) return s;
    std::string variable = absl::StrCat("$http_", absl::AsciiStrToLower(o.header_name));
    std::replace(variable.begin(), variable.end(), '-', '_');
    check = Render("credentials/header.conf.template",
                   {{"AIM_HEADER_VARIABLE", variable}, {"AIM_HEADER_VALUE", o.header_value}});
  } else {
    check = Render("credentials/none.conf.template", {});
  }
  if (!check.ok()) return check.status();
  return conf + *check;
}

// A port the kernel considers free right now. Another process may take it before nginx
// binds it; Start() retries then.
absl::StatusOr<int> PickFreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  const int error = errno;
  ::close(fd);
  if (!ok) return absl::InternalError(absl::StrCat("bind 127.0.0.1:0: ", std::strerror(error)));
  return static_cast<int>(ntohs(addr.sin_port));
}

// Closes a file descriptor on scope exit.
struct Fd {
  explicit Fd(int fd) : fd(fd) {}
  Fd(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int fd;
};

}  // namespace

absl::StatusOr<std::unique_ptr<NginxProxy>> NginxProxy::Start(const NginxOptions& options) {
  if (options.upstream_port <= 0) {
    return absl::InvalidArgumentError("NginxOptions: upstream_port is required");
  }
  absl::StatusOr<TempDir> dir = TempDir::Create();
  if (!dir.ok()) return dir.status();
  absl::StatusOr<TestPki> pki = MakeTestPki(dir->path());
  if (!pki.ok()) return pki.status();
  std::unique_ptr<NginxProxy> proxy(new NginxProxy(*std::move(dir), *std::move(pki)));
  const TempDir& d = proxy->dir_;

  absl::StatusOr<std::string> credentials = CredentialsConf(options);
  if (!credentials.ok()) return credentials.status();
  if (absl::Status s = WriteFile(d.File("credentials.conf"), *credentials); !s.ok()) return s;
  // The main file is the harness's own: one foreground process, everything under the
  // temporary directory, then the operator's file included as is.
  const std::string main_conf = absl::StrCat(
      "daemon off;\nmaster_process off;\nerror_log stderr notice;\npid ", d.File("nginx.pid"),
      ";\nevents { worker_connections 256; }\nhttp {\n"
      "    access_log off;\n"
      "    client_body_temp_path ", d.File("body"), ";\n"
      "    proxy_temp_path ", d.File("proxy"), ";\n"
      "    fastcgi_temp_path ", d.File("fastcgi"), ";\n"
      "    uwsgi_temp_path ", d.File("uwsgi"), ";\n"
      "    scgi_temp_path ", d.File("scgi"), ";\n"
      "    include ", d.File("aim.conf"), ";\n}\n");
  if (absl::Status s = WriteFile(d.File("nginx.conf"), main_conf); !s.ok()) return s;

  constexpr int kAttempts = 5;  // a port taken between PickFreePort and nginx's bind()
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<int> port = PickFreePort();
    if (!port.ok()) return port.status();
    absl::StatusOr<std::string> site = Render(
        "aim.conf.template",
        {{"AIM_LISTEN", absl::StrCat("127.0.0.1:", *port)},
         {"AIM_SERVER_NAME", "localhost"},
         {"AIM_UPSTREAM", absl::StrCat("127.0.0.1:", options.upstream_port)},
         {"AIM_TLS_CERTIFICATE", proxy->pki_.server_cert_path},
         {"AIM_TLS_CERTIFICATE_KEY", proxy->pki_.server_key_path},
         {"AIM_CREDENTIALS_CONF", d.File("credentials.conf")}});
    if (!site.ok()) return site.status();
    if (absl::Status s = WriteFile(d.File("aim.conf"), *site); !s.ok()) return s;
    ::unlink(d.File("nginx.pid").c_str());

    // Readiness without polling: nginx writes its pid file after its listening sockets are
    // bound and listening, so its creation (seen by inotify) means "connect now"; its exit
    // (seen by a pidfd) means it failed.
    Fd inotify(::inotify_init1(IN_CLOEXEC));
    if (inotify.fd < 0 || ::inotify_add_watch(inotify.fd, d.path().c_str(), IN_CREATE) < 0) {
      return absl::InternalError(absl::StrCat("inotify: ", std::strerror(errno)));
    }
    Fd log(::open(d.File("nginx.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (log.fd < 0) return absl::InternalError("cannot create nginx.log");
    const std::string prefix = d.path() + "/", conf = d.File("nginx.conf");
    std::vector<char*> argv = {const_cast<char*>(kNginx), const_cast<char*>("-p"),
                               const_cast<char*>(prefix.c_str()), const_cast<char*>("-c"),
                               const_cast<char*>(conf.c_str()), const_cast<char*>("-e"),
                               const_cast<char*>("stderr"), nullptr};
    char* envp[] = {nullptr};
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(log.fd, STDOUT_FILENO);
      ::dup2(log.fd, STDERR_FILENO);
      ::execve(kNginx, argv.data(), envp);
      ::_exit(127);
    }
    if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
    proxy->pid_ = pid;
    proxy->port_ = *port;
    Fd exited(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (exited.fd < 0) return absl::InternalError(absl::StrCat("pidfd_open: ", std::strerror(errno)));

    bool ready = false, dead = false;
    while (!ready && !dead) {
      pollfd fds[2] = {{inotify.fd, POLLIN, 0}, {exited.fd, POLLIN, 0}};
      // The timeout only turns a hung nginx into an error instead of a hung test.
      const int n = ::poll(fds, 2, 60'000);
      if (n == 0) return absl::DeadlineExceededError("nginx did not start: " + proxy->Log());
      if (n < 0 && errno == EINTR) continue;
      if (fds[1].revents != 0) dead = true;
      if (fds[0].revents != 0) {
        alignas(inotify_event) char events[4096];
        const ssize_t len = ::read(inotify.fd, events, sizeof(events));
        for (ssize_t i = 0; i < len;) {
          const auto* event = reinterpret_cast<const inotify_event*>(events + i);
          if (event->len > 0 && std::strcmp(event->name, "nginx.pid") == 0) ready = true;
          i += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
        }
      }
    }
    if (ready && !dead) return proxy;
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    proxy->pid_ = -1;
    const std::string nginx_log = proxy->Log();
    if (attempt == kAttempts || !absl::StrContains(nginx_log, "Address already in use")) {
      return absl::InternalError("nginx exited: " + nginx_log);
    }
  }
}

NginxProxy::~NginxProxy() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

std::string NginxProxy::url() const { return absl::StrCat("https://127.0.0.1:", port_); }

std::string NginxProxy::Log() const {
  absl::StatusOr<std::string> log = ReadFile(dir_.File("nginx.log"));
  return log.ok() ? *log : "";
}

}  // namespace aim::testing
