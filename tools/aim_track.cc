// aim-track: track into an Aim run from a shell script or any language, one JSON object per
// line on stdin (or per argument). See track_lines.h for the line format.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "aim/auth/credentials.h"
#include "aim/run.h"
#include "tools/flags.h"
#include "tools/track_lines.h"

namespace {

constexpr char kDefaultRepo[] = "aim://127.0.0.1:53800";

constexpr char kHelp[] = R"(Usage: aim-track [options] [JSON ...]

Tracks into one Aim run: each JSON argument, or else each line of stdin, is one call:
  {"name":"loss","value":0.3,"step":5,"epoch":1,"context":{"subset":"train"}}
  {"params":{"hparams":{"lr":0.01,"layers":[64,32]}}}   {"set":["hparams","lr"],"value":0.02}
  {"tag":"baseline"}  {"remove_tag":"x"}  {"name":"run name"}  {"description":"..."}
  {"experiment":"..."}  {"archived":true}
3 is tracked as an int, 3.0 as a float. A step left out is the sequence's next step.
A malformed line is reported with its number and skipped (--strict: stop there); the good
lines are all tracked. The run hash is printed on stdout at the end.

Options (the SDK's RunOptions):
  --repo URL           aim://host:port[/base-path] (default: $AIM_REPO, else )" "aim://127.0.0.1:53800" R"()
  --experiment NAME    --name NAME    --description TEXT    --tag TAG (repeatable)
  --run-hash HASH      continue an existing run
  --protocol P         auto (default), http or grpc
  --ca-file PATH       PEM CAs to trust for TLS (default: $AIM_CA_FILE)
  --insecure           allow credentials over plain HTTP to a non-loopback host
  --no-credentials     send none, whatever the environment says
  --timeout SECONDS    per request and per tag change (default 30)
  --flush-timeout S    how long to wait at the end for queued points to be delivered
                       (default 600; a long input may still be in flight when stdin ends)
  --strict             stop at the first malformed line
  --quiet              no progress line
Credentials: AIM_AUTH_TOKEN[_FILE], CF_ACCESS_CLIENT_ID + CF_ACCESS_CLIENT_SECRET,
CF_ACCESS_TOKEN[_FILE], AIM_CUSTOM_HEADERS (as the SDK; see aim-doctor to diagnose).

Exit codes: 0 all tracked; 1 some lines rejected; 2 bad arguments; 3 the run could not be
created; 4 tracked points could not be delivered (the SDK's message says why).
)";

enum Exit : int { kOk = 0, kRejected = 1, kBadArguments = 2, kCreate = 3, kDelivery = 4 };

// A "\r123456 lines, 2 rejected, 50000 lines/s" line on stderr, at most 4 times a second,
// only when stderr is a terminal.
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled), start_(absl::Now()) {}
  void Update(std::uint64_t lines, std::uint64_t rejected, bool final = false) {
    if (!enabled_) return;
    const absl::Time now = absl::Now();
    if (!final && now - last_ < absl::Milliseconds(250)) return;
    last_ = now;
    const double seconds = absl::ToDoubleSeconds(now - start_);
    std::cerr << absl::StrFormat("\r%d lines, %d rejected, %.0f lines/s   ", lines, rejected,
                                 seconds > 0 ? lines / seconds : 0.0);
    if (final) std::cerr << "\n";
    shown_ = true;
  }
  bool shown() const { return shown_; }

 private:
  const bool enabled_;
  const absl::Time start_;
  absl::Time last_ = absl::InfinitePast();
  bool shown_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  using aim::tools::FlagValue;
  aim::RunOptions options;
  options.repo = aim::tools::EnvOr("AIM_REPO", kDefaultRepo);
  options.tls.ca_file = aim::tools::EnvOr("AIM_CA_FILE", "");
  bool strict = false, quiet = false;
  absl::Duration flush_timeout = absl::Seconds(600);
  std::vector<std::string> inline_lines;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kHelp;
      return kOk;
    } else if (arg == "--strict") {
      strict = true;
    } else if (arg == "--quiet") {
      quiet = true;
    } else if (arg == "--insecure") {
      options.allow_insecure_credentials = true;
    } else if (arg == "--no-credentials") {
      options.credentials = aim::auth::NoCredentials();
    } else if (auto v = FlagValue(argc, argv, &i, "--repo")) {
      options.repo = *v;
    } else if (auto v = FlagValue(argc, argv, &i, "--experiment")) {
      options.experiment = *v;
    } else if (auto v = FlagValue(argc, argv, &i, "--name")) {
      options.name = *v;
    } else if (auto v = FlagValue(argc, argv, &i, "--description")) {
      options.description = *v;
    } else if (auto v = FlagValue(argc, argv, &i, "--tag")) {
      options.tags.push_back(*v);
    } else if (auto v = FlagValue(argc, argv, &i, "--run-hash")) {
      options.resume_hash = *v;
    } else if (auto v = FlagValue(argc, argv, &i, "--ca-file")) {
      options.tls.ca_file = *v;
    } else if (auto v = FlagValue(argc, argv, &i, "--protocol")) {
      if (*v == "auto") {
        options.protocol = aim::Protocol::kAuto;
      } else if (*v == "http") {
        options.protocol = aim::Protocol::kHttp;
      } else if (*v == "grpc") {
        options.protocol = aim::Protocol::kGrpc;
      } else {
        std::cerr << "aim-track: --protocol is auto, http or grpc\n";
        return kBadArguments;
      }
    } else if (auto v = FlagValue(argc, argv, &i, "--timeout")) {
      double seconds = 0;
      if (!absl::SimpleAtod(*v, &seconds) || seconds <= 0) {
        std::cerr << "aim-track: --timeout needs a positive number of seconds\n";
        return kBadArguments;
      }
      options.request_timeout = absl::Seconds(seconds);
    } else if (auto v = FlagValue(argc, argv, &i, "--flush-timeout")) {
      double seconds = 0;
      if (!absl::SimpleAtod(*v, &seconds) || seconds <= 0) {
        std::cerr << "aim-track: --flush-timeout needs a positive number of seconds\n";
        return kBadArguments;
      }
      flush_timeout = absl::Seconds(seconds);
    } else if (!arg.empty() && arg[0] == '{') {
      inline_lines.push_back(arg);
    } else {
      std::cerr << "aim-track: unknown argument " << arg << " (see --help)\n";
      return kBadArguments;
    }
  }
  absl::StatusOr<std::unique_ptr<aim::Run>> run = aim::Run::Create(std::move(options));
  if (!run.ok()) {
    std::cerr << "aim-track: cannot create the run: " << run.status() << "\n"
              << "(aim-doctor diagnoses connection and credential problems)\n";
    return kCreate;
  }
  aim::tools::LineTracker tracker(**run);
  Progress progress(!quiet && inline_lines.empty() && isatty(STDERR_FILENO) == 1);
  std::uint64_t number = 0, rejected = 0;
  auto apply = [&](const std::string& line) {
    ++number;
    absl::Status s = tracker.Apply(line);
    if (!s.ok()) {
      ++rejected;
      if (progress.shown()) std::cerr << "\n";
      std::cerr << "aim-track: line " << number << " rejected: " << s.message() << "\n";
    }
    progress.Update(number, rejected);
    return s.ok() || !strict;
  };
  if (!inline_lines.empty()) {
    for (const std::string& line : inline_lines) {
      if (!apply(line)) break;
    }
  } else {
    std::ios::sync_with_stdio(false);
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!apply(line)) break;
    }
  }
  progress.Update(number, rejected, /*final=*/true);

  const absl::Status closed = (*run)->Close(flush_timeout);
  const aim::RunStats stats = (*run)->stats();
  std::cout << (*run)->hash() << "\n";
  if (!closed.ok()) {
    std::cerr << "aim-track: tracking failed: " << closed << " (" << stats.points_failed
              << " points not delivered)\n";
    return kDelivery;
  }
  if (rejected > 0) {
    std::cerr << "aim-track: " << rejected << " of " << number << " lines rejected"
              << (strict ? "; stopped at the first (--strict)" : "") << "\n";
    return kRejected;
  }
  return kOk;
}
