// The engine behind aim::Run: the run's server resources, a bounded queue filled by the
// calling threads, and one sender thread that turns the queue into write messages (which a
// MessageWriter delivers).
#ifndef AIM_SDK_TRACKING_RUN_IMPL_H_
#define AIM_SDK_TRACKING_RUN_IMPL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "aim/run.h"
#include "tracking/batch_builder.h"
#include "tracking/client.h"

namespace aim::tracking {

class RunImpl {
 public:
  // Creates (or resumes) the run through `client`.
  static absl::StatusOr<std::unique_ptr<RunImpl>> Create(std::shared_ptr<Client> client,
                                                         const RunOptions& options);
  ~RunImpl();

  const std::string& hash() const { return hash_; }

  absl::Status Set(const Path& path, Value value);
  absl::Status Track(const Number& value, std::string_view name, const TrackOptions& options);
  absl::Status SetProperty(std::string_view setter, Value value);
  absl::Status ReadProperty(std::string_view method, Value arg);
  absl::Status Flush(absl::Duration timeout);
  absl::Status Close(absl::Duration timeout);
  RunStats stats() const;

 private:
  // A queued call: a point, or any other write instruction (params, properties).
  struct Instruction {
    std::string handler;
    std::string method;
    Value args;
  };
  using Item = std::variant<Point, std::unique_ptr<Instruction>>;
  // What a resumed run already holds for a sequence.
  struct RestoredSequence {
    std::int64_t count;
    std::string dtype;
    std::optional<Number> min, max;
  };
  struct Handlers {
    std::string lock, meta, file_manager, heartbeat, props, seqs;
  };

  RunImpl(std::shared_ptr<Client> client, const RunOptions& options, std::string hash);
  absl::Status Start(const RunOptions& options, bool resume);
  absl::Status RestoreSequences();
  // Gives up after request_timeout, or at `until` if that is sooner (Close()'s deadline).
  absl::StatusOr<Value> Read(std::string_view handler, std::string_view method, Value args,
                             absl::Time until = absl::InfiniteFuture());
  absl::Status Enqueue(std::string handler, std::string method, Value args);
  SequenceInfo* FindOrAddSequence(std::int64_t ctx, std::string_view name,
                                  const Context& context);
  // Waits until everything queued before the call is sent (or failed). Requires mu_.
  bool WaitDrained(std::unique_lock<std::mutex>& lock, absl::Time deadline);
  void SenderLoop();
  absl::Status Send(const std::string& message, std::size_t points);
  // Runs `attempt` (returning Status or StatusOr) until it succeeds or fails for good. A lost
  // connection, and once a server that forgot our handlers, are retried with backoff after
  // Client::Recover(), while the next try can start before `deadline()`.
  template <typename Attempt, typename Deadline>
  auto WithRecovery(Attempt attempt, Deadline deadline) -> decltype(attempt());
  // Releases the run's server resources, one by one until `deadline`.
  void ReleaseHandlers(absl::Time deadline);
  void RecordError(const absl::Status& status);
  absl::Time GiveUpAt() const;

  const std::shared_ptr<Client> client_;
  const std::string hash_;
  const std::size_t max_queued_;
  const Backpressure backpressure_;
  const std::size_t max_message_bytes_;
  const absl::Duration request_timeout_;
  const bool per_field_writes_;
  Handlers handlers_;
  std::unique_ptr<BatchBuilder> builder_;  // sender thread only

  mutable std::mutex mu_;
  std::condition_variable work_cv_;     // the sender waits for items
  std::condition_variable space_cv_;    // Track() waits for queue room
  std::condition_variable drained_cv_;  // Flush() waits for acknowledgements
  std::vector<Item> queue_;
  std::uint64_t enqueued_ = 0;          // items ever queued
  std::uint64_t done_ = 0;              // items the sender finished with (sent or failed)
  absl::Status write_error_;            // first write error since the last Flush
  absl::Status fatal_;                  // authentication refused: the run cannot continue
  bool sender_idle_ = false;            // waiting for work: the first item must wake it
  int drain_waiters_ = 0;               // Flush()/reads waiting: the sender must not linger
  bool closing_ = false;
  bool stop_sender_ = false;
  // Written by Close(), read by the sender per message: atomic, so that sending never takes
  // the mutex Track() needs. Unix nanoseconds; max: no deadline.
  std::atomic<std::int64_t> give_up_at_ns_{std::numeric_limits<std::int64_t>::max()};
  std::atomic<std::uint64_t> points_sent_{0}, messages_sent_{0}, reconnects_{0};
  std::optional<absl::Status> close_result_;
  RunStats stats_;
  std::deque<SequenceInfo> sequences_;  // stable addresses, referenced by queued points
  absl::flat_hash_map<std::int64_t, absl::flat_hash_map<std::string, SequenceInfo*>>
      sequence_index_;
  SequenceInfo* last_sequence_ = nullptr;  // what FindOrAddSequence found last
  absl::flat_hash_map<std::int64_t, absl::flat_hash_map<std::string, RestoredSequence>>
      restored_;

  std::mutex close_mu_;  // serialises Close()
  std::thread sender_;
};

}  // namespace aim::tracking

#endif  // AIM_SDK_TRACKING_RUN_IMPL_H_
