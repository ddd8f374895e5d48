#include "rpc/transport.h"

#include "absl/types/optional.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "wire/string_view_compat.h"

namespace aim::rpc {
namespace {

// The payload under which ServerError() keeps the exception's class name.
constexpr absl::string_view kServerExceptionPayload = "type.aim-cpp.dev/aim.rpc.ServerException";

}  // namespace

absl::Status ServerError(const ServerException& e) {
  absl::Status status(absl::StatusCode::kFailedPrecondition,
                      absl::StrCat("aim server raised ", e.module_name, ".", e.class_name, ": ",
                                   e.message));
  status.SetPayload(kServerExceptionPayload, absl::Cord(e.class_name));
  return status;
}

bool IsServerException(const absl::Status& status, std::string_view class_name) {
  if (status.code() != absl::StatusCode::kFailedPrecondition) return false;
  absl::optional<absl::Cord> payload = status.GetPayload(kServerExceptionPayload);
  return payload.has_value() && *payload == ::aim::internal::Av(class_name);
}

}  // namespace aim::rpc
