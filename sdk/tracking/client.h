// One client of an Aim server: one client URI, one transport, the resources created through
// it, and the transport heartbeat. Runs of the same repo and connection settings in one
// process share a Client, as Python's Repo objects share theirs.
#ifndef AIM_SDK_TRACKING_CLIENT_H_
#define AIM_SDK_TRACKING_CLIENT_H_

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"
#include "aim/run.h"
#include "aim/value.h"
#include "rpc/transport.h"

namespace aim::tracking {

// A server version as (major, minor, patch); "<3.19.0" (an old gRPC server answering 404
// on HTTP) and unparsable strings give {0, 0, 0}.
struct Version {
  int major = 0, minor = 0, patch = 0;
  static Version Parse(std::string_view text);
  friend auto operator<=>(const Version&, const Version&) = default;
};

// Thread safety: all methods may be called concurrently.
class Client {
 public:
  // The shared client for these options, connecting a new one if none is alive.
  static absl::StatusOr<std::shared_ptr<Client>> Get(const RunOptions& options);
  // For tests: a client over a given transport.
  static absl::StatusOr<std::shared_ptr<Client>> Connect(std::unique_ptr<rpc::Transport> transport,
                                                         absl::Duration heartbeat_interval);

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  // Stops the heartbeat, releases the Repo resource and disconnects.
  ~Client();

  Version version() const { return version_; }
  const std::string& repo_handler() const { return repo_handler_; }

  // Creates a resource and remembers it, so that Recover() can re-create it with the same
  // handler after the server lost it (a restart, a dead-client cleanup).
  absl::StatusOr<std::string> CreateResource(std::string_view type, const Value& kwargs);
  absl::Status ReleaseResource(const std::string& handler);

  // One attempt each; errors as rpc::Transport documents.
  absl::StatusOr<Value> Read(std::string_view handler, std::string_view method,
                             const Value& args);
  absl::Status Write(std::string_view message);
  // Abandons the Write() in progress, whichever run's it is (one that was not closing sees a
  // lost connection and resends).
  void InterruptWrite();

  // After a connection loss: re-registers the client and re-creates every live resource
  // with its handler. `generation` is the value of generation() the caller saw before its
  // failed call; if another caller recovered since, this returns at once.
  absl::Status Recover(std::uint64_t generation);
  std::uint64_t generation() const;

 private:
  Client(std::unique_ptr<rpc::Transport> transport, absl::Duration heartbeat_interval);
  absl::Status Start();
  void HeartbeatLoop();

  const std::unique_ptr<rpc::Transport> transport_;
  const absl::Duration heartbeat_interval_;
  Version version_;
  std::string repo_handler_;

  struct Resource {
    std::string type;
    Value kwargs;
  };
  mutable std::mutex mu_;
  std::map<std::string, Resource> resources_;  // by handler
  std::uint64_t generation_ = 0;
  bool stopping_ = false;
  std::condition_variable stop_cv_;
  std::mutex recover_mu_;  // one recovery at a time
  std::thread heartbeat_;
};

// Aim's identifiers: a client URI is a uuid4 string, a run hash the first 24 hex digits of
// another.
absl::StatusOr<std::string> NewClientUri();
absl::StatusOr<std::string> NewRunHash();

}  // namespace aim::tracking

#endif  // AIM_SDK_TRACKING_CLIENT_H_
