# aimcpp_set_warnings(<target>): the project's warning set, applied to our own targets only
# (never to consumers through INTERFACE options).
function(aimcpp_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
endfunction()
