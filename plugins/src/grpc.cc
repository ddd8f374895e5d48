#include "aim/auth/grpc.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpc/grpc_security_constants.h>
#include <grpcpp/support/client_interceptor.h>

#include <atomic>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "internal.h"

namespace aim::auth {
namespace {

class HeadersPlugin final : public grpc::MetadataCredentialsPlugin {
 public:
  explicit HeadersPlugin(CredentialsPtr credentials) : credentials_(std::move(credentials)) {}

  // gRPC runs a non-blocking plugin inline on the calling thread, which saves a hand-off to
  // its plugin thread pool on every call, but then takes at most
  // GRPC_METADATA_CREDENTIALS_PLUGIN_SYNC_MAX entries. Header sets almost never change size,
  // so the size seen last decides; the first call, before any size is known, blocks.
  bool IsBlocking() const override {
    return last_header_count_.load(std::memory_order_relaxed) >
           GRPC_METADATA_CREDENTIALS_PLUGIN_SYNC_MAX;
  }
  const char* GetType() const override { return "aim.auth"; }

  grpc::Status GetMetadata(grpc::string_ref service_url, grpc::string_ref /*method_name*/,
                           const grpc::AuthContext& /*channel_auth_context*/,
                           std::multimap<std::string, std::string>* metadata) override {
    absl::StatusOr<Headers> headers =
        credentials_->GetHeaders(std::string_view(service_url.data(), service_url.size()));
    if (!headers.ok()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          absl::StrCat("aim::auth credentials failed: ",
                                       headers.status().message()));
    }
    last_header_count_.store(headers->size(), std::memory_order_relaxed);
    for (Header& h : *headers) {
      // HTTP/2 (and therefore gRPC) requires lowercase header names.
      metadata->emplace(absl::AsciiStrToLower(h.name), std::move(h.value));
    }
    return grpc::Status::OK;
  }

  std::string DebugString() override {
    return absl::StrCat("aim::auth{", credentials_->DebugString(), "}");
  }

 private:
  CredentialsPtr credentials_;
  std::atomic<std::size_t> last_header_count_{GRPC_METADATA_CREDENTIALS_PLUGIN_SYNC_MAX + 1};
};

// Not an interceptor at all: gRPC creates the factory's interceptors for each call before it
// applies the context's call credentials, which is exactly the moment to set them.
class AttachCallCredentials final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit AttachCallCredentials(std::shared_ptr<grpc::CallCredentials> credentials)
      : credentials_(std::move(credentials)) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    // Credentials the caller set on this call's context win; they asked for them.
    if (info->client_context()->credentials() == nullptr) {
      info->client_context()->set_credentials(credentials_);
    }
    return nullptr;
  }

 private:
  std::shared_ptr<grpc::CallCredentials> credentials_;
};

}  // namespace

std::shared_ptr<grpc::CallCredentials> MakeGrpcCallCredentials(CredentialsPtr credentials) {
  return grpc::MetadataCredentialsFromPlugin(
      std::make_unique<HeadersPlugin>(std::move(credentials)));
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeGrpcChannelCredentials(
    CredentialsPtr credentials, const grpc::SslCredentialsOptions& ssl) {
  if (credentials == nullptr) {
    return absl::InvalidArgumentError("MakeGrpcChannelCredentials: null credentials");
  }
  std::shared_ptr<grpc::ChannelCredentials> composite = grpc::CompositeChannelCredentials(
      grpc::SslCredentials(ssl), MakeGrpcCallCredentials(std::move(credentials)));
  if (composite == nullptr) {
    return absl::InternalError("grpc::CompositeChannelCredentials failed");
  }
  return composite;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeGrpcChannel(
    const std::string& target, CredentialsPtr credentials, const GrpcChannelOptions& options) {
  if (credentials == nullptr) {
    return absl::InvalidArgumentError("MakeGrpcChannel: null credentials");
  }
  if (!options.insecure_plaintext) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> channel_credentials =
        MakeGrpcChannelCredentials(std::move(credentials), options.ssl);
    if (!channel_credentials.ok()) return channel_credentials.status();
    return grpc::CreateCustomChannel(target, *channel_credentials, options.arguments);
  }
  // gRPC cannot compose call credentials with insecure channel credentials, so the call
  // credentials - made with the experimental overload that lets them travel in plaintext,
  // which the caller opted into - are attached to every call's context instead.
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<AttachCallCredentials>(
      grpc::experimental::MetadataCredentialsFromPlugin(
          std::make_unique<HeadersPlugin>(std::move(credentials)), GRPC_SECURITY_NONE)));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      target, grpc::InsecureChannelCredentials(), options.arguments, std::move(factories));
}

}  // namespace aim::auth
