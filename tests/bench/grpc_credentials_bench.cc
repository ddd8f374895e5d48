// The cost of our gRPC credentials plugin: one unary call on a TLS channel to an in-process
// server (the standard health service) with aim::auth's Bearer token plugin, against gRPC's
// own grpc::AccessTokenCredentials sending the same header.
//
//   build/tests/bench/grpc_credentials_bench
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "aim/auth/credentials.h"
#include "aim/auth/grpc.h"
#include "benchmark/benchmark.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "tests/support/nginx/tls.h"

namespace {

constexpr char kToken[] = "bench-token-0123456789";

struct TlsHealthServer {
  TlsHealthServer() {
    grpc::EnableDefaultHealthCheckService(true);
    dir = std::make_unique<aim::testing::TempDir>(*aim::testing::TempDir::Create());
    pki = *aim::testing::MakeTestPki(dir->path());
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({pki.server_key_pem, pki.server_cert_pem});
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(ssl), &port);
    // A callback service makes gRPC run the (synchronous) health service on its own
    // threads; with nothing else registered the server does not start.
    builder.RegisterCallbackGenericService(&unused);
    server = builder.BuildAndStart();
  }
  std::string target() const { return "127.0.0.1:" + std::to_string(port); }

  std::unique_ptr<aim::testing::TempDir> dir;
  aim::testing::TestPki pki;
  int port = 0;
  grpc::CallbackGenericService unused;
  std::unique_ptr<grpc::Server> server;
};

TlsHealthServer& Server() {
  static auto* server = new TlsHealthServer();
  return *server;
}

// One Health/Check call (empty request = service ""), synchronously.
void CheckHealth(grpc::GenericStub& stub, benchmark::State& state) {
  grpc::ClientContext context;
  grpc::Slice empty("");  // HealthCheckRequest{service: ""} serialises to zero bytes
  grpc::ByteBuffer request(&empty, 1), reply;
  grpc::Status status;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                 &reply, [&](grpc::Status s) {
                   std::lock_guard<std::mutex> lock(mu);
                   status = std::move(s);
                   done = true;
                   cv.notify_one();
                 });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  if (!status.ok()) state.SkipWithError(status.error_message().c_str());
}

void RunCalls(benchmark::State& state, std::shared_ptr<grpc::Channel> channel) {
  grpc::GenericStub stub(std::move(channel));
  for (auto _ : state) CheckHealth(stub, state);
}

void BM_UnaryCall_AimBearerPlugin(benchmark::State& state) {
  aim::auth::GrpcChannelOptions options;
  options.ssl.pem_root_certs = Server().pki.ca_cert_pem;
  auto channel = aim::auth::MakeGrpcChannel(Server().target(), *aim::auth::BearerToken(kToken),
                                            options);
  if (!channel.ok()) return state.SkipWithError(channel.status().ToString().c_str());
  RunCalls(state, *channel);
}
BENCHMARK(BM_UnaryCall_AimBearerPlugin)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_UnaryCall_GrpcAccessToken(benchmark::State& state) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Server().pki.ca_cert_pem;
  auto credentials = grpc::CompositeChannelCredentials(grpc::SslCredentials(ssl),
                                                       grpc::AccessTokenCredentials(kToken));
  RunCalls(state, grpc::CreateChannel(Server().target(), credentials));
}
BENCHMARK(BM_UnaryCall_GrpcAccessToken)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_UnaryCall_NoCallCredentials(benchmark::State& state) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Server().pki.ca_cert_pem;
  RunCalls(state, grpc::CreateChannel(Server().target(), grpc::SslCredentials(ssl)));
}
BENCHMARK(BM_UnaryCall_NoCallCredentials)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
