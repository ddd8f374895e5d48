// Opt-in gRPC adapter: credentials as grpc::CallCredentials, and channels that carry them.
// Every call on such a channel gets the credential headers as metadata (lowercase keys).
#ifndef AIM_AUTH_GRPC_H_
#define AIM_AUTH_GRPC_H_

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "aim/auth/credentials.h"

namespace aim::auth {

// Call credentials that ask `credentials` for headers on every call, with the call's
// service URL (e.g. "https://host:port/package.Service") as the target. A failure of the
// source (expired JWT, missing token file) fails the call before anything is sent; gRPC
// reports it as UNAVAILABLE with our (redacted) message.
//
// gRPC only sends these over a secure channel (TLS, or ALTS); on a plaintext channel the call
// fails unless you use MakeGrpcChannel with GrpcChannelOptions::insecure_plaintext.
//
// Credentials with at most 4 headers (every built-in kind except larger CustomHeaders) are
// asked inline on the calling thread, as gRPC's own token credentials are; larger sets, and
// the first call of each plugin, run on gRPC's plugin thread pool, which gRPC requires for
// more than 4 entries. A custom Credentials whose header count grows past 4 fails one call
// with INTERNAL before the plugin switches over.
std::shared_ptr<grpc::CallCredentials> MakeGrpcCallCredentials(CredentialsPtr credentials);

struct GrpcChannelOptions {
  // TLS settings. Default: the system's (gRPC's) root certificates, no client certificate.
  // Set pem_root_certs to trust a private CA; pem_private_key + pem_cert_chain for mTLS.
  grpc::SslCredentialsOptions ssl;

  // Default false: TLS. true: no TLS, and the credentials travel in cleartext - anyone on
  // the path can read them. Only for a loopback or otherwise trusted network. (Without this,
  // gRPC itself refuses call credentials on a plaintext channel.)
  bool insecure_plaintext = false;

  // Extra channel arguments (e.g. grpc::ChannelArguments::SetSslTargetNameOverride for
  // tests). Default: none.
  grpc::ChannelArguments arguments;
};

// TLS channel credentials composed with MakeGrpcCallCredentials(credentials), for use with
// grpc::CreateCustomChannel when you build channels yourself.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeGrpcChannelCredentials(
    CredentialsPtr credentials, const grpc::SslCredentialsOptions& ssl = {});

// A channel to `target` ("host:port", or any gRPC target URI) carrying `credentials` on
// every call: over TLS, or in plaintext only with options.insecure_plaintext. Calls whose
// ClientContext already has call credentials keep those on a plaintext channel.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeGrpcChannel(
    const std::string& target, CredentialsPtr credentials,
    const GrpcChannelOptions& options = {});

}  // namespace aim::auth

#endif  // AIM_AUTH_GRPC_H_
