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
    $<$<CXX_COMPILER_ID:GNU>:-Wno-stringop-overflow -Wno-array-bounds -Wno-restrict -Wno-mismatched-new-delete>
    # Clang (the fuzz preset): RapidJSON 1.1's member iterators compare ambiguously
    # under C++20's reversed operators; the comparison itself is right.
    $<$<CXX_COMPILER_ID:Clang>:-Wno-ambiguous-reversed-operator>)
  if(PCPROXY_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
