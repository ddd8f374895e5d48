#include <algorithm>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "internal.h"
#include "nlohmann/json.hpp"

namespace aim::auth::internal {
namespace {

bool IsTchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

// A header name is not secret, but one taken from user input could be anything (a value
// pasted into the wrong place): quote it only when it is a valid token.
std::string QuotedNameOrPlaceholder(absl::string_view name) {
  if (!name.empty() && std::all_of(name.begin(), name.end(), IsTchar)) {
    return absl::StrCat("'", name, "'");
  }
  return "(invalid name)";
}

}  // namespace

absl::Status ValidateHeaderName(absl::string_view source, absl::string_view name) {
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": empty header name"));
  }
  if (!std::all_of(name.begin(), name.end(), IsTchar)) {
    // Do not echo the name: a name with spaces or colons is often a whole "Name: secret"
    // line pasted by mistake.
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": a header name is not an RFC 7230 token (letters, digits and !#$%&'*+-.^_`|~ "
                "only; no spaces, colons or control characters)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateHeaderValue(absl::string_view source, absl::string_view name,
                                 absl::string_view value) {
  if (value.find_first_of(absl::string_view("\r\n\0", 3)) != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": the value of header ", QuotedNameOrPlaceholder(name),
                     " contains CR, LF or NUL, which could inject headers; rejected"));
  }
  return absl::OkStatus();
}

absl::Status ValidateHeaders(absl::string_view source, const Headers& headers) {
  for (const Header& h : headers) {
    if (absl::Status s = ValidateHeaderName(source, h.name); !s.ok()) return s;
    if (absl::Status s = ValidateHeaderValue(source, h.name, h.value); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string DescribeHeaders(absl::string_view kind, const Headers& headers) {
  return absl::StrCat(kind, "{",
                      absl::StrJoin(headers, ",",
                                    [](std::string* out, const Header& h) { out->append(h.name); }),
                      "}");
}

void Wipe(std::string& secret) {
  // A volatile pointer keeps the compiler from eliding stores to memory about to be freed.
  volatile char* p = secret.data();
  for (std::size_t i = 0; i < secret.size(); ++i) p[i] = '\0';
  secret.clear();
}

void Wipe(Headers& headers) {
  for (Header& h : headers) Wipe(h.value);
}

absl::StatusOr<absl::Time> JwtExpiry(absl::string_view source, absl::string_view jwt) {
  std::vector<absl::string_view> parts = absl::StrSplit(jwt, '.');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a JWT (expected three base64url parts separated by '.')"));
  }
  std::string payload;
  if (!absl::WebSafeBase64Unescape(parts[1], &payload)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": the JWT payload is not valid base64url"));
  }
  nlohmann::json claims = nlohmann::json::parse(payload, /*cb=*/nullptr,
                                                /*allow_exceptions=*/false);
  Wipe(payload);
  if (claims.is_discarded() || !claims.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": the JWT payload is not a JSON object"));
  }
  auto exp = claims.find("exp");
  if (exp == claims.end()) return absl::InfiniteFuture();
  if (!exp->is_number()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": the JWT 'exp' claim is not a number"));
  }
  return absl::FromUnixSeconds(exp->get<int64_t>());
}

absl::Status CheckNotExpired(absl::string_view source, absl::Time exp, absl::Time now) {
  if (now < exp) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      source, ": the Cloudflare Access JWT expired at ",
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", exp, absl::UTCTimeZone()), " (",
      absl::FormatDuration(absl::Trunc(now - exp, absl::Seconds(1))),
      " ago); get a new one, e.g. with `cloudflared access login <url>`"));
}

}  // namespace aim::auth::internal
