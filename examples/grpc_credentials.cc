// Attach the credentials configured in the environment to any gRPC channel, and call the
// standard health service (grpc.health.v1.Health/Check) through it.
//
//   AIM_AUTH_TOKEN=... ./grpc_credentials aim.example.com:443
//   CF_ACCESS_CLIENT_ID=... CF_ACCESS_CLIENT_SECRET=... ./grpc_credentials host:443 --ca ca.pem
//   ./grpc_credentials 127.0.0.1:50051 --plaintext   # credentials in cleartext: loopback only
//
// The variables are listed in aim/auth/credentials.h (FromEnvironment).
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <fstream>
#include <future>
#include <iostream>
#include <iterator>
#include <string>

#include "aim/auth/credentials.h"
#include "aim/auth/grpc.h"

namespace {

int Usage() {
  std::cerr << "usage: grpc_credentials <host:port> [--ca <pem file>] [--plaintext]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string target = argv[1];
  aim::auth::GrpcChannelOptions options;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--plaintext") {
      options.insecure_plaintext = true;
    } else if (arg == "--ca" && i + 1 < argc) {
      std::ifstream in(argv[++i]);
      if (!in) {
        std::cerr << "cannot read " << argv[i] << "\n";
        return 2;
      }
      options.ssl.pem_root_certs.assign(std::istreambuf_iterator<char>(in), {});
    } else {
      return Usage();
    }
  }

  // Errors name the variable and the problem, never a secret, so they are safe to print.
  absl::StatusOr<aim::auth::CredentialsPtr> credentials = aim::auth::FromEnvironment();
  if (!credentials.ok()) {
    std::cerr << "credentials: " << credentials.status() << "\n";
    return 1;
  }
  std::cerr << "using " << (*credentials)->DebugString() << "\n";

  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      aim::auth::MakeGrpcChannel(target, *credentials, options);
  if (!channel.ok()) {
    std::cerr << "channel: " << channel.status() << "\n";
    return 1;
  }

  // Any stub works on this channel; a generic one keeps the example free of generated code.
  // HealthCheckRequest{service: ""} serializes to zero bytes.
  grpc::GenericStub stub(*channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice empty;
  grpc::ByteBuffer request(&empty, 1), response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                 &response, [&done](grpc::Status status) { done.set_value(std::move(status)); });
  const grpc::Status status = done.get_future().get();
  if (!status.ok()) {
    std::cerr << "Health/Check failed: " << status.error_code() << " " << status.error_message()
              << "\n";
    return 1;
  }
  // HealthCheckResponse{status: SERVING} is the two bytes 08 01.
  grpc::Slice reply;
  const bool serving = response.TrySingleSlice(&reply).ok() && reply.size() == 2 &&
                       reply.begin()[0] == 0x08 && reply.begin()[1] == 0x01;
  std::cout << (serving ? "SERVING" : "NOT SERVING") << "\n";
  return serving ? 0 : 1;
}
