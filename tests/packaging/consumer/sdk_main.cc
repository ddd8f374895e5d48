// Links AimCpp::sdk: values, contexts, and a Run against a port nobody listens on (the
// failure must be a clean status, which proves the transport is linked in).
#include <cstdio>

#include "aim/run.h"

int main() {
  aim::Value hparams = {{"lr", 0.001}, {"layers", {64, 32}}};
  aim::Context train({{"subset", "train"}});
  if (!train.status().ok()) return 1;
  aim::RunOptions options;
  options.repo = "aim://127.0.0.1:1";
  options.credentials = aim::auth::NoCredentials();
  options.request_timeout = absl::Seconds(5);
  auto run = aim::Run::Create(options);
  if (run.ok()) return 2;
  std::printf("%s; Run::Create without a server: %s\n", hparams.DebugString().c_str(),
              run.status().ToString().c_str());
  return 0;
}
