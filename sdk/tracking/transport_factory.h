// Chooses and builds the transport a RunOptions asks for (SPEC 2.1 scheme selection,
// HTTP + WebSocket or gRPC).
#ifndef AIM_SDK_TRACKING_TRANSPORT_FACTORY_H_
#define AIM_SDK_TRACKING_TRANSPORT_FACTORY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "aim/auth/credentials.h"
#include "aim/run.h"
#include "rpc/transport.h"

namespace aim::tracking {

absl::StatusOr<std::unique_ptr<rpc::Transport>> MakeTransport(const RunOptions& options,
                                                              auth::CredentialsPtr credentials,
                                                              std::string client_uri);

}  // namespace aim::tracking

#endif  // AIM_SDK_TRACKING_TRANSPORT_FACTORY_H_
