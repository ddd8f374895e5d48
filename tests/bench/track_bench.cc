// What Track() costs the training loop, and how fast points reach a server.
//
//   build/tests/bench/track_bench
//
// Figures (as benchmark counters):
//   Track/threads:N     median_ns, p99_ns: one Track() call on the calling thread (a server
//                       that acknowledges instantly, so only the SDK is measured);
//                       allocs_per_call: heap allocations per call in steady state.
//   SenderThroughput    points_per_s the client encodes and hands to an instant server.
//   HttpThroughput      points_per_s into the test server (a child process) over loopback
//                       (HTTP + WebSocket), the server's instructions and bytes per point,
//                       client_peak_rss_mb of this process (run alone: --benchmark_filter).
//   StalledServerMemory the client's memory growth while 4x the queue meets a stalled server.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "aim/auth/credentials.h"
#include "aim/run.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "rpc/transport.h"
#include "tests/support/server/http_test_server.h"
#include "tracking/client.h"
#include "tracking/run_impl.h"

// Counts the heap allocations of each thread, to show Track() makes none on the caller's.
namespace {
thread_local std::uint64_t allocations = 0;
}  // namespace

void* operator new(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  ++allocations;
  return std::malloc(size == 0 ? 1 : size);
}
// GCC pairs the replaced operator new with free() at inlined call sites and warns; the
// replacement is exactly that pairing.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace aim {
namespace {

// A server that acknowledges everything at once: only the client's own cost remains.
class InstantTransport : public rpc::Transport {
 public:
  absl::Status Connect() override { return absl::OkStatus(); }
  absl::Status Reconnect() override { return absl::OkStatus(); }
  absl::Status Disconnect() override { return absl::OkStatus(); }
  absl::Status Heartbeat() override { return absl::OkStatus(); }
  absl::StatusOr<std::string> GetVersion() override { return std::string("3.29.1"); }
  absl::StatusOr<std::string> GetResource(std::string_view, const Value&,
                                          std::string_view) override {
    return std::string("00000000-0000-4000-8000-") + std::to_string(100000000000 + ++handlers_);
  }
  absl::Status ReleaseResource(std::string_view) override { return absl::OkStatus(); }
  absl::StatusOr<Value> ReadInstruction(std::string_view, std::string_view,
                                        const Value&) override {
    return Value();
  }
  absl::Status WriteBatch(std::string_view) override { return absl::OkStatus(); }
  void InterruptWrite() override {}

 private:
  std::atomic<int> handlers_{0};
};

tracking::RunImpl* SharedRun() {
  static tracking::RunImpl* run = [] {
    auto client = tracking::Client::Connect(std::make_unique<InstantTransport>(),
                                            absl::Seconds(10));
    // A queue deep enough that Track() is measured, not the sender's pace (kBlock would
    // make a full queue's producers wait for the sender).
    auto created = tracking::RunImpl::Create(
        *client, RunOptions{.repo = "aim://bench:1", .max_queued_points = 1 << 23});
    if (!created.ok()) std::abort();
    return created->release();  // lives for the whole program
  }();
  return run;
}

double Percentile(std::vector<double>& v, double q) {
  const std::size_t k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

void BM_Track(benchmark::State& state) {
  tracking::RunImpl* run = SharedRun();
  const Context train({{"subset", "train"}});
  const std::string name = "loss_" + std::to_string(state.thread_index());
  using Clock = std::chrono::steady_clock;
  // The cost of reading the clock itself, subtracted from every sample.
  auto c0 = Clock::now();
  for (int i = 0; i < 1000; ++i) benchmark::DoNotOptimize(Clock::now());
  const double clock_ns =
      std::chrono::duration<double, std::nano>(Clock::now() - c0).count() / 1001.0;

  std::vector<double> samples;
  samples.reserve(1 << 20);
  std::int64_t step = 0;
  // Warm up to steady state: the queue's two buffers (producers fill one while the sender
  // drains the other) reach the capacity this rate needs, so no first-touch page faults
  // are measured as Track() time.
  for (int round = 0; round < 2; ++round) {
    for (std::int64_t i = 0; i < state.max_iterations; ++i) {
      (void)run->Track(0.5, name, {.step = step++, .context = train});
    }
    (void)run->Flush(absl::Minutes(5));
  }
  const std::uint64_t allocs_before = allocations;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    absl::Status s = run->Track(0.5, name, {.step = step++, .context = train});
    const auto t1 = Clock::now();
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    if (samples.size() < samples.capacity()) {
      samples.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() - clock_ns);
    }
  }
  const std::uint64_t allocs = allocations - allocs_before;
  const auto avg = benchmark::Counter::kAvgThreads;
  state.counters["median_ns"] = benchmark::Counter(Percentile(samples, 0.5), avg);
  state.counters["p99_ns"] = benchmark::Counter(Percentile(samples, 0.99), avg);
  // On this thread only: the sender thread's batching is not Track()'s cost.
  state.counters["allocs_per_call"] = benchmark::Counter(
      static_cast<double>(allocs) / static_cast<double>(state.iterations()), avg);
}
BENCHMARK(BM_Track)->Threads(1)->Threads(8)->Iterations(250000)->UseRealTime();

// The client's own capacity: points/s from Track() to acknowledged messages when the server
// costs nothing (encoding, batching and the queue hand-off only).
void BM_SenderThroughput(benchmark::State& state) {
  tracking::RunImpl* run = SharedRun();
  const Context train({{"subset", "train"}});
  std::int64_t step = 0;
  (void)run->Flush(absl::Minutes(5));  // what earlier benchmarks queued is not ours
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    (void)run->Track(0.5, "sender", {.step = step++, .context = train});
  }
  (void)run->Flush(absl::Minutes(5));  // until every point is encoded and acknowledged
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  state.counters["points_per_s"] = static_cast<double>(state.iterations()) / seconds;
}
BENCHMARK(BM_SenderThroughput)->Iterations(500000)->UseRealTime()->Unit(benchmark::kMillisecond);

// VmHWM (peak) or VmRSS (now) of this process, in MB.
double RssMb(std::string_view field) {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == field) {
      double kb = 0;
      status >> kb;
      return kb / 1024.0;
    }
  }
  return 0;
}

// CPU time of this process (every thread), in seconds.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The test server in a child process of its own, so this process's memory is the client's
// alone. Forked before the client starts any thread of its own; the child starts the server,
// writes its URL, and on one byte from the parent writes its counters and exits.
class ServerProcess {
 public:
  static std::optional<ServerProcess> Start() {
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) return std::nullopt;
    const pid_t pid = fork();
    if (pid < 0) return std::nullopt;
    if (pid == 0) {
      close(to_child[1]);
      close(from_child[0]);
      Serve(to_child[0], from_child[1]);
      _exit(0);
    }
    close(to_child[0]);
    close(from_child[1]);
    ServerProcess p(pid, to_child[1], from_child[0]);
    p.url_ = p.ReadLine();
    if (p.url_.empty()) return std::nullopt;
    return p;
  }
  ServerProcess(ServerProcess&& o) noexcept
      : pid_(std::exchange(o.pid_, -1)), command_(o.command_), reply_(o.reply_),
        url_(std::move(o.url_)) {}
  ~ServerProcess() {
    if (pid_ < 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    close(command_);
    close(reply_);
  }
  const std::string& url() const { return url_; }

  // From now on every reply of the server takes 2 s.
  void Stall() { (void)!write(command_, "s", 1); }

  // The server's counters: write instructions, write bytes, messages, CPU seconds.
  std::array<double, 4> Counters() {
    (void)!write(command_, "c", 1);
    std::array<double, 4> out{};
    std::istringstream(ReadLine()) >> out[0] >> out[1] >> out[2] >> out[3];
    return out;
  }

 private:
  ServerProcess(pid_t pid, int command, int reply) : pid_(pid), command_(command), reply_(reply) {}

  static void Serve(int command, int reply) {
    auto server = test_server::HttpTestServer::Start();
    if (!server.ok()) return;
    const std::string url = (*server)->aim_url() + "\n";
    (void)!write(reply, url.data(), url.size());
    char c;
    while (read(command, &c, 1) == 1) {
      if (c == 's') {
        (*server)->SetReplyDelay(absl::Seconds(2));
        continue;
      }
      const test_server::ServerCounters k = (*server)->repo().Counters();
      const std::string line = absl::StrCat(k.write_instructions, " ", k.write_bytes, " ",
                                            k.write_messages, " ", CpuSeconds(), "\n");
      (void)!write(reply, line.data(), line.size());
    }
  }

  std::string ReadLine() {
    std::string line;
    char c;
    while (read(reply_, &c, 1) == 1 && c != '\n') line.push_back(c);
    return line;
  }

  pid_t pid_;
  int command_, reply_;
  std::string url_;
};

// A test server process and one run on it over HTTP; on failure the benchmark is skipped.
bool StartServerAndRun(benchmark::State& state, Backpressure backpressure,
                       std::optional<ServerProcess>& server, std::unique_ptr<Run>& run) {
  std::optional<ServerProcess> started = ServerProcess::Start();
  if (!started) {
    state.SkipWithError("cannot start the test server process");
    return false;
  }
  server.emplace(std::move(*started));
  auto created = Run::Create({.repo = server->url(),
                              .credentials = auth::NoCredentials(),
                              .scheme = Scheme::kHttp,
                              .backpressure = backpressure});
  if (!created.ok()) {
    state.SkipWithError(created.status().ToString().c_str());
    return false;
  }
  run = *std::move(created);
  return true;
}

// Points/s from Track() until the test server has acknowledged all of them, for one run
// over loopback (HTTP + WebSocket); the server's instructions and bytes per point, and the
// client process's peak memory (run this benchmark alone to read the client's own peak).
void BM_HttpThroughput(benchmark::State& state) {
  const std::int64_t points = state.range(0);
  for (auto _ : state) {
    state.PauseTiming();
    std::optional<ServerProcess> server;
    std::unique_ptr<Run> run;
    if (!StartServerAndRun(state, Backpressure::kBlock, server, run)) return;
    const std::array<double, 4> before = server->Counters();
    const double client_cpu_before = CpuSeconds();
    const Context train({{"subset", "train"}});
    state.ResumeTiming();
    const auto start = std::chrono::steady_clock::now();
    for (std::int64_t i = 0; i < points; ++i) {
      (void)run->Track(static_cast<double>(i), "loss", {.step = i, .context = train});
    }
    absl::Status flushed = run->Flush(absl::Minutes(5));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.PauseTiming();
    if (!flushed.ok()) state.SkipWithError(flushed.ToString().c_str());
    const std::array<double, 4> after = server->Counters();
    const double n = static_cast<double>(points);
    state.counters["server_cpu_us_per_point"] = (after[3] - before[3]) * 1e6 / n;
    state.counters["client_cpu_us_per_point"] = (CpuSeconds() - client_cpu_before) * 1e6 / n;
    state.counters["points_per_s"] = n / seconds;
    state.counters["instr_per_point"] = (after[0] - before[0]) / n;
    state.counters["bytes_per_point"] = (after[1] - before[1]) / n;
    state.counters["messages"] = after[2] - before[2];
    state.counters["client_peak_rss_mb"] = RssMb("VmHWM:");
    (void)run->Close();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_HttpThroughput)->Arg(200000)->Iterations(1)->Unit(benchmark::kMillisecond);

// A stalled server (each acknowledgement takes 2 s) offered four times the default queue
// (kDefaultMaxQueuedPoints) under Backpressure::kDrop: the queue cap holds, the excess is
// refused, and the client's memory stops growing once the queue is full.
void BM_StalledServerMemory(benchmark::State& state) {
  const std::int64_t points = 4 * static_cast<std::int64_t>(kDefaultMaxQueuedPoints);
  for (auto _ : state) {
    std::optional<ServerProcess> server;
    std::unique_ptr<Run> run;
    if (!StartServerAndRun(state, Backpressure::kDrop, server, run)) return;
    const Context train({{"subset", "train"}});
    server->Stall();
    const double rss_start = RssMb("VmRSS:");
    double rss_half = 0;
    for (std::int64_t i = 0; i < points; ++i) {
      if (i == points / 2) rss_half = RssMb("VmRSS:");
      (void)run->Track(static_cast<double>(i), "loss", {.step = i, .context = train});
    }
    state.counters["rss_growth_first_half_mb"] = rss_half - rss_start;
    state.counters["rss_growth_second_half_mb"] = RssMb("VmRSS:") - rss_half;
    state.counters["points_dropped"] = static_cast<double>(run->stats().points_dropped);
    (void)run->Close(absl::ZeroDuration());
    server.reset();  // the client's teardown then meets a closed port, not a stall
  }
}
BENCHMARK(BM_StalledServerMemory)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace aim

BENCHMARK_MAIN();
