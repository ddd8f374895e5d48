// Sends a run's write messages on a thread of its own, so that the run's sender can build the
// next message while the server works on the current one, and that message goes out the
// moment the answer arrives. The exchange with the server stays strictly one message, then
// its answer: a message goes out only once the previous one is answered, so an error answer
// costs that message alone, as it would without this thread.
#ifndef AIM_SDK_TRACKING_MESSAGE_WRITER_H_
#define AIM_SDK_TRACKING_MESSAGE_WRITER_H_

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"

namespace aim::tracking {

// Thread safety: Send() and Wait() are called by one thread (the run's sender).
class MessageWriter {
 public:
  // Delivers one message (with whatever retries it makes) and returns the outcome; runs on
  // the writer's thread.
  using Deliver = std::function<absl::Status(const std::string& message, std::size_t points)>;

  explicit MessageWriter(Deliver deliver);
  // Delivers the message in flight first.
  ~MessageWriter();
  MessageWriter(const MessageWriter&) = delete;
  MessageWriter& operator=(const MessageWriter&) = delete;

  // Queues `message` behind the one in flight; waits while another is already queued.
  void Send(std::string message, std::size_t points);
  // Waits until every message sent is answered; returns the last one's outcome (OK if none).
  absl::Status Wait();

 private:
  struct Message {
    std::string bytes;
    std::size_t points;
  };

  void Loop();

  const Deliver deliver_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Message> queued_;
  bool in_flight_ = false;
  bool stop_ = false;
  absl::Status outcome_;  // of the last message answered
  std::thread thread_;    // last: starts once the members above exist
};

}  // namespace aim::tracking

#endif  // AIM_SDK_TRACKING_MESSAGE_WRITER_H_
