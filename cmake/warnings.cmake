# pcproxy_target_defaults(<target>): the warning set and shared settings for our own
# targets. Third-party headers come in as SYSTEM includes, so they never trip these.
function(pcproxy_target_defaults target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast
    -Woverloaded-virtual -Wimplicit-fallthrough -Wformat=2
    # GCC 12 false positives at -O2/-O3 inside library code instantiated here:
    # impossible sizes and offsets for std::string concatenation (GCC bugs 105329,
    # 105651 and relatives), and Asio's coroutine-frame allocator (its operator new
    # pairs with its own free).
    -Wno-stringop-overflow -Wno-array-bounds -Wno-restrict -Wno-mismatched-new-delete)
  if(PCPROXY_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
