#include "aim/auth/grpc.h"

#include <grpcpp/create_channel.h>

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

  // See MakeGrpcCallCredentials: more than 4 entries need the blocking path.
  bool IsBlocking() const override { return true; }
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
};

}  // namespace

std::shared_ptr<grpc::CallCredentials> MakeGrpcCallCredentials(CredentialsPtr credentials) {
  return grpc::MetadataCredentialsFromPlugin(
      std::make_unique<HeadersPlugin>(std::move(credentials)));
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeGrpcChannelCredentials(
    CredentialsPtr credentials, const GrpcChannelOptions& options) {
  if (credentials == nullptr) {
    return absl::InvalidArgumentError("MakeGrpcChannelCredentials: null credentials");
  }
  std::shared_ptr<grpc::ChannelCredentials> channel;
  std::shared_ptr<grpc::CallCredentials> call;
  if (options.insecure_plaintext) {
    channel = grpc::InsecureChannelCredentials();
    // The experimental overload is the only way gRPC lets call credentials onto a
    // plaintext channel; the caller opted in.
    call = grpc::experimental::MetadataCredentialsFromPlugin(
        std::make_unique<HeadersPlugin>(std::move(credentials)), GRPC_SECURITY_NONE);
  } else {
    channel = grpc::SslCredentials(options.ssl);
    call = MakeGrpcCallCredentials(std::move(credentials));
  }
  std::shared_ptr<grpc::ChannelCredentials> composite =
      grpc::CompositeChannelCredentials(channel, call);
  if (composite == nullptr) {
    return absl::InternalError("grpc::CompositeChannelCredentials failed");
  }
  return composite;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeGrpcChannel(
    const std::string& target, CredentialsPtr credentials, const GrpcChannelOptions& options) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> channel_credentials =
      MakeGrpcChannelCredentials(std::move(credentials), options);
  if (!channel_credentials.ok()) return channel_credentials.status();
  return grpc::CreateCustomChannel(target, *channel_credentials, options.arguments);
}

}  // namespace aim::auth
