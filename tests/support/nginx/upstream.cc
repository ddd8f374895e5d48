#include "tests/support/nginx/upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace aim::testing {

absl::StatusOr<std::unique_ptr<LoopbackHttpUpstream>> LoopbackHttpUpstream::Start() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd, 128) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int error = errno;
    ::close(fd);
    return absl::InternalError(absl::StrCat("listen: ", std::strerror(error)));
  }
  std::unique_ptr<LoopbackHttpUpstream> upstream(
      new LoopbackHttpUpstream(fd, ntohs(addr.sin_port)));
  upstream->thread_ = std::thread([u = upstream.get()] { u->Serve(); });
  return upstream;
}

LoopbackHttpUpstream::~LoopbackHttpUpstream() {
  // shutdown() wakes the thread blocked in accept(); close() alone would not.
  ::shutdown(listen_fd_, SHUT_RDWR);
  thread_.join();
  ::close(listen_fd_);
}

std::vector<std::string> LoopbackHttpUpstream::RequestHeads() const {
  absl::MutexLock lock(&mu_);
  return heads_;
}

void LoopbackHttpUpstream::Serve() {
  for (;;) {
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // shut down
    }
    std::string head;
    char buffer[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::recv(client, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      head.append(buffer, static_cast<std::size_t>(n));
    }
    const bool upgrade = absl::StrContains(absl::AsciiStrToLower(head), "\r\nupgrade: websocket");
    const std::string response =
        upgrade ? "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Accept: unchecked\r\n\r\n"
                : "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
                  "Connection: close\r\n\r\nupstream ok\n";
    ::send(client, response.data(), response.size(), MSG_NOSIGNAL);
    ::close(client);
    absl::MutexLock lock(&mu_);
    heads_.push_back(std::move(head));
  }
}

}  // namespace aim::testing
