// The few command-line conventions both tools share: "--name value" or "--name=value".
#ifndef AIM_TOOLS_FLAGS_H_
#define AIM_TOOLS_FLAGS_H_

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace aim::tools {

// If argv[*i] is `--name=value` or `--name value`, returns the value (advancing *i past a
// separate value). A missing value after `--name` yields an empty string.
inline std::optional<std::string> FlagValue(int argc, char** argv, int* i, std::string_view name) {
  std::string_view arg = argv[*i];
  if (arg.substr(0, name.size()) != name) return std::nullopt;
  if (arg.size() == name.size()) {
    if (*i + 1 >= argc) return std::string();
    return std::string(argv[++*i]);
  }
  if (arg[name.size()] != '=') return std::nullopt;
  return std::string(arg.substr(name.size() + 1));
}

// The environment variable's value, or `fallback` when unset or empty.
inline std::string EnvOr(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

}  // namespace aim::tools

#endif  // AIM_TOOLS_FLAGS_H_
