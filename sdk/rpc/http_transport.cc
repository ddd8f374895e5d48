#include "rpc/http_transport.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "aim/auth/http.h"
#include "rpc/http_client.h"
#include "rpc/uuid.h"
#include "wire/string_view_compat.h"
#include "rpc/websocket_client.h"
#include "rpc/websocket_frame.h"
#include "wire/codec.h"

namespace aim::rpc {
namespace {

using internal::ConnectionSettings;
using ::aim::internal::Av;
using internal::HttpClient;
using internal::HttpReply;
using internal::HttpReplyError;
using internal::HttpRequest;
using internal::WebSocketConnection;
using internal::WebSocketOpenOptions;
using internal::WsEvent;
using internal::WsOpcode;

constexpr std::uint16_t kCloseNormal = 1000;
// How long after our last send the keeper leaves the socket to WriteBatch: short next to any
// server's ping timeout (uvicorn: 20 s), long next to the gap between two batches.
constexpr absl::Duration kKeeperQuietPeriod = absl::Milliseconds(50);

// Client URIs and handlers end up in URL paths: allow only unreserved characters.
bool IsPathSegment(std::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
           c == '.' || c == '~';
  });
}

ConnectionSettings SettingsFrom(const HttpTransportOptions& o) {
  return ConnectionSettings{o.ca_bundle_file, o.client_cert_file, o.client_key_file,
                            o.verify_tls, o.connect_timeout};
}

absl::StatusOr<std::vector<std::string>> CredentialLines(const HttpTransportOptions& o,
                                                        std::string_view url) {
  if (o.credentials == nullptr) return std::vector<std::string>{};
  aim::auth::HttpOptions http_options;
  http_options.allow_insecure_plaintext = o.allow_insecure_plaintext;
  return aim::auth::HttpHeaderLines(*o.credentials, url, http_options);
}

absl::StatusOr<std::string> Dump(const nlohmann::json& j) {
  try {
    return j.dump();
  } catch (const nlohmann::json::exception&) {
    return absl::InvalidArgumentError("request field is not valid UTF-8");
  }
}

absl::StatusOr<std::string> PackedBase64(const Value& v) {
  absl::StatusOr<std::string> packed = wire::Pack(v, wire::Framing::kStream);
  if (!packed.ok()) return packed.status();
  return absl::Base64Escape(*packed);
}

// The exception dict of a WebSocket error reply (SPEC 2.6, Appendix A27).
absl::Status ErrorReplyStatus(std::string_view payload) {
  absl::StatusOr<Value> v = wire::UnpackTree(payload, wire::Framing::kStream);
  if (!v.ok() || v->kind() != Value::Kind::kDict) {
    return absl::InternalError(absl::StrCat(
        "undecodable WebSocket reply from the server (", payload.size(), " bytes)",
        v.ok() ? "" : absl::StrCat(": ", v.status().message())));
  }
  ServerException e;
  for (const auto& [key, value] : v->dict()) {
    const std::string* name = std::get_if<std::string>(&key);
    if (name == nullptr || value.kind() != Value::Kind::kString) continue;
    if (*name == "module_name") e.module_name = value.string_value();
    if (*name == "class_name") e.class_name = value.string_value();
    if (*name == "args") e.args = value.string_value();
    if (*name == "message") e.message = value.string_value();
  }
  if (e.class_name.empty()) {
    return absl::InternalError("WebSocket error reply without an exception class");
  }
  return ServerError(e);
}

class HttpTransport final : public Transport {
 public:
  HttpTransport(HttpTransportOptions options, int wake_fd)
      : options_(std::move(options)),
        http_prefix_(UrlPrefix(options_.server, options_.server.scheme)),
        credentials_description_(options_.credentials ? options_.credentials->DebugString()
                                                      : "none"),
        http_(SettingsFrom(options_)),
        wake_fd_(wake_fd),
        keeper_([this] { KeeperLoop(); }) {}

  ~HttpTransport() override {
    {
      absl::MutexLock lock(&ws_mu_);
      stopping_ = true;
      if (ws_ != nullptr) ws_->Close(kCloseNormal);
      ResetWebSocketLocked();
    }
    WakeKeeper();
    keeper_.join();
    close(wake_fd_);
  }

  absl::Status Connect() override { return Get(ClientPath("connect")).status(); }

  absl::Status Reconnect() override {
    if (absl::Status s = Get(ClientPath("reconnect")).status(); !s.ok()) return s;
    absl::MutexLock lock(&ws_mu_);
    DropWebSocketLocked();
    ws_lost_ = absl::OkStatus();
    return OpenWebSocketLocked();
  }

  absl::Status Disconnect() override {
    {
      absl::MutexLock lock(&ws_mu_);
      DropWebSocketLocked();
      ws_lost_ = absl::OkStatus();
    }
    return GetBestEffort(ClientPath("disconnect")).status();
  }

  absl::Status Heartbeat() override { return GetBestEffort(ClientPath("heartbeat")).status(); }

  absl::StatusOr<std::string> GetVersion() override {
    const std::string url = absl::StrCat(http_prefix_, "/client/get-version/");
    absl::StatusOr<HttpReply> reply = Perform(false, url, "", options_.request_timeout);
    if (!reply.ok()) return reply.status();
    // An Aim <= 3.18 (gRPC) server does not know the route; Aim's own client says the same.
    if (reply->status == 404) return std::string("<3.19.0");
    if (reply->status != 200) return HttpReplyError(*reply, absl::StrCat("GET ", url),
                                                    credentials_description_);
    nlohmann::json j = nlohmann::json::parse(reply->body, nullptr, false);
    if (!j.is_object() || !j.contains("version") || !j["version"].is_string()) {
      return absl::InternalError(absl::StrCat("GET ", url, ": no version in the answer"));
    }
    return j["version"].get<std::string>();
  }

  absl::StatusOr<std::string> GetResource(std::string_view resource_type, const Value& kwargs,
                                          std::string_view handler) override {
    if (!handler.empty() && !IsPathSegment(handler)) {
      return absl::InvalidArgumentError("resource handler has characters unsafe in a URL");
    }
    absl::StatusOr<std::string> args = PackedBase64(kwargs);
    if (!args.ok()) return args.status();
    absl::StatusOr<std::string> body = Dump(nlohmann::json{
        {"resource_handler", handler}, {"resource_type", resource_type}, {"args", *args}});
    if (!body.ok()) return body.status();
    absl::StatusOr<std::string> answer =
        Post(TrackingPath("get-resource/"), *body, options_.read_instruction_timeout);
    if (!answer.ok()) return answer.status();
    nlohmann::json j = nlohmann::json::parse(*answer, nullptr, false);
    if (!j.is_object() || !j.contains("handler") || !j["handler"].is_string()) {
      return absl::InternalError("get-resource: no handler in the server's answer");
    }
    return j["handler"].get<std::string>();
  }

  absl::Status ReleaseResource(std::string_view handler) override {
    if (!IsPathSegment(handler)) {
      return absl::InvalidArgumentError("resource handler has characters unsafe in a URL");
    }
    return GetBestEffort(TrackingPath(absl::StrCat("release-resource/", Av(handler), "/")))
        .status();
  }

  absl::StatusOr<Value> ReadInstruction(std::string_view handler, std::string_view method,
                                        const Value& args) override {
    if (args.kind() != Value::Kind::kList) {
      return absl::InvalidArgumentError("read-instruction args must be a list");
    }
    // An empty list still packs to one record: the server rejects an empty args string.
    absl::StatusOr<std::string> packed = PackedBase64(args);
    if (!packed.ok()) return packed.status();
    absl::StatusOr<std::string> body = Dump(nlohmann::json{
        {"resource_handler", handler}, {"method_name", method}, {"args", *packed}});
    if (!body.ok()) return body.status();
    absl::StatusOr<std::string> answer =
        Post(TrackingPath("read-instruction/"), *body, options_.read_instruction_timeout);
    if (!answer.ok()) return answer.status();
    // The server sends one record per chunk; proxies may re-chunk, so parse the whole body.
    absl::StatusOr<Value> result = wire::UnpackTree(*answer, wire::Framing::kStream);
    if (!result.ok()) {
      return absl::InternalError(absl::StrCat("read-instruction ", Av(method),
                                              ": undecodable answer: ",
                                              result.status().message()));
    }
    return result;
  }

  // WriteBatch holds ws_mu_ while it waits; shutting the socket down (under a lock of its
  // own, so the descriptor cannot be closed and reused meanwhile) ends that wait at once.
  void InterruptWrite() override {
    absl::MutexLock lock(&socket_mu_);
    if (ws_socket_ >= 0) shutdown(ws_socket_, SHUT_RDWR);
  }

  absl::Status WriteBatch(std::string_view message) override {
    absl::MutexLock lock(&ws_mu_);
    if (ws_ != nullptr) {
      // Take in anything that arrived since the keeper last looked (e.g. a close frame).
      if (absl::Status s = ws_->Service(); !s.ok()) {
        ws_lost_ = s;
        DropWebSocketLocked();
      }
    }
    if (ws_ == nullptr) {
      if (!ws_lost_.ok()) {
        absl::Status lost = absl::UnavailableError(absl::StrCat(
            "the WebSocket connection was lost while idle (", ws_lost_.message(),
            "); the batch was not sent"));
        ws_lost_ = absl::OkStatus();
        return lost;
      }
      if (absl::Status s = OpenWebSocketLocked(); !s.ok()) return s;
    }
    const absl::Time deadline = absl::Now() + options_.ws_ack_timeout;
    if (absl::Status s = ws_->SendBinary(message, deadline); !s.ok()) {
      DropWebSocketLocked();
      return s;
    }
    absl::StatusOr<WsEvent> reply = ws_->ReadMessage(deadline);
    if (!reply.ok()) {
      // Lost or timed out: whether the batch was applied is unknown; the caller decides.
      DropWebSocketLocked();
      return reply.status();
    }
    if (reply->message_opcode == WsOpcode::kBinary && reply->payload == "OK") {
      return absl::OkStatus();
    }
    // An error reply: the server closes the connection after it (SPEC 2.6), so the next
    // batch goes over a new one.
    ws_->Close(kCloseNormal);
    DropWebSocketLocked();
    if (reply->message_opcode != WsOpcode::kBinary) {
      return absl::InternalError("the server answered a batch with a text WebSocket message");
    }
    return ErrorReplyStatus(reply->payload);
  }

 private:
  std::string ClientPath(std::string_view route) const {
    return absl::StrCat("/client/", Av(route), "/", options_.client_uri, "/");
  }
  std::string TrackingPath(std::string_view rest) const {
    return absl::StrCat("/tracking/", options_.client_uri, "/", Av(rest));
  }

  absl::StatusOr<HttpReply> Perform(bool post, const std::string& url, std::string body,
                                    absl::Duration timeout) {
    absl::StatusOr<std::vector<std::string>> lines = CredentialLines(options_, url);
    if (!lines.ok()) return lines.status();
    HttpRequest request;
    request.url = url;
    request.post = post;
    request.body = std::move(body);
    request.header_lines = *std::move(lines);
    request.timeout = timeout;
    request.max_response_bytes = options_.max_response_bytes;
    return http_.Perform(request);
  }

  // A request whose success is any 2xx; returns the body.
  absl::StatusOr<std::string> Call(bool post, std::string_view path, std::string body,
                                   absl::Duration timeout) {
    const std::string url = absl::StrCat(http_prefix_, Av(path));
    absl::StatusOr<HttpReply> reply = Perform(post, url, std::move(body), timeout);
    if (!reply.ok()) return reply.status();
    if (reply->status / 100 != 2) {
      return HttpReplyError(*reply, absl::StrCat(post ? "POST " : "GET ", url),
                            credentials_description_);
    }
    return std::move(reply->body);
  }
  absl::StatusOr<std::string> Get(std::string_view path) {
    return Call(false, path, "", options_.request_timeout);
  }
  absl::StatusOr<std::string> GetBestEffort(std::string_view path) {
    return Call(false, path, "", BestEffortTimeout(options_.request_timeout));
  }
  absl::StatusOr<std::string> Post(std::string_view path, std::string body,
                                   absl::Duration timeout) {
    return Call(true, path, std::move(body), timeout);
  }

  absl::Status OpenWebSocketLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(ws_mu_) {
    const bool tls = options_.server.scheme == "https";
    const std::string path =
        absl::StrCat(options_.server.base_path, TrackingPath("write-instruction/"));
    const std::string ws_url =
        absl::StrCat(tls ? "wss" : "ws", "://", Authority(options_.server), path);
    absl::StatusOr<std::vector<std::string>> lines = CredentialLines(options_, ws_url);
    if (!lines.ok()) return lines.status();
    WebSocketOpenOptions open;
    open.url = ws_url;
    open.connect_url =
        absl::StrCat(options_.server.scheme, "://", Authority(options_.server), "/");
    open.host_header = Authority(options_.server);
    open.path = path;
    open.header_lines = *std::move(lines);
    open.connection = SettingsFrom(options_);
    open.handshake_timeout = options_.request_timeout;
    open.max_message_bytes = options_.max_response_bytes;
    open.credentials_description = credentials_description_;
    absl::StatusOr<std::unique_ptr<WebSocketConnection>> ws = WebSocketConnection::Open(open);
    if (!ws.ok()) return ws.status();
    ws_ = *std::move(ws);
    {
      absl::MutexLock lock(&socket_mu_);
      ws_socket_ = ws_->socket();
    }
    last_ping_ = absl::InfinitePast();
    WakeKeeper();
    return absl::OkStatus();
  }

  void DropWebSocketLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(ws_mu_) {
    if (ws_ == nullptr) return;
    ws_->Close(kCloseNormal);
    ResetWebSocketLocked();
    WakeKeeper();
  }

  void ResetWebSocketLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(ws_mu_) {
    {
      absl::MutexLock lock(&socket_mu_);
      ws_socket_ = -1;
    }
    ws_.reset();
  }

  void WakeKeeper() {
    const std::uint64_t one = 1;
    // Fails only if the counter would overflow, i.e. a wake-up is pending anyway.
    (void)!write(wake_fd_, &one, sizeof one);
  }

  // Keeps an idle WebSocket alive: answers the server's pings, sends pings after
  // `ws_ping_interval` without traffic from us, and drops a connection whose peer went
  // silent. Sleeps in poll() on the socket and the wake-up eventfd; never spins.
  void KeeperLoop() {
    while (true) {
      int fd = -1;
      absl::Duration wait = absl::InfiniteDuration();
      {
        absl::MutexLock lock(&ws_mu_);
        if (stopping_) return;
        if (ws_ != nullptr) {
          absl::Status s = ws_->Service();
          const absl::Duration interval = options_.ws_ping_interval;
          const absl::Time now = absl::Now();
          if (s.ok() && interval > absl::ZeroDuration()) {
            const bool waiting_for_peer = last_ping_ > ws_->last_received();
            if (waiting_for_peer && now - last_ping_ >= interval) {
              s = absl::UnavailableError(absl::StrCat("no answer to a keep-alive ping within ",
                                                      absl::FormatDuration(interval)));
            } else if (!waiting_for_peer && now - ws_->last_sent() >= interval) {
              s = ws_->SendPing(now + options_.request_timeout);
              last_ping_ = now;
            }
          }
          if (!s.ok()) {
            ws_lost_ = s;
            ResetWebSocketLocked();
          } else {
            if (interval > absl::ZeroDuration()) {
              const absl::Time next = last_ping_ > ws_->last_received()
                                          ? last_ping_ + interval
                                          : ws_->last_sent() + interval;
              wait = std::max(absl::ZeroDuration(), next - absl::Now());
            }
            // While batches flow, WriteBatch reads every reply, ping and close itself;
            // watching the socket as well would wake this thread for every reply.
            const absl::Time quiet_at = ws_->last_sent() + kKeeperQuietPeriod;
            if (now < quiet_at) {
              wait = std::min(wait, quiet_at - now);
            } else {
              fd = ws_->socket();
            }
          }
        }
      }
      pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {fd, POLLIN, 0}};
      const int timeout =
          wait == absl::InfiniteDuration()
              ? -1
              : static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(wait) + 1, 60'000));
      const int rc = poll(fds, fd >= 0 ? 2 : 1, timeout);
      if (rc > 0 && (fds[0].revents & POLLIN) != 0) {
        std::uint64_t count = 0;
        (void)!read(wake_fd_, &count, sizeof count);
      }
      if (rc > 0 && fd >= 0 && (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
        // Readable while a WriteBatch holds the mutex: that call reads the data; waiting
        // for the mutex here (instead of polling again) keeps this loop from spinning.
        absl::MutexLock lock(&ws_mu_);
      }
    }
  }

  const HttpTransportOptions options_;
  const std::string http_prefix_;
  const std::string credentials_description_;
  HttpClient http_;

  absl::Mutex ws_mu_;
  std::unique_ptr<WebSocketConnection> ws_ ABSL_GUARDED_BY(ws_mu_);
  // ws_'s socket, for InterruptWrite(), which cannot take ws_mu_. Lock order: ws_mu_ first.
  absl::Mutex socket_mu_ ABSL_ACQUIRED_AFTER(ws_mu_);
  int ws_socket_ ABSL_GUARDED_BY(socket_mu_) = -1;
  // Why the keeper dropped the connection while idle; reported by the next WriteBatch.
  absl::Status ws_lost_ ABSL_GUARDED_BY(ws_mu_);
  absl::Time last_ping_ ABSL_GUARDED_BY(ws_mu_) = absl::InfinitePast();
  bool stopping_ ABSL_GUARDED_BY(ws_mu_) = false;
  const int wake_fd_;
  std::thread keeper_;  // last: starts after everything it uses exists
};

absl::Status ValidateOptions(const HttpTransportOptions& o) {
  if (o.server.scheme != "http" && o.server.scheme != "https") {
    return absl::InvalidArgumentError(
        "server scheme must be http or https (resolve aim:// URLs with SelectHttpScheme)");
  }
  if (o.server.host.empty()) return absl::InvalidArgumentError("server host is empty");
  const absl::Duration timeouts[] = {o.connect_timeout, o.request_timeout,
                                     o.read_instruction_timeout, o.ws_ack_timeout};
  for (absl::Duration d : timeouts) {
    if (d <= absl::ZeroDuration()) return absl::InvalidArgumentError("timeouts must be positive");
  }
  if (o.ws_ping_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("ws_ping_interval must not be negative");
  }
  if (o.max_response_bytes == 0) {
    return absl::InvalidArgumentError("max_response_bytes must be positive");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> MakeHttpTransport(HttpTransportOptions options) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  if (options.client_uri.empty()) {
    absl::StatusOr<std::string> uri = NewUuid4();
    if (!uri.ok()) return uri.status();
    options.client_uri = *std::move(uri);
  } else if (!IsPathSegment(options.client_uri)) {
    return absl::InvalidArgumentError("client URI has characters unsafe in a URL");
  }
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    return absl::ResourceExhaustedError(absl::StrCat("eventfd: ", strerror(errno)));
  }
  return std::unique_ptr<Transport>(new HttpTransport(std::move(options), wake_fd));
}

absl::StatusOr<ServerUrl> SelectHttpScheme(const HttpTransportOptions& options,
                                           HttpScheme choice) {
  ServerUrl url = options.server;
  if (!url.scheme.empty()) {
    if (url.scheme != "http" && url.scheme != "https") {
      return absl::InvalidArgumentError("server scheme must be http or https");
    }
    return url;
  }
  if (choice == HttpScheme::kHttp || choice == HttpScheme::kHttps) {
    url.scheme = choice == HttpScheme::kHttp ? "http" : "https";
    return url;
  }
  HttpClient client(SettingsFrom(options));
  HttpRequest probe;
  probe.timeout = options.request_timeout;
  probe.max_response_bytes = 64 * 1024;
  // Plain http first and without credentials (they must not travel in clear text): a
  // redirect to https settles it.
  probe.url = absl::StrCat(UrlPrefix(url, "http"), "/status/");
  absl::StatusOr<HttpReply> plain = client.Perform(probe);
  if (plain.ok() && plain->status / 100 == 3 &&
      absl::StartsWithIgnoreCase(plain->location, "https://")) {
    url.scheme = "https";
    return url;
  }
  probe.url = absl::StrCat(UrlPrefix(url, "https"), "/status/");
  absl::StatusOr<std::vector<std::string>> lines = CredentialLines(options, probe.url);
  if (!lines.ok()) return lines.status();
  probe.header_lines = *std::move(lines);
  absl::StatusOr<HttpReply> secure = client.Perform(probe);
  const bool https_answers =
      secure.ok() && (secure->status == 200 || secure->status == 401 || secure->status == 403 ||
                      secure->status / 100 == 3);
  url.scheme = https_answers ? "https" : "http";
  return url;
}

}  // namespace aim::rpc
