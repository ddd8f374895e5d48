#include "tests/tracking/scenario.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "tests/support/server/stored_records.h"

namespace aim::scenario {

absl::StatusOr<std::string> RunBasicScenario(RunOptions options) {
  options.experiment = "golden";
  absl::StatusOr<std::unique_ptr<Run>> created = Run::Create(std::move(options));
  if (!created.ok()) return created.status();
  Run& run = **created;
  absl::Status s = run.Set("hparams", {{"lr", 0.001},
                                       {"batch_size", 32},
                                       {"optimizer", {{"name", "adam"}, {"betas", {0.9, 0.999}}}},
                                       {"use_amp", true},
                                       {"notes", nullptr}});
  s.Update(run.SetName("golden-run"));
  s.Update(run.SetDescription("scenario basic"));
  s.Update(run.AddTag("baseline"));
  const Context train({{"subset", "train"}});
  const Context val({{"subset", "val"}});
  for (int step = 0; step < 10; ++step) {
    s.Update(run.Track(2.5 - 0.25 * step, "loss", {.step = step, .epoch = step / 5, .context = train}));
  }
  const int correct[] = {50, 61, 72, 80, 85};
  for (int step = 0; step < 5; ++step) {
    s.Update(run.Track(correct[step], "correct", {.step = step, .context = val}));
  }
  s.Update(run.Track(0.001, "lr"));
  s.Update(run.Track(0.0005, "lr"));
  s.Update(run.Track(3.0, "loss", {.step = 3, .epoch = 0, .context = train}));
  s.Update(run.Close());
  if (!s.ok()) return s;
  return run.hash();
}

std::string DiffFromGolden(const test_server::FakeAimRepo& repo, const std::string& hash,
                           bool typed_traces) {
  const std::string typed_traces_hex = "74797065645f747261636573";  // "typed_traces"

  std::string diff;
  for (const std::string container : {"meta", "seqs"}) {
    absl::StatusOr<std::vector<test_server::NormalizedRecord>> golden =
        test_server::LoadGoldenRecords(absl::StrCat(AIMCPP_VECTORS_DIR, "/scenario_basic/stored_",
                                                    container, ".normalized.json"));
    if (!golden.ok()) return golden.status().ToString();
    if (!typed_traces) {
      std::erase_if(*golden, [&](const test_server::NormalizedRecord& r) {
        return r.key_hex.find(typed_traces_hex) != std::string::npos;
      });
    }
    std::string d = test_server::DiffRecords(
        *golden, test_server::NormalizeRecords(repo.Records(container, hash), hash));
    if (!d.empty()) absl::StrAppend(&diff, container, ": ", d, "\n");
  }
  std::optional<test_server::RunProps> props = repo.Props(hash);
  if (!props.has_value()) return absl::StrCat(diff, "no SQL row for run ", hash);
  if (props->name != "golden-run" || props->description != "scenario basic" ||
      props->experiment != "golden" || props->tags != std::vector<std::string>{"baseline"} ||
      props->archived) {
    absl::StrAppend(&diff, "SQL summary differs: name=", props->name, " experiment=",
                    props->experiment, " tags=", props->tags.size());
  }
  return diff;
}

}  // namespace aim::scenario
