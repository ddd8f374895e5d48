#include "tools/doctor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "aim/auth/credentials.h"
#include "aim/auth/http.h"
#include "rpc/grpc_transport.h"
#include "rpc/http_client.h"
#include "rpc/server_url.h"
#include "rpc/websocket_client.h"

namespace aim::tools {
namespace {

using rpc::internal::ConnectionSettings;

// One step's report: "[ok]   DNS: ..." or "[FAIL] TLS: ..." plus an indented "fix:" line.
class Report {
 public:
  explicit Report(std::ostream& out) : out_(out) {}
  void Ok(std::string_view step, std::string_view what) { Line("[ok]  ", step, what); }
  void Note(std::string_view step, std::string_view what) { Line("[note]", step, what); }
  int Fail(int code, std::string_view step, std::string_view what, std::string_view fix) {
    Line("[FAIL]", step, what);
    if (!fix.empty()) out_ << "       fix: " << fix << "\n";
    out_ << "Tracking would NOT work (exit code " << code << ").\n";
    return code;
  }

 private:
  void Line(std::string_view tag, std::string_view step, std::string_view what) {
    out_ << tag << " " << step << ": " << what << "\n";
  }
  std::ostream& out_;
};

// What one libcurl request saw.
struct Probe {
  CURLcode code = CURLE_OK;
  std::string error;  // curl's error buffer
  long status = 0;
  std::string location;
  std::string body;  // the first kMaxBody bytes
};
constexpr std::size_t kMaxBody = 64 * 1024;

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  const size_t len = size * n;
  if (body->size() < kMaxBody) body->append(data, std::min(len, kMaxBody - body->size()));
  return len;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  std::string_view line(data, size * n);
  if (absl::StartsWithIgnoreCase(absl::string_view(line.data(), line.size()), "location:")) {
    std::string value(line.substr(9));
    absl::StripAsciiWhitespace(&value);
    *static_cast<std::string*>(user) = value;
  }
  return size * n;
}

// GET `url` (or, with `connect_only`, only connect and handshake TLS). Redirects are not
// followed, as in the SDK.
Probe Get(const std::string& url, const std::vector<std::string>& header_lines,
          const ConnectionSettings& settings, absl::Duration timeout, bool connect_only = false) {
  Probe p;
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) {
    p.code = CURLE_FAILED_INIT;
    return p;
  }
  char error[CURL_ERROR_SIZE] = {0};
  rpc::internal::ApplyConnectionSettings(curl.get(), settings);
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(timeout)));
  curl_slist* headers = nullptr;
  for (const std::string& line : header_lines) headers = curl_slist_append(headers, line.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
  if (connect_only) {
    curl_easy_setopt(curl.get(), CURLOPT_CONNECT_ONLY, 1L);
  } else {
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &p.body);
    curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &p.location);
  }
  p.code = curl_easy_perform(curl.get());
  p.error = error[0] != '\0' ? error : curl_easy_strerror(p.code);
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &p.status);
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);  // held credentials; libcurl copies nothing we must wipe
  return p;
}

// True when the bytes look like Aim's `GET /status/` answer {"status": "OK"}.
bool IsAimStatus(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  return j.is_object() && j.contains("status") && j["status"] == "OK";
}

// libcurl failures that mean "the peer does not speak HTTP/1.1 here" - what an Aim < 3.19
// gRPC server (HTTP/2 only) does with an HTTP/1.1 request.
bool NotHttp1(CURLcode code) {
  return code == CURLE_WEIRD_SERVER_REPLY || code == CURLE_GOT_NOTHING ||
         code == CURLE_RECV_ERROR || code == CURLE_HTTP2 || code == CURLE_UNSUPPORTED_PROTOCOL;
}

std::string Describe(const auth::Headers& headers) {
  if (headers.empty()) return "none";
  std::string names;
  for (const auth::Header& h : headers) absl::StrAppend(&names, names.empty() ? "" : ", ", h.name);
  return names;
}

int CheckDns(const rpc::ServerUrl& url, Report& r, std::vector<sockaddr_storage>* addresses,
             std::vector<socklen_t>* lengths) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(url.host.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    return r.Fail(kExitDns, "DNS", absl::StrCat("cannot resolve '", url.host, "': ", gai_strerror(rc)),
                  "check the host name in the repository URL and this machine's DNS settings");
  }
  std::string listed;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    sockaddr_storage s{};
    std::memcpy(&s, a->ai_addr, a->ai_addrlen);
    char text[INET6_ADDRSTRLEN] = "?";
    const void* raw = a->ai_family == AF_INET6
                          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&s)->sin6_addr)
                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&s)->sin_addr);
    inet_ntop(a->ai_family, raw, text, sizeof text);
    absl::StrAppend(&listed, listed.empty() ? "" : ", ", text);
    addresses->push_back(s);
    lengths->push_back(a->ai_addrlen);
  }
  freeaddrinfo(found);
  r.Ok("DNS", absl::StrCat(url.host, " -> ", listed));
  return kExitOk;
}

// Connects to each address in turn (non-blocking, with the timeout); the first success wins.
int CheckTcp(const rpc::ServerUrl& url, std::uint16_t port, absl::Duration timeout,
             std::vector<sockaddr_storage>& addresses, const std::vector<socklen_t>& lengths,
             Report& r) {
  std::string last_error = "no address";
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    sockaddr_storage& s = addresses[i];
    if (s.ss_family == AF_INET6) {
      reinterpret_cast<sockaddr_in6*>(&s)->sin6_port = htons(port);
    } else {
      reinterpret_cast<sockaddr_in*>(&s)->sin_port = htons(port);
    }
    const int fd = socket(s.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int err = 0;
    if (connect(fd, reinterpret_cast<sockaddr*>(&s), lengths[i]) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd pfd{fd, POLLOUT, 0};
        const int ready = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
        socklen_t len = sizeof err;
        if (ready == 0) {
          err = ETIMEDOUT;
        } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
          err = errno;
        }
      }
    }
    close(fd);
    if (err == 0) {
      r.Ok("TCP", absl::StrCat("connected to ", rpc::Authority(url), " port ", port));
      return kExitOk;
    }
    last_error = err == ETIMEDOUT ? "no answer within the timeout" : std::strerror(err);
  }
  return r.Fail(kExitTcp, "TCP",
                absl::StrCat("cannot connect to ", url.host, " port ", port, ": ", last_error),
                "is `aim server` (or the proxy in front of it) running and listening on this "
                "port? Check the port in the repository URL and any firewall in between");
}

int TlsFailure(const Probe& p, Report& r) {
  std::string what = "TLS handshake failed: " + p.error;
  std::string fix = "check that this port serves TLS and that the URL is right";
  if (p.code == CURLE_PEER_FAILED_VERIFICATION || p.code == CURLE_SSL_CACERT_BADFILE) {
    const std::string& e = p.error;
    if (absl::StrContains(e, "expired")) {
      what = "the server's certificate has EXPIRED (" + e + ")";
      fix = "renew the server's certificate";
    } else if (absl::StrContains(e, "subject name") || absl::StrContains(e, "does not match")) {
      what = "HOSTNAME MISMATCH: the certificate is not valid for this host (" + e + ")";
      fix = "use the host name the certificate was issued for, or reissue it with this name";
    } else if (absl::StrContains(e, "issuer") || absl::StrContains(e, "self-signed") ||
               absl::StrContains(e, "self signed") || p.code == CURLE_SSL_CACERT_BADFILE) {
      what = "UNKNOWN CA: the certificate is not signed by a CA this machine trusts (" + e + ")";
      fix = "pass the CA's PEM file with --ca-file (or AIM_CA_FILE) as you would set "
            "RunOptions.tls.ca_file";
    } else {
      what = "certificate rejected: " + e;
      fix = "check the server's certificate chain, or pass its CA with --ca-file";
    }
  }
  return r.Fail(kExitTls, "TLS", what, fix);
}

// The answer to GET /status/ with credentials, in plain words.
int CheckStatusAnswer(const Probe& p, const std::string& url, const std::string& sent,
                      Report& r) {
  const std::string step = "GET /status/";
  if (p.code != CURLE_OK) {
    if (NotHttp1(p.code)) {
      // Not a failure yet: the caller tries gRPC, as Protocol::kAuto does.
      r.Note(step, absl::StrCat("the server does not speak HTTP/1.1 (", p.error,
                                "): likely an Aim < 3.19 gRPC server"));
      return kExitOldServer;
    }
    return r.Fail(kExitNotAim, step, absl::StrCat(url, ": ", p.error),
                  "check that this address is the Aim server");
  }
  if (p.status == 200 && IsAimStatus(p.body)) {
    r.Ok(step, absl::StrCat("200 {\"status\":\"OK\"} from ", url));
    return kExitOk;
  }
  if (p.status == 200) {
    return r.Fail(kExitNotAim, step,
                  "200 but not Aim's {\"status\":\"OK\"}: another service answers on this port",
                  "check the port (aim server listens on 53800 by default) and the base path");
  }
  if (p.status == 401) {
    return r.Fail(kExitUnauthenticated, step,
                  absl::StrCat("401 Unauthorized: the proxy in front of Aim wants credentials; "
                               "sent: ", sent),
                  sent == "none" ? "export AIM_AUTH_TOKEN (or CF_ACCESS_CLIENT_ID + "
                                   "CF_ACCESS_CLIENT_SECRET, or AIM_CUSTOM_HEADERS)"
                                 : "the proxy expects another credential kind than the one sent");
  }
  if (p.status == 403) {
    return r.Fail(kExitForbidden, step,
                  absl::StrCat("403 Forbidden: credentials refused (sent: ", sent,
                               "). Behind Cloudflare Access this is a service-auth application "
                               "refusing the service token"),
                  "check the token's value and expiry, and that the proxy/Access policy allows it");
  }
  if (p.status / 100 == 3) {
    const bool login = absl::StrContains(p.location, "/cdn-cgi/access/login") ||
                       absl::StrContains(absl::AsciiStrToLower(p.location), "login") ||
                       absl::StrContains(absl::AsciiStrToLower(p.location), "auth");
    return r.Fail(kExitLoginRedirect, step,
                  absl::StrCat(p.status, " redirect to ", p.location.empty() ? "?" : p.location,
                               login ? ": a LOGIN PAGE - most likely Cloudflare Access (an "
                                       "identity-provider application) or another SSO proxy "
                                       "that did not accept the credentials (sent: " + sent + ")"
                                     : " (the SDK does not follow redirects)"),
                  login ? "use a Cloudflare Access service token (CF_ACCESS_CLIENT_ID + "
                          "CF_ACCESS_CLIENT_SECRET) with a Service Auth policy, or a valid "
                          "CF_ACCESS_TOKEN"
                        : "use the URL the redirect points to");
  }
  if (p.status == 404) {
    r.Note(step, "server answered 404 to HTTP: likely an Aim < 3.19 gRPC server, or a base "
                 "path that differs from `aim server --base-path`");
    return kExitOldServer;
  }
  if (p.status == 502 || p.status == 503 || p.status == 504) {
    return r.Fail(kExitUpstream, step,
                  absl::StrCat(p.status, ": a proxy answers, but the Aim server behind it does not"),
                  "start `aim server` behind the proxy, or fix the proxy's upstream address");
  }
  return r.Fail(kExitNotAim, step, absl::StrCat("unexpected answer ", p.status),
                "check that this address is the Aim server");
}

// Opens the write WebSocket as the SDK does (same code, same credentials), then closes it.
int CheckWebSocket(const rpc::ServerUrl& url, const std::vector<std::string>& lines,
                   const std::string& credentials, const ConnectionSettings& settings,
                   absl::Duration timeout, Report& r) {
  rpc::internal::WebSocketOpenOptions o;
  const bool tls = url.scheme == "https";
  o.path = absl::StrCat(url.base_path, "/tracking/aim-doctor/write-instruction/");
  o.url = absl::StrCat(tls ? "wss" : "ws", "://", rpc::Authority(url), o.path);
  o.connect_url = absl::StrCat(url.scheme, "://", rpc::Authority(url), "/");
  o.host_header = rpc::Authority(url);
  o.header_lines = lines;
  o.connection = settings;
  o.handshake_timeout = timeout;
  o.credentials_description = credentials;
  auto ws = rpc::internal::WebSocketConnection::Open(o);
  if (!ws.ok()) {
    return r.Fail(kExitWebSocket, "WebSocket",
                  absl::StrCat("the upgrade to ", o.url, " failed while plain requests pass: ",
                               ws.status().message()),
                  "let the proxy forward WebSocket upgrades (nginx: proxy_http_version 1.1 and "
                  "the Upgrade/Connection headers, see examples/server/nginx; Cloudflare: "
                  "Network > WebSockets on)");
  }
  (*ws)->Close(1000);
  r.Ok("WebSocket", absl::StrCat("101 Switching Protocols from ", o.url));
  return kExitOk;
}

void CheckVersion(const std::string& prefix, const std::vector<std::string>& lines,
                  const ConnectionSettings& settings, absl::Duration timeout, Report& r) {
  Probe p = Get(prefix + "/client/get-version/", lines, settings, timeout);
  nlohmann::json j = nlohmann::json::parse(p.body, nullptr, /*allow_exceptions=*/false);
  if (p.code == CURLE_OK && p.status == 200 && j.is_object() && j.contains("version") &&
      j["version"].is_string()) {
    r.Ok("server version", absl::StrCat("Aim ", j["version"].get<std::string>(),
                                        " (HTTP + WebSocket transport, Aim >= 3.19)"));
  } else {
    r.Note("server version", absl::StrCat("GET /client/get-version/ did not say (",
                                          p.code != CURLE_OK ? p.error : absl::StrCat(p.status),
                                          "); tracking does not need it"));
  }
}

// After HTTP said "not Aim >= 3.19": does an Aim 3.4-3.18 gRPC server answer, and does the
// SDK's gRPC transport get through (version, connect)? As Protocol::kAuto falls back.
int CheckGrpc(rpc::ServerUrl url, bool scheme_from_url, const auth::CredentialsPtr& credentials,
              const DoctorOptions& options, int http_failure, Report& r) {
  rpc::GrpcTransportOptions o;
  if (!scheme_from_url) url.scheme.clear();  // gRPC decides TLS by its own health check
  o.server = url;
  o.credentials = credentials;
  o.allow_insecure_plaintext = options.insecure;
  o.ca_bundle_file = options.ca_file;
  o.request_timeout = options.timeout;
  absl::StatusOr<rpc::ServerUrl> detected = rpc::DetectGrpcServer(o);
  if (!detected.ok()) {
    return r.Fail(http_failure, "gRPC",
                  absl::StrCat("no Aim gRPC server either (", detected.status().message(),
                               "): not an Aim server at this URL"),
                  "check the base path in the URL (it must match `aim server --base-path`) "
                  "and the port");
  }
  o.server = *detected;
  r.Ok("gRPC", absl::StrCat("a gRPC server answers grpc.health.v1.Health/Check (",
                            o.server.scheme == "https" ? "TLS" : "plaintext",
                            "): an Aim < 3.19 server"));
  absl::StatusOr<std::unique_ptr<rpc::Transport>> transport = rpc::MakeGrpcTransport(o);
  absl::StatusOr<std::string> version =
      transport.ok() ? (*transport)->GetVersion() : transport.status();
  absl::Status connected = version.ok() ? (*transport)->Connect() : version.status();
  if (!connected.ok()) {
    const absl::StatusCode code = connected.code();
    const int exit = code == absl::StatusCode::kUnauthenticated ? kExitUnauthenticated
                     : code == absl::StatusCode::kPermissionDenied ? kExitForbidden
                     : code == absl::StatusCode::kFailedPrecondition ? kExitPlaintext
                                                                     : kExitOldServer;
    return r.Fail(exit, "gRPC", absl::StrCat("the Aim gRPC service refused: ", connected.message()),
                  "check the credentials and the proxy in front of the gRPC server");
  }
  (*transport)->Disconnect().IgnoreError();  // only a courtesy to the server
  r.Ok("server version", absl::StrCat("Aim ", *version, " over gRPC (Aim 3.4-3.18 transport; "
                                      "Protocol::kAuto selects it)"));
  return kExitOk;
}

}  // namespace

std::string DoctorExitCodesHelp() {
  return R"(Exit codes:
   0  every check passed: tracking would work
   1  internal error of aim-doctor
   2  bad arguments or repository URL
   3  credentials: the environment is invalid or the source failed (expired JWT, token file)
   4  credentials would travel in clear text to a remote host (use https, or --insecure)
  10  DNS: the host name does not resolve
  11  TCP: nothing accepts connections on host:port (server down, wrong host, firewall)
  12  TLS: unknown CA, hostname mismatch, expired certificate, or the port does not speak TLS
  13  not an Aim server at this address (wrong port or wrong service)
  14  401: the proxy wants credentials (missing or not recognised)
  15  403: the proxy refused the credentials
  16  3xx to a login page: Cloudflare Access (identity app) or another SSO proxy
  17  the WebSocket upgrade is refused while plain requests pass (proxy config)
  18  404 or no HTTP/1.1, and no Aim gRPC server either: wrong base path, or not Aim
  19  502/503/504: the proxy is up, the Aim server behind it is not
)";
}

int RunDoctor(const DoctorOptions& options, std::ostream& out) {
  Report r(out);
  absl::StatusOr<rpc::ServerUrl> parsed = rpc::ParseServerUrl(options.repo);
  if (!parsed.ok()) {
    return r.Fail(kExitUsage, "repository URL", std::string(parsed.status().message()),
                  "use aim://host:port[/base-path], http://... or https://...");
  }
  rpc::ServerUrl url = *parsed;
  r.Ok("repository URL", absl::StrCat("host ", url.host, ", port ",
                                      url.port == 0 ? "default" : absl::StrCat(url.port),
                                      url.base_path.empty() ? "" : ", base path " + url.base_path,
                                      url.scheme.empty() ? ", scheme to be probed" : ""));

  absl::StatusOr<auth::CredentialsPtr> credentials = auth::FromEnvironment();
  if (!credentials.ok()) {
    return r.Fail(kExitCredentials, "credentials", std::string(credentials.status().message()),
                  "fix the variable named above (AIM_AUTH_TOKEN[_FILE], CF_ACCESS_*, "
                  "AIM_CUSTOM_HEADERS)");
  }
  const std::string description = (*credentials)->DebugString();
  r.Ok("credentials", absl::StrCat("from the environment: ", description));

  rpc::internal::EnsureCurlInitialized();
  ConnectionSettings settings;
  settings.ca_bundle_file = options.ca_file;
  settings.connect_timeout = options.timeout;

  std::vector<sockaddr_storage> addresses;
  std::vector<socklen_t> lengths;
  if (int rc = CheckDns(url, r, &addresses, &lengths); rc != kExitOk) return rc;
  const std::uint16_t port = url.port != 0 ? url.port : (url.scheme == "http" ? 80 : 443);
  if (int rc = CheckTcp(url, port, options.timeout, addresses, lengths, r); rc != kExitOk) {
    return rc;
  }

  // The scheme, as the SDK settles it for aim:// URLs: plain http first (no credentials);
  // a redirect to https, nginx's "plain HTTP request was sent to HTTPS port", or no HTTP
  // answer at all followed by a working TLS handshake mean https.
  if (url.scheme.empty()) {
    Probe plain = Get(rpc::UrlPrefix(url, "http") + "/status/", {}, settings, options.timeout);
    const bool to_https =
        plain.code == CURLE_OK &&
        ((plain.status / 100 == 3 && absl::StartsWithIgnoreCase(plain.location, "https://")) ||
         (plain.status == 400 && absl::StrContains(plain.body, "HTTPS port")));
    if (to_https || plain.code != CURLE_OK) {
      Probe tls = Get(rpc::UrlPrefix(url, "https") + "/", {}, settings, options.timeout, true);
      if (tls.code == CURLE_OK) {
        url.scheme = "https";
      } else if (to_https || tls.code == CURLE_PEER_FAILED_VERIFICATION) {
        return TlsFailure(tls, r);  // a TLS server we cannot talk to
      }
    }
    if (url.scheme.empty()) url.scheme = "http";
    r.Ok("scheme", url.scheme == "https" ? "the server speaks TLS: https + wss"
                                         : "plain HTTP: http + ws");
  }
  if (url.scheme == "https") {
    Probe tls = Get(rpc::UrlPrefix(url, "https") + "/", {}, settings, options.timeout, true);
    if (tls.code != CURLE_OK) return TlsFailure(tls, r);
    r.Ok("TLS", absl::StrCat("handshake OK, certificate valid for ", url.host,
                             options.ca_file.empty() ? " (system CAs)" : " (CA from --ca-file)"));
  }

  const std::string prefix = rpc::UrlPrefix(url, url.scheme);
  const std::string status_url = prefix + "/status/";
  absl::StatusOr<auth::Headers> headers = (*credentials)->GetHeaders(status_url);
  if (!headers.ok()) {
    return r.Fail(kExitCredentials, "credentials", std::string(headers.status().message()),
                  "renew the token or fix the token file");
  }
  const std::string sent = Describe(*headers);
  auth::HttpOptions http_options;
  http_options.allow_insecure_plaintext = options.insecure;
  absl::StatusOr<std::vector<std::string>> lines =
      auth::HttpHeaderLines(**credentials, status_url, http_options);
  if (!lines.ok()) {
    return r.Fail(kExitPlaintext, "credentials",
                  absl::StrCat("would be sent in clear text to ", url.host, ": ",
                               lines.status().message()),
                  "use https (TLS in front of aim server), or --insecure / "
                  "RunOptions.allow_insecure_credentials on a trusted network");
  }
  r.Ok("credential headers", absl::StrCat("would send: ", sent, " (values not shown)"));

  Probe status = Get(status_url, *lines, settings, options.timeout);
  int rc = CheckStatusAnswer(status, status_url, sent, r);
  if (rc == kExitOldServer) {
    // Not Aim >= 3.19 over HTTP: as Protocol::kAuto, try the gRPC transport.
    rc = CheckGrpc(url, !parsed->scheme.empty(), *credentials, options, rc, r);
  } else if (rc == kExitOk) {
    rc = CheckWebSocket(url, *lines, description, settings, options.timeout, r);
    if (rc == kExitOk) CheckVersion(prefix, *lines, settings, options.timeout, r);
  }
  for (std::string& line : *lines) std::fill(line.begin(), line.end(), '\0');
  if (rc == kExitOk) out << "All checks passed: tracking to " << options.repo << " would work.\n";
  return rc;
}

}  // namespace aim::tools
