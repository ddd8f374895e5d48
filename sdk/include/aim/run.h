// aim::Run - one Aim run written to a remote `aim server`, as the Python client writes it.
//
//   auto run = aim::Run::Create({.repo = "aim://aim.example.com:443", .experiment = "mnist"});
//   if (!run.ok()) { ... }
//   (*run)->Set("hparams", {{"lr", 0.001}, {"layers", {64, 32}}});
//   aim::Context train({{"subset", "train"}});
//   for (int step = 0; step < n; ++step) {
//     (*run)->Track(loss, "loss", {.step = step, .epoch = epoch, .context = train});
//   }
//   absl::Status closed = (*run)->Close();  // also done by the destructor
//
// Track() only enqueues: a sender thread per run turns queued points into batched write
// instructions, and a writer thread delivers them. Reads (AddTag, RemoveTag) and Close()
// first drain what is queued, so the server sees every call in the order it was made.
//
// Thread safety: every method may be called from any number of threads at once.
#ifndef AIM_RUN_H_
#define AIM_RUN_H_

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aim/auth/credentials.h"
#include "aim/value.h"

namespace aim {

namespace tracking {
class RunImpl;
}  // namespace tracking

// A metric value: an int64 or a double, kept distinct all the way to the server (Aim shows
// `int` and `float` sequences differently). bool is tracked as an int, as in Python.
class Number {
 public:
  template <typename T, std::enable_if_t<std::is_integral_v<T>, int> = 0>
  Number(T i) : is_int_(true), int_(static_cast<std::int64_t>(i)) {}
  template <typename T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  Number(T d) : is_int_(false), double_(static_cast<double>(d)) {}

  bool is_int() const { return is_int_; }
  std::int64_t int_value() const { return int_; }
  double double_value() const { return double_; }
  // The value as a double, for comparisons across kinds.
  double as_double() const { return is_int_ ? static_cast<double>(int_) : double_; }

 private:
  bool is_int_;
  union {
    std::int64_t int_;
    double double_;
  };
};

// A metric context such as {"subset": "train"}: a dict of plain values. Its Aim id (the
// hash of the dict) is computed once, at construction, so build contexts once and reuse them.
// Copies are as cheap as copying two words: the dict itself is kept, once per distinct
// context, for the life of the process (as Aim's Python client keeps its contexts).
class Context {
 public:
  Context();
  // `Context train({{"subset", "train"}})`, also `.context = {{"subset", "train"}}`.
  Context(std::initializer_list<std::pair<std::string_view, Value>> items);
  explicit Context(Value dict);

  const Value& dict() const { return *dict_; }
  // Aim's id of this context; meaningful only when status() is OK.
  std::int64_t id() const { return id_; }
  // Not OK when the value is not a dict Aim can store and hash; Track() reports it.
  const absl::Status& status() const { return status_; }

 private:
  const Value* dict_;  // interned: never freed, shared by every equal context
  std::int64_t id_ = 0;
  absl::Status status_;
};

struct TrackOptions {
  // The point's step. Default: the sequence's next step (last step + 1; 0 at first).
  std::optional<std::int64_t> step;
  // The point's epoch. Default: none.
  std::optional<std::int64_t> epoch;
  // The point's context. Default: the empty context {}.
  Context context;
};

// Which wire protocol to speak.
//
// kAuto first tries HTTP as for kHttp (the `/status/` scheme probe, then get-version): an
// Aim >= 3.19 answer, or a proxy refusing the credentials (401/403), settles it. Otherwise
// (no answer, 404 = "older than 3.19", a reply that is not Aim's) it asks gRPC's standard
// health service - over TLS with the credentials, then plaintext without them, unless the
// URL scheme or `scheme` fixed that - and speaks gRPC if any gRPC server answers. When
// neither answers, Run::Create fails (kUnavailable, or kDeadlineExceeded after a timeout)
// naming both attempts. Against a host that drops packets that takes several
// request_timeouts: name the protocol to avoid it.
//
// gRPC and TLS: "https" (URL or Scheme::kHttps) means TLS with `tls.ca_file` / client
// certificate; "http" means plaintext, where credentials are sent only to a loopback host
// or with allow_insecure_credentials. gRPC always verifies certificates: `tls.verify =
// false` is refused. A URL without a port means `aim server`'s default, 53800.
enum class Protocol {
  kAuto,  // ask the server: HTTP + WebSocket if it answers as Aim >= 3.19, else gRPC
  kHttp,  // Aim >= 3.19
  kGrpc,  // Aim 3.15.2 - 3.18 (RemoteRouterService; older gRPC servers are refused)
};

// Whether the server should be reached over TLS, for the HTTP protocol.
enum class Scheme {
  kAuto,   // as the Python client decides: https if http redirects there or https answers
  kHttp,
  kHttps,
};

// What Track() does when the queue is full (the server is slower than the training loop).
enum class Backpressure {
  kBlock,  // wait for room: nothing is lost, the training loop slows down
  kDrop,   // drop the new point and count it: the loop never waits (stats().points_dropped)
};

struct TlsOptions {
  // PEM file of the CAs to trust. Empty: the system's default CAs.
  std::string ca_file;
  // PEM client certificate and key, for servers that require mutual TLS. Empty: none.
  std::string cert_file;
  std::string key_file;
  // Default true. Turning verification off makes the connection readable by anyone on the
  // path; it exists for throwaway test setups only.
  bool verify = true;
};

// Seconds of a fast training loop. A queued point takes about 72 bytes, and the batch the
// sender is working through can hold as many again: about 38 MB at most with this default.
inline constexpr std::size_t kDefaultMaxQueuedPoints = 1 << 18;
inline constexpr std::size_t kDefaultMaxMessageBytes = 32 * 1024;
inline constexpr absl::Duration kDefaultTimeout = absl::Seconds(30);

struct RunOptions {
  // "aim://host:port[/base-path]". Required.
  std::string repo;
  // Experiment name. Empty: the server's default experiment ("default").
  std::string experiment;
  // Run name and description. Empty: the server's defaults ("Run: <hash>", none).
  std::string name;
  std::string description;
  // Tags added at creation.
  std::vector<std::string> tags;
  // Hash of an existing run to continue. Empty: a new run.
  std::string resume_hash;

  // Credentials for every request. Unset: auth::FromEnvironment(), so exporting
  // AIM_AUTH_TOKEN or the CF_ACCESS_* variables is all a user has to do. Set it to
  // auth::NoCredentials() to send nothing whatever the environment says.
  std::optional<auth::CredentialsPtr> credentials;
  // Default false: credentials are never sent in plaintext to a non-loopback host.
  bool allow_insecure_credentials = false;
  TlsOptions tls;

  Protocol protocol = Protocol::kAuto;
  Scheme scheme = Scheme::kAuto;

  // Queue of points not yet sent. Default kDefaultMaxQueuedPoints.
  std::size_t max_queued_points = kDefaultMaxQueuedPoints;
  Backpressure backpressure = Backpressure::kBlock;
  // Upper bound of one write message; the server decodes a message in O(size^2), so small
  // messages are faster. Default kDefaultMaxMessageBytes.
  std::size_t max_message_bytes = kDefaultMaxMessageBytes;
  // Timeout of one request (connect, read, write acknowledgement). Default kDefaultTimeout.
  absl::Duration request_timeout = kDefaultTimeout;
  // Write every point as Aim's Python client does, one instruction per field, instead of
  // coalescing per message. Default false; the stored records are the same either way.
  bool per_field_writes = false;
};

// Counters of one run, for monitoring; a snapshot.
struct RunStats {
  std::uint64_t points_tracked = 0;    // accepted by Track()
  std::uint64_t points_sent = 0;       // acknowledged by the server
  std::uint64_t points_dropped = 0;    // refused by Backpressure::kDrop
  std::uint64_t points_failed = 0;     // accepted but not delivered (an error reply, Close's
                                       // timeout, refused credentials)
  std::uint64_t messages_sent = 0;     // write messages acknowledged
  std::uint64_t reconnects = 0;
};

class Run {
 public:
  // Connects (sharing one client connection with other runs of the same repo and
  // credentials in this process), creates or resumes the run and starts its sender.
  static absl::StatusOr<std::unique_ptr<Run>> Create(RunOptions options);

  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;
  // Closes the run (Close(kDefaultTimeout)) if that was not done.
  ~Run();

  // The run's 24-character hash.
  const std::string& hash() const;

  // Params: run[path] = value. Set("hparams", {...}) or Set({"hparams", "lr"}, 0.01).
  absl::Status Set(std::string_view key, Value value);
  absl::Status Set(const Path& path, Value value);

  // Queues one metric point; never waits for the network (with Backpressure::kBlock it waits
  // for queue room). Errors: a closed run, an empty name, an invalid context, a value whose
  // kind conflicts with the sequence (int and float mix is allowed, as in Aim), a dropped point.
  absl::Status Track(Number value, std::string_view name, const TrackOptions& options = {});

  absl::Status SetName(std::string name);
  absl::Status SetDescription(std::string description);
  absl::Status SetExperiment(std::string experiment);
  absl::Status SetArchived(bool archived);
  // Tags are read instructions in Aim: these wait for the queue to drain and the server.
  absl::Status AddTag(std::string_view tag);
  absl::Status RemoveTag(std::string_view tag);

  // Waits until everything queued so far is acknowledged by the server. Reports the first
  // write error since the last Flush.
  absl::Status Flush(absl::Duration timeout = kDefaultTimeout) noexcept;
  // Drains the queue, marks the run finished, releases its server resources. Returns after
  // about `timeout` even against a stalled server (resources not released by then are left
  // to the server's cleanup of departed clients). Safe to call twice; later calls return the
  // first result. Reports what could not be delivered.
  absl::Status Close(absl::Duration timeout = kDefaultTimeout) noexcept;

  RunStats stats() const;

 private:
  explicit Run(std::unique_ptr<tracking::RunImpl> impl);
  std::unique_ptr<tracking::RunImpl> impl_;
};

}  // namespace aim

#endif  // AIM_RUN_H_
