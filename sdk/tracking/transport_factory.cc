#include "tracking/transport_factory.h"

#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rpc/grpc_transport.h"
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

bool IsAuthFailure(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnauthenticated ||
         s.code() == absl::StatusCode::kPermissionDenied;
}

rpc::HttpTransportOptions HttpOptions(const RunOptions& options, rpc::ServerUrl url,
                                      auth::CredentialsPtr credentials, std::string client_uri) {
  rpc::HttpTransportOptions http;
  http.server = std::move(url);
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
  return http;
}

absl::StatusOr<rpc::GrpcTransportOptions> GrpcOptions(const RunOptions& options,
                                                      rpc::ServerUrl url,
                                                      auth::CredentialsPtr credentials,
                                                      std::string client_uri) {
  if (!options.tls.verify) {
    return absl::InvalidArgumentError(
        "TlsOptions.verify = false is not supported by the gRPC transport (gRPC always "
        "verifies the server; trust a private CA with TlsOptions.ca_file)");
  }
  rpc::GrpcTransportOptions grpc;
  if (url.scheme.empty() && options.scheme != Scheme::kAuto) {
    url.scheme = options.scheme == Scheme::kHttps ? "https" : "http";
  }
  grpc.server = std::move(url);
  grpc.client_uri = std::move(client_uri);
  grpc.credentials = std::move(credentials);
  grpc.allow_insecure_plaintext = options.allow_insecure_credentials;
  grpc.ca_bundle_file = options.tls.ca_file;
  grpc.client_cert_file = options.tls.cert_file;
  grpc.client_key_file = options.tls.key_file;
  grpc.request_timeout = options.request_timeout;
  grpc.read_instruction_timeout = options.request_timeout;
  grpc.write_timeout = options.request_timeout;
  return grpc;
}

// gRPC with the TLS choice made by the URL or Scheme, else by a health check (TLS first).
// `probe`: check that a gRPC server answers even when the scheme is known.
absl::StatusOr<std::unique_ptr<rpc::Transport>> MakeGrpc(rpc::GrpcTransportOptions grpc,
                                                         bool probe) {
  if (probe || grpc.server.scheme.empty()) {
    absl::StatusOr<rpc::ServerUrl> detected = rpc::DetectGrpcServer(grpc);
    if (!detected.ok()) return detected.status();
    grpc.server = *std::move(detected);
  }
  return rpc::MakeGrpcTransport(std::move(grpc));
}

// The transport kAuto settled on, answering the engine's first GetVersion() with the
// probe's answer instead of asking the server twice.
class ProbedTransport final : public rpc::Transport {
 public:
  ProbedTransport(std::unique_ptr<rpc::Transport> inner, std::string version)
      : inner_(std::move(inner)), version_(std::move(version)) {}

  absl::Status Connect() override { return inner_->Connect(); }
  absl::Status Reconnect() override { return inner_->Reconnect(); }
  absl::Status Disconnect() override { return inner_->Disconnect(); }
  absl::Status Heartbeat() override { return inner_->Heartbeat(); }
  absl::StatusOr<std::string> GetVersion() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!version_.empty()) return std::exchange(version_, "");
    }
    return inner_->GetVersion();
  }
  absl::StatusOr<std::string> GetResource(std::string_view resource_type, const Value& kwargs,
                                          std::string_view handler) override {
    return inner_->GetResource(resource_type, kwargs, handler);
  }
  absl::Status ReleaseResource(std::string_view handler) override {
    return inner_->ReleaseResource(handler);
  }
  absl::StatusOr<Value> ReadInstruction(std::string_view handler, std::string_view method,
                                        const Value& args) override {
    return inner_->ReadInstruction(handler, method, args);
  }
  absl::Status WriteBatch(std::string_view message) override {
    return inner_->WriteBatch(message);
  }
  void InterruptWrite() override { inner_->InterruptWrite(); }

 private:
  const std::unique_ptr<rpc::Transport> inner_;
  std::mutex mu_;
  std::string version_;  // until the first GetVersion()
};

absl::StatusOr<std::unique_ptr<rpc::Transport>> MakeHttp(rpc::HttpTransportOptions http,
                                                         Scheme scheme) {
  absl::StatusOr<rpc::ServerUrl> resolved = rpc::SelectHttpScheme(http, ToHttpScheme(scheme));
  if (!resolved.ok()) return resolved.status();
  http.server = *std::move(resolved);
  return rpc::MakeHttpTransport(std::move(http));
}

}  // namespace

// Protocol::kAuto (see the Protocol enum in aim/run.h):
//  1. HTTP, as Aim >= 3.19 is reached: the scheme probe (`/status/`), then
//     `GET /client/get-version/`. A version means an HTTP Aim server: done. A refusal of the
//     credentials (401/403) also settles it: an HTTP proxy is there, and its answer is the
//     error the user needs to see.
//  2. Anything else (no answer, 404 - which the HTTP transport reports as "<3.19.0" -, a
//     reply that is not Aim's) moves on to gRPC: `grpc.health.v1.Health/Check`, over TLS
//     first, then plaintext (without credentials), unless the URL or Scheme fixed it.
//  3. Neither: kUnavailable (or the last probe's code) naming both attempts.
absl::StatusOr<std::unique_ptr<rpc::Transport>> MakeTransport(const RunOptions& options,
                                                              auth::CredentialsPtr credentials,
                                                              std::string client_uri) {
  absl::StatusOr<rpc::ServerUrl> url = rpc::ParseServerUrl(options.repo);
  if (!url.ok()) return url.status();
  switch (options.protocol) {
    case Protocol::kHttp:
      return MakeHttp(HttpOptions(options, *std::move(url), std::move(credentials),
                                  std::move(client_uri)),
                      options.scheme);
    case Protocol::kGrpc: {
      absl::StatusOr<rpc::GrpcTransportOptions> grpc =
          GrpcOptions(options, *std::move(url), std::move(credentials), std::move(client_uri));
      if (!grpc.ok()) return grpc.status();
      return MakeGrpc(*std::move(grpc), /*probe=*/false);
    }
    case Protocol::kAuto:
      break;
  }

  absl::StatusOr<std::unique_ptr<rpc::Transport>> http =
      MakeHttp(HttpOptions(options, *url, credentials, client_uri), options.scheme);
  if (!http.ok()) return http.status();
  absl::StatusOr<std::string> version = (*http)->GetVersion();
  if (version.ok() && *version != "<3.19.0") {
    return std::unique_ptr<rpc::Transport>(
        std::make_unique<ProbedTransport>(*std::move(http), *std::move(version)));
  }
  if (IsAuthFailure(version.status())) return version.status();
  const std::string http_outcome =
      version.ok() ? "no Aim >= 3.19 HTTP API" : std::string(version.status().message());

  absl::StatusOr<rpc::GrpcTransportOptions> grpc =
      GrpcOptions(options, *std::move(url), std::move(credentials), std::move(client_uri));
  if (!grpc.ok()) return grpc.status();
  absl::StatusOr<std::unique_ptr<rpc::Transport>> transport =
      MakeGrpc(*std::move(grpc), /*probe=*/true);
  if (transport.ok() || transport.status().code() == absl::StatusCode::kInvalidArgument ||
      transport.status().code() == absl::StatusCode::kFailedPrecondition) {
    return transport;
  }
  return absl::Status(transport.status().code(),
                      absl::StrCat("no Aim server answered at ", options.repo, ": HTTP: ",
                                   http_outcome, "; ", transport.status().message()));
}

}  // namespace aim::tracking
