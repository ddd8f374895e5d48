// Test support: a minimal HTTP/1.1 upstream on 127.0.0.1 for NginxProxy tests. It answers
// every request with 200 "upstream ok\n", and a WebSocket upgrade request with 101, then
// closes the connection. It records each request head so a test can see what nginx forwarded.
#ifndef AIMCPP_TESTS_SUPPORT_NGINX_UPSTREAM_H_
#define AIMCPP_TESTS_SUPPORT_NGINX_UPSTREAM_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace aim::testing {

class LoopbackHttpUpstream {
 public:
  static absl::StatusOr<std::unique_ptr<LoopbackHttpUpstream>> Start();
  LoopbackHttpUpstream(const LoopbackHttpUpstream&) = delete;
  LoopbackHttpUpstream& operator=(const LoopbackHttpUpstream&) = delete;
  ~LoopbackHttpUpstream();  // stops accepting and joins the server thread

  int port() const { return port_; }
  std::vector<std::string> RequestHeads() const;

 private:
  LoopbackHttpUpstream(int fd, int port) : listen_fd_(fd), port_(port) {}
  void Serve();

  const int listen_fd_;
  const int port_;
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::vector<std::string> heads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aim::testing

#endif  // AIMCPP_TESTS_SUPPORT_NGINX_UPSTREAM_H_
