// FakeAimRepo: the in-memory stand-in for what an `aim server` process holds - the mounted
// repository (RocksDB containers, SQL run props, check-in files) and the resource pool of
// its remote-tracking endpoints (SPEC sections 1, 2.3, 6.1-6.2).
//
// Transport-agnostic: the HTTP/WebSocket test server (http_test_server.h) and a later gRPC
// test server feed it decoded requests and turn its results and AimErrors into their own
// wire shapes. Every public method is thread-safe (one internal mutex).
//
// Deliberate simplifications (documented so tests do not rely on them):
//  * `iterlevel`, `finalize` and ResourceObject arguments are not supported (NotImplementedError).
//  * Repo offers `list_all_runs` and `list_active_runs` only.
//  * StructuredRun `tags` returns a list of tag names (Aim returns tag objects).
//  * A Lock that is already held fails at once with filelock's Timeout instead of after 10 s.
//  * Wrong argument counts give a TypeError whose text is close to, not exactly, CPython's.
#ifndef AIM_TESTS_SUPPORT_SERVER_FAKE_REPO_H_
#define AIM_TESTS_SUPPORT_SERVER_FAKE_REPO_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "aim/value.h"
#include "tests/support/server/container.h"

namespace aim::test_server {

// An exception as Aim's server reports it (SPEC 2.3 `build_exception`): the HTTP 400 body is
// {"exception": {...these four...}}, the WebSocket error reply is their packed encode_tree.
struct AimError {
  std::string module_name;  // e.g. "builtins"
  std::string class_name;   // e.g. "KeyError"
  std::string args_json;    // json.dumps(exception.args), e.g. ["name"]
  std::string message;      // str(exception), e.g. 'name' (a KeyError shows the repr)

  // builtins.KeyError(arg): message is Python's repr of `arg`.
  static AimError KeyError(std::string_view arg);
  // builtins.KeyError() with no argument: args "[]", message "".
  static AimError EmptyKeyError();
  // Any exception with one string argument whose str() is the argument itself.
  static AimError Simple(std::string module_name, std::string class_name, std::string_view arg);
  static AimError Unauthorized(std::string_view handler);
  static AimError StopIteration();

  // The dict {"module_name","class_name","args","message"} in this order, as Aim encodes it.
  Value ToValue() const;
  friend bool operator==(const AimError&, const AimError&) = default;
};

// A method's result: `value` when `error` is empty.
struct InstructionResult {
  Value value;
  std::optional<AimError> error;
  bool ok() const { return !error.has_value(); }
};

// A run's SQL row (`.aim/run_metadata.sqlite` table `run` + its experiment and tags).
struct RunProps {
  std::string hash;
  std::string name;  // default "Run: <hash>"
  std::string description;
  std::string experiment = "default";
  bool archived = false;
  std::vector<std::string> tags;  // in the order they were added
  double created_at = 0;          // UTC POSIX seconds
};

// Counters for tests and benchmarks (issue 7: instructions and bytes per point).
struct ServerCounters {
  std::uint64_t write_messages = 0;      // WebSocket messages (batches) executed or attempted
  std::uint64_t write_instructions = 0;  // instructions inside those messages that ran
  std::uint64_t read_instructions = 0;   // read-instruction requests that ran a method
  std::uint64_t write_bytes = 0;         // payload bytes of write messages
  std::uint64_t bytes_received = 0;      // every request body and WS payload byte
  std::uint64_t get_resource_calls = 0;
  // Executed instructions (read and write) per method name, e.g. "__setitem__" -> 20.
  absl::flat_hash_map<std::string, std::uint64_t> per_method;
};

struct FakeAimRepoOptions {
  // What `GET /client/get-version/` answers; also decides which methods exist (`TreeView.update`
  // needs >= 3.24.0). Default: the version the spec was verified against.
  std::string version = "3.29.1";
  // Servers <= 3.28 read kwargs['from_union'] unconditionally (missing -> KeyError). Default
  // false, as 3.29 servers. SetVersion() does not change it.
  bool require_from_union = false;
};

class FakeAimRepo {
 public:
  explicit FakeAimRepo(FakeAimRepoOptions options = {});
  ~FakeAimRepo();
  FakeAimRepo(const FakeAimRepo&) = delete;
  FakeAimRepo& operator=(const FakeAimRepo&) = delete;

  // --- client lifecycle (SPEC 2.3 rows 3-6). None of them is required by the others. ---
  void Connect(std::string_view client_uri);
  void Reconnect(std::string_view client_uri);  // appends only if absent
  void Disconnect(std::string_view client_uri);
  void Heartbeat(std::string_view client_uri);
  std::vector<std::string> ConnectedClients() const;  // with duplicates, as Aim's list
  std::optional<absl::Time> LastHeartbeat(std::string_view client_uri) const;

  // --- resources (SPEC 2.3 rows 7-8, 1.1) ---
  // `kwargs` is the decoded `args` tree, or nullptr when `args` was empty (the getter is then
  // called without kwargs). An empty `requested_handler` makes a new uuid4; a non-empty one is
  // used as is and silently replaces any existing entry, whoever owned it.
  // Returns the handler or the AimError of a 400.
  std::pair<std::string, std::optional<AimError>> GetResource(std::string_view client_uri,
                                                              std::string_view requested_handler,
                                                              std::string_view resource_type,
                                                              const Value* kwargs);
  std::optional<AimError> ReleaseResource(std::string_view client_uri, std::string_view handler);

  // --- instructions (SPEC 1, 1.2) ---
  // One read instruction; `args` is the decoded args list.
  InstructionResult ReadInstruction(std::string_view client_uri, std::string_view handler,
                                    std::string_view method_name, const Value& args);
  // One WebSocket message: `instructions` is the decoded list of [handler, method, args].
  // Runs them in order and stops at the first error (earlier ones stay applied, as in Aim).
  // `message_bytes` feeds the byte counters.
  std::optional<AimError> WriteInstructions(std::string_view client_uri, const Value& instructions,
                                            std::size_t message_bytes);
  // Counts request-body bytes that did not go through WriteInstructions.
  void CountBytesReceived(std::size_t bytes);

  // --- server generation and faults ---
  void SetVersion(std::string version);
  std::string version() const;
  bool HasTreeViewUpdate() const;  // version >= 3.24.0
  void SetRequireFromUnion(bool require);
  // Drops every client registration, heartbeat and resource handler (running their finalizers:
  // locks released, run heartbeats stopped) but keeps containers, props and check-ins, as a
  // restarted `aim server` on the same repository does.
  void Restart();

  // --- inspection for tests ---
  ServerCounters Counters() const;
  void ResetCounters();
  // Every record of container `.aim/<name>/chunks/<sub>` (e.g. "meta", run hash) in RocksDB
  // order; BLOB values appear as Aim stores them (empty placeholder at the key, the value at
  // "BLOBS\xfe" + key). Empty if the container does not exist.
  std::vector<StoredRecord> Records(std::string_view name, std::string_view sub) const;
  // Container paths that exist, e.g. ".aim/meta/chunks/<hash>".
  std::vector<std::string> ContainerPaths() const;
  std::optional<RunProps> Props(std::string_view run_hash) const;
  std::vector<std::string> RunHashes() const;  // runs with a SQL row, sorted
  std::vector<std::string> CheckIns() const;   // file names in `.aim/check_ins`, sorted
  bool IsLocked(std::string_view run_hash) const;
  std::size_t LiveResources() const;  // entries in the resource pool

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace aim::test_server

#endif  // AIM_TESTS_SUPPORT_SERVER_FAKE_REPO_H_
