#include "tracking/message_writer.h"

#include <utility>

namespace aim::tracking {

MessageWriter::MessageWriter(Deliver deliver)
    : deliver_(std::move(deliver)), thread_([this] { Loop(); }) {}

MessageWriter::~MessageWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void MessageWriter::Send(std::string message, std::size_t points) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !queued_.has_value(); });
  queued_ = Message{std::move(message), points};
  cv_.notify_all();
}

absl::Status MessageWriter::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !queued_.has_value() && !in_flight_; });
  return outcome_;
}

void MessageWriter::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return queued_.has_value() || stop_; });
    if (!queued_.has_value()) return;  // stopping, nothing left
    const Message message = *std::exchange(queued_, std::nullopt);
    in_flight_ = true;
    cv_.notify_all();  // room for the next message
    lock.unlock();
    absl::Status outcome = deliver_(message.bytes, message.points);
    lock.lock();
    outcome_ = std::move(outcome);
    in_flight_ = false;
    cv_.notify_all();
  }
}

}  // namespace aim::tracking
