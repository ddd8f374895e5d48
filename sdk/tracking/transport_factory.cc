#include "tracking/transport_factory.h"

#include <utility>

#include "rpc/http_transport.h"
#include "rpc/server_url.h"

namespace aim::tracking {
namespace {

rpc::HttpScheme ToHttpScheme(Scheme scheme) {
  switch (scheme) {
    case Scheme::kHttp:
      return rpc::HttpScheme::kHttp;
    case Scheme::kHttps:
      return rpc::HttpScheme::kHttps;
    case Scheme::kAuto:
      break;
  }
  return rpc::HttpScheme::kProbe;
}

}  // namespace

absl::StatusOr<std::unique_ptr<rpc::Transport>> MakeTransport(const RunOptions& options,
                                                              auth::CredentialsPtr credentials,
                                                              std::string client_uri) {
  absl::StatusOr<rpc::ServerUrl> url = rpc::ParseServerUrl(options.repo);
  if (!url.ok()) return url.status();
  if (options.protocol == Protocol::kGrpc) {
    return absl::UnimplementedError("the gRPC transport (Aim 3.4-3.18) is not available yet");
  }
  rpc::HttpTransportOptions http;
  http.server = *std::move(url);
  http.client_uri = std::move(client_uri);
  http.credentials = std::move(credentials);
  http.allow_insecure_plaintext = options.allow_insecure_credentials;
  http.ca_bundle_file = options.tls.ca_file;
  http.client_cert_file = options.tls.cert_file;
  http.client_key_file = options.tls.key_file;
  http.verify_tls = options.tls.verify;
  http.request_timeout = options.request_timeout;
  http.read_instruction_timeout = options.request_timeout;
  http.ws_ack_timeout = options.request_timeout;
  absl::StatusOr<rpc::ServerUrl> resolved = rpc::SelectHttpScheme(http, ToHttpScheme(options.scheme));
  if (!resolved.ok()) return resolved.status();
  http.server = *std::move(resolved);
  return rpc::MakeHttpTransport(std::move(http));
}

}  // namespace aim::tracking
