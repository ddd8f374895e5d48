// Internals shared by the credential sources and the adapters. Not installed.
#ifndef AIM_AUTH_SRC_INTERNAL_H_
#define AIM_AUTH_SRC_INTERNAL_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "aim/auth/credentials.h"

namespace aim::auth::internal {

// RFC 7230 `token`: one or more tchar. `source` names the caller in the error message.
absl::Status ValidateHeaderName(absl::string_view source, absl::string_view name);

// A value must not contain CR, LF or NUL: each would let a value smuggle a second header
// (or truncate one). We reject rather than strip, because a stripped secret is a wrong
// secret that fails later with a less helpful message. The error names the header only.
absl::Status ValidateHeaderValue(absl::string_view source, absl::string_view name,
                                 absl::string_view value);

absl::Status ValidateHeaders(absl::string_view source, const Headers& headers);

// "Kind{Name1,Name2}": the DebugString format of every source.
std::string DescribeHeaders(absl::string_view kind, const Headers& headers);

// Overwrites the characters of `secret` before it is freed, so a token does not linger in
// freed heap memory (core dumps, allocator reuse).
void Wipe(std::string& secret);
void Wipe(Headers& headers);

// Parses the payload of a JWT and returns its `exp` claim, or absl::InfiniteFuture() when
// there is none. Errors never include the token.
absl::StatusOr<absl::Time> JwtExpiry(absl::string_view source, absl::string_view jwt);

// kFailedPrecondition if `exp` has passed, with a message that says when.
absl::Status CheckNotExpired(absl::string_view source, absl::Time exp, absl::Time now);

}  // namespace aim::auth::internal

#endif  // AIM_AUTH_SRC_INTERNAL_H_
