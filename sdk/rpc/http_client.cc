#include "rpc/http_client.h"

#include <algorithm>
#include <mutex>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "wire/string_view_compat.h"
#include "rpc/transport.h"

namespace aim::rpc::internal {

using ::aim::internal::Av;
namespace {

// Idle handles kept for reuse; more concurrent requests than this simply create and destroy
// extra handles.
constexpr std::size_t kMaxIdleHandles = 4;
// How much of a server's message an error status quotes.
constexpr std::size_t kMaxQuotedBytes = 300;

long ToMillis(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return 0;  // curl: 0 means no limit
  return static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));
}

// A printable excerpt of text the server sent, for an error message.
std::string Quote(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, kMaxQuotedBytes)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7F ? c : '?');
  }
  if (text.size() > kMaxQuotedBytes) out.append("...");
  return out;
}

struct Collector {
  HttpReply* reply;
  std::size_t max_bytes;
  bool too_large = false;
};

size_t OnBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* c = static_cast<Collector*>(user);
  const std::size_t n = size * nmemb;
  if (c->reply->body.size() + n > c->max_bytes) {
    c->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  c->reply->body.append(data, n);
  return n;
}

size_t OnHeader(char* data, size_t size, size_t nmemb, void* user) {
  auto* c = static_cast<Collector*>(user);
  const std::size_t n = size * nmemb;
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (absl::StartsWith(Av(line), "HTTP/")) {
    // A new response (e.g. after a 100 Continue): forget the previous one's headers.
    c->reply->status_line = Quote(line);
    c->reply->location.clear();
  } else if (absl::StartsWithIgnoreCase(Av(line), "location:")) {
    c->reply->location = std::string(absl::StripAsciiWhitespace(Av(line.substr(9))));
  }
  return n;
}

}  // namespace

void EnsureCurlInitialized() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

void ApplyConnectionSettings(CURL* curl, const ConnectionSettings& s) {
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, ToMillis(s.connect_timeout));
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!s.ca_bundle_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, s.ca_bundle_file.c_str());
  if (!s.client_cert_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, s.client_cert_file.c_str());
  }
  if (!s.client_key_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLKEY, s.client_key_file.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, s.verify_tls ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, s.verify_tls ? 2L : 0L);
}

HttpClient::HttpClient(ConnectionSettings settings) : settings_(std::move(settings)) {
  EnsureCurlInitialized();
}

HttpClient::~HttpClient() {
  for (CURL* c : idle_) curl_easy_cleanup(c);
}

CURL* HttpClient::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      CURL* c = idle_.back();
      idle_.pop_back();
      return c;
    }
  }
  return curl_easy_init();
}

void HttpClient::Release(CURL* curl) {
  // curl_easy_reset keeps the handle's live connections, which is the point of the pool.
  curl_easy_reset(curl);
  {
    absl::MutexLock lock(&mu_);
    if (idle_.size() < kMaxIdleHandles) {
      idle_.push_back(curl);
      return;
    }
  }
  curl_easy_cleanup(curl);
}

absl::StatusOr<HttpReply> HttpClient::Perform(const HttpRequest& request) {
  CURL* curl = Acquire();
  if (curl == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  HttpReply reply;
  Collector collector{&reply, request.max_response_bytes};
  char error[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  for (const std::string& line : request.header_lines) {
    headers = curl_slist_append(headers, line.c_str());
  }
  // No "Expect: 100-continue" round trip; bodies are small JSON.
  headers = curl_slist_append(headers, "Expect:");
  if (request.post) headers = curl_slist_append(headers, "Content-Type: application/json");

  ApplyConnectionSettings(curl, settings_);
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, ToMillis(request.timeout));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &collector);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &collector);
  if (request.post) {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  } else {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  }
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  // The handle no longer needs the header list or the error buffer once reset.
  Release(curl);
  curl_slist_free_all(headers);

  const std::string what = absl::StrCat(request.post ? "POST " : "GET ", request.url);
  if (collector.too_large) {
    return absl::ResourceExhaustedError(absl::StrCat(what, ": response larger than ",
                                                     request.max_response_bytes, " bytes"));
  }
  if (rc != CURLE_OK) return CurlError(rc, error, what);
  reply.status = status;
  return reply;
}

absl::Status CurlError(CURLcode code, std::string_view detail, std::string_view what) {
  const std::string message = absl::StrCat(
      Av(what), ": ", detail.empty() ? absl::string_view(curl_easy_strerror(code)) : Av(detail));
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(message);
    case CURLE_OUT_OF_MEMORY:
      return absl::ResourceExhaustedError(message);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return absl::InvalidArgumentError(message);
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_CIPHER:
      // Local configuration (a missing or bad certificate file): retrying cannot help.
      return absl::FailedPreconditionError(message);
    default:
      return absl::UnavailableError(message);
  }
}

std::string UrlHost(std::string_view url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "";
  std::string_view rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  const std::size_t at = rest.rfind('@');
  if (at != std::string_view::npos) rest.remove_prefix(at + 1);  // never quote user info
  return Quote(rest);
}

absl::Status HttpReplyError(const HttpReply& reply, std::string_view what,
                            std::string_view credentials) {
  const std::string answered =
      reply.status_line.empty() ? absl::StrCat("HTTP ", reply.status) : reply.status_line;
  const long s = reply.status;
  if (s == 401 || s == 403 || (s >= 300 && s < 400)) {
    std::string message = absl::StrCat(Av(what), ": the server or a proxy in front of it refused "
                                             "the request (", answered);
    if (s >= 300 && s < 400) {
      const std::string host = UrlHost(reply.location);
      absl::StrAppend(&message,
                      reply.location.empty() ? ", a redirect without a Location header"
                      : host.empty()         ? ", a redirect to a relative location"
                                             : absl::StrCat(", a redirect to ", host),
                      ", as an authenticating proxy such as Cloudflare Access answers a "
                      "missing or rejected credential");
    }
    absl::StrAppend(&message, "); credentials sent: ", Av(credentials));
    return s == 401 ? absl::UnauthenticatedError(message)
                    : absl::PermissionDeniedError(message);
  }
  nlohmann::json body = nlohmann::json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (s == 400 && body.is_object() && body.contains("exception") &&
      body["exception"].is_object()) {
    const nlohmann::json& e = body["exception"];
    auto field = [&](const char* name) {
      auto it = e.find(name);
      return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    return ServerError(ServerException{field("module_name"), field("class_name"), field("args"),
                                       field("message")});
  }
  if (s == 500) {
    std::string detail = Quote(reply.body);
    if (body.is_object() && body.contains("message") && body["message"].is_string()) {
      detail = Quote(body["message"].get<std::string>());
      if (body.contains("detail") && body["detail"].is_string()) {
        absl::StrAppend(&detail, " (", Quote(body["detail"].get<std::string>()), ")");
      }
    }
    return absl::InternalError(absl::StrCat(Av(what), ": aim server error: ", answered, ": ", detail));
  }
  if (s == 502 || s == 503 || s == 504) {
    return absl::UnavailableError(absl::StrCat(Av(what), ": ", answered));
  }
  if (s == 404) {
    return absl::NotFoundError(absl::StrCat(
        Av(what), ": ", answered,
        " (is this an Aim >= 3.19 server, and does the URL carry its --base-path?)"));
  }
  return absl::UnknownError(absl::StrCat(Av(what), ": unexpected answer ", answered, ": ",
                                         Quote(reply.body)));
}

}  // namespace aim::rpc::internal
