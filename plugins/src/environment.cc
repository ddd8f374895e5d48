// FromEnvironment(): the documented variables, combined (see credentials.h for precedence).
#include <cstdlib>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "aim/auth/credentials.h"
#include "internal.h"
#include "nlohmann/json.hpp"

namespace aim::auth {
namespace {

// A variable's value, or nullopt when it is unset or empty.
std::optional<std::string> Get(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

// Rewrites a source's error so that it starts with the variable it came from. The source
// messages never contain values, so neither does the result.
absl::Status FromVariable(absl::string_view variable, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(variable, ": ", status.message()));
}

// X or X_FILE (never both) -> a source built by `from_value` or a TokenFile of `kind`.
template <typename FromValue>
absl::StatusOr<std::optional<CredentialsPtr>> ValueOrFile(const char* variable,
                                                          const char* file_variable,
                                                          TokenFileKind kind,
                                                          FromValue from_value) {
  std::optional<std::string> value = Get(variable);
  std::optional<std::string> path = Get(file_variable);
  if (value && path) {
    internal::Wipe(*value);
    return absl::InvalidArgumentError(absl::StrCat(
        variable, " and ", file_variable, " are both set; set only one of them"));
  }
  absl::StatusOr<CredentialsPtr> source;
  if (value) {
    source = from_value(std::move(*value));
    if (!source.ok()) return FromVariable(variable, source.status());
  } else if (path) {
    source = TokenFile(std::move(*path), kind);
    if (!source.ok()) return FromVariable(file_variable, source.status());
  } else {
    return std::nullopt;
  }
  return std::optional<CredentialsPtr>(*std::move(source));
}

absl::StatusOr<std::optional<CredentialsPtr>> ServiceToken() {
  std::optional<std::string> id = Get("CF_ACCESS_CLIENT_ID");
  std::optional<std::string> secret = Get("CF_ACCESS_CLIENT_SECRET");
  if (!id && !secret) return std::nullopt;
  if (!id || !secret) {
    if (id) internal::Wipe(*id);
    if (secret) internal::Wipe(*secret);
    return absl::InvalidArgumentError(
        absl::StrCat(id ? "CF_ACCESS_CLIENT_ID" : "CF_ACCESS_CLIENT_SECRET", " is set but ",
                     id ? "CF_ACCESS_CLIENT_SECRET" : "CF_ACCESS_CLIENT_ID",
                     " is not; a Cloudflare service token needs both"));
  }
  absl::StatusOr<CredentialsPtr> source =
      CloudflareServiceToken(std::move(*id), std::move(*secret));
  if (!source.ok()) {
    return FromVariable("CF_ACCESS_CLIENT_ID/CF_ACCESS_CLIENT_SECRET", source.status());
  }
  return std::optional<CredentialsPtr>(*std::move(source));
}

absl::StatusOr<std::optional<CredentialsPtr>> CustomFromJson() {
  constexpr char kVariable[] = "AIM_CUSTOM_HEADERS";
  std::optional<std::string> text = Get(kVariable);
  if (!text) return std::nullopt;
  // ordered_json: headers are sent in the order the user wrote them.
  nlohmann::ordered_json json = nlohmann::ordered_json::parse(*text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  internal::Wipe(*text);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(
        kVariable, ": not valid JSON; expected an object such as {\"X-Api-Key\": \"...\"}"));
  }
  if (!json.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kVariable, ": expected a JSON object of header names to string values"));
  }
  Headers headers;
  for (auto& [name, value] : json.items()) {
    if (!value.is_string()) {
      internal::Wipe(headers);
      // The name is echoed only if it is a valid header name (see ValidateHeaderName).
      absl::Status name_ok = internal::ValidateHeaderName(kVariable, name);
      return absl::InvalidArgumentError(absl::StrCat(
          kVariable, ": the value of ", name_ok.ok() ? absl::StrCat("'", name, "'") : "an entry",
          " is not a string"));
    }
    headers.push_back({name, value.get<std::string>()});
  }
  // nlohmann::json keeps its own copies of the values; overwrite them before it frees them.
  for (auto& [name, value] : json.items()) internal::Wipe(value.get_ref<std::string&>());
  if (headers.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(kVariable, ": the object is empty"));
  }
  absl::StatusOr<CredentialsPtr> source = CustomHeaders(std::move(headers));
  if (!source.ok()) return FromVariable(kVariable, source.status());
  return std::optional<CredentialsPtr>(*std::move(source));
}

}  // namespace

absl::StatusOr<CredentialsPtr> FromEnvironment() {
  std::vector<absl::StatusOr<std::optional<CredentialsPtr>>> candidates;
  candidates.push_back(ValueOrFile("AIM_AUTH_TOKEN", "AIM_AUTH_TOKEN_FILE",
                                   TokenFileKind::kBearerToken, BearerToken));
  candidates.push_back(ServiceToken());
  candidates.push_back(ValueOrFile("CF_ACCESS_TOKEN", "CF_ACCESS_TOKEN_FILE",
                                   TokenFileKind::kCloudflareAccessJwt, CloudflareAccessJwt));
  candidates.push_back(CustomFromJson());

  std::vector<CredentialsPtr> sources;
  for (auto& candidate : candidates) {
    if (!candidate.ok()) return candidate.status();
    if (candidate->has_value()) sources.push_back(**std::move(candidate));
  }
  if (sources.empty()) return NoCredentials();
  if (sources.size() == 1) return sources.front();
  absl::StatusOr<CredentialsPtr> composite = Composite(std::move(sources));
  if (!composite.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the authentication variables conflict: ", composite.status().message()));
  }
  return composite;
}

}  // namespace aim::auth
