#include "tracking/run_impl.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "wire/string_view_compat.h"
#include "rpc/transport.h"
#include "tracking/message_writer.h"
#include "wire/codec.h"

namespace aim::tracking {
namespace {

using ::aim::internal::Av;

constexpr absl::Duration kFirstRetryDelay = absl::Milliseconds(20);
// The sender lets a burst of Track() calls accumulate for up to kLinger before sending, and
// producers wake it only for the first item or once kWakeBatch are queued: waking a thread
// costs microseconds, a hundred times a Track() call.
constexpr auto kLinger = std::chrono::milliseconds(1);
constexpr std::size_t kWakeBatch = 512;
constexpr absl::Duration kMaxRetryDelay = absl::Seconds(2);

Value ResourceKwargs(std::string_view tree_name, const std::string& hash) {
  // The portable 7-key form: 3.19-3.28 servers require `from_union`, 3.29 ignores extras.
  return Value::MakeDict({{"name", tree_name},
                          {"sub", hash},
                          {"read_only", false},
                          {"from_union", tree_name == "meta"},
                          {"index", false},
                          {"timeout", Value()},
                          {"no_cache", false}});
}

Value RunPath(const std::string& hash, std::initializer_list<Key> rest) {
  Value::List path{Value("meta"), Value("chunks"), Value(hash)};
  for (const Key& k : rest) {
    path.push_back(std::holds_alternative<std::string>(k) ? Value(std::get<std::string>(k))
                                                          : Value(std::get<std::int64_t>(k)));
  }
  return Value(std::move(path));
}

Value PathToValue(std::initializer_list<std::string_view> head, const Path& tail) {
  Value::List path;
  for (std::string_view k : head) path.push_back(Value(k));
  for (const Key& k : tail) {
    path.push_back(std::holds_alternative<std::string>(k) ? Value(std::get<std::string>(k))
                                                          : Value(std::get<std::int64_t>(k)));
  }
  return Value(std::move(path));
}

double UnixSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool IsAuthFailure(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnauthenticated ||
         s.code() == absl::StatusCode::kPermissionDenied;
}

const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

bool IsConnectionLoss(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

std::optional<Number> NumberOf(const Value& v) {
  if (v.kind() == Value::Kind::kInt) return Number(v.int_value());
  if (v.kind() == Value::Kind::kDouble) return Number(v.double_value());
  return std::nullopt;
}

const Value* Field(const Value& dict, std::string_view name) {
  if (dict.kind() != Value::Kind::kDict) return nullptr;
  for (const auto& [key, value] : dict.dict()) {
    if (const auto* s = std::get_if<std::string>(&key); s != nullptr && *s == name) return &value;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RunImpl>> RunImpl::Create(std::shared_ptr<Client> client,
                                                          const RunOptions& options) {
  const bool resume = !options.resume_hash.empty();
  absl::StatusOr<std::string> hash =
      resume ? absl::StatusOr<std::string>(options.resume_hash) : NewRunHash();
  if (!hash.ok()) return hash.status();
  std::unique_ptr<RunImpl> run(new RunImpl(std::move(client), options, *std::move(hash)));
  if (absl::Status s = run->Start(options, resume); !s.ok()) return s;
  return run;
}

RunImpl::RunImpl(std::shared_ptr<Client> client, const RunOptions& options, std::string hash)
    : client_(std::move(client)),
      hash_(std::move(hash)),
      max_queued_(std::max<std::size_t>(options.max_queued_points, 1)),
      backpressure_(options.backpressure),
      max_message_bytes_(options.max_message_bytes),
      request_timeout_(options.request_timeout),
      per_field_writes_(options.per_field_writes) {}

RunImpl::~RunImpl() {
  if (close_result_.has_value()) return;  // Close() gave everything back already
  if (sender_.joinable()) {
    (void)Close(kDefaultTimeout);
    return;
  }
  // Start() failed before the run existed: give back what it had created.
  ReleaseHandlers(absl::Now() + kDefaultTimeout);
}

void RunImpl::ReleaseHandlers(absl::Time deadline) {
  // Past the deadline the handlers are left to the server's cleanup of departed clients.
  for (const std::string* handler : {&handlers_.props, &handlers_.seqs, &handlers_.heartbeat,
                                     &handlers_.meta, &handlers_.lock, &handlers_.file_manager}) {
    if (absl::Now() >= deadline) return;
    if (!handler->empty()) (void)client_->ReleaseResource(*handler);
  }
}

absl::Status RunImpl::Start(const RunOptions& options, bool resume) {
  // The order of SPEC 4.1; every write below goes through the queue, in order, so the
  // sender can coalesce them into one message.
  if (resume) {
    absl::StatusOr<Value> runs = Read(client_->repo_handler(), "list_all_runs", Value::MakeList());
    if (!runs.ok()) return runs.status();
    const bool found = runs->kind() == Value::Kind::kList &&
                       std::any_of(runs->list().begin(), runs->list().end(),
                                   [&](const Value& v) { return v == Value(hash_); });
    if (!found) return absl::NotFoundError(absl::StrCat("no run ", hash_, " in ", options.repo));
  }
  absl::StatusOr<std::string> handler =
      client_->CreateResource("Lock", Value::MakeDict({{"run_hash", hash_}}));
  if (!handler.ok()) return handler.status();
  handlers_.lock = *handler;
  if (absl::StatusOr<Value> locked = Read(handlers_.lock, "lock", Value::MakeList({false}));
      !locked.ok()) {
    return locked.status();
  }
  handler = client_->CreateResource("TreeView", ResourceKwargs("meta", hash_));
  if (!handler.ok()) return handler.status();
  handlers_.meta = *handler;

  bool has_params = false;
  if (resume) {
    if (absl::Status s = RestoreSequences(); !s.ok()) return s;
    has_params = Read(handlers_.meta, "first_key",
                      Value::MakeList({RunPath(hash_, {"attrs"})}))
                     .ok();
  }

  handler = client_->CreateResource("FileManager", Value::MakeDict());
  if (!handler.ok()) return handler.status();
  handlers_.file_manager = *handler;
  absl::StatusOr<Value> last_check_in =
      Read(handlers_.file_manager, "poll", Value::MakeList({absl::StrCat(hash_, "-*-*-*-*")}));
  if (!last_check_in.ok()) return last_check_in.status();
  // Check-in files are "<hash>-<index:016d>-<flag>-<time>-<expect_next_in>"; continue the
  // index after the newest one.
  std::int64_t check_in_index = 1;
  if (last_check_in->kind() == Value::Kind::kString) {
    const std::string& name = last_check_in->string_value();
    std::int64_t previous = 0;
    const char* digits = name.data() + hash_.size() + 1;
    if (name.size() > hash_.size() + 17 &&
        std::from_chars(digits, digits + 16, previous).ec == std::errc()) {
      check_in_index = previous + 1;
    }
  }

  handler = client_->CreateResource("RunHeartbeat", Value::MakeDict({{"run_hash", hash_}}));
  if (!handler.ok()) return handler.status();
  handlers_.heartbeat = *handler;
  handler = client_->CreateResource(
      "StructuredRun",
      Value::MakeDict({{"hash_", hash_}, {"read_only", false}, {"created_at", Value()}}));
  if (!handler.ok()) return handler.status();
  handlers_.props = *handler;
  handler = client_->CreateResource("TreeView", ResourceKwargs("seqs", hash_));
  if (!handler.ok()) return handler.status();
  handlers_.seqs = *handler;

  const Version version = client_->version();
  BatchOptions batch;
  batch.per_field = per_field_writes_;
  batch.use_update = version >= Version{3, 24, 0};
  batch.typed_traces = version >= Version{3, 26, 1};
  builder_ = std::make_unique<BatchBuilder>(hash_, handlers_.meta, handlers_.seqs, batch);
  sender_ = std::thread([this] { SenderLoop(); });

  const double now = UnixSeconds();
  auto write = [this](const std::string& handler, std::string_view method, Value args) {
    return Enqueue(handler, std::string(method), std::move(args));
  };
  absl::Status s = write(
      handlers_.file_manager, "touch",
      Value::MakeList({absl::StrFormat("%s-%016d-starting-%011.2f-00000", hash_,
                                       check_in_index, now),
                       absl::StrCat(hash_, "-*-starting-*-*")}));
  if (s.ok() && !has_params) {
    s.Update(write(handlers_.meta, "__setitem__",
                   Value::MakeList({RunPath(hash_, {"attrs"}), Value::MakeDict()})));
    s.Update(write(handlers_.meta, "__setitem__",
                   Value::MakeList({Value::MakeList({"meta", "attrs"}), Value::MakeDict()})));
  }
  s.Update(write(handlers_.meta, "__setitem__",
                 Value::MakeList({RunPath(hash_, {"end_time"}), Value()})));
  if (!options.experiment.empty()) s.Update(SetProperty("experiment.setter", options.experiment));
  if (!options.name.empty()) s.Update(SetProperty("name.setter", options.name));
  if (!options.description.empty()) {
    s.Update(SetProperty("description.setter", options.description));
  }
  for (const std::string& tag : options.tags) s.Update(ReadProperty("add_tag", tag));
  if (s.ok()) s = Flush(request_timeout_);
  return s;
}

absl::Status RunImpl::RestoreSequences() {
  absl::StatusOr<Value> traces =
      Read(handlers_.meta, "collect", Value::MakeList({RunPath(hash_, {"traces"}), true, false}));
  if (!traces.ok()) {
    // A run that never tracked anything has no traces.
    return rpc::IsServerException(traces.status(), "KeyError") ? absl::OkStatus()
                                                                 : traces.status();
  }
  if (traces->kind() != Value::Kind::kDict) return absl::OkStatus();
  for (const auto& [ctx_key, names] : traces->dict()) {
    const auto* ctx = std::get_if<std::int64_t>(&ctx_key);
    if (ctx == nullptr || names.kind() != Value::Kind::kDict) continue;
    for (const auto& [name_key, info] : names.dict()) {
      const auto* name = std::get_if<std::string>(&name_key);
      const Value* last_step = Field(info, "last_step");
      const Value* dtype = Field(info, "dtype");
      if (name == nullptr || last_step == nullptr || last_step->kind() != Value::Kind::kInt) {
        continue;
      }
      RestoredSequence restored{.count = last_step->int_value() + 1};
      if (dtype != nullptr && dtype->kind() == Value::Kind::kString) {
        restored.dtype = dtype->string_value();
      }
      if (const Value* min = Field(info, "min")) restored.min = NumberOf(*min);
      if (const Value* max = Field(info, "max")) restored.max = NumberOf(*max);
      restored_[*ctx][*name] = std::move(restored);
    }
  }
  return absl::OkStatus();
}

SequenceInfo* RunImpl::FindOrAddSequence(std::int64_t ctx, std::string_view name,
                                         const Context& context) {
  // Loops mostly track the same metric many times in a row: skip both lookups then.
  if (last_sequence_ != nullptr && last_sequence_->context.id() == ctx &&
      last_sequence_->name == name) {
    return last_sequence_;
  }
  auto& by_name = sequence_index_[ctx];
  if (auto it = by_name.find(Av(name)); it != by_name.end()) return last_sequence_ = it->second;
  // First point of this sequence: check once that Aim can store the name.
  if (!wire::EncodePath(Path{std::string(name)}).ok()) return nullptr;
  SequenceInfo& seq = sequences_.emplace_back(std::string(name), context);
  if (auto ctx_it = restored_.find(ctx); ctx_it != restored_.end()) {
    if (auto it = ctx_it->second.find(Av(name)); it != ctx_it->second.end()) {
      seq.initialized = true;
      seq.count = it->second.count;
      seq.dtype = it->second.dtype;
      seq.min = it->second.min;
      seq.max = it->second.max;
    }
  }
  by_name.emplace(std::string(name), &seq);
  return last_sequence_ = &seq;
}

absl::Status RunImpl::Track(const Number& value, std::string_view name,
                            const TrackOptions& options) {
  if (!options.context.status().ok()) return options.context.status();
  if (name.empty()) return absl::InvalidArgumentError("Track: the metric name is empty");
  const double now = UnixSeconds();
  std::unique_lock<std::mutex> lock(mu_);
  if (!fatal_.ok()) return fatal_;
  if (closing_) return absl::FailedPreconditionError("Track: the run is closed");
  SequenceInfo* seq = FindOrAddSequence(options.context.id(), name, options.context);
  if (seq == nullptr) {
    return absl::InvalidArgumentError("Track: the metric name is not valid UTF-8");
  }
  if (queue_.size() >= max_queued_) {
    if (backpressure_ == Backpressure::kDrop) {
      ++stats_.points_dropped;
      return absl::ResourceExhaustedError(
          "Track: the queue is full (the server is slower than the producer); point dropped");
    }
    space_cv_.wait(lock, [this] { return queue_.size() < max_queued_ || closing_ || !fatal_.ok(); });
    if (!fatal_.ok()) return fatal_;
    if (closing_) return absl::FailedPreconditionError("Track: the run is closed");
  }
  queue_.emplace_back(Point{seq, value, options.step, options.epoch, now});
  ++enqueued_;
  ++stats_.points_tracked;
  const bool wake = (sender_idle_ && queue_.size() == 1) || queue_.size() == kWakeBatch;
  lock.unlock();
  if (wake) work_cv_.notify_one();
  return absl::OkStatus();
}

absl::Status RunImpl::Enqueue(std::string handler, std::string method, Value args) {
  auto instruction = std::make_unique<Instruction>(
      Instruction{std::move(handler), std::move(method), std::move(args)});
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!fatal_.ok()) return fatal_;
    queue_.push_back(std::move(instruction));
    ++enqueued_;
  }
  work_cv_.notify_one();
  return absl::OkStatus();
}

absl::Status RunImpl::Set(const Path& path, Value value) {
  if (absl::StatusOr<std::string> p = wire::EncodePath(path); !p.ok()) return p.status();
  if (absl::StatusOr<std::string> v = wire::Pack(value); !v.ok()) return v.status();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return absl::FailedPreconditionError("Set: the run is closed");
  }
  // Run-scoped first, then the repo-wide copy Aim uses for autocompletion (SPEC 4.2).
  absl::Status s =
      Enqueue(handlers_.meta, "__setitem__",
              Value::MakeList({PathToValue({"meta", "chunks", hash_, "attrs"}, path), value}));
  s.Update(Enqueue(handlers_.meta, "__setitem__",
                   Value::MakeList({PathToValue({"meta", "attrs"}, path), std::move(value)})));
  return s;
}

absl::Status RunImpl::SetProperty(std::string_view setter, Value value) {
  if (absl::StatusOr<std::string> v = wire::Pack(value); !v.ok()) return v.status();
  return Enqueue(handlers_.props, std::string(setter), Value::MakeList({std::move(value)}));
}

absl::Status RunImpl::ReadProperty(std::string_view method, Value arg) {
  if (absl::StatusOr<std::string> v = wire::Pack(arg); !v.ok()) return v.status();
  return Read(handlers_.props, method, Value::MakeList({std::move(arg)})).status();
}

absl::StatusOr<Value> RunImpl::Read(std::string_view handler, std::string_view method,
                                    Value args, absl::Time until) {
  const absl::Time deadline = std::min(absl::Now() + request_timeout_, until);
  // A read must never overtake queued writes (SPEC 2.5).
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!WaitDrained(lock, deadline)) {
      return absl::DeadlineExceededError(
          absl::StrCat(Av(method), ": queued writes were not acknowledged in time"));
    }
    if (!fatal_.ok()) return fatal_;
  }
  return WithRecovery([&] { return client_->Read(handler, method, args); },
                      [deadline] { return deadline; });
}

void RunImpl::RecordError(const absl::Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (IsAuthFailure(status)) {
    if (fatal_.ok()) fatal_ = status;
    space_cv_.notify_all();
  } else if (write_error_.ok()) {
    write_error_ = status;
  }
}

absl::Status RunImpl::Send(const std::string& message, std::size_t points) {
  // Past Close()'s deadline nothing more is sent, even to a server that answers (slowly):
  // the rest of the queue is counted as not delivered and Close() returns in time.
  if (absl::Now() >= GiveUpAt()) {
    return absl::DeadlineExceededError("Close: timed out before this batch was sent");
  }
  // Close() may move the deadline while this is retried.
  absl::Status s = WithRecovery([&] { return client_->Write(message); },
                                [this] { return GiveUpAt(); });
  if (s.ok()) {
    points_sent_ += points;
    ++messages_sent_;
  }
  return s;
}

template <typename Attempt, typename Deadline>
auto RunImpl::WithRecovery(Attempt attempt, Deadline deadline) -> decltype(attempt()) {
  absl::Duration delay = kFirstRetryDelay;
  bool handlers_recreated = false;
  for (;;) {
    const std::uint64_t generation = client_->generation();
    auto result = attempt();
    const absl::Status& s = StatusOf(result);
    // The server forgot our handlers (restarted without us seeing a connection loss, or a
    // dead-client cleanup): nothing ran, so re-create the resources and retry, once.
    const bool lost_handlers =
        !handlers_recreated && rpc::IsServerException(s, "UnauthorizedRequestError");
    // Any other failure is final: a batch answered with an error may have been partly
    // applied and is not resent.
    if (s.ok() || (!IsConnectionLoss(s) && !lost_handlers) ||
        absl::Now() + delay > deadline()) {
      return result;
    }
    handlers_recreated |= lost_handlers;
    absl::SleepFor(delay);
    delay = std::min(delay * 2, kMaxRetryDelay);
    absl::Status recovered = client_->Recover(generation);
    if (IsAuthFailure(recovered)) return recovered;
    if (recovered.ok()) ++reconnects_;
  }
}

void RunImpl::SenderLoop() {
  MessageWriter writer([this](const std::string& message, std::size_t points) {
    absl::Status s = Send(message, points);
    if (!s.ok()) {
      RecordError(s);
      std::lock_guard<std::mutex> lock(mu_);
      stats_.points_failed += points;
    }
    return s;
  });
  std::vector<Item> batch;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    sender_idle_ = true;
    work_cv_.wait(lock, [this] { return !queue_.empty() || stop_sender_; });
    sender_idle_ = false;
    work_cv_.wait_for(lock, kLinger, [this] {
      return queue_.size() >= kWakeBatch || stop_sender_ || drain_waiters_ > 0;
    });
    if (queue_.empty()) break;  // stopping, and nothing left
    batch.swap(queue_);
    const bool failed = !fatal_.ok();
    lock.unlock();
    space_cv_.notify_all();

    std::size_t lost = 0;
    // The next message is built while the writer delivers this one, unless this one
    // introduced sequences: if it fails, the next must introduce them again.
    auto send = [&] {
      const std::size_t points = builder_->points();
      writer.Send(builder_->Finish(), points);
      if (builder_->last_introduced() && !writer.Wait().ok()) builder_->Retract();
    };
    for (const Item& item : batch) {
      const Point* point = std::get_if<Point>(&item);
      if (failed) {
        lost += point != nullptr;
        continue;
      }
      const auto* instruction = std::get_if<std::unique_ptr<Instruction>>(&item);
      absl::Status added = point != nullptr
                               ? builder_->AddPoint(*point)
                               : builder_->AddInstruction((*instruction)->handler,
                                                          (*instruction)->method,
                                                          (*instruction)->args);
      if (!added.ok()) {
        lost += point != nullptr;
        RecordError(added);
      }
      if (builder_->estimated_size() >= max_message_bytes_) send();
    }
    if (!builder_->empty()) send();
    (void)writer.Wait();  // the batch is done once its last message is answered

    // Destroying a large batch takes a while: not under the lock Track() needs.
    const std::size_t finished = batch.size();
    batch.clear();
    lock.lock();
    stats_.points_failed += lost;
    done_ += finished;
    drained_cv_.notify_all();
  }
}

bool RunImpl::WaitDrained(std::unique_lock<std::mutex>& lock, absl::Time deadline) {
  const std::uint64_t target = enqueued_;
  ++drain_waiters_;  // the sender stops lingering
  work_cv_.notify_one();
  const bool drained = drained_cv_.wait_until(lock, absl::ToChronoTime(deadline),
                                              [&] { return done_ >= target; });
  --drain_waiters_;
  return drained;
}

absl::Status RunImpl::Flush(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!WaitDrained(lock, absl::Now() + timeout)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "Flush: ", enqueued_ - done_, " queued calls not acknowledged by the server after ",
        absl::FormatDuration(timeout)));
  }
  if (!fatal_.ok()) return fatal_;
  return std::exchange(write_error_, absl::OkStatus());
}

absl::Status RunImpl::Close(absl::Duration timeout) {
  std::lock_guard<std::mutex> closing(close_mu_);
  if (close_result_.has_value()) return *close_result_;
  const absl::Time deadline = absl::Now() + timeout;
  give_up_at_ns_ = absl::ToUnixNanos(deadline);
  // Mark the run finished (SPEC 4.6), then stop the server-side heartbeat and unlock.
  absl::Status result =
      Enqueue(handlers_.meta, "__setitem__",
              Value::MakeList({RunPath(hash_, {"end_time"}), UnixSeconds()}));
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  space_cv_.notify_all();
  result.Update(Flush(std::max(deadline - absl::Now(), absl::ZeroDuration())));
  bool refused;  // fatal_ is written by the sender thread
  {
    std::lock_guard<std::mutex> lock(mu_);
    refused = !fatal_.ok();
  }
  if (!refused) {
    // Within Close()'s deadline: against a server that is down, each read would otherwise
    // retry for a whole request_timeout.
    result.Update(Read(handlers_.heartbeat, "stop", Value::MakeList(), deadline).status());
    result.Update(Read(handlers_.lock, "release", Value::MakeList({false}), deadline).status());
  }
  bool sending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_sender_ = true;
    give_up_at_ns_ = absl::ToUnixNanos(absl::Now());  // what is still retried is given up
    sending = done_ < enqueued_;
  }
  work_cv_.notify_all();
  // Past the deadline with a batch still out: do not wait for the server's answer to it.
  if (sending) client_->InterruptWrite();
  if (sender_.joinable()) sender_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stats_.points_failed > 0) {
      // What was lost is the news; the first failure (often a Flush timeout) is the reason.
      result = absl::DataLossError(absl::StrCat(
          "Close: ", stats_.points_failed, " of ", stats_.points_tracked,
          " tracked points were not delivered",
          result.ok() ? "" : absl::StrCat(" (", result.message(), ")")));
    }
  }
  ReleaseHandlers(deadline);
  close_result_ = result;
  return result;
}

absl::Time RunImpl::GiveUpAt() const {
  const std::int64_t ns = give_up_at_ns_.load();
  return ns == std::numeric_limits<std::int64_t>::max() ? absl::InfiniteFuture()
                                                        : absl::FromUnixNanos(ns);
}

RunStats RunImpl::stats() const {
  RunStats stats;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats = stats_;
  }
  stats.points_sent = points_sent_;
  stats.messages_sent = messages_sent_;
  stats.reconnects = reconnects_;
  return stats;
}

}  // namespace aim::tracking
