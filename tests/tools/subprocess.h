// Test support for the tools and examples: run a built program as a child process with a
// controlled environment, stdin from a string, and its exit code, stdout and stderr captured.
#ifndef AIM_TESTS_TOOLS_SUBPROCESS_H_
#define AIM_TESTS_TOOLS_SUBPROCESS_H_

#include <map>
#include <string>
#include <vector>

namespace aim::tools_test {

struct ProcessResult {
  int exit_code = -1;  // -1: could not start, or killed by a signal
  std::string out, err;
};

// Runs `argv` (argv[0] a path) to completion. The child's environment is this process's
// minus every variable the SDK or the tools read (AIM_*, CF_ACCESS_*), plus `env`.
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {},
                         const std::string& stdin_data = "");

}  // namespace aim::tools_test

#endif  // AIM_TESTS_TOOLS_SUBPROCESS_H_
