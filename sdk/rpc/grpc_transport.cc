#include "rpc/grpc_transport.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "aim/auth/grpc.h"
#include "aim/auth/http.h"
#include "health.grpc.pb.h"
#include "remote_router.grpc.pb.h"
#include "remote_tracking.grpc.pb.h"
#include "rpc/uuid.h"
#include "wire/codec.h"
#include "wire/string_view_compat.h"

namespace aim::rpc {
namespace {

using ::aim::internal::Av;

// What Aim's client puts in every RequestHeader / WriteInstructionsRequest.
constexpr char kProtocolVersion[] = "0.1";
// Server-provided text (error messages, exception args) is cut to this length.
constexpr std::size_t kMaxServerText = 1024;
constexpr std::size_t kMaxHandlerBytes = 256;
// Upper bound of what a WriteInstructionsRequest / InstructionRequest adds around a record.
constexpr std::size_t kMessageOverheadBytes = 128;
// gRPC's default reconnect backoff grows to 120 s, which would keep a restarted server
// unreachable long after it is back; the tracking engine has its own retry policy.
constexpr int kMaxReconnectBackoffMs = 2000;

ServerUrl WithPort(ServerUrl url) {
  if (url.port == 0) url.port = kDefaultGrpcPort;
  return url;
}

std::string Clip(std::string_view s) {
  if (s.size() <= kMaxServerText) return std::string(s);
  return absl::StrCat(Av(s.substr(0, kMaxServerText)), "...");
}

// Client URIs travel as metadata values: keep them to what a uuid can contain.
bool IsClientUri(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-';
  });
}

absl::StatusOr<std::string> ReadPemFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  if (in) content << in.rdbuf();
  if (!in || content.str().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the TLS ", Av(what), " file ", path));
  }
  return content.str();
}

// The message of a server-side exception: str(exception) is its single argument for most
// exceptions; otherwise the JSON args as sent.
std::string ExceptionMessage(const std::string& args_json) {
  nlohmann::json j = nlohmann::json::parse(args_json, nullptr, false);
  if (j.is_array() && j.size() == 1 && j[0].is_string()) return Clip(j[0].get<std::string>());
  if (j.is_array() && j.empty()) return "";
  return Clip(args_json);
}

absl::Status ExceptionStatus(const ExceptionResponse& e, std::string_view call) {
  if (e.class_name().empty()) {
    return absl::InternalError(
        absl::StrCat("gRPC ", Av(call), ": the server reported an error without an exception"));
  }
  return ServerError(ServerException{Clip(e.module_name()), Clip(e.class_name()),
                                     Clip(e.args()), ExceptionMessage(e.args())});
}

// Each framed record of a packed message, as its own string (one per gRPC stream message).
absl::StatusOr<std::vector<std::string>> SplitRecords(std::string_view packed,
                                                      std::size_t max_message_bytes) {
  absl::StatusOr<std::vector<wire::Record>> records = wire::Unpack(packed, wire::Framing::kStream);
  if (!records.ok()) return records.status();
  std::vector<std::string> messages;
  messages.reserve(records->size());
  for (const wire::Record& r : *records) {
    std::string& m = messages.emplace_back();
    wire::AppendRecord(r.key, r.value, r.is_blob, wire::Framing::kStream, &m);
    // The message around the record adds the version, the client URI and field headers.
    if (m.size() + kMessageOverheadBytes > max_message_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "a record of ", m.size(), " bytes does not fit in one gRPC message (limit ",
          max_message_bytes, " bytes; the server's __AIM_RT_MAX_MESSAGE_SIZE__ must allow it too)"));
    }
  }
  return messages;
}

struct Channels {
  std::shared_ptr<grpc::Channel> router;
  std::unique_ptr<RemoteRouterService::Stub> router_stub;
  std::unique_ptr<RemoteTrackingService::Stub> tracking_stub;
};

class GrpcTransport final : public Transport {
 public:
  explicit GrpcTransport(GrpcTransportOptions options)
      : options_(std::move(options)),
        target_(Authority(WithPort(options_.server))),
        project_(options_.server.base_path.empty() ? ""
                                                   : options_.server.base_path.substr(1)),
        credentials_description_(options_.credentials ? options_.credentials->DebugString()
                                                      : "none"),
        best_effort_timeout_(BestEffortTimeout(options_.request_timeout)) {}

  // Builds the router channel (tracking calls use it until Connect() routes elsewhere).
  absl::Status Init() {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> router = MakeChannel(target_);
    if (!router.ok()) return router.status();
    absl::MutexLock lock(&mu_);
    SetRouterLocked(*std::move(router));
    return absl::OkStatus();
  }

  absl::Status Connect() override {
    ConnectRequest request;
    request.set_client_uri(options_.client_uri);
    ConnectResponse response;
    absl::Status s = Unary(Snapshot()->router_stub.get(), &RemoteRouterService::Stub::connect,
                           "connect", request, &response, options_.request_timeout);
    if (s.code() == absl::StatusCode::kUnimplemented) {
      return absl::FailedPreconditionError(absl::StrCat(
          "gRPC server at ", target_, " has no RemoteRouterService: Aim < 3.15, which this "
          "client does not support (use an Aim 3.15.2-3.18 or >= 3.19 server)"));
    }
    if (!s.ok()) return s;
    // 3.15.0 / 3.15.1 have no worker_index (a single worker): empty means the router.
    std::uint32_t index = 0;
    if (!response.worker_index().empty() &&
        (!absl::SimpleAtoi(Av(response.worker_index()), &index) ||
         index > std::uint32_t{std::numeric_limits<std::uint16_t>::max()} - Port())) {
      return absl::InternalError(absl::StrCat("gRPC connect: invalid worker_index \"",
                                              Clip(response.worker_index()), "\""));
    }
    return RouteTo(static_cast<std::uint16_t>(index), /*fresh_router=*/false);
  }

  absl::Status Reconnect() override {
    std::uint16_t index;
    {
      absl::MutexLock lock(&mu_);
      index = worker_index_;
    }
    // Fresh channels: the old ones may sit in gRPC's reconnect backoff.
    if (absl::Status s = RouteTo(index, /*fresh_router=*/true); !s.ok()) return s;
    ReconnectRequest request;
    request.set_client_uri(options_.client_uri);
    ReconnectResponse response;
    // The answer's port is the worker's port as the server sees it, which a proxy may map
    // differently; like Aim's client, keep routing by the index from Connect().
    return Unary(Snapshot()->router_stub.get(), &RemoteRouterService::Stub::reconnect,
                 "reconnect", request, &response, options_.request_timeout);
  }

  absl::Status Disconnect() override {
    DisconnectRequest request;
    request.set_client_uri(options_.client_uri);
    DisconnectResponse response;
    return Unary(Snapshot()->router_stub.get(), &RemoteRouterService::Stub::disconnect,
                 "disconnect", request, &response, best_effort_timeout_);
  }

  absl::Status Heartbeat() override {
    HeartbeatRequest request;
    request.set_client_uri(options_.client_uri);
    HeartbeatResponse response;
    return Unary(Snapshot()->router_stub.get(), &RemoteRouterService::Stub::client_heartbeat,
                 "client_heartbeat", request, &response, best_effort_timeout_);
  }

  absl::StatusOr<std::string> GetVersion() override {
    VersionResponse response;
    absl::Status s = Unary(Snapshot()->router_stub.get(), &RemoteRouterService::Stub::get_version,
                           "get_version", VersionRequest(), &response, options_.request_timeout);
    // Servers before 3.15 have no router; Aim's client says the same.
    if (s.code() == absl::StatusCode::kUnimplemented) return std::string("<3.15.0");
    if (!s.ok()) return s;
    if (response.version().empty() || response.version().size() > 64) {
      return absl::InternalError("gRPC get_version: no usable version in the answer");
    }
    return response.version();
  }

  absl::StatusOr<std::string> GetResource(std::string_view resource_type, const Value& kwargs,
                                          std::string_view handler) override {
    absl::StatusOr<std::string> args = wire::Pack(kwargs, wire::Framing::kArgs);
    if (!args.ok()) return args.status();
    ResourceRequest request;
    request.set_resource_type(std::string(resource_type));
    request.set_handler(std::string(handler));
    request.set_client_uri(options_.client_uri);
    request.set_args(*std::move(args));
    ResourceResponse response;
    if (absl::Status s = Unary(Snapshot()->tracking_stub.get(),
                               &RemoteTrackingService::Stub::get_resource, "get_resource",
                               request, &response, options_.read_instruction_timeout);
        !s.ok()) {
      return s;
    }
    if (response.handler().empty() || response.handler().size() > kMaxHandlerBytes) {
      return absl::InternalError("gRPC get_resource: no usable handler in the answer");
    }
    return response.handler();
  }

  absl::Status ReleaseResource(std::string_view handler) override {
    ReleaseResourceRequest request;
    request.set_handler(std::string(handler));
    request.set_client_uri(options_.client_uri);
    ReleaseResourceResponse response;
    return Unary(Snapshot()->tracking_stub.get(), &RemoteTrackingService::Stub::release_resource,
                 "release_resource", request, &response, best_effort_timeout_);
  }

  absl::StatusOr<Value> ReadInstruction(std::string_view handler, std::string_view method,
                                        const Value& args) override {
    if (args.kind() != Value::Kind::kList) {
      return absl::InvalidArgumentError("read-instruction args must be a list");
    }
    absl::StatusOr<std::string> packed = wire::Pack(args, wire::Framing::kStream);
    if (!packed.ok()) return packed.status();
    absl::StatusOr<std::vector<std::string>> records =
        SplitRecords(*packed, options_.max_message_bytes);
    if (!records.ok()) return records.status();

    const std::string call = absl::StrCat("run_instruction ", Av(method));
    grpc::ClientContext ctx;
    Prepare(&ctx, options_.read_instruction_timeout);
    auto stream = Snapshot()->tracking_stub->run_instruction(&ctx);
    InstructionRequest request;
    RequestHeader* header = request.mutable_header();
    header->set_version(kProtocolVersion);
    header->set_handler(std::string(handler));
    header->set_client_uri(options_.client_uri);
    header->set_method_name(std::string(method));
    // A failed write means the call is over; Finish() below says why.
    bool writing = stream->Write(request);
    for (std::string& record : *records) {
      if (!writing) break;
      request.set_message(std::move(record));
      writing = stream->Write(request);
    }
    if (writing) stream->WritesDone();

    // The server replies only after the whole request: a header, then one record each.
    InstructionResponse response;
    bool have_header = false;
    absl::Status answer;  // the first problem with what the server sent
    std::string result;
    while (stream->Read(&response)) {
      if (!answer.ok()) continue;  // drain, so that Finish() does not block
      if (!have_header) {
        if (!response.has_header()) {
          answer = absl::InternalError(absl::StrCat("gRPC ", call, ": answer without a header"));
          continue;
        }
        have_header = true;
        if (response.header().status() == ResponseHeader::ERROR) {
          answer = ExceptionStatus(response.header().exception(), call);
        }
        continue;
      }
      if (response.instruction_case() != InstructionResponse::kMessage ||
          response.message().size() > options_.max_result_bytes - result.size()) {
        answer = absl::InternalError(absl::StrCat(
            "gRPC ", call, ": unexpected or oversized result message from the server"));
        continue;
      }
      result += response.message();
    }
    if (absl::Status s = CallStatus(stream->Finish(), call); !s.ok()) return s;
    if (!answer.ok()) return answer;
    if (!have_header) {
      return absl::InternalError(absl::StrCat("gRPC ", call, ": empty answer"));
    }
    absl::StatusOr<Value> value = wire::UnpackTree(result, wire::Framing::kStream);
    if (!value.ok()) {
      return absl::InternalError(absl::StrCat("gRPC ", call, ": undecodable answer: ",
                                              value.status().message()));
    }
    return value;
  }

  void InterruptWrite() override {
    absl::MutexLock lock(&write_mu_);
    if (write_ctx_ != nullptr) write_ctx_->TryCancel();
  }

  absl::Status WriteBatch(std::string_view message) override {
    absl::StatusOr<std::vector<std::string>> records =
        SplitRecords(message, options_.max_message_bytes);
    if (!records.ok()) return records.status();
    if (records->empty()) return absl::InvalidArgumentError("empty write batch");
    grpc::ClientContext ctx;
    Prepare(&ctx, options_.write_timeout);
    {
      absl::MutexLock lock(&write_mu_);
      write_ctx_ = &ctx;
    }
    absl::Cleanup forget_ctx = [this] {
      absl::MutexLock lock(&write_mu_);
      write_ctx_ = nullptr;
    };
    WriteInstructionsResponse response;
    auto writer = Snapshot()->tracking_stub->run_write_instructions(&ctx, &response);
    WriteInstructionsRequest request;
    request.set_version(kProtocolVersion);
    request.set_client_uri(options_.client_uri);
    bool writing = true;
    for (std::string& record : *records) {
      request.set_message(std::move(record));
      if (!(writing = writer->Write(request))) break;
    }
    if (writing) writer->WritesDone();
    if (absl::Status s = CallStatus(writer->Finish(), "run_write_instructions"); !s.ok()) {
      // Cancelled by InterruptWrite(): reported as the lost connection it stands for.
      if (s.code() == absl::StatusCode::kCancelled) return absl::UnavailableError(s.message());
      return s;
    }
    if (response.status() == WriteInstructionsResponse::ERROR) {
      return ExceptionStatus(response.exception(), "run_write_instructions");
    }
    return absl::OkStatus();
  }

  // grpc.health.v1.Health/Check on the router; OK when a gRPC server answered at all.
  absl::Status Probe() const {
    grpc::ClientContext ctx;
    Prepare(&ctx, options_.request_timeout);
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = grpc::health::v1::Health::NewStub(Snapshot()->router)
                              ->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &response);
    switch (status.error_code()) {
      case grpc::StatusCode::OK:
      case grpc::StatusCode::UNIMPLEMENTED:  // a gRPC server without the health service
      case grpc::StatusCode::NOT_FOUND:
      case grpc::StatusCode::UNAUTHENTICATED:  // reported clearly by the real calls
      case grpc::StatusCode::PERMISSION_DENIED:
        return absl::OkStatus();
      default:
        return CallStatus(status, "grpc.health.v1.Health/Check");
    }
  }

 private:
  // One unary call of `stub` with a deadline and the metadata; an exception the server
  // reports inside the response becomes ServerError.
  template <typename Stub, typename Request, typename Response>
  absl::Status Unary(Stub* stub,
                     grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Request&, Response*),
                     std::string_view name, const Request& request, Response* response,
                     absl::Duration timeout) const {
    grpc::ClientContext ctx;
    Prepare(&ctx, timeout);
    if (absl::Status s = CallStatus((stub->*rpc)(&ctx, request, response), name); !s.ok()) {
      return s;
    }
    if (response->status() == Response::ERROR) return ExceptionStatus(response->exception(), name);
    return absl::OkStatus();
  }

  std::uint16_t Port() const { return WithPort(options_.server).port; }

  absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& target) const {
    grpc::ChannelArguments arguments;
    const int max = static_cast<int>(
        std::min<std::size_t>(options_.max_message_bytes, std::numeric_limits<int>::max()));
    arguments.SetMaxSendMessageSize(max);
    arguments.SetMaxReceiveMessageSize(max);
    arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);
    // A channel of its own connection: Reconnect()'s fresh channel must not pick up the old
    // one's connection (and its backoff) from gRPC's global subchannel pool.
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    aim::auth::CredentialsPtr credentials =
        options_.credentials ? options_.credentials : aim::auth::NoCredentials();
    if (options_.server.scheme == "https") {
      aim::auth::GrpcChannelOptions channel;
      channel.arguments = arguments;
      if (!options_.ca_bundle_file.empty()) {
        absl::StatusOr<std::string> ca = ReadPemFile(options_.ca_bundle_file, "CA bundle");
        if (!ca.ok()) return ca.status();
        channel.ssl.pem_root_certs = *std::move(ca);
      }
      if (!options_.client_cert_file.empty()) {
        absl::StatusOr<std::string> cert =
            ReadPemFile(options_.client_cert_file, "client certificate");
        if (!cert.ok()) return cert.status();
        // As with libcurl, the key may live in the certificate file.
        absl::StatusOr<std::string> key = ReadPemFile(
            options_.client_key_file.empty() ? options_.client_cert_file
                                             : options_.client_key_file,
            "client key");
        if (!key.ok()) return key.status();
        channel.ssl.pem_cert_chain = *std::move(cert);
        channel.ssl.pem_private_key = *std::move(key);
      }
      return aim::auth::MakeGrpcChannel(target, std::move(credentials), channel);
    }
    // Plaintext: the HTTP transport's rule decides whether these credentials may travel.
    aim::auth::HttpOptions rule;
    rule.allow_insecure_plaintext = options_.allow_insecure_plaintext;
    absl::StatusOr<std::vector<std::string>> lines = aim::auth::HttpHeaderLines(
        *credentials, absl::StrCat("http://", target, "/"), rule);
    if (!lines.ok()) return lines.status();
    if (lines->empty()) {
      return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), arguments);
    }
    aim::auth::GrpcChannelOptions channel;
    channel.arguments = arguments;
    channel.insecure_plaintext = true;
    return aim::auth::MakeGrpcChannel(target, std::move(credentials), channel);
  }

  void SetRouterLocked(std::shared_ptr<grpc::Channel> router) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto channels = std::make_shared<Channels>();
    channels->router = router;
    channels->router_stub = RemoteRouterService::NewStub(router);
    channels->tracking_stub = RemoteTrackingService::NewStub(router);
    channels_ = std::move(channels);
  }

  // Tracking calls go to the router (index 0) or the worker on router_port + index.
  absl::Status RouteTo(std::uint16_t index, bool fresh_router) {
    std::shared_ptr<grpc::Channel> router;
    if (fresh_router) {
      absl::StatusOr<std::shared_ptr<grpc::Channel>> made = MakeChannel(target_);
      if (!made.ok()) return made.status();
      router = *std::move(made);
    } else {
      router = Snapshot()->router;
    }
    auto channels = std::make_shared<Channels>();
    channels->router = router;
    channels->router_stub = RemoteRouterService::NewStub(router);
    if (index == 0) {
      channels->tracking_stub = RemoteTrackingService::NewStub(router);
    } else {
      ServerUrl worker = options_.server;
      worker.port = static_cast<std::uint16_t>(Port() + index);
      absl::StatusOr<std::shared_ptr<grpc::Channel>> made = MakeChannel(Authority(worker));
      if (!made.ok()) return made.status();
      channels->tracking_stub = RemoteTrackingService::NewStub(*made);
    }
    absl::MutexLock lock(&mu_);
    channels_ = std::move(channels);
    worker_index_ = index;
    return absl::OkStatus();
  }

  std::shared_ptr<Channels> Snapshot() const {
    absl::MutexLock lock(&mu_);
    return channels_;
  }

  void Prepare(grpc::ClientContext* ctx, absl::Duration timeout) const {
    if (timeout != absl::InfiniteDuration()) {
      ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    }
    ctx->AddMetadata("x-client", options_.client_uri);
    ctx->AddMetadata("x-project", project_);
  }

  // gRPC's status as ours: the codes are numerically the same; the message says which call
  // to which server failed and, for refusals, which kind of credentials was refused.
  absl::Status CallStatus(const grpc::Status& status, std::string_view call) const {
    if (status.ok()) return absl::OkStatus();
    const auto code = static_cast<absl::StatusCode>(status.error_code());
    std::string message = absl::StrCat("gRPC ", Av(call), " to ", target_, ": ",
                                       Clip(status.error_message()));
    if (code == absl::StatusCode::kUnauthenticated ||
        code == absl::StatusCode::kPermissionDenied) {
      absl::StrAppend(&message, " (the server or a proxy refused the credentials: ",
                      credentials_description_, ")");
    }
    return absl::Status(code, message);
  }

  const GrpcTransportOptions options_;
  const std::string target_;
  const std::string project_;
  const std::string credentials_description_;
  const absl::Duration best_effort_timeout_;

  mutable absl::Mutex mu_;
  std::shared_ptr<Channels> channels_ ABSL_GUARDED_BY(mu_);
  std::uint16_t worker_index_ ABSL_GUARDED_BY(mu_) = 0;
  // The context of the WriteBatch in progress, for InterruptWrite().
  absl::Mutex write_mu_;
  grpc::ClientContext* write_ctx_ ABSL_GUARDED_BY(write_mu_) = nullptr;
};

absl::Status ValidateOptions(const GrpcTransportOptions& o) {
  if (o.server.scheme != "http" && o.server.scheme != "https") {
    return absl::InvalidArgumentError(
        "server scheme must be http or https (resolve aim:// URLs with DetectGrpcServer)");
  }
  if (o.server.host.empty()) return absl::InvalidArgumentError("server host is empty");
  const absl::Duration timeouts[] = {o.request_timeout, o.read_instruction_timeout,
                                     o.write_timeout};
  for (absl::Duration d : timeouts) {
    if (d <= absl::ZeroDuration()) return absl::InvalidArgumentError("timeouts must be positive");
  }
  if (o.max_message_bytes < 1024 || o.max_result_bytes == 0) {
    return absl::InvalidArgumentError("max_message_bytes must be at least 1 KiB and "
                                      "max_result_bytes positive");
  }
  if (!o.client_uri.empty() && !IsClientUri(o.client_uri)) {
    return absl::InvalidArgumentError("client URI must be a uuid (letters, digits, '-')");
  }
  return absl::OkStatus();
}

// One health check over `scheme`; any answer from a gRPC server counts.
absl::Status HealthCheck(GrpcTransportOptions probe, const char* scheme) {
  probe.server.scheme = scheme;
  if (probe.server.scheme == "http") {
    // As the HTTP scheme probe: never credentials in cleartext just to look.
    probe.credentials = aim::auth::NoCredentials();
  }
  if (probe.client_uri.empty()) probe.client_uri = "probe";
  if (absl::Status s = ValidateOptions(probe); !s.ok()) return s;
  GrpcTransport transport(std::move(probe));
  if (absl::Status s = transport.Init(); !s.ok()) return s;
  return transport.Probe();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> MakeGrpcTransport(GrpcTransportOptions options) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  if (options.client_uri.empty()) {
    absl::StatusOr<std::string> uri = NewUuid4();
    if (!uri.ok()) return uri.status();
    options.client_uri = *std::move(uri);
  }
  auto transport = std::make_unique<GrpcTransport>(std::move(options));
  if (absl::Status s = transport->Init(); !s.ok()) return s;
  return std::unique_ptr<Transport>(std::move(transport));
}


absl::StatusOr<ServerUrl> DetectGrpcServer(const GrpcTransportOptions& options) {
  std::vector<const char*> schemes;
  if (options.server.scheme.empty()) {
    schemes = {"https", "http"};
  } else {
    schemes = {options.server.scheme.c_str()};
  }
  std::string tried;
  absl::StatusCode code = absl::StatusCode::kUnavailable;
  for (const char* scheme : schemes) {
    absl::Status s = HealthCheck(options, scheme);
    if (s.ok()) {
      ServerUrl url = options.server;
      url.scheme = scheme;
      return url;
    }
    // Bad options (unreadable CA file, refused plaintext credentials) are not "no server".
    if (s.code() == absl::StatusCode::kInvalidArgument ||
        s.code() == absl::StatusCode::kFailedPrecondition) {
      return s;
    }
    code = s.code();
    absl::StrAppend(&tried, tried.empty() ? "" : "; ",
                    std::string_view(scheme) == "https" ? "TLS: " : "plaintext: ", s.message());
  }
  return absl::Status(code, absl::StrCat("no gRPC server answered at ",
                                         Authority(WithPort(options.server)), " (", tried, ")"));
}

}  // namespace aim::rpc
