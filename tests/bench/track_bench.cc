// What Track() costs the training loop, and how fast points reach a server.
//
//   build/tests/bench/track_bench
//
// Figures (as benchmark counters):
//   Track/threads:N     median_ns, p99_ns: one Track() call on the calling thread (a server
//                       that acknowledges instantly, so only the SDK is measured);
//                       allocs_per_call: heap allocations per call in steady state.
//   SenderThroughput    points_per_s the client encodes and hands to an instant server.
//   HttpThroughput      points_per_s into the test server over loopback (HTTP + WebSocket),
//                       peak_rss_mb of this process, server instructions and bytes per point.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <new>
#include <string>
#include <vector>

#include "aim/auth/credentials.h"
#include "aim/run.h"
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

double PeakRssMb() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmHWM:") {
      double kb = 0;
      status >> kb;
      return kb / 1024.0;
    }
  }
  return 0;
}

void BM_HttpThroughput(benchmark::State& state) {
  const std::int64_t points = state.range(0);
  for (auto _ : state) {
    state.PauseTiming();
    auto server = test_server::HttpTestServer::Start();
    if (!server.ok()) {
      state.SkipWithError(server.status().ToString().c_str());
      return;
    }
    auto run = Run::Create({.repo = (*server)->aim_url(),
                            .credentials = auth::NoCredentials(),
                            .scheme = Scheme::kHttp});
    if (!run.ok()) {
      state.SkipWithError(run.status().ToString().c_str());
      return;
    }
    (*server)->repo().ResetCounters();
    const Context train({{"subset", "train"}});
    state.ResumeTiming();
    const auto start = std::chrono::steady_clock::now();
    for (std::int64_t i = 0; i < points; ++i) {
      (void)(*run)->Track(static_cast<double>(i), "loss", {.step = i, .context = train});
    }
    absl::Status flushed = (*run)->Flush(absl::Minutes(5));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.PauseTiming();
    if (!flushed.ok()) state.SkipWithError(flushed.ToString().c_str());
    const test_server::ServerCounters counters = (*server)->repo().Counters();
    state.counters["points_per_s"] = static_cast<double>(points) / seconds;
    state.counters["instr_per_point"] =
        static_cast<double>(counters.write_instructions) / static_cast<double>(points);
    state.counters["bytes_per_point"] =
        static_cast<double>(counters.write_bytes) / static_cast<double>(points);
    state.counters["messages"] = static_cast<double>(counters.write_messages);
    state.counters["peak_rss_mb"] = PeakRssMb();
    (void)(*run)->Close();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_HttpThroughput)->Arg(200000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace aim

BENCHMARK_MAIN();
