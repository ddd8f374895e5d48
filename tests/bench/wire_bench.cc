// Wire codec throughput on a typical track batch (the WebSocket messages the Python client
// sends for the first and a subsequent run.track() of a metric) and the cost of hash_auto.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "nlohmann/json.hpp"
#include "wire/codec.h"
#include "wire/hash.h"

namespace {

// The decoded value of a values.json case (its packed bytes go through our decoder, which the
// wire tests check against the typed value). Aborts the benchmark if the vectors are missing.
aim::Value LoadBatch(const std::string& id, std::string* packed_out) {
  std::ifstream in(AIMCPP_VECTORS_DIR "/values.json", std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const nlohmann::json file = nlohmann::json::parse(text, nullptr, false);
  if (file.is_object() && file.contains("cases")) {
    for (const auto& c : file["cases"]) {
      if (c.value("id", "") != id) continue;
      const std::string hex = c.value("packed_hex", "");
      std::string packed;
      for (size_t i = 0; i + 1 < hex.size(); i += 2) {
        packed.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
      }
      absl::StatusOr<aim::Value> value = aim::wire::UnpackTree(packed);
      if (value.ok()) {
        *packed_out = packed;
        return *std::move(value);
      }
    }
  }
  std::fprintf(stderr, "wire_bench: cannot load %s from %s/values.json\n", id.c_str(),
               AIMCPP_VECTORS_DIR);
  std::abort();
}

// args: the values.json case id.
void BM_Encode(benchmark::State& state, const char* id) {
  std::string packed;
  const aim::Value batch = LoadBatch(id, &packed);
  std::string out;
  for (auto _ : state) {
    out.clear();  // the SDK reuses its send buffer
    if (!aim::wire::AppendTree(batch, {}, aim::wire::Framing::kStream, &out).ok()) {
      state.SkipWithError("encode failed");
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * packed.size()));
  state.counters["instructions"] = static_cast<double>(batch.list().size());
  state.counters["bytes"] = static_cast<double>(packed.size());
}

void BM_Decode(benchmark::State& state, const char* id) {
  std::string packed;
  const aim::Value batch = LoadBatch(id, &packed);
  for (auto _ : state) {
    absl::StatusOr<aim::Value> v = aim::wire::UnpackTree(packed);
    if (!v.ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(v);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * packed.size()));
  state.counters["instructions"] = static_cast<double>(batch.list().size());
}

// A message of the batched path in steady state (Aim >= 3.24): one TreeView.update per column
// of one sequence, 41 points each (about the default 32 KB cap), what the test server decodes
// by the thousand in track_bench's throughput run.
aim::Value UpdateMessage() {
  constexpr int kPoints = 41;
  aim::Value::List instructions;
  for (const char* column : {"val", "epoch", "time", "step"}) {
    aim::Value::List pairs;
    for (int i = 0; i < kPoints; ++i) {
      pairs.push_back(aim::Value::MakeList(
          {aim::Value(std::int64_t{0x1234567890abcd} * (i + 1)), aim::Value(0.25 * i)}));
    }
    aim::Value path = aim::Value::MakeList({"v2", "chunks", "0123456789abcdef01234567",
                                            std::int64_t{-8141239813295011843}, "loss", column});
    instructions.push_back(aim::Value::MakeList(
        {"3c9f8a1e-seqs", "update", aim::Value::MakeList({path, aim::Value(std::move(pairs))})}));
  }
  return aim::Value(std::move(instructions));
}

void BM_DecodeUpdateMessage(benchmark::State& state) {
  std::string packed;
  if (!aim::wire::AppendTree(UpdateMessage(), {}, aim::wire::Framing::kStream, &packed).ok()) {
    state.SkipWithError("encode failed");
    return;
  }
  for (auto _ : state) {
    absl::StatusOr<aim::Value> v = aim::wire::UnpackTree(packed);
    if (!v.ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(v);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * packed.size()));
  state.counters["bytes"] = static_cast<double>(packed.size());
}
BENCHMARK(BM_DecodeUpdateMessage);

BENCHMARK_CAPTURE(BM_Encode, first_track_20_instructions, "ws_batch_first_track_loss");
BENCHMARK_CAPTURE(BM_Encode, next_track_7_instructions, "ws_batch_second_track_loss");
BENCHMARK_CAPTURE(BM_Decode, first_track_20_instructions, "ws_batch_first_track_loss");
BENCHMARK_CAPTURE(BM_Decode, next_track_7_instructions, "ws_batch_second_track_loss");

// hash_auto(step): once per metric point.
void BM_HashNumber(benchmark::State& state) {
  double step = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(aim::wire::HashNumber(step));
    step += 1;
  }
}
BENCHMARK(BM_HashNumber);

void BM_DetHash(benchmark::State& state) {
  double v = 0.1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(aim::wire::DetHash(v));
    v += 1.5;
  }
}
BENCHMARK(BM_DetHash);

// hash_auto(context): once per new (context, name) sequence.
void BM_HashContext(benchmark::State& state) {
  const aim::Value context = {{"subset", "train"}, {"gpu", 0}};
  for (auto _ : state) {
    absl::StatusOr<std::int64_t> h = aim::wire::HashAuto(context);
    benchmark::DoNotOptimize(h);
  }
}
BENCHMARK(BM_HashContext);

}  // namespace

BENCHMARK_MAIN();
