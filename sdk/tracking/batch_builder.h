// Turns tracked points and other write calls into Aim write messages: the instruction
// sequence of the Python client (SPEC section 4.3), optionally coalesced per message.
// Pure: no I/O, no locks; owned by one sender thread.
#ifndef AIM_SDK_TRACKING_BATCH_BUILDER_H_
#define AIM_SDK_TRACKING_BATCH_BUILDER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "aim/run.h"
#include "aim/value.h"

namespace aim::tracking {

// One (context, name) metric sequence of a run.
struct SequenceInfo {
  SequenceInfo(std::string name, Context context)
      : name(std::move(name)), context(std::move(context)) {}

  // Set at creation, then read-only.
  const std::string name;
  const Context context;

  // Owned by the sender thread. Mirrors the Python client's SequenceInfo.
  bool initialized = false;  // its columns exist on the server
  std::int64_t count = 0;    // last step + 1
  std::string dtype;         // "" before the first point, then "int", "float" or "number"
  std::optional<Number> last, min, max;
  // Column writes not yet emitted (coalesced mode): index into BatchBuilder's pending list.
  int pending = -1;
};

struct Point {
  SequenceInfo* sequence;
  Number value;
  std::optional<std::int64_t> step;  // unset: the sequence's next step
  std::optional<std::int64_t> epoch;
  double time;  // UTC seconds of the Track() call
};

struct BatchOptions {
  // Python-compatible: every field of every point is its own __setitem__ instruction.
  // Otherwise meta updates (last, last_step, min, max) are written once per message with
  // their final values.
  bool per_field = false;
  // With coalescing, write the four columns of a sequence with one TreeView.update per
  // message (servers >= 3.24.0) instead of one __setitem__ per point and column.
  bool use_update = false;
  // Write M+('typed_traces', ...) for new sequences, as 3.26.1+ clients do.
  bool typed_traces = true;
};

// Builds one message at a time: Add*() calls, then Finish().
class BatchBuilder {
 public:
  BatchBuilder(std::string run_hash, std::string meta_handler, std::string seqs_handler,
               BatchOptions options);

  // The instructions of one run.track(); updates the sequence's state. Fails (and adds
  // nothing) when the value's kind is incompatible with the sequence.
  absl::Status AddPoint(const Point& point);
  // One arbitrary write instruction; `args` is a list.
  absl::Status AddInstruction(std::string_view handler, std::string_view method,
                              const Value& args);

  bool empty() const { return instructions_ == 0 && pending_.empty(); }
  // Bytes so far, plus an estimate of what Finish() will add.
  std::size_t estimated_size() const { return message_.size() + pending_bytes_; }
  std::size_t points() const { return points_; }
  std::size_t instructions() const { return instructions_; }

  // Emits what was coalesced and returns the message (packed records of a list of
  // [handler, method, args]); the builder is then empty.
  std::string Finish();
  // Whether the last finished message introduced a sequence or context. Until its answer is
  // known nothing more can be added: Retract() would change what later messages must say.
  bool last_introduced() const {
    return !last_introduced_sequences_.empty() || !last_introduced_contexts_.empty();
  }
  // The last finished message was not stored (an error reply, or given up): forget the
  // sequences and contexts it introduced, so that later points introduce them again instead
  // of writing points of a sequence the server never heard of.
  void Retract();

 private:
  // (step_hash, scalar) pairs of one column for TreeView.update.
  using ColumnPairs = std::vector<std::pair<std::int64_t, Value>>;
  struct PendingColumns {
    SequenceInfo* sequence;
    ColumnPairs val, epoch, time, step;
    bool write_last = false;
    bool write_min = false;
    bool write_max = false;
  };

  void SetMeta(Value path, Value value);
  void SetSeries(SequenceInfo& seq, std::string_view column, std::int64_t step_hash,
                 Value value);
  Value TracePath(const SequenceInfo& seq, std::string_view field) const;
  Value SeriesPath(const SequenceInfo& seq, std::string_view column) const;
  void Emit(std::string_view handler, std::string_view method, Value args);
  void EmitUpdate(const SequenceInfo& seq, std::string_view column, const ColumnPairs& pairs);
  void EmitLastAndExtremes(const SequenceInfo& seq, bool last, bool max, bool min);

  const std::string run_hash_;
  const std::string meta_handler_;
  const std::string seqs_handler_;
  const BatchOptions options_;
  absl::flat_hash_set<std::int64_t> written_contexts_;
  // What the message being built, and the last finished one, introduced.
  std::vector<SequenceInfo*> introduced_sequences_, last_introduced_sequences_;
  std::vector<std::int64_t> introduced_contexts_, last_introduced_contexts_;

  std::string message_;
  std::size_t instructions_ = 0;
  std::size_t points_ = 0;
  std::vector<PendingColumns> pending_;
  std::size_t pending_bytes_ = 0;
};

// Aim's value for a tracked number.
Value ToValue(const Number& n);

}  // namespace aim::tracking

#endif  // AIM_SDK_TRACKING_BATCH_BUILDER_H_
