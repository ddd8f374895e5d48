// A training loop that tracks into Aim: hyperparameters, several metrics in train and
// validation contexts, epochs, tags. The repository comes from AIM_REPO and the credentials
// from the environment (AIM_AUTH_TOKEN, CF_ACCESS_CLIENT_ID + CF_ACCESS_CLIENT_SECRET, ...),
// which is what RunOptions does when `credentials` is left unset.
//
//   ./aim-test-server &                       # or a real `aim server` (>= 3.19)
//   AIM_REPO=aim://127.0.0.1:53800 ./train_loop
//   ./train_loop --epochs 50 --steps 2000     # a longer run
//
// Exits non-zero with the SDK's message if anything could not be tracked.
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>

#include "aim/run.h"

namespace {

struct Flags {
  std::string repo = "aim://127.0.0.1:53800";
  int epochs = 3;
  int steps = 200;  // per epoch
};

bool ParseFlags(int argc, char** argv, Flags* flags) {
  if (const char* repo = std::getenv("AIM_REPO"); repo != nullptr && *repo != '\0') {
    flags->repo = repo;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i], value = argv[i + 1];
    if (name == "--repo") {
      flags->repo = value;
    } else if (name == "--epochs") {
      flags->epochs = std::atoi(value.c_str());
    } else if (name == "--steps") {
      flags->steps = std::atoi(value.c_str());
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && flags->epochs > 0 && flags->steps > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    std::cerr << "usage: train_loop [--repo aim://host:port] [--epochs N] [--steps N]\n";
    return 2;
  }

  auto run = aim::Run::Create({.repo = flags.repo,
                               .experiment = "train_loop_example",
                               .description = "examples/train_loop.cc",
                               .tags = {"example"}});
  if (!run.ok()) {
    std::cerr << "cannot start the run: " << run.status() << "\n";
    return 1;
  }
  aim::Run& r = **run;

  const double lr = 0.001;
  const int batch_size = 64;
  absl::Status s = r.Set("hparams", {{"lr", lr},
                                     {"batch_size", batch_size},
                                     {"optimizer", "adam"},
                                     {"layers", {128, 64, 10}}});
  if (s.ok()) s = r.Set(aim::Path{"dataset", "name"}, "synthetic");

  // Contexts are hashed once, here, and reused for every point.
  const aim::Context train({{"subset", "train"}});
  const aim::Context val({{"subset", "val"}});
  std::mt19937 rng(42);
  std::normal_distribution<double> noise(0.0, 0.02);

  std::int64_t global_step = 0;
  for (int epoch = 0; epoch < flags.epochs && s.ok(); ++epoch) {
    for (int step = 0; step < flags.steps && s.ok(); ++step, ++global_step) {
      const double progress = static_cast<double>(global_step) / (flags.epochs * flags.steps);
      const double loss = 2.3 * std::exp(-3.0 * progress) + noise(rng);
      s = r.Track(loss, "loss", {.step = global_step, .epoch = epoch, .context = train});
      if (s.ok()) {
        // An int metric stays an int in Aim.
        s = r.Track(global_step * batch_size, "samples_seen",
                    {.step = global_step, .epoch = epoch, .context = train});
      }
      if (s.ok()) s = r.Track(lr * (1.0 - 0.5 * progress), "lr", {.step = global_step});
    }
    // Validation once per epoch.
    const double val_loss = 2.4 * std::exp(-2.8 * (epoch + 1.0) / flags.epochs) + noise(rng);
    if (s.ok()) s = r.Track(val_loss, "loss", {.step = epoch, .epoch = epoch, .context = val});
    if (s.ok()) {
      s = r.Track(1.0 - val_loss / 2.5, "accuracy", {.step = epoch, .epoch = epoch, .context = val});
    }
    if (s.ok()) s = r.Flush();  // surface delivery problems once per epoch, not at the end
    if (s.ok()) std::cout << "epoch " << epoch << ": val loss " << val_loss << "\n";
  }
  if (s.ok()) s = r.AddTag("finished");
  const absl::Status closed = r.Close();
  if (s.ok()) s = closed;
  if (!s.ok()) {
    std::cerr << "tracking failed: " << s << "\n";
    return 1;
  }
  const aim::RunStats stats = r.stats();
  std::cout << "run " << r.hash() << ": " << stats.points_sent << " points tracked into "
            << flags.repo << "\n";
  return 0;
}
