#include "tracking/batch_builder.h"

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "wire/codec.h"
#include "wire/hash.h"

namespace aim::tracking {
namespace {

constexpr std::string_view kSetItem = "__setitem__";
constexpr std::string_view kListFlag = "\x06";  // the value of a list's own record
constexpr std::int64_t kSequenceVersion = 2;  // v2: int and float metrics keyed by hash(step)

// Rough encoded size of one point in a TreeView.update list (4 columns x [hash, value]
// records) and of the per-message instructions of a sequence, used to cap message size
// before the coalesced instructions exist.
constexpr std::size_t kUpdatePointBytes = 4 * 190;
constexpr std::size_t kSequenceOverheadBytes = 8 * 260;

// Python compares int and float exactly; doubles are exact below 2^53, beyond which Aim's
// own hashing already loses precision.
bool Greater(const Number& a, const Number& b) {
  if (a.is_int() && b.is_int()) return a.int_value() > b.int_value();
  return a.as_double() > b.as_double();
}

std::string_view DtypeOf(const Number& n) { return n.is_int() ? "int" : "float"; }

Value KeyValue(const Key& key) {
  if (const auto* s = std::get_if<std::string>(&key)) return Value(*s);
  return Value(std::get<std::int64_t>(key));
}

Value PathValue(std::initializer_list<Key> keys) {
  Value::List list;
  list.reserve(keys.size());
  for (const Key& k : keys) list.push_back(KeyValue(k));
  return Value(std::move(list));
}

Value Appended(Value path, std::initializer_list<Key> keys) {
  for (const Key& k : keys) path.list().push_back(KeyValue(k));
  return path;
}

}  // namespace

Value ToValue(const Number& n) {
  return n.is_int() ? Value(n.int_value()) : Value(n.double_value());
}

BatchBuilder::BatchBuilder(std::string run_hash, std::string meta_handler,
                           std::string seqs_handler, BatchOptions options)
    : run_hash_(std::move(run_hash)),
      meta_handler_(std::move(meta_handler)),
      seqs_handler_(std::move(seqs_handler)),
      options_(options) {}

void BatchBuilder::Emit(std::string_view handler, std::string_view method, Value args) {
  if (message_.empty()) {
    wire::AppendRecord("", kListFlag, /*is_blob=*/false, wire::Framing::kStream, &message_);
  }
  std::string prefix;
  (void)wire::AppendKey(Key(static_cast<std::int64_t>(instructions_)), &prefix);
  Value instruction(Value::List{Value(handler), Value(method), std::move(args)});
  // Every string here was validated when it entered the SDK (names, contexts, params), so
  // encoding cannot fail; a failure would be a bug in that validation.
  absl::Status status = wire::AppendTree(instruction, prefix, wire::Framing::kStream, &message_);
  if (!status.ok()) return;
  ++instructions_;
}

// [seqs, "update", [column_path, [[step_hash, value], ...]]]. The pairs are the last node of
// the instruction in encoding order, so their records are appended after those of the
// instruction with an empty list: the same bytes as encoding it whole, without building a
// Value per point.
void BatchBuilder::EmitUpdate(const SequenceInfo& seq, std::string_view column,
                              const ColumnPairs& pairs) {
  const std::int64_t index = static_cast<std::int64_t>(instructions_);
  Emit(seqs_handler_, "update", Value(Value::List{SeriesPath(seq, column), Value::MakeList()}));
  std::string pair_key;
  for (std::int64_t key : {index, std::int64_t{2}, std::int64_t{1}}) {
    (void)wire::AppendKey(Key(key), &pair_key);
  }
  const std::size_t list_key_size = pair_key.size();
  std::string scalar;
  for (std::size_t j = 0; j < pairs.size(); ++j) {
    pair_key.resize(list_key_size);
    (void)wire::AppendKey(Key(static_cast<std::int64_t>(j)), &pair_key);
    wire::AppendRecord(pair_key, kListFlag, /*is_blob=*/false, wire::Framing::kStream, &message_);
    const std::size_t element_key_size = pair_key.size();
    auto append_element = [&](std::int64_t index_in_pair, const Value& element) {
      pair_key.resize(element_key_size);
      (void)wire::AppendKey(Key(index_in_pair), &pair_key);
      scalar.clear();
      (void)wire::AppendScalar(element, &scalar);
      wire::AppendRecord(pair_key, scalar, /*is_blob=*/false, wire::Framing::kStream, &message_);
    };
    append_element(0, Value(pairs[j].first));
    append_element(1, pairs[j].second);
  }
}

void BatchBuilder::SetMeta(Value path, Value value) {
  Emit(meta_handler_, kSetItem, Value(Value::List{std::move(path), std::move(value)}));
}

Value BatchBuilder::TracePath(const SequenceInfo& seq, std::string_view field) const {
  return PathValue({"meta", "chunks", run_hash_, "traces", seq.context.id(), seq.name,
                    std::string(field)});
}

Value BatchBuilder::SeriesPath(const SequenceInfo& seq, std::string_view column) const {
  return PathValue({"seqs", "v2", "chunks", run_hash_, seq.context.id(), seq.name,
                    std::string(column)});
}

void BatchBuilder::SetSeries(SequenceInfo& seq, std::string_view column,
                             std::int64_t step_hash, Value value) {
  Emit(seqs_handler_, kSetItem,
       Value(Value::List{Appended(SeriesPath(seq, column), {step_hash}), std::move(value)}));
}

void BatchBuilder::EmitLastAndExtremes(const SequenceInfo& seq, bool last, bool max,
                                       bool min) {
  if (last) {
    SetMeta(TracePath(seq, "last"), ToValue(*seq.last));
    SetMeta(TracePath(seq, "last_step"), Value(seq.count - 1));
  }
  if (max) SetMeta(TracePath(seq, "max"), ToValue(*seq.max));
  if (min) SetMeta(TracePath(seq, "min"), ToValue(*seq.min));
}

absl::Status BatchBuilder::AddPoint(const Point& point) {
  SequenceInfo& seq = *point.sequence;
  const std::string_view dtype = DtypeOf(point.value);
  const std::int64_t ctx = seq.context.id();
  const bool widen = !seq.dtype.empty() && seq.dtype != dtype && seq.dtype != "number";
  // int and float mix into "number" (as Aim does); anything else cannot reach here because
  // Number is always int or float.

  if (!seq.initialized) {
    for (std::string_view column : {"step", "val", "epoch", "time"}) {
      Emit(seqs_handler_, "make_array", Value(Value::List{SeriesPath(seq, column)}));
    }
    seq.initialized = true;
    introduced_sequences_.push_back(&seq);
  }
  const std::int64_t step = point.step.value_or(seq.count);

  if (written_contexts_.insert(ctx).second) {
    introduced_contexts_.push_back(ctx);
    SetMeta(PathValue({"meta", "contexts", ctx}), seq.context.dict());
    SetMeta(PathValue({"meta", "chunks", run_hash_, "contexts", ctx}), seq.context.dict());
  }
  if (widen) {
    SetMeta(PathValue({"meta", "traces_types", "number", ctx, seq.name}), Value(1));
    SetMeta(PathValue({"meta", "chunks", run_hash_, "typed_traces", "metric", ctx, seq.name}),
            Value(1));
    SetMeta(TracePath(seq, "dtype"), Value("number"));
    seq.dtype = "number";
  }
  if (seq.count == 0) {
    SetMeta(PathValue({"meta", "traces_types", std::string(dtype), ctx, seq.name}), Value(1));
    SetMeta(TracePath(seq, "dtype"), Value(dtype));
    SetMeta(TracePath(seq, "version"), Value(kSequenceVersion));
    SetMeta(TracePath(seq, "first"), ToValue(point.value));
    SetMeta(TracePath(seq, "first_step"), Value(step));
    if (options_.typed_traces) {
      SetMeta(PathValue({"meta", "chunks", run_hash_, "typed_traces", "metric", ctx, seq.name}),
              Value(1));
    }
    seq.dtype = std::string(dtype);
  }
  const bool is_last = step >= seq.count;
  if (is_last) {
    seq.last = point.value;
    seq.count = step + 1;
  }
  const bool is_max = Greater(point.value, seq.max.value_or(-std::numeric_limits<double>::infinity()));
  if (is_max) seq.max = point.value;
  const bool is_min = Greater(seq.min.value_or(std::numeric_limits<double>::infinity()), point.value);
  if (is_min) seq.min = point.value;

  const std::int64_t step_hash = wire::HashNumber(static_cast<double>(step));
  Value epoch = point.epoch ? Value(*point.epoch) : Value();
  if (options_.per_field) {
    EmitLastAndExtremes(seq, is_last, is_max, is_min);
  } else {
    if (seq.pending < 0) {
      seq.pending = static_cast<int>(pending_.size());
      pending_.push_back(PendingColumns{.sequence = &seq});
      pending_bytes_ += kSequenceOverheadBytes;
    }
    PendingColumns& pending = pending_[seq.pending];
    pending.write_last |= is_last;
    pending.write_max |= is_max;
    pending.write_min |= is_min;
    if (options_.use_update) {
      pending.val.emplace_back(step_hash, ToValue(point.value));
      pending.epoch.emplace_back(step_hash, std::move(epoch));
      pending.time.emplace_back(step_hash, Value(point.time));
      pending.step.emplace_back(step_hash, Value(step));
      pending_bytes_ += kUpdatePointBytes;
      ++points_;
      return absl::OkStatus();
    }
  }
  SetSeries(seq, "val", step_hash, ToValue(point.value));
  SetSeries(seq, "epoch", step_hash, std::move(epoch));
  SetSeries(seq, "time", step_hash, Value(point.time));
  SetSeries(seq, "step", step_hash, Value(step));
  ++points_;
  return absl::OkStatus();
}

absl::Status BatchBuilder::AddInstruction(std::string_view handler, std::string_view method,
                                          const Value& args) {
  // Validate by encoding on its own first, so a bad value is reported to the caller and
  // never leaves a half-written instruction in the message.
  absl::StatusOr<std::string> encoded = wire::Pack(args);
  if (!encoded.ok()) return encoded.status();
  Emit(handler, method, args);
  return absl::OkStatus();
}

std::string BatchBuilder::Finish() {
  for (PendingColumns& pending : pending_) {
    SequenceInfo& seq = *pending.sequence;
    if (options_.use_update) {
      EmitUpdate(seq, "val", pending.val);
      EmitUpdate(seq, "epoch", pending.epoch);
      EmitUpdate(seq, "time", pending.time);
      EmitUpdate(seq, "step", pending.step);
    }
    EmitLastAndExtremes(seq, pending.write_last, pending.write_max, pending.write_min);
    seq.pending = -1;
  }
  pending_.clear();
  pending_bytes_ = 0;
  points_ = 0;
  instructions_ = 0;
  last_introduced_sequences_ = std::exchange(introduced_sequences_, {});
  last_introduced_contexts_ = std::exchange(introduced_contexts_, {});
  std::string message = std::exchange(message_, std::string());
  message_.reserve(message.capacity());  // the next message is about as long
  return message;
}

void BatchBuilder::Retract() {
  for (SequenceInfo* seq : last_introduced_sequences_) {
    seq->initialized = false;
    seq->count = 0;
    seq->dtype.clear();
    seq->last.reset();
    seq->min.reset();
    seq->max.reset();
  }
  for (std::int64_t ctx : last_introduced_contexts_) written_contexts_.erase(ctx);
  last_introduced_sequences_.clear();
  last_introduced_contexts_.clear();
}

}  // namespace aim::tracking
