// A small libcurl HTTP/1.1 client for the HTTP transport: a pool of easy handles (each keeps
// its connections alive between requests), no redirects followed, and the translation of
// HTTP answers and curl failures into the statuses transport.h promises.
#ifndef AIM_SDK_RPC_HTTP_CLIENT_H_
#define AIM_SDK_RPC_HTTP_CLIENT_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <curl/curl.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace aim::rpc::internal {

// How to reach the server; shared by HTTP requests and the WebSocket's connection.
struct ConnectionSettings {
  std::string ca_bundle_file;    // empty: libcurl's default CA store
  std::string client_cert_file;  // empty: no client certificate
  std::string client_key_file;   // empty: the key is in client_cert_file
  bool verify_tls = true;
  absl::Duration connect_timeout = absl::Seconds(10);
};

// Initialises libcurl once per process (curl_global_init is not safe to race).
void EnsureCurlInitialized();

// Applies the settings common to every handle: TLS, connect timeout, no signals, no
// redirects, http/https only.
void ApplyConnectionSettings(CURL* curl, const ConnectionSettings& settings);

struct HttpRequest {
  std::string url;
  bool post = false;
  std::string body;                       // sent when `post`, as application/json
  std::vector<std::string> header_lines;  // "Name: value", e.g. credentials
  absl::Duration timeout = absl::Seconds(10);  // whole request; InfiniteDuration: none
  std::size_t max_response_bytes = 64 << 20;
};

struct HttpReply {
  long status = 0;
  std::string status_line;  // "HTTP/1.1 302 Found", without CRLF
  std::string location;     // the Location header, if any
  std::string body;
};

// Thread safety: Perform may be called concurrently; each call uses its own easy handle.
class HttpClient {
 public:
  explicit HttpClient(ConnectionSettings settings);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Any HTTP answer is a reply (check `status`); transport failures are kUnavailable with
  // curl's message, timeouts kDeadlineExceeded, an oversized body kResourceExhausted.
  absl::StatusOr<HttpReply> Perform(const HttpRequest& request);

 private:
  CURL* Acquire();
  void Release(CURL* curl);

  const ConnectionSettings settings_;
  absl::Mutex mu_;
  std::vector<CURL*> idle_ ABSL_GUARDED_BY(mu_);
};

// The status for a curl failure of `what` (e.g. "GET http://h/client/connect/u/").
absl::Status CurlError(CURLcode code, std::string_view detail, std::string_view what);

// The status for a non-2xx reply. `credentials` is Credentials::DebugString() (names only),
// quoted in authentication errors: 401 -> kUnauthenticated, 403 and any 3xx ->
// kPermissionDenied, 400 {"exception":E} -> ServerError(E), 500 -> kInternal with the
// server's message, 502/503/504 -> kUnavailable (a proxy without its upstream), 404 ->
// kNotFound, anything else kUnknown.
absl::Status HttpReplyError(const HttpReply& reply, std::string_view what,
                            std::string_view credentials);

// The host of an absolute URL such as a Location header ("" if relative or unparsable).
std::string UrlHost(std::string_view url);

}  // namespace aim::rpc::internal

#endif  // AIM_SDK_RPC_HTTP_CLIENT_H_
