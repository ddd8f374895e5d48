// Aim's identifiers are uuid4s: client URIs (36 characters with hyphens) and, cut to 24 hex
// digits, run hashes. Random bytes from OpenSSL, which the transports link anyway.
#ifndef AIM_SDK_RPC_UUID_H_
#define AIM_SDK_RPC_UUID_H_

#include <string>

#include "absl/status/statusor.h"

namespace aim::rpc {

// "xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx", lowercase.
absl::StatusOr<std::string> NewUuid4();

}  // namespace aim::rpc

#endif  // AIM_SDK_RPC_UUID_H_
