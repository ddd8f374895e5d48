#include "tests/support/server/http_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <thread>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "rpc/websocket_frame.h"
#include "tests/support/server/python_text.h"
#include "wire/codec.h"

namespace aim::test_server {
namespace {

using ::aim::internal::Av;
using ::aim::internal::Sv;

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle) {
  return absl::StrContains(absl::AsciiStrToLower(Av(haystack)), absl::AsciiStrToLower(Av(needle)));
}

constexpr std::size_t kMaxHeaderBytes = 64 * 1024;
constexpr absl::Duration kPollSlice = absl::Milliseconds(50);

std::string NormaliseBasePath(std::string_view base) {
  std::string out(base);
  while (!out.empty() && out.back() == '/') out.pop_back();
  if (!out.empty() && out.front() != '/') out.insert(out.begin(), '/');
  return out;
}

std::string StatusText(int status) {
  switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Request Entity Too Large";
    case 500: return "Internal Server Error";
    default: return "Status";
  }
}

std::string Dump(const nlohmann::ordered_json& j) {
  // Starlette's JSONResponse: compact separators, non-ASCII kept as UTF-8.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Key order as Aim's dict literal (ordered_json keeps insertion order).
nlohmann::ordered_json ErrorJson(const AimError& e) {
  return {{"exception",
           {{"module_name", e.module_name},
            {"class_name", e.class_name},
            {"args", e.args_json},
            {"message", e.message}}}};
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    int hi = 0, lo = 0;
    if (s[i] == '%' && i + 2 < s.size() &&
        absl::ascii_isxdigit(s[i + 1]) && absl::ascii_isxdigit(s[i + 2])) {
      hi = absl::ascii_isdigit(s[i + 1]) ? s[i + 1] - '0' : (absl::ascii_tolower(s[i + 1]) - 'a' + 10);
      lo = absl::ascii_isdigit(s[i + 2]) ? s[i + 2] - '0' : (absl::ascii_tolower(s[i + 2]) - 'a' + 10);
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// True when a string key or a str / custom-object value holds invalid UTF-8: Aim cannot even
// build its error reply for those (SPEC 0.5 item 2), so they get different treatment.
bool HasInvalidUtf8(const std::vector<wire::Record>& records) {
  for (const wire::Record& r : records) {
    if (!r.value.empty() && (r.value[0] == '\x04' || r.value[0] == '\x0f') &&
        !internal::IsValidUtf8(std::string_view(r.value).substr(1))) {
      return true;
    }
    std::size_t pos = 0;
    const std::string& k = r.key;
    while (pos < k.size()) {
      if (k[pos] == '\xfe') {
        pos += 10;  // FE, 8 bytes, FE
        continue;
      }
      std::size_t end = k.find('\xfe', pos);
      if (end == std::string::npos) end = k.size();
      if (!internal::IsValidUtf8(std::string_view(k).substr(pos, end - pos))) return true;
      pos = end + 1;
    }
  }
  return false;
}

std::string WebSocketAccept(std::string_view key) {
  const std::string in = absl::StrCat(Av(key), "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  return absl::Base64Escape(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

std::string WsFrame(int opcode, std::string_view payload) {
  std::string f;
  f += static_cast<char>(0x80 | opcode);
  if (payload.size() < 126) {
    f += static_cast<char>(payload.size());
  } else if (payload.size() <= 0xFFFF) {
    f += static_cast<char>(126);
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size() & 0xFF);
  } else {
    f += static_cast<char>(127);
    for (int i = 7; i >= 0; --i) f += static_cast<char>((payload.size() >> (8 * i)) & 0xFF);
  }
  f.append(payload);
  return f;
}

std::string CloseFrame(int code) {
  const char p[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  return WsFrame(0x8, std::string_view(p, 2));
}

struct HttpRequest {
  std::string method, target, version;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::optional<std::string> Header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (absl::EqualsIgnoreCase(k, Av(name))) return v;
    }
    return std::nullopt;
  }
};

}  // namespace

std::optional<std::string> RequestRecord::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, Av(name))) return v;
  }
  return std::nullopt;
}

struct Connection {
  int fd = -1;  // closed only by the connection's own thread, under Impl::mu
  std::thread thread;
  bool finished = false;
};

struct HttpTestServer::Impl {
  HttpTestServerOptions options;
  std::shared_ptr<FakeAimRepo> repo;
  std::uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::thread accept_thread;

  mutable absl::Mutex mu;
  int listen_fd ABSL_GUARDED_BY(mu) = -1;
  bool want_listening ABSL_GUARDED_BY(mu) = true;
  absl::Status listen_status ABSL_GUARDED_BY(mu);
  std::list<Connection> conns ABSL_GUARDED_BY(mu);
  std::vector<RequestRecord> requests ABSL_GUARDED_BY(mu);
  std::uint64_t ws_connections ABSL_GUARDED_BY(mu) = 0;
  std::uint64_t ws_messages ABSL_GUARDED_BY(mu) = 0;
  std::uint64_t pongs ABSL_GUARDED_BY(mu) = 0;
  // Faults.
  int drop_every ABSL_GUARDED_BY(mu) = 0;
  bool drop_repeat ABSL_GUARDED_BY(mu) = false;
  DropPoint drop_point ABSL_GUARDED_BY(mu) = DropPoint::kBeforeApply;
  int drop_counter ABSL_GUARDED_BY(mu) = 0;
  std::optional<AimError> fail_next ABSL_GUARDED_BY(mu);
  absl::Duration reply_delay ABSL_GUARDED_BY(mu) = absl::ZeroDuration();
  bool answer_pings ABSL_GUARDED_BY(mu) = true;
  bool send_pings ABSL_GUARDED_BY(mu) = true;
  int forced_status ABSL_GUARDED_BY(mu) = 0;

  static absl::StatusOr<int> Listen(std::uint16_t port) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 128) != 0) {
      const int err = errno;
      close(fd);
      return absl::UnavailableError(absl::StrCat("bind/listen 127.0.0.1:", port, ": ",
                                                 std::strerror(err)));
    }
    return fd;
  }

  // ---- accept loop: owns the listening socket; (re)binds or closes it on request ----
  void AcceptLoop() {
    while (!stopping.load()) {
      int fd = -1;
      {
        absl::MutexLock l(&mu);
        if (!want_listening && listen_fd >= 0) {
          close(listen_fd);
          listen_fd = -1;
        } else if (want_listening && listen_fd < 0 && listen_status.ok()) {
          absl::StatusOr<int> s = Listen(port);
          if (s.ok()) listen_fd = *s;
          else listen_status = s.status();
        }
        fd = listen_fd;
        // Reap connections whose thread has finished.
        for (auto it = conns.begin(); it != conns.end();) {
          if (it->finished) {
            it->thread.join();
            it = conns.erase(it);
          } else {
            ++it;
          }
        }
      }
      if (fd < 0) {
        absl::SleepFor(kPollSlice);
        continue;
      }
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, absl::ToInt64Milliseconds(kPollSlice)) <= 0) continue;
      const int client = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      const int one = 1;
      setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      absl::MutexLock l(&mu);
      if (!want_listening || stopping.load()) {
        close(client);
        continue;
      }
      Connection& c = conns.emplace_back();
      c.fd = client;
      c.thread = std::thread([this, &c, client] { Serve(c, client); });
    }
    absl::MutexLock l(&mu);
    if (listen_fd >= 0) close(listen_fd);
    listen_fd = -1;
  }

  void ShutdownAllLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (Connection& c : conns) {
      if (c.fd >= 0) shutdown(c.fd, SHUT_RDWR);
    }
  }

  void SleepUnlessStopping(absl::Duration d) {
    const absl::Time until = absl::Now() + d;
    while (!stopping.load() && absl::Now() < until) {
      absl::SleepFor(std::min(kPollSlice, until - absl::Now()));
    }
  }

  absl::Duration Delay() {
    absl::MutexLock l(&mu);
    return reply_delay;
  }

  // ---- per-connection I/O ----
  struct Io {
    int fd;
    std::string buf;
    // Reads more bytes; false on EOF/error or when `deadline` passes with nothing read.
    bool ReadMore(Impl& impl, absl::Time deadline) {
      char tmp[65536];
      while (!impl.stopping.load()) {
        const absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration()) return false;
        pollfd p{fd, POLLIN, 0};
        const int r = poll(&p, 1, absl::ToInt64Milliseconds(std::min(left, kPollSlice)) + 1);
        if (r < 0 && errno != EINTR) return false;
        if (r <= 0) continue;
        const ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        if (n <= 0) return false;
        buf.append(tmp, static_cast<std::size_t>(n));
        return true;
      }
      return false;
    }
    bool Write(std::string_view data) {
      while (!data.empty()) {
        const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
      }
      return true;
    }
  };

  void Serve(Connection& c, int fd) {
    Io io{fd, {}};
    while (!stopping.load()) {
      std::optional<HttpRequest> req = ReadRequest(io);
      if (!req) break;
      if (!HandleRequest(io, *req)) break;
    }
    absl::MutexLock l(&mu);
    close(c.fd);
    c.fd = -1;
    c.finished = true;
  }

  std::optional<HttpRequest> ReadRequest(Io& io) {
    const absl::Time far = absl::InfiniteFuture();
    std::size_t end;
    while ((end = io.buf.find("\r\n\r\n")) == std::string::npos) {
      // A request line starts with a method token; anything else (e.g. the TLS ClientHello
      // of a client's https probe) is rejected at once, as uvicorn's h11 does.
      if (!io.buf.empty() && !absl::ascii_isupper(static_cast<unsigned char>(io.buf[0]))) {
        BadRequest(io);
        return std::nullopt;
      }
      if (io.buf.size() > kMaxHeaderBytes || !io.ReadMore(*this, far)) {
        if (!io.buf.empty()) BadRequest(io);
        return std::nullopt;
      }
    }
    HttpRequest req;
    std::vector<absl::string_view> lines =
        absl::StrSplit(absl::string_view(io.buf).substr(0, end), "\r\n");
    std::vector<absl::string_view> first = absl::StrSplit(lines[0], ' ');
    if (first.size() != 3 || !absl::StartsWith(first[2], "HTTP/1.") || first[1].empty()) {
      BadRequest(io);  // e.g. the TLS ClientHello of a client's https probe
      return std::nullopt;
    }
    req.method = std::string(first[0]);
    req.target = std::string(first[1]);
    req.version = std::string(first[2]);
    for (std::size_t i = 1; i < lines.size(); ++i) {
      const std::size_t colon = lines[i].find(':');
      if (colon == absl::string_view::npos || colon == 0) {
        BadRequest(io);
        return std::nullopt;
      }
      req.headers.emplace_back(std::string(lines[i].substr(0, colon)),
                               std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1))));
    }
    io.buf.erase(0, end + 4);
    // Body: Content-Length or chunked.
    if (auto te = req.Header("Transfer-Encoding"); te && ContainsIgnoreCase(*te, "chunked")) {
      for (;;) {
        std::size_t eol;
        while ((eol = io.buf.find("\r\n")) == std::string::npos) {
          if (io.buf.size() > kMaxHeaderBytes || !io.ReadMore(*this, far)) return std::nullopt;
        }
        absl::string_view size_text = absl::string_view(io.buf).substr(0, eol);
        size_text = size_text.substr(0, size_text.find(';'));
        std::uint64_t size = 0;
        if (!absl::SimpleHexAtoi(absl::StripAsciiWhitespace(size_text), &size) ||
            size > options.max_message_bytes - std::min(options.max_message_bytes, req.body.size())) {
          BadRequest(io);
          return std::nullopt;
        }
        while (io.buf.size() < eol + 2 + size + 2) {
          if (!io.ReadMore(*this, far)) return std::nullopt;
        }
        req.body.append(io.buf, eol + 2, size);
        io.buf.erase(0, eol + 2 + size + 2);
        if (size == 0) {
          // Trailers are not used by any client here; the final CRLF was consumed above.
          break;
        }
      }
    } else if (auto cl = req.Header("Content-Length")) {
      std::uint64_t len = 0;
      if (!absl::SimpleAtoi(*cl, &len) || len > options.max_message_bytes) {
        BadRequest(io);
        return std::nullopt;
      }
      while (io.buf.size() < len) {
        if (!io.ReadMore(*this, far)) return std::nullopt;
      }
      req.body = io.buf.substr(0, len);
      io.buf.erase(0, len);
    }
    return req;
  }

  void BadRequest(Io& io) {
    // What uvicorn's h11 says to something that is not HTTP.
    io.Write(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
        "content-length: 30\r\nconnection: close\r\n\r\nInvalid HTTP request received.");
  }

  void Log(const HttpRequest& req, bool websocket, int status) {
    absl::MutexLock l(&mu);
    requests.push_back({req.method, req.target, req.headers, websocket, status});
  }

  bool Respond(Io& io, const HttpRequest& req, int status, const std::string& body,
               bool websocket = false) {
    Log(req, websocket, status);
    if (absl::Duration d = Delay(); d > absl::ZeroDuration()) SleepUnlessStopping(d);
    const std::string head = absl::StrFormat(
        "HTTP/1.1 %d %s\r\ndate: %s\r\nserver: uvicorn\r\ncontent-length: %d\r\n"
        "content-type: application/json\r\n\r\n",
        status, StatusText(status),
        absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::Now(), absl::UTCTimeZone()),
        body.size());
    if (!io.Write(head + body)) return false;
    auto conn = req.Header("Connection");
    return !(conn && absl::EqualsIgnoreCase(*conn, "close")) && req.version != "HTTP/1.0";
  }

  bool RespondJson(Io& io, const HttpRequest& req, int status, const nlohmann::ordered_json& j) {
    return Respond(io, req, status, Dump(j));
  }

  // ---- routing (SPEC 2.3) ----
  bool HandleRequest(Io& io, const HttpRequest& req) {
    repo->CountBytesReceived(req.body.size());
    const bool upgrade = [&] {
      auto u = req.Header("Upgrade");
      return u && absl::EqualsIgnoreCase(*u, "websocket");
    }();
    int forced;
    {
      absl::MutexLock l(&mu);
      forced = forced_status;
    }
    if (forced != 0) {
      Respond(io, req, forced, Dump({{"detail", StatusText(forced)}}), upgrade);
      return !upgrade;
    }
    std::string_view path = req.target;
    path = path.substr(0, path.find('?'));
    const std::string& base = options.base_path;
    if (!base.empty()) {
      if (!absl::StartsWith(Av(path), base) || path.size() == base.size() || path[base.size()] != '/') {
        return NotFound(io, req, upgrade);
      }
      path.remove_prefix(base.size());
    }
    if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    std::vector<std::string> seg;
    for (absl::string_view s : absl::StrSplit(Av(path.substr(path.empty() ? 0 : 1)), '/')) {
      seg.push_back(PercentDecode(Sv(s)));
    }
    for (const std::string& s : seg) {
      if (s.empty()) return NotFound(io, req, upgrade);
    }
    // Which route matches, and with which method.
    enum Route { kNone, kStatus, kVersion, kClient, kGetResource, kRelease, kRead, kWrite };
    Route route = kNone;
    std::string_view want = "GET";
    if (seg.size() == 1 && seg[0] == "status") route = kStatus;
    else if (seg.size() == 2 && seg[0] == "client" && seg[1] == "get-version") route = kVersion;
    else if (seg.size() == 3 && seg[0] == "client" &&
             (seg[1] == "connect" || seg[1] == "heartbeat" || seg[1] == "reconnect" ||
              seg[1] == "disconnect")) route = kClient;
    else if (seg.size() == 3 && seg[0] == "tracking" && seg[2] == "get-resource") {
      route = kGetResource;
      want = "POST";
    } else if (seg.size() == 4 && seg[0] == "tracking" && seg[2] == "release-resource") {
      route = kRelease;
    } else if (seg.size() == 3 && seg[0] == "tracking" && seg[2] == "read-instruction") {
      route = kRead;
      want = "POST";
    } else if (seg.size() == 3 && seg[0] == "tracking" && seg[2] == "write-instruction") {
      route = kWrite;
    }
    if (route == kWrite) {
      if (!upgrade) return NotFound(io, req, false);  // a WebSocket route does not serve HTTP
      ServeWebSocket(io, req, seg[1]);
      return false;
    }
    if (route == kNone) return NotFound(io, req, upgrade);
    if (upgrade) {
      // A WebSocket handshake to an HTTP route: uvicorn rejects it.
      Respond(io, req, 403, "", true);
      return false;
    }
    if (req.method != want) {
      return RespondJson(io, req, 405, {{"detail", "Method Not Allowed"}});
    }
    switch (route) {
      case kStatus: return RespondJson(io, req, 200, {{"status", "OK"}});
      case kVersion: return RespondJson(io, req, 200, {{"version", repo->version()}});
      case kClient:
        if (seg[1] == "connect") repo->Connect(seg[2]);
        else if (seg[1] == "heartbeat") repo->Heartbeat(seg[2]);
        else if (seg[1] == "reconnect") repo->Reconnect(seg[2]);
        else repo->Disconnect(seg[2]);
        return Respond(io, req, 200, "null");
      case kRelease:
        if (auto e = repo->ReleaseResource(seg[1], seg[3])) return RespondJson(io, req, 400, ErrorJson(*e));
        return Respond(io, req, 200, "null");
      case kGetResource: return GetResource(io, req, seg[1]);
      case kRead: return ReadInstruction(io, req, seg[1]);
      default: return NotFound(io, req, false);
    }
  }

  bool NotFound(Io& io, const HttpRequest& req, bool upgrade) {
    if (upgrade) {
      Respond(io, req, 403, "", true);
      return false;
    }
    return RespondJson(io, req, 404, {{"detail", "Not Found"}});
  }

  // Parses the JSON body; on failure answers 500 like Aim's generic exception handler.
  std::optional<nlohmann::json> ParseBody(Io& io, const HttpRequest& req, bool* keep) {
    nlohmann::json j = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      *keep = RespondJson(io, req, 500,
                          {{"message", "'<class 'json.decoder.JSONDecodeError'>' exception raised!"},
                           {"detail", "Expecting value: line 1 column 1 (char 0)"}});
      return std::nullopt;
    }
    return j;
  }

  static std::optional<std::string> StringField(const nlohmann::json& j, const char* name) {
    if (!j.is_object()) return std::nullopt;
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  }

  // base64 `args` -> decoded tree. Empty -> nullopt value with no error. Sets *status to
  // 500 for invalid UTF-8 (SPEC 0.5 item 2), 400 otherwise.
  struct DecodedArgs {
    std::optional<Value> value;
    std::optional<AimError> error;
    int status = 400;
  };
  static DecodedArgs DecodeArgs(const std::optional<std::string>& b64) {
    DecodedArgs out;
    if (!b64 || b64->empty()) return out;
    std::string raw;
    if (!absl::Base64Unescape(*b64, &raw)) {
      out.error = AimError::Simple("binascii", "Error", "Incorrect padding");
      return out;
    }
    if (raw.empty()) return out;
    absl::StatusOr<std::vector<wire::Record>> records = wire::Unpack(raw);
    if (!records.ok()) {
      out.error = AimError::Simple("builtins", "ValueError", Sv(records.status().message()));
      return out;
    }
    if (HasInvalidUtf8(*records)) {
      out.status = 500;
      out.error = AimError::Simple("builtins", "TypeError", "invalid UTF-8");
      return out;
    }
    absl::StatusOr<Value> v = wire::DecodeTree(*records);
    if (!v.ok()) {
      out.error = AimError::Simple("builtins", "ValueError", Sv(v.status().message()));
      return out;
    }
    out.value = *std::move(v);
    return out;
  }

  bool Respond500TypeError(Io& io, const HttpRequest& req) {
    return RespondJson(io, req, 500,
                       {{"message", "'<class 'TypeError'>' exception raised!"},
                        {"detail", "invalid UTF-8 in arguments"}});
  }

  bool GetResource(Io& io, const HttpRequest& req, const std::string& uri) {
    bool keep = false;
    std::optional<nlohmann::json> j = ParseBody(io, req, &keep);
    if (!j) return keep;
    const std::optional<std::string> type = StringField(*j, "resource_type");
    const std::string handler = StringField(*j, "resource_handler").value_or("");
    DecodedArgs args = DecodeArgs(StringField(*j, "args"));
    if (args.error) {
      if (args.status == 500) return Respond500TypeError(io, req);
      return RespondJson(io, req, 400, ErrorJson(*args.error));
    }
    if (!type) {
      return RespondJson(io, req, 400, ErrorJson(AimError{"builtins", "KeyError", "[null]", "None"}));
    }
    auto [h, err] = repo->GetResource(uri, handler, *type, args.value ? &*args.value : nullptr);
    if (err) return RespondJson(io, req, 400, ErrorJson(*err));
    return RespondJson(io, req, 200, {{"handler", h}});
  }

  bool ReadInstruction(Io& io, const HttpRequest& req, const std::string& uri) {
    bool keep = false;
    std::optional<nlohmann::json> j = ParseBody(io, req, &keep);
    if (!j) return keep;
    const std::string handler = StringField(*j, "resource_handler").value_or("");
    const std::string method = StringField(*j, "method_name").value_or("");
    DecodedArgs args = DecodeArgs(StringField(*j, "args"));
    if (args.error && args.status == 500) return Respond500TypeError(io, req);
    if (args.error) return RespondJson(io, req, 400, ErrorJson(*args.error));
    // decode_tree of an empty record stream raises KeyError() (observed).
    if (!args.value) return RespondJson(io, req, 400, ErrorJson(AimError::EmptyKeyError()));
    InstructionResult result = repo->ReadInstruction(uri, handler, method, *args.value);
    if (result.error) return RespondJson(io, req, 400, ErrorJson(*result.error));
    absl::StatusOr<std::vector<wire::Record>> records = wire::EncodeTree(result.value);
    if (!records.ok()) {
      return RespondJson(io, req, 400,
                         ErrorJson(AimError::Simple("builtins", "TypeError", Sv(records.status().message()))));
    }
    // One record per chunk, no Content-Type (SPEC 2.3 row 9).
    Log(req, false, 200);
    if (absl::Duration d = Delay(); d > absl::ZeroDuration()) SleepUnlessStopping(d);
    std::string out = absl::StrFormat(
        "HTTP/1.1 200 OK\r\ndate: %s\r\nserver: uvicorn\r\nTransfer-Encoding: chunked\r\n\r\n",
        absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::Now(), absl::UTCTimeZone()));
    for (const wire::Record& r : *records) {
      std::string chunk;
      wire::AppendRecord(r.key, r.value, r.is_blob, wire::Framing::kStream, &chunk);
      absl::StrAppendFormat(&out, "%x\r\n", chunk.size());
      out += chunk;
      out += "\r\n";
    }
    out += "0\r\n\r\n";
    return io.Write(out);
  }

  // ---- WebSocket (RFC 6455 server side) ----
  void ServeWebSocket(Io& io, const HttpRequest& req, const std::string& uri) {
    auto key = req.Header("Sec-WebSocket-Key");
    auto version = req.Header("Sec-WebSocket-Version");
    auto connection = req.Header("Connection");
    if (req.method != "GET" || !key || !version || *version != "13" || !connection ||
        !ContainsIgnoreCase(*connection, "upgrade")) {
      Respond(io, req, 400, "", true);
      return;
    }
    Log(req, true, 101);
    {
      absl::MutexLock l(&mu);
      ++ws_connections;
    }
    if (!io.Write(absl::StrCat("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Accept: ",
                               WebSocketAccept(*key), "\r\n\r\n"))) {
      return;
    }
    WebSocketLoop(io, uri);
  }

  struct Frame {
    bool fin;
    int opcode;
    std::string payload;
  };

  enum class ReadResult { kFrame, kTimeout, kClosed, kProtocolError, kTooBig };

  // Reads one frame if it arrives before `deadline`.
  ReadResult ReadFrame(Io& io, absl::Time deadline, Frame* f) {
    for (;;) {
      const std::string& b = io.buf;
      if (b.size() >= 2) {
        const auto b0 = static_cast<unsigned char>(b[0]);
        const auto b1 = static_cast<unsigned char>(b[1]);
        if ((b0 & 0x70) != 0 || (b1 & 0x80) == 0) return ReadResult::kProtocolError;
        std::uint64_t len = b1 & 0x7F;
        std::size_t header = 2;
        if (len == 126 && b.size() >= 4) {
          len = (static_cast<unsigned char>(b[2]) << 8) | static_cast<unsigned char>(b[3]);
          header = 4;
        } else if (len == 127 && b.size() >= 10) {
          len = 0;
          for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<unsigned char>(b[2 + i]);
          header = 10;
        } else if (len >= 126) {
          header = 0;  // extended length not complete yet
        }
        if (header != 0) {
          const int opcode = b0 & 0x0F;
          if (opcode >= 8 && (len > 125 || (b0 & 0x80) == 0)) return ReadResult::kProtocolError;
          if (len > options.max_message_bytes) return ReadResult::kTooBig;
          if (b.size() >= header + 4 + len) {
            rpc::internal::WsMask mask;
            std::memcpy(mask.data(), b.data() + header, 4);
            f->fin = (b0 & 0x80) != 0;
            f->opcode = opcode;
            f->payload.assign(b, header + 4, len);
            rpc::internal::ApplyMask(mask, f->payload);
            io.buf.erase(0, header + 4 + len);
            return ReadResult::kFrame;
          }
        }
      }
      if (!io.ReadMore(*this, deadline)) {
        return absl::Now() >= deadline ? ReadResult::kTimeout : ReadResult::kClosed;
      }
    }
  }

  void WebSocketLoop(Io& io, const std::string& uri) {
    absl::BitGen gen;
    absl::Time next_ping = absl::Now() + options.ping_interval;
    std::optional<std::string> awaiting_pong;
    absl::Time pong_deadline = absl::InfiniteFuture();
    std::string message;
    int message_opcode = 0;
    while (!stopping.load()) {
      bool pinging;
      {
        absl::MutexLock l(&mu);
        pinging = send_pings && options.ping_interval > absl::ZeroDuration();
      }
      const absl::Time deadline =
          std::min(pinging ? next_ping : absl::InfiniteFuture(), pong_deadline);
      Frame f;
      const ReadResult rr = ReadFrame(io, deadline, &f);
      if (rr == ReadResult::kTimeout) {
        const absl::Time now = absl::Now();
        if (awaiting_pong && now >= pong_deadline) {
          io.Write(CloseFrame(1011));  // websockets: "keepalive ping timeout"
          return;
        }
        if (pinging && now >= next_ping) {
          std::string payload(4, '\0');
          for (char& ch : payload) ch = static_cast<char>(absl::Uniform<unsigned>(gen, 0, 256));
          if (!io.Write(WsFrame(0x9, payload))) return;
          if (!awaiting_pong) {
            awaiting_pong = payload;
            pong_deadline = now + options.ping_timeout;
          }
          next_ping = now + options.ping_interval;
        }
        continue;
      }
      if (rr == ReadResult::kClosed) return;
      if (rr == ReadResult::kProtocolError || rr == ReadResult::kTooBig) {
        io.Write(CloseFrame(rr == ReadResult::kTooBig ? 1009 : 1002));
        return;
      }
      switch (f.opcode) {
        case 0x8: {  // close: echo the code, then end the connection
          io.Write(WsFrame(0x8, std::string_view(f.payload).substr(0, 2)));
          return;
        }
        case 0x9: {
          bool answer;
          {
            absl::MutexLock l(&mu);
            answer = answer_pings;
          }
          if (answer && !io.Write(WsFrame(0xA, f.payload))) return;
          continue;
        }
        case 0xA:
          {
            absl::MutexLock l(&mu);
            ++pongs;
          }
          // Any pong acknowledges the outstanding ping (RFC 6455 5.5.3 allows unsolicited).
          awaiting_pong.reset();
          pong_deadline = absl::InfiniteFuture();
          continue;
        case 0x0:
          if (message_opcode == 0) {
            io.Write(CloseFrame(1002));
            return;
          }
          break;
        case 0x1:
        case 0x2:
          if (message_opcode != 0) {
            io.Write(CloseFrame(1002));
            return;
          }
          message_opcode = f.opcode;
          break;
        default:
          io.Write(CloseFrame(1002));
          return;
      }
      if (message.size() + f.payload.size() > options.max_message_bytes) {
        io.Write(CloseFrame(1009));
        return;
      }
      if (message.empty()) {
        message = std::move(f.payload);  // the usual unfragmented message: no copy
      } else {
        message += f.payload;
      }
      if (!f.fin) continue;
      const int opcode = message_opcode;
      message_opcode = 0;
      std::string payload = std::move(message);
      message.clear();
      if (!HandleMessage(io, uri, opcode, payload)) return;
    }
  }

  // Returns false when the connection must end.
  bool HandleMessage(Io& io, const std::string& uri, int opcode, const std::string& payload) {
    bool drop = false;
    DropPoint point = DropPoint::kBeforeApply;
    std::optional<AimError> injected;
    absl::Duration delay;
    {
      absl::MutexLock l(&mu);
      ++ws_messages;
      if (drop_every > 0) {
        ++drop_counter;
        if (drop_counter >= drop_every) {
          drop = true;
          point = drop_point;
          drop_counter = 0;
          if (!drop_repeat) drop_every = 0;
        }
      }
      if (!drop) {
        injected = std::move(fail_next);
        fail_next.reset();
      }
      delay = reply_delay;
    }
    if (drop && point == DropPoint::kBeforeApply) return false;

    std::optional<AimError> error = injected;
    // Lives until after the reply: freeing a decoded message is not the client's to wait for.
    absl::StatusOr<Value> instructions;
    if (!error && opcode == 0x1) {
      error = AimError::KeyError("bytes");  // receive_bytes() on a text message
      repo->CountBytesReceived(payload.size());
    } else if (!error) {
      instructions = wire::UnpackTree(payload);
      if (!instructions.ok()) {
        // Why it failed decides the reply (a valid message decodes without copies above).
        absl::StatusOr<std::vector<wire::Record>> records = wire::Unpack(payload);
        if (records.ok() && HasInvalidUtf8(*records)) {
          repo->CountBytesReceived(payload.size());
          return false;  // Aim cannot even build its error reply: bare drop
        }
        if (records.ok()) instructions = wire::DecodeTree(*records);
      }
      if (!instructions.ok()) {
        repo->CountBytesReceived(payload.size());
        error = AimError::Simple("builtins", "ValueError", Sv(instructions.status().message()));
      } else {
        error = repo->WriteInstructions(uri, *instructions, payload.size());
      }
    }
    if (drop) return false;  // kAfterApply: applied, no reply
    if (delay > absl::ZeroDuration()) SleepUnlessStopping(delay);
    if (!error) return io.Write(WsFrame(0x2, "OK"));
    absl::StatusOr<std::string> body = wire::Pack(error->ToValue());
    if (body.ok()) io.Write(WsFrame(0x2, *body));
    io.Write(CloseFrame(1000));
    // Give the client a moment to answer the close before the socket goes away.
    Frame f;
    const absl::Time until = absl::Now() + absl::Seconds(1);
    while (ReadFrame(io, until, &f) == ReadResult::kFrame && f.opcode != 0x8) {
    }
    return false;
  }
};

absl::StatusOr<std::unique_ptr<HttpTestServer>> HttpTestServer::Start(
    HttpTestServerOptions options, std::shared_ptr<FakeAimRepo> repo) {
  auto impl = std::make_unique<Impl>();
  options.base_path = NormaliseBasePath(options.base_path);
  absl::StatusOr<int> fd = Impl::Listen(options.port);
  if (!fd.ok()) return fd.status();
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(*fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(*fd);
    return absl::InternalError("getsockname failed");
  }
  impl->port = ntohs(addr.sin_port);
  impl->options = std::move(options);
  impl->repo = repo ? std::move(repo) : std::make_shared<FakeAimRepo>();
  {
    absl::MutexLock l(&impl->mu);
    impl->listen_fd = *fd;
  }
  Impl* raw = impl.get();
  impl->accept_thread = std::thread([raw] { raw->AcceptLoop(); });
  return std::unique_ptr<HttpTestServer>(new HttpTestServer(std::move(impl)));
}

HttpTestServer::HttpTestServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpTestServer::~HttpTestServer() {
  impl_->stopping.store(true);
  impl_->accept_thread.join();
  std::list<Connection> conns;
  {
    absl::MutexLock l(&impl_->mu);
    impl_->ShutdownAllLocked();
    conns.splice(conns.end(), impl_->conns);
  }
  for (Connection& c : conns) c.thread.join();
}

std::uint16_t HttpTestServer::port() const { return impl_->port; }
std::string HttpTestServer::authority() const {
  return absl::StrCat("127.0.0.1:", impl_->port, impl_->options.base_path);
}
std::string HttpTestServer::aim_url() const { return absl::StrCat("aim://", authority()); }
std::string HttpTestServer::http_url() const { return absl::StrCat("http://", authority()); }
FakeAimRepo& HttpTestServer::repo() const { return *impl_->repo; }
std::shared_ptr<FakeAimRepo> HttpTestServer::shared_repo() const { return impl_->repo; }

std::vector<RequestRecord> HttpTestServer::Requests() const {
  absl::MutexLock l(&impl_->mu);
  return impl_->requests;
}
void HttpTestServer::ClearRequests() {
  absl::MutexLock l(&impl_->mu);
  impl_->requests.clear();
}
std::uint64_t HttpTestServer::websocket_connections() const {
  absl::MutexLock l(&impl_->mu);
  return impl_->ws_connections;
}
std::uint64_t HttpTestServer::websocket_messages() const {
  absl::MutexLock l(&impl_->mu);
  return impl_->ws_messages;
}
std::uint64_t HttpTestServer::pongs_received() const {
  absl::MutexLock l(&impl_->mu);
  return impl_->pongs;
}

void HttpTestServer::DropWebSocketAfter(int n, bool repeat, DropPoint point) {
  absl::MutexLock l(&impl_->mu);
  impl_->drop_every = n > 0 ? n : 0;
  impl_->drop_repeat = repeat;
  impl_->drop_point = point;
  impl_->drop_counter = 0;
}
void HttpTestServer::FailNextWriteBatch(AimError error) {
  absl::MutexLock l(&impl_->mu);
  impl_->fail_next = std::move(error);
}
void HttpTestServer::SetReplyDelay(absl::Duration delay) {
  absl::MutexLock l(&impl_->mu);
  impl_->reply_delay = delay;
}
void HttpTestServer::StopAccepting() {
  absl::MutexLock l(&impl_->mu);
  impl_->want_listening = false;
  impl_->ShutdownAllLocked();
  impl_->mu.Await(absl::Condition(
      +[](Impl* i) ABSL_NO_THREAD_SAFETY_ANALYSIS { return i->listen_fd < 0; }, impl_.get()));
}
absl::Status HttpTestServer::ResumeAccepting() {
  absl::MutexLock l(&impl_->mu);
  impl_->want_listening = true;
  impl_->listen_status = absl::OkStatus();
  impl_->mu.Await(absl::Condition(
      +[](Impl* i) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return i->listen_fd >= 0 || !i->listen_status.ok();
      },
      impl_.get()));
  return impl_->listen_status;
}
void HttpTestServer::DropAllConnections() {
  absl::MutexLock l(&impl_->mu);
  impl_->ShutdownAllLocked();
}
void HttpTestServer::Restart() {
  DropAllConnections();
  impl_->repo->Restart();
}
void HttpTestServer::SetAnswerPings(bool answer) {
  absl::MutexLock l(&impl_->mu);
  impl_->answer_pings = answer;
}
void HttpTestServer::SetSendPings(bool send) {
  absl::MutexLock l(&impl_->mu);
  impl_->send_pings = send;
}
void HttpTestServer::SetForcedStatus(int status) {
  absl::MutexLock l(&impl_->mu);
  impl_->forced_status = status;
}

}  // namespace aim::test_server
