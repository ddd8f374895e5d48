#include "tests/support/server/grpc_test_server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/security/server_credentials.h>

#include <atomic>
#include <chrono>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "remote_router.grpc.pb.h"
#include "remote_tracking.grpc.pb.h"
#include "wire/codec.h"

namespace aim::test_server {
namespace {

constexpr char kProtocolVersion[] = "0.1";
constexpr int kMaxPortAttempts = 20;

// The client's own metadata: what a proxy or Aim's server could look at.
GrpcMetadata ClientMetadata(const std::multimap<grpc::string_ref, grpc::string_ref>& in) {
  GrpcMetadata out;
  for (const auto& [key, value] : in) {
    std::string k(key.data(), key.size());
    if (absl::StartsWith(k, ":") || absl::StartsWith(k, "grpc-") || k == "user-agent" ||
        k == "te" || k == "content-type") {
      continue;
    }
    out[k] = std::string(value.data(), value.size());
  }
  return out;
}

void SetException(const AimError& e, ExceptionResponse* out) {
  // Aim <= 3.18 defines this exception in message_utils (SPEC 6.2).
  out->set_module_name(e.class_name == "UnauthorizedRequestError"
                           ? "aim.ext.transport.message_utils"
                           : e.module_name);
  out->set_class_name(e.class_name);
  out->set_args(e.args_json);
}

AimError DecodeError(const absl::Status& s) {
  return AimError::Simple("builtins", "ValueError",
                          std::string_view(s.message().data(), s.message().size()));
}

// The records of a request stream, each message exactly one record (Aim asserts that).
absl::StatusOr<Value> DecodeRecords(const std::vector<std::string>& messages) {
  std::vector<wire::Record> records;
  for (const std::string& m : messages) {
    absl::StatusOr<std::vector<wire::Record>> one = wire::Unpack(m, wire::Framing::kStream);
    if (!one.ok()) return one.status();
    if (one->size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("a stream message holds ", one->size(), " records, not 1"));
    }
    records.push_back(std::move(one->front()));
  }
  return wire::DecodeTree(records);
}

// Shared by every service of a test server: the calls they saw, and the write delay fault.
class Recorder {
 public:
  void SetWriteDelay(absl::Duration delay) {
    absl::MutexLock lock(&mu_);
    write_delay_ = delay;
  }
  absl::Duration write_delay() const {
    absl::MutexLock lock(&mu_);
    return write_delay_;
  }
  void Call(std::string method, int server, const grpc::ServerContext& ctx) {
    absl::MutexLock lock(&mu_);
    calls_.push_back({std::move(method), server, ClientMetadata(ctx.client_metadata())});
  }
  void Refused(GrpcMetadata seen) {
    absl::MutexLock lock(&mu_);
    refused_.push_back(std::move(seen));
  }
  std::vector<GrpcCallRecord> Calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<GrpcMetadata> Refused() const {
    absl::MutexLock lock(&mu_);
    return refused_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<GrpcCallRecord> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<GrpcMetadata> refused_ ABSL_GUARDED_BY(mu_);
  absl::Duration write_delay_ ABSL_GUARDED_BY(mu_);
};

class RequireMetadata final : public grpc::AuthMetadataProcessor {
 public:
  RequireMetadata(std::vector<GrpcMetadata> accepted, Recorder* recorder)
      : accepted_(std::move(accepted)), recorder_(recorder) {}

  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& input, grpc::AuthContext* /*context*/,
                       OutputMetadata* /*consumed*/, OutputMetadata* /*response*/) override {
    GrpcMetadata seen = ClientMetadata(input);
    bool any_expected_key = false;
    for (const GrpcMetadata& set : accepted_) {
      bool all = true;
      for (const auto& [key, value] : set) {
        auto it = seen.find(key);
        any_expected_key |= it != seen.end();
        all &= it != seen.end() && it->second == value;
      }
      if (all) return grpc::Status::OK;
    }
    recorder_->Refused(std::move(seen));
    return any_expected_key
               ? grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "wrong credential")
               : grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing credential");
  }

 private:
  const std::vector<GrpcMetadata> accepted_;
  Recorder* const recorder_;
};

class TrackingService final : public RemoteTrackingService::Service {
 public:
  TrackingService(FakeAimRepo* repo, int server, Recorder* recorder)
      : repo_(repo), server_(server), recorder_(recorder) {}

  grpc::Status get_resource(grpc::ServerContext* ctx, const ResourceRequest* request,
                            ResourceResponse* response) override {
    recorder_->Call("/RemoteTrackingService/get_resource", server_, *ctx);
    repo_->CountBytesReceived(request->args().size());
    std::optional<Value> kwargs;
    if (!request->args().empty()) {
      absl::StatusOr<Value> decoded = wire::UnpackTree(request->args(), wire::Framing::kArgs);
      if (!decoded.ok()) {
        response->set_status(ResourceResponse::ERROR);
        SetException(DecodeError(decoded.status()), response->mutable_exception());
        return grpc::Status::OK;
      }
      kwargs = *std::move(decoded);
    }
    auto [handler, error] =
        repo_->GetResource(request->client_uri(), request->handler(), request->resource_type(),
                           kwargs ? &*kwargs : nullptr);
    if (error) {
      response->set_status(ResourceResponse::ERROR);
      SetException(*error, response->mutable_exception());
    } else {
      response->set_handler(handler);
    }
    return grpc::Status::OK;
  }

  grpc::Status release_resource(grpc::ServerContext* ctx, const ReleaseResourceRequest* request,
                                ReleaseResourceResponse* response) override {
    recorder_->Call("/RemoteTrackingService/release_resource", server_, *ctx);
    if (auto error = repo_->ReleaseResource(request->client_uri(), request->handler())) {
      response->set_status(ReleaseResourceResponse::ERROR);
      SetException(*error, response->mutable_exception());
    }
    return grpc::Status::OK;
  }

  grpc::Status run_instruction(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<InstructionResponse, InstructionRequest>* stream) override {
    recorder_->Call("/RemoteTrackingService/run_instruction", server_, *ctx);
    InstructionRequest request;
    std::optional<RequestHeader> header;
    std::vector<std::string> messages;
    std::size_t bytes = 0;
    while (stream->Read(&request)) {
      if (!header && request.has_header()) {
        header = request.header();
      } else if (request.instruction_case() == InstructionRequest::kMessage) {
        bytes += request.message().size();
        messages.push_back(request.message());
      }
    }
    repo_->CountBytesReceived(bytes);
    InstructionResponse response;
    ResponseHeader* out = response.mutable_header();
    out->set_version(kProtocolVersion);
    if (!header) {
      out->set_status(ResponseHeader::ERROR);
      SetException(AimError::Simple("builtins", "ValueError", "no request header"),
                   out->mutable_exception());
      stream->Write(response);
      return grpc::Status::OK;
    }
    absl::StatusOr<Value> args = DecodeRecords(messages);
    InstructionResult result;
    if (!args.ok()) {
      result.error = DecodeError(args.status());
    } else {
      result = repo_->ReadInstruction(header->client_uri(), header->handler(),
                                      header->method_name(), *args);
    }
    absl::StatusOr<std::vector<wire::Record>> records;
    if (result.ok()) {
      records = wire::EncodeTree(result.value);
      if (!records.ok()) result.error = DecodeError(records.status());
    }
    if (!result.ok()) {
      out->set_status(ResponseHeader::ERROR);
      SetException(*result.error, out->mutable_exception());
      stream->Write(response);
      return grpc::Status::OK;
    }
    if (!stream->Write(response)) return grpc::Status::OK;
    for (const wire::Record& r : *records) {
      std::string message;
      wire::AppendRecord(r.key, r.value, r.is_blob, wire::Framing::kStream, &message);
      response.set_message(std::move(message));
      if (!stream->Write(response)) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status run_write_instructions(grpc::ServerContext* ctx,
                                      grpc::ServerReader<WriteInstructionsRequest>* reader,
                                      WriteInstructionsResponse* response) override {
    recorder_->Call("/RemoteTrackingService/run_write_instructions", server_, *ctx);
    WriteInstructionsRequest request;
    std::vector<std::string> messages;
    std::string client_uri;
    std::size_t bytes = 0;
    while (reader->Read(&request)) {
      client_uri = request.client_uri();  // Aim takes the last message's
      bytes += request.message().size();
      messages.push_back(std::move(*request.mutable_message()));
    }
    // A stalled server: nothing is applied or answered until the delay passes, unless the
    // client gives up first.
    const absl::Time answer_at = absl::Now() + recorder_->write_delay();
    while (absl::Now() < answer_at) {
      if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "client gave up");
      absl::SleepFor(absl::Milliseconds(10));
    }
    absl::StatusOr<Value> instructions = DecodeRecords(messages);
    std::optional<AimError> error;
    if (!instructions.ok()) {
      error = DecodeError(instructions.status());
    } else {
      error = repo_->WriteInstructions(client_uri, *instructions, bytes);
    }
    if (error) {
      response->set_version(kProtocolVersion);
      response->set_status(WriteInstructionsResponse::ERROR);
      SetException(*error, response->mutable_exception());
    }
    return grpc::Status::OK;
  }

 private:
  FakeAimRepo* const repo_;
  const int server_;
  Recorder* const recorder_;
};

// Client registration and routing; the router's store keeps the registrations and
// heartbeats, and `assignments` which worker each client was given.
class RouterService final : public RemoteRouterService::Service {
 public:
  RouterService(FakeAimRepo* repo, const GrpcTestServerOptions* options, Recorder* recorder)
      : repo_(repo), options_(options), recorder_(recorder) {}

  // The router's own port, known once it is bound; worker i is on port + i.
  void set_port(std::uint16_t port) { port_ = port; }

  grpc::Status get_version(grpc::ServerContext* ctx, const VersionRequest* /*request*/,
                           VersionResponse* response) override {
    recorder_->Call("/RemoteRouterService/get_version", 0, *ctx);
    response->set_version(repo_->version());
    return grpc::Status::OK;
  }

  grpc::Status client_heartbeat(grpc::ServerContext* ctx, const HeartbeatRequest* request,
                                HeartbeatResponse* /*response*/) override {
    recorder_->Call("/RemoteRouterService/client_heartbeat", 0, *ctx);
    repo_->Heartbeat(request->client_uri());
    return grpc::Status::OK;
  }

  grpc::Status connect(grpc::ServerContext* ctx, const ConnectRequest* request,
                       ConnectResponse* response) override {
    recorder_->Call("/RemoteRouterService/connect", 0, *ctx);
    repo_->Connect(request->client_uri());
    const int index = Assign(request->client_uri());
    response->set_port(std::to_string(port_ + index));
    response->set_worker_index(std::to_string(index));
    return grpc::Status::OK;
  }

  grpc::Status reconnect(grpc::ServerContext* ctx, const ReconnectRequest* request,
                         ReconnectResponse* response) override {
    recorder_->Call("/RemoteRouterService/reconnect", 0, *ctx);
    repo_->Reconnect(request->client_uri());
    response->set_port(std::to_string(port_ + Assign(request->client_uri())));
    return grpc::Status::OK;
  }

  grpc::Status disconnect(grpc::ServerContext* ctx, const DisconnectRequest* request,
                          DisconnectResponse* /*response*/) override {
    recorder_->Call("/RemoteRouterService/disconnect", 0, *ctx);
    repo_->Disconnect(request->client_uri());
    absl::MutexLock lock(&mu_);
    assignments_.erase(request->client_uri());
    return grpc::Status::OK;
  }

 private:
  int Assign(const std::string& client_uri) {
    if (options_->workers == 0) return 0;
    absl::MutexLock lock(&mu_);
    if (auto it = assignments_.find(client_uri); it != assignments_.end()) return it->second;
    int index = options_->route_to;
    if (index == 0) {
      std::vector<int> load(options_->workers + 1, 0);
      for (const auto& [uri, worker] : assignments_) ++load[worker];
      index = 1;
      for (int i = 2; i <= options_->workers; ++i) {
        if (load[i] < load[index]) index = i;
      }
    }
    assignments_[client_uri] = index;
    return index;
  }

  FakeAimRepo* const repo_;
  const GrpcTestServerOptions* const options_;
  std::atomic<std::uint16_t> port_{0};
  Recorder* const recorder_;
  absl::Mutex mu_;
  std::map<std::string, int> assignments_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

struct GrpcTestServer::Impl {
  GrpcTestServerOptions options;
  std::uint16_t port = 0;
  std::shared_ptr<FakeAimRepo> repo;
  std::vector<std::unique_ptr<FakeAimRepo>> worker_repos;  // [0] is worker 1
  Recorder recorder;

  // Rebuilt on every Resume(); the services outlive their servers.
  std::unique_ptr<RouterService> router;
  std::vector<std::unique_ptr<TrackingService>> tracking;  // [0]: router's (if no workers)
  absl::Mutex mu;
  std::vector<std::unique_ptr<grpc::Server>> servers ABSL_GUARDED_BY(mu);

  std::shared_ptr<grpc::ServerCredentials> Credentials() {
    if (options.tls_cert_chain.empty()) return grpc::InsecureServerCredentials();
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({options.tls_private_key, options.tls_cert_chain});
    if (!options.tls_client_ca.empty()) {
      ssl.pem_root_certs = options.tls_client_ca;
      ssl.client_certificate_request =
          GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(ssl);
    if (!options.required_metadata.empty()) {
      credentials->SetAuthMetadataProcessor(
          std::make_shared<RequireMetadata>(options.required_metadata, &recorder));
    }
    return credentials;
  }

  // One server on `want` (0: ephemeral) with the given services; `bound` gets the port.
  std::unique_ptr<grpc::Server> Serve(std::uint16_t want, std::vector<grpc::Service*> services,
                                      int* bound) {
    grpc::ServerBuilder builder;
    // No port sharing with other processes' gRPC servers (gRPC's default on Linux).
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    const int max = static_cast<int>(options.max_message_bytes);
    builder.SetMaxReceiveMessageSize(max);
    builder.SetMaxSendMessageSize(max);
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", want), Credentials(), bound);
    for (grpc::Service* s : services) builder.RegisterService(s);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (server == nullptr || *bound == 0) return nullptr;
    return server;
  }

  void StopLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (auto& server : servers) server->Shutdown(std::chrono::system_clock::now());
    for (auto& server : servers) server->Wait();
    servers.clear();
  }

  // Serves on `router_port` (0: ephemeral, chosen here) and the worker ports after it.
  absl::Status ServeAll(std::uint16_t router_port) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    grpc::EnableDefaultHealthCheckService(true);
    int bound = 0;
    std::vector<grpc::Service*> services;
    router = std::make_unique<RouterService>(repo.get(), &options, &recorder);
    tracking.clear();
    if (options.workers == 0) {
      tracking.push_back(std::make_unique<TrackingService>(repo.get(), 0, &recorder));
      services = {router.get(), tracking.back().get()};
    } else {
      services = {router.get()};
    }
    std::unique_ptr<grpc::Server> server = Serve(router_port, services, &bound);
    if (server == nullptr) {
      return absl::UnavailableError(absl::StrCat("cannot bind 127.0.0.1:", router_port));
    }
    router_port = static_cast<std::uint16_t>(bound);
    router->set_port(router_port);
    servers.push_back(std::move(server));
    for (int i = 1; i <= options.workers; ++i) {
      tracking.push_back(
          std::make_unique<TrackingService>(worker_repos[i - 1].get(), i, &recorder));
      const int port = router_port + i;
      server = port <= 65535 ? Serve(static_cast<std::uint16_t>(port), {tracking.back().get()},
                                     &bound)
                             : nullptr;
      if (server == nullptr) {
        StopLocked();
        return absl::UnavailableError(absl::StrCat("cannot bind worker port ", port));
      }
      servers.push_back(std::move(server));
    }
    port = router_port;
    return absl::OkStatus();
  }
};

GrpcTestServer::GrpcTestServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcTestServer::~GrpcTestServer() { Stop(); }

absl::StatusOr<std::unique_ptr<GrpcTestServer>> GrpcTestServer::Start(
    GrpcTestServerOptions options, std::shared_ptr<FakeAimRepo> repo) {
  if (options.workers < 0 || options.route_to < 0 || options.route_to > options.workers) {
    return absl::InvalidArgumentError("route_to must name one of the workers");
  }
  if ((!options.required_metadata.empty() || !options.tls_client_ca.empty()) &&
      options.tls_cert_chain.empty()) {
    return absl::InvalidArgumentError("required_metadata and tls_client_ca need TLS");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->repo = repo ? std::move(repo) : std::make_shared<FakeAimRepo>();
  for (int i = 0; i < impl->options.workers; ++i) {
    auto worker = std::make_unique<FakeAimRepo>();
    worker->SetVersion(impl->repo->version());
    impl->worker_repos.push_back(std::move(worker));
  }
  absl::Status served;
  {
    absl::MutexLock lock(&impl->mu);
    // With workers on an ephemeral router port, another process may hold a port after it.
    const int attempts = impl->options.port == 0 ? kMaxPortAttempts : 1;
    for (int i = 0; i < attempts; ++i) {
      served = impl->ServeAll(impl->options.port);
      if (served.ok()) break;
    }
  }
  if (!served.ok()) return served;
  return std::unique_ptr<GrpcTestServer>(new GrpcTestServer(std::move(impl)));
}

std::uint16_t GrpcTestServer::port() const { return impl_->port; }
std::string GrpcTestServer::aim_url() const {
  return absl::StrCat("aim://127.0.0.1:", impl_->port);
}
FakeAimRepo& GrpcTestServer::repo() const { return *impl_->repo; }
FakeAimRepo& GrpcTestServer::worker_repo(int index) const {
  return *impl_->worker_repos.at(static_cast<std::size_t>(index - 1));
}
int GrpcTestServer::workers() const { return impl_->options.workers; }
std::vector<GrpcCallRecord> GrpcTestServer::Calls() const { return impl_->recorder.Calls(); }
std::vector<GrpcMetadata> GrpcTestServer::Refused() const { return impl_->recorder.Refused(); }
void GrpcTestServer::SetWriteDelay(absl::Duration delay) { impl_->recorder.SetWriteDelay(delay); }

void GrpcTestServer::Stop() {
  absl::MutexLock lock(&impl_->mu);
  impl_->StopLocked();
}

absl::Status GrpcTestServer::Resume() {
  absl::MutexLock lock(&impl_->mu);
  if (!impl_->servers.empty()) return absl::FailedPreconditionError("already serving");
  return impl_->ServeAll(impl_->port);
}

absl::Status GrpcTestServer::Restart() {
  Stop();
  impl_->repo->Restart();
  for (auto& worker : impl_->worker_repos) worker->Restart();
  return Resume();
}

}  // namespace aim::test_server
