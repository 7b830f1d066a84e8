# pcproxy_target_defaults(<target>): the warning set and shared settings for our own
# targets. Third-party headers come in as SYSTEM includes, so they never trip these.
function(pcproxy_target_defaults target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast
    -Woverloaded-virtual -Wimplicit-fallthrough -Wformat=2)
  if(PCPROXY_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
