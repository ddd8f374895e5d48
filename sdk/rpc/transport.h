// The internal RPC abstraction: everything the tracking engine needs from an Aim server,
// independent of how it travels (HTTP + WebSocket for Aim >= 3.19, gRPC for 3.4-3.18).
#ifndef AIM_SDK_RPC_TRANSPORT_H_
#define AIM_SDK_RPC_TRANSPORT_H_

#include <algorithm>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aim/value.h"

namespace aim::rpc {

// Heartbeat, ReleaseResource and Disconnect are best effort (a server forgets a silent
// client and its resources by itself): transports give each at most this long, so that
// shutting down against a server that stopped answering does not take request timeouts.
inline constexpr absl::Duration kBestEffortCallTimeout = absl::Seconds(2);
inline absl::Duration BestEffortTimeout(absl::Duration request_timeout) {
  return std::min(request_timeout, kBestEffortCallTimeout);
}

// One connection of one client (one client URI) to an Aim server.
//
// Thread safety: all methods may be called concurrently; each transport serialises what it
// must. WriteBatch calls are made by one sender thread at a time and may block for the
// server's acknowledgement; reads may block for the reply. Nothing here is called on the
// user's Track() path.
//
// Errors: kUnavailable for connection problems (retryable), kDeadlineExceeded for timeouts,
// kUnauthenticated / kPermissionDenied for a proxy refusing the credentials (never retried),
// and for an exception raised by the server, a status built by ServerError() below.
class Transport {
 public:
  virtual ~Transport() = default;

  // Registers the client (HTTP `connect`; gRPC router `connect` and worker routing).
  virtual absl::Status Connect() = 0;
  // Re-registers after a lost connection (HTTP `reconnect`).
  virtual absl::Status Reconnect() = 0;
  virtual absl::Status Disconnect() = 0;
  virtual absl::Status Heartbeat() = 0;
  // The server's Aim version, e.g. "3.29.1".
  virtual absl::StatusOr<std::string> GetVersion() = 0;

  // Creates a resource; an empty `handler` lets the server choose one. Returns the handler.
  virtual absl::StatusOr<std::string> GetResource(std::string_view resource_type,
                                                  const Value& kwargs,
                                                  std::string_view handler) = 0;
  virtual absl::Status ReleaseResource(std::string_view handler) = 0;
  // Runs a read instruction; `args` is a list. Returns the decoded result.
  virtual absl::StatusOr<Value> ReadInstruction(std::string_view handler,
                                                std::string_view method,
                                                const Value& args) = 0;
  // Sends one batch of write instructions and waits for the server to apply it. `message` is
  // the packed (Framing::kStream) encoding of a list of [handler, method, args] triples.
  virtual absl::Status WriteBatch(std::string_view message) = 0;
  // Abandons a WriteBatch in progress on another thread, if any: it returns kUnavailable at
  // once, as for a lost connection (the batch may or may not have been applied), so a run
  // whose Close() deadline passed need not wait for the server's answer.
  virtual void InterruptWrite() = 0;
};

// A server-side exception, as Aim reports it (module, class, JSON args, message).
struct ServerException {
  std::string module_name;
  std::string class_name;
  std::string args;
  std::string message;
};

// The status for a server exception: kFailedPrecondition, message
// "aim server raised <module>.<class>: <message>", the class name kept as a payload so that
// IsServerException() can recognise expected errors (a new run's KeyError, StopIteration).
absl::Status ServerError(const ServerException& e);
bool IsServerException(const absl::Status& status, std::string_view class_name);

}  // namespace aim::rpc

#endif  // AIM_SDK_RPC_TRANSPORT_H_
