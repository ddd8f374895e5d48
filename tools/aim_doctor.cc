// aim-doctor: why can this machine not track into that Aim server? Checks DNS, TCP, TLS,
// /status/, credentials, the WebSocket upgrade and the server version, and says what to fix.
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "tools/doctor.h"
#include "tools/flags.h"

namespace {

constexpr char kUsage[] = R"(Usage: aim-doctor [options] [REPO]

Checks step by step whether runs can be tracked into the Aim server at REPO
(aim://host:port[/base-path], http://... or https://...; default: $AIM_REPO) with the
credentials of this environment, and says in plain words what is wrong and how to fix it.

Options:
  --repo URL         the repository URL (instead of the positional REPO)
  --ca-file PATH     PEM file of the CAs to trust for TLS (default: $AIM_CA_FILE, else the
                     system's CAs)
  --insecure         allow credentials over plain HTTP to a non-loopback host
  --timeout SECONDS  per step (default 10)
  --help             this text

Credentials come from the environment, as in the SDK (names only are ever printed):
  AIM_AUTH_TOKEN / AIM_AUTH_TOKEN_FILE, CF_ACCESS_CLIENT_ID + CF_ACCESS_CLIENT_SECRET,
  CF_ACCESS_TOKEN / CF_ACCESS_TOKEN_FILE, AIM_CUSTOM_HEADERS.

)";

}  // namespace

int main(int argc, char** argv) {
  using aim::tools::FlagValue;
  aim::tools::DoctorOptions options;
  options.repo = aim::tools::EnvOr("AIM_REPO", "");
  options.ca_file = aim::tools::EnvOr("AIM_CA_FILE", "");
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage << aim::tools::DoctorExitCodesHelp();
      return 0;
    } else if (arg == "--insecure") {
      options.insecure = true;
    } else if (auto v = FlagValue(argc, argv, &i, "--repo")) {
      options.repo = *v;
    } else if (auto v = FlagValue(argc, argv, &i, "--ca-file")) {
      options.ca_file = *v;
    } else if (auto v = FlagValue(argc, argv, &i, "--timeout")) {
      double seconds = 0;
      if (!absl::SimpleAtod(*v, &seconds) || seconds <= 0) {
        std::cerr << "aim-doctor: --timeout needs a positive number of seconds\n";
        return aim::tools::kExitUsage;
      }
      options.timeout = absl::Seconds(seconds);
    } else if (!arg.empty() && arg[0] != '-') {
      options.repo = arg;
    } else {
      std::cerr << "aim-doctor: unknown option " << arg << " (see --help)\n";
      return aim::tools::kExitUsage;
    }
  }
  if (options.repo.empty()) {
    std::cerr << "aim-doctor: no repository URL: pass one or set AIM_REPO (see --help)\n";
    return aim::tools::kExitUsage;
  }
  return aim::tools::RunDoctor(options, std::cout);
}
