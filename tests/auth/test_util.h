// Helpers shared by the auth tests.
#ifndef AIMCPP_TESTS_AUTH_TEST_UTIL_H_
#define AIMCPP_TESTS_AUTH_TEST_UTIL_H_

#include <gmock/gmock.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace aim::auth::testing {

// Sets or unsets variables for one scope and restores every variable it touched after.
class ScopedEnv {
 public:
  ScopedEnv() = default;
  // Starts from an environment where none of the variables FromEnvironment reads is set.
  static ScopedEnv Clean() {
    ScopedEnv env;
    for (const char* name : {"AIM_AUTH_TOKEN", "AIM_AUTH_TOKEN_FILE", "CF_ACCESS_CLIENT_ID",
                             "CF_ACCESS_CLIENT_SECRET", "CF_ACCESS_TOKEN",
                             "CF_ACCESS_TOKEN_FILE", "AIM_CUSTOM_HEADERS"}) {
      env.Unset(name);
    }
    return env;
  }
  ScopedEnv(ScopedEnv&&) = default;
  ScopedEnv(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }
  ScopedEnv& Set(const std::string& name, const std::string& value) {
    Save(name);
    ::setenv(name.c_str(), value.c_str(), 1);
    return *this;
  }
  ScopedEnv& Unset(const std::string& name) {
    Save(name);
    ::unsetenv(name.c_str());
    return *this;
  }

 private:
  void Save(const std::string& name) {
    if (saved_.count(name) != 0) return;
    const char* value = std::getenv(name.c_str());
    saved_[name] = value ? std::optional<std::string>(value) : std::nullopt;
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

// An unsigned JWT whose payload is `payload_json`.
inline std::string MakeJwt(const std::string& payload_json) {
  return absl::StrCat(absl::WebSafeBase64Escape(R"({"alg":"none","typ":"JWT"})"), ".",
                      absl::WebSafeBase64Escape(payload_json), ".c2lnbmF0dXJl");
}

MATCHER_P(StatusIs, code, "") {
  const absl::Status& status = [&]() -> absl::Status {
    if constexpr (std::is_same_v<std::decay_t<arg_type>, absl::Status>) {
      return arg;
    } else {
      return arg.status();
    }
  }();
  *result_listener << "status is " << status;
  return status.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher, "") {
  const absl::Status& status = [&]() -> absl::Status {
    if constexpr (std::is_same_v<std::decay_t<arg_type>, absl::Status>) {
      return arg;
    } else {
      return arg.status();
    }
  }();
  *result_listener << "status is " << status;
  return status.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(status.message()),
                                       result_listener);
}

}  // namespace aim::auth::testing

#endif  // AIMCPP_TESTS_AUTH_TEST_UTIL_H_
