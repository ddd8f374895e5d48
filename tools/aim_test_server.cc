// aim-test-server: the test suite's stand-in `aim server` (HTTP + WebSocket, Aim >= 3.19,
// in-memory store) as a program, so the examples and tools can be tried without installing
// Aim. Nothing is persisted; it prints a summary of the runs it holds when stopped (Ctrl-C).
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "absl/strings/numbers.h"
#include "tests/support/server/http_test_server.h"

int main(int argc, char** argv) {
  aim::test_server::HttpTestServerOptions options;
  options.port = 53800;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    std::uint32_t port = 0;
    if (arg == "--port" && i + 1 < argc && absl::SimpleAtoi(argv[i + 1], &port) && port < 65536) {
      options.port = static_cast<std::uint16_t>(port);
      ++i;
    } else if (arg == "--base-path" && i + 1 < argc) {
      options.base_path = argv[++i];
    } else {
      std::cerr << "Usage: aim-test-server [--port N (default 53800; 0: any)] [--base-path P]\n"
                   "A stand-in Aim server for trying aim-cpp; keeps runs in memory only.\n";
      return arg == "--help" ? 0 : 2;
    }
  }
  // Block the stop signals before any thread starts; sigwait below takes them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto server = aim::test_server::HttpTestServer::Start(options);
  if (!server.ok()) {
    std::cerr << "aim-test-server: " << server.status() << "\n";
    return 1;
  }
  std::cout << "aim-test-server listening on " << (*server)->aim_url()
            << "  (export AIM_REPO=" << (*server)->aim_url() << ")" << std::endl;
  int signal = 0;
  sigwait(&stop, &signal);
  for (const std::string& hash : (*server)->repo().RunHashes()) {
    auto props = (*server)->repo().Props(hash);
    std::cout << "run " << hash << " experiment=" << (props ? props->experiment : "?")
              << " name=" << (props ? props->name : "?") << "\n";
  }
  return 0;
}
