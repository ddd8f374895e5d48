#include "tracking/client.h"

#include <charconv>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "rpc/uuid.h"
#include "tracking/transport_factory.h"

namespace aim::tracking {
namespace {

constexpr absl::Duration kHeartbeatInterval = absl::Seconds(10);  // Python: every 11 s

// Identifies the connection settings a Client can be shared under.
std::string SharingKey(const RunOptions& o, const auth::CredentialsPtr& credentials) {
  return absl::StrCat(o.repo, "|", static_cast<int>(o.protocol), "|", static_cast<int>(o.scheme),
                      "|", o.tls.ca_file, "|", o.tls.cert_file, "|", o.tls.key_file, "|",
                      o.tls.verify, "|", o.allow_insecure_credentials, "|",
                      absl::FormatDuration(o.request_timeout), "|",
                      reinterpret_cast<std::uintptr_t>(credentials.get()));
}

}  // namespace

Version Version::Parse(std::string_view text) {
  // "3.29.1", also pre-releases such as "3.24.0rc1" (the patch level's leading digits).
  Version v;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (int* part : {&v.major, &v.minor, &v.patch}) {
    auto [next, error] = std::from_chars(p, end, *part);
    if (error != std::errc() || (part != &v.patch && (next == end || *next != '.'))) {
      return Version{};
    }
    p = next + 1;
  }
  return v;
}

absl::StatusOr<std::string> NewClientUri() { return rpc::NewUuid4(); }

absl::StatusOr<std::string> NewRunHash() {
  // uuid4().hex[:24], as Aim's generate_run_hash.
  absl::StatusOr<std::string> uuid = rpc::NewUuid4();
  if (!uuid.ok()) return uuid.status();
  std::string hex = absl::StrReplaceAll(*uuid, {{"-", ""}});
  return hex.substr(0, 24);
}

absl::StatusOr<std::shared_ptr<Client>> Client::Get(const RunOptions& options) {
  auth::CredentialsPtr credentials;
  if (options.credentials.has_value()) {
    credentials = *options.credentials;
  } else {
    absl::StatusOr<auth::CredentialsPtr> from_env = auth::FromEnvironment();
    if (!from_env.ok()) return from_env.status();
    credentials = *std::move(from_env);
  }
  if (credentials == nullptr) credentials = auth::NoCredentials();

  // Credentials from the environment are a fresh object per call, so runs using them share
  // by the environment's meaning, not the object: key them as "env".
  const std::string key = SharingKey(options, options.credentials ? credentials : nullptr);
  static std::mutex registry_mu;
  static auto* registry = new std::map<std::string, std::weak_ptr<Client>>();
  std::lock_guard<std::mutex> lock(registry_mu);
  if (auto it = registry->find(key); it != registry->end()) {
    if (std::shared_ptr<Client> alive = it->second.lock()) return alive;
  }
  absl::StatusOr<std::string> client_uri = NewClientUri();
  if (!client_uri.ok()) return client_uri.status();
  absl::StatusOr<std::unique_ptr<rpc::Transport>> transport =
      MakeTransport(options, credentials, *std::move(client_uri));
  if (!transport.ok()) return transport.status();
  absl::StatusOr<std::shared_ptr<Client>> client =
      Connect(*std::move(transport), kHeartbeatInterval);
  if (client.ok()) (*registry)[key] = *client;
  return client;
}

absl::StatusOr<std::shared_ptr<Client>> Client::Connect(
    std::unique_ptr<rpc::Transport> transport, absl::Duration heartbeat_interval) {
  std::shared_ptr<Client> client(new Client(std::move(transport), heartbeat_interval));
  if (absl::Status s = client->Start(); !s.ok()) return s;
  return client;
}

Client::Client(std::unique_ptr<rpc::Transport> transport, absl::Duration heartbeat_interval)
    : transport_(std::move(transport)), heartbeat_interval_(heartbeat_interval) {}

absl::Status Client::Start() {
  absl::StatusOr<std::string> version = transport_->GetVersion();
  if (!version.ok()) return version.status();
  version_ = Version::Parse(*version);
  if (absl::Status s = transport_->Connect(); !s.ok()) return s;
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
  absl::StatusOr<std::string> repo = CreateResource("Repo", Value::MakeDict());
  if (!repo.ok()) return repo.status();
  repo_handler_ = *repo;
  return absl::OkStatus();
}

Client::~Client() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
  // Best effort: the server forgets a silent client after 5 minutes anyway.
  if (!repo_handler_.empty()) (void)transport_->ReleaseResource(repo_handler_);
  (void)transport_->Disconnect();
}

void Client::HeartbeatLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    // Failures only matter through the calls that need the server; the server drops a
    // client only after 5 minutes without heartbeats.
    (void)transport_->Heartbeat();
    lock.lock();
    stop_cv_.wait_for(lock, absl::ToChronoNanoseconds(heartbeat_interval_),
                      [this] { return stopping_; });
  }
}

absl::StatusOr<std::string> Client::CreateResource(std::string_view type, const Value& kwargs) {
  absl::StatusOr<std::string> handler = transport_->GetResource(type, kwargs, "");
  if (!handler.ok()) return handler.status();
  std::lock_guard<std::mutex> lock(mu_);
  resources_[*handler] = Resource{std::string(type), kwargs};
  return handler;
}

absl::Status Client::ReleaseResource(const std::string& handler) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    resources_.erase(handler);
  }
  return transport_->ReleaseResource(handler);
}

absl::StatusOr<Value> Client::Read(std::string_view handler, std::string_view method,
                                   const Value& args) {
  return transport_->ReadInstruction(handler, method, args);
}

absl::Status Client::Write(std::string_view message) { return transport_->WriteBatch(message); }

void Client::InterruptWrite() { transport_->InterruptWrite(); }

std::uint64_t Client::generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return generation_;
}

absl::Status Client::Recover(std::uint64_t generation) {
  std::lock_guard<std::mutex> recovering(recover_mu_);
  std::map<std::string, Resource> resources;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (generation_ != generation) return absl::OkStatus();  // someone else recovered
    resources = resources_;
  }
  if (absl::Status s = transport_->Reconnect(); !s.ok()) return s;
  for (const auto& [handler, resource] : resources) {
    absl::StatusOr<std::string> again =
        transport_->GetResource(resource.type, resource.kwargs, handler);
    if (!again.ok()) return again.status();
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++generation_;
  return absl::OkStatus();
}

}  // namespace aim::tracking
