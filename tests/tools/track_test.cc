// aim-track end to end: JSON lines in, records in the stand-in server out - the same records
// the same calls through aim::Run store; malformed lines reported by number and skipped.
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "aim/run.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/server/http_test_server.h"
#include "tests/support/server/stored_records.h"
#include "tests/tools/subprocess.h"

namespace aim::tools_test {
namespace {

using ::aim::test_server::HttpTestServer;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kPoints = 100000;
constexpr int kBadEvery = 9973;  // a malformed line after every kBadEvery-th point

std::unique_ptr<HttpTestServer> StartServer() {
  auto server = HttpTestServer::Start();
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

ProcessResult Track(const HttpTestServer& server, const std::string& input,
                    std::vector<std::string> extra_args = {}) {
  std::vector<std::string> argv = {AIM_TRACK, "--repo", server.aim_url(), "--experiment", "cli"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  return RunProcess(argv, {}, input);
}

std::string HashFrom(const ProcessResult& r) {
  return std::string(absl::StripAsciiWhitespace(r.out));
}

// Normalised meta and seqs records of one run.
std::string Records(const HttpTestServer& server, const std::string& hash) {
  std::string all;
  for (const char* container : {"meta", "seqs"}) {
    for (const auto& rec : test_server::NormalizeRecords(server.repo().Records(container, hash),
                                                         hash)) {
      absl::StrAppend(&all, container, " ", rec.key_hex, " = ", rec.value_hex, "\n");
    }
  }
  return all;
}

// The input of the 100k test and the same calls through the C++ API, built side by side.
struct Workload {
  std::string lines;
  std::vector<int> bad_line_numbers;
};

Workload MakeWorkload(Run* run) {
  Workload w;
  int line = 0;
  auto add = [&](const std::string& text) {
    w.lines += text + "\n";
    ++line;
  };
  add(R"({"params":{"hparams":{"lr":0.001,"layers":[64,32],"opt":{"name":"adam","beta":0.9}},"seed":7}})");
  add(R"({"set":["hparams","lr"],"value":0.002})");
  add(R"({"description":"from aim-track"})");
  if (run != nullptr) {
    EXPECT_TRUE(run->Set("hparams", {{"lr", 0.001},
                                     {"layers", {64, 32}},
                                     {"opt", {{"name", "adam"}, {"beta", 0.9}}}}).ok());
    EXPECT_TRUE(run->Set("seed", 7).ok());
    EXPECT_TRUE(run->Set(Path{"hparams", "lr"}, 0.002).ok());
    EXPECT_TRUE(run->SetDescription("from aim-track").ok());
  }
  const Context train({{"subset", "train"}});
  const Context val({{"subset", "val"}, {"fold", 1}});
  for (int i = 0; i < kPoints; ++i) {
    const int step = i / 4;
    switch (i % 4) {
      case 0:  // float, explicit step and epoch, context
        add(absl::StrFormat(R"({"name":"loss","value":%d.25,"step":%d,"epoch":%d,"context":{"subset":"train"}})",
                            i % 1000, step, step / 100));
        if (run) {
          EXPECT_TRUE(run->Track(i % 1000 + 0.25, "loss", {.step = step, .epoch = step / 100, .context = train}).ok());
        }
        break;
      case 1:  // int, implicit step
        add(absl::StrFormat(R"({"name":"samples","value":%d})", i));
        if (run) {
          EXPECT_TRUE(run->Track(i, "samples").ok());
        }
        break;
      case 2:  // 3.0 stays a float
        add(absl::StrFormat(R"({"value":%d.0,"name":"acc","context":{"subset":"val","fold":1},"step":%d})",
                            i % 7, step));
        if (run) {
          EXPECT_TRUE(run->Track(static_cast<double>(i % 7), "acc", {.step = step, .context = val}).ok());
        }
        break;
      case 3:  // a negative int in the train context
        add(absl::StrFormat(R"({"name":"delta","value":%d,"step":%d,"context":{"subset":"train"}})",
                            -i, step));
        if (run) {
          EXPECT_TRUE(run->Track(-i, "delta", {.step = step, .context = train}).ok());
        }
        break;
    }
    if (i % kBadEvery == kBadEvery - 1) {
      // Malformed in different ways; none may reach the server, none may stop the rest.
      static const char* kBad[] = {R"({"name":"loss","value":"high"})", R"({"name":"loss",)",
                                   R"({"name":"x","value":1,"stpe":3})", R"([1,2,3])",
                                   R"({"tag":5})"};
      add(kBad[w.bad_line_numbers.size() % 5]);
      w.bad_line_numbers.push_back(line);
    }
  }
  add(R"({"tag":"cli"})");
  add(R"({"name":"piped run"})");
  if (run) {
    EXPECT_TRUE(run->AddTag("cli").ok());
    EXPECT_TRUE(run->SetName("piped run").ok());
  }
  return w;
}

TEST(AimTrackTest, HundredThousandLinesStoreWhatTheCppApiStores) {
  auto cli_server = StartServer();
  auto api_server = StartServer();
  ASSERT_TRUE(cli_server && api_server);

  // aim-track and the API run go at the same time: each takes minutes under sanitizers.
  const Workload w = MakeWorkload(nullptr);
  std::future<ProcessResult> cli = std::async(std::launch::async, [&] {
    return Track(*cli_server, w.lines, {"--timeout", "600"});
  });

  RunOptions options;
  options.repo = api_server->aim_url();
  options.experiment = "cli";
  // Generous: under sanitizers on a loaded 2-core machine the test server takes minutes.
  options.request_timeout = absl::Minutes(10);
  auto run = Run::Create(options);
  ASSERT_TRUE(run.ok()) << run.status();
  MakeWorkload(run->get());
  ASSERT_TRUE((*run)->Close(absl::Minutes(10)).ok());
  const std::string api_hash = (*run)->hash();

  ProcessResult r = cli.get();
  EXPECT_EQ(r.exit_code, 1) << r.err;  // lines were rejected
  const std::string cli_hash = HashFrom(r);
  ASSERT_EQ(cli_hash.size(), 24u) << r.out << r.err;
  ASSERT_EQ(w.bad_line_numbers.size(), static_cast<std::size_t>(kPoints / kBadEvery));
  for (int n : w.bad_line_numbers) {
    EXPECT_THAT(r.err, HasSubstr(absl::StrCat("line ", n, " rejected: "))) << n;
  }
  EXPECT_THAT(r.err, HasSubstr("\"value\" must be a number"));
  EXPECT_THAT(r.err, HasSubstr("not valid JSON"));
  EXPECT_THAT(r.err, HasSubstr("unknown key \"stpe\""));
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat(w.bad_line_numbers.size(), " of ")));
  EXPECT_THAT(r.err, Not(HasSubstr("\r")));  // no progress line when stderr is not a terminal

  const std::string cli_records = Records(*cli_server, cli_hash);
  const std::string api_records = Records(*api_server, api_hash);
  EXPECT_GT(cli_records.size(), 1000u);
  EXPECT_TRUE(cli_records == api_records) << "aim-track and aim::Run stored different records";
  auto cli_props = cli_server->repo().Props(cli_hash);
  auto api_props = api_server->repo().Props(api_hash);
  ASSERT_TRUE(cli_props && api_props);
  EXPECT_EQ(cli_props->name, "piped run");
  EXPECT_EQ(cli_props->experiment, api_props->experiment);
  EXPECT_EQ(cli_props->tags, api_props->tags);
  EXPECT_EQ(cli_props->description, api_props->description);
}

TEST(AimTrackTest, StrictStopsAtTheFirstMalformedLineKeepingTheGoodOnes) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ProcessResult r = Track(*server,
                          "{\"name\":\"m\",\"value\":1}\n{\"name\":\"m\",\"value\":2}\nnope\n"
                          "{\"name\":\"m\",\"value\":3}\n{bad\n",
                          {"--strict"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("line 3 rejected: not valid JSON"));
  EXPECT_THAT(r.err, Not(HasSubstr("line 5")));
  EXPECT_THAT(r.err, HasSubstr("stopped at the first (--strict)"));
  const std::string hash = HashFrom(r);
  auto props = server->repo().Props(hash);
  ASSERT_TRUE(props.has_value()) << r.out;
  // Two points of "m" were delivered (and the third was never read).
  const std::string records = Records(*server, hash);
  EXPECT_FALSE(records.empty());
}

TEST(AimTrackTest, OneOffArgumentsAndRunOptions) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ProcessResult r = RunProcess(
      {AIM_TRACK, "--name", "one-off", "--tag", "a", "--tag", "b",
       R"({"name":"loss","value":0.5,"step":1})", R"({"params":{"lr":0.1}})"},
      {{"AIM_REPO", server->aim_url()}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto props = server->repo().Props(HashFrom(r));
  ASSERT_TRUE(props.has_value()) << r.out << r.err;
  EXPECT_EQ(props->name, "one-off");
  EXPECT_THAT(props->tags, ::testing::ElementsAre("a", "b"));

  // Resume the same run by hash and add to it.
  ProcessResult again = RunProcess(
      {AIM_TRACK, "--repo", server->aim_url(), "--run-hash", HashFrom(r), R"({"tag":"c"})"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(HashFrom(again), HashFrom(r));
  EXPECT_THAT(server->repo().Props(HashFrom(r))->tags, ::testing::ElementsAre("a", "b", "c"));
}

TEST(AimTrackTest, ServerDownIsARunCreationFailure) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  server->StopAccepting();
  ProcessResult r = Track(*server, "{\"name\":\"m\",\"value\":1}\n", {"--timeout", "5"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("cannot create the run"));
  EXPECT_THAT(r.err, HasSubstr("aim-doctor"));
}

}  // namespace
}  // namespace aim::tools_test
