# Third-party dependencies, all from Debian 12 packages (see .ci/run for the package list).
find_package(Threads REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(CURL REQUIRED)
find_package(nlohmann_json 3.10 CONFIG REQUIRED)
find_package(PkgConfig REQUIRED)

# gRPC and Protobuf: Debian 12 ships a gRPC CMake package; other distributions ship only
# pkg-config files, so fall back to those.
find_package(gRPC CONFIG QUIET)
if(gRPC_FOUND)
  find_package(Protobuf REQUIRED)
  set(AIMCPP_GRPCPP gRPC::grpc++)
  set(AIMCPP_PROTOBUF protobuf::libprotobuf)
  set(AIMCPP_PROTOC $<TARGET_FILE:protobuf::protoc>)
  set(AIMCPP_GRPC_CPP_PLUGIN $<TARGET_FILE:gRPC::grpc_cpp_plugin>)
else()
  pkg_check_modules(GRPCPP REQUIRED IMPORTED_TARGET grpc++)
  pkg_check_modules(PROTOBUF REQUIRED IMPORTED_TARGET protobuf)
  find_program(AIMCPP_PROTOC protoc REQUIRED)
  find_program(AIMCPP_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
  set(AIMCPP_GRPCPP PkgConfig::GRPCPP)
  set(AIMCPP_PROTOBUF PkgConfig::PROTOBUF)
endif()

# BLAKE2b for hash_auto.
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
