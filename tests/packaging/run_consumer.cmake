# cmake -DMODE=find_package|add_subdirectory|fetchcontent ... -P run_consumer.cmake
# Configures, builds and runs tests/packaging/consumer in WORK_DIR (see CMakeLists.txt).
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    string(JOIN " " cmd ${ARGN})
    message(FATAL_ERROR "FAILED (${rc}): ${cmd}\n${out}")
  endif()
  message(STATUS "ok: ${ARGV0} ${ARGV1} ${ARGV2}")
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(configure ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_BUILD_TYPE=Debug
    "-DCMAKE_CXX_FLAGS=${FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${FLAGS}"
    -DAIMCPP_CONSUMER_MODE=${MODE} -DAIMCPP_SOURCE_DIR=${AIMCPP_SOURCE_DIR})

if(MODE STREQUAL "find_package")
  set(prefix ${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --install ${AIMCPP_BINARY_DIR} --prefix ${prefix})
  run(${configure} -DCMAKE_PREFIX_PATH=${prefix})
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build -j 2)
  run(${WORK_DIR}/build/sdk_consumer)
  run(${WORK_DIR}/build/auth_consumer)

  # The same program through pkg-config, as a Makefile user would build it.
  file(GLOB_RECURSE pc ${prefix}/*/aimcpp.pc)
  if(NOT pc)
    message(FATAL_ERROR "aimcpp.pc not installed under ${prefix}")
  endif()
  get_filename_component(pc_dir ${pc} DIRECTORY)
  set(ENV{PKG_CONFIG_PATH} ${pc_dir})
  execute_process(COMMAND pkg-config --cflags --libs aimcpp
    RESULT_VARIABLE rc OUTPUT_VARIABLE pc_flags ERROR_VARIABLE err
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config aimcpp failed: ${err}")
  endif()
  separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
  separate_arguments(extra UNIX_COMMAND "${FLAGS}")
  run(${CXX_COMPILER} -std=c++20 ${extra} ${CONSUMER_SOURCE_DIR}/sdk_main.cc
      -o ${WORK_DIR}/pkgconfig_consumer ${pc_flags})
  run(${WORK_DIR}/pkgconfig_consumer)
else()
  run(${configure})
  # Only the consumer and what it links, not every library of the project.
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build -j 2 --target auth_consumer)
  run(${WORK_DIR}/build/auth_consumer)
endif()
file(REMOVE_RECURSE ${WORK_DIR})
