# System packages only (scripts/bootstrap installs them); nothing is downloaded.
find_package(Boost 1.81 CONFIG REQUIRED COMPONENTS program_options)
find_package(OpenSSL 3 REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(Threads REQUIRED)

# RapidJSON ships only RAPIDJSON_INCLUDE_DIRS: wrap it in a target, as SYSTEM so its
# headers do not trip our warnings.
find_package(RapidJSON CONFIG REQUIRED)
add_library(pcproxy_rapidjson INTERFACE)
target_include_directories(pcproxy_rapidjson SYSTEM INTERFACE ${RAPIDJSON_INCLUDE_DIRS})
# RapidJSON's std::string overloads. (Not RAPIDJSON_SSE2: its aligned 16-byte loads
# read past the end of a std::string's allocation, which ASan rightly reports.)
target_compile_definitions(pcproxy_rapidjson INTERFACE RAPIDJSON_HAS_STDSTRING=1)
add_library(pcproxy::rapidjson ALIAS pcproxy_rapidjson)

# XXH3 for the body hash behind a page's validator (cache/validator.cpp: ~9x cheaper than
# SHA-256 per page, which a miss paid on every stored page).
find_package(PkgConfig REQUIRED)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)

# zstd for the bodies of serialised entries (cache/entry_codec.cpp): Partner Center JSON
# shrinks severalfold, which multiplies what the disk and shared tiers hold.
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
# SQLite for the persistent tier (tiers/disk_tier.cpp).
find_package(SQLite3 REQUIRED)
# hiredis for the shared tier (tiers/redis_client.cpp): its RESP reader and command
# formatting; the I/O is Asio's.
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)

# jemalloc for the pcproxy binary: a miss allocates and frees ~10 KB pages while the
# store evicts, where glibc malloc spent ~40 % more CPU per miss (bench/RESULTS.md).
# Off under sanitizers, which bring their own allocator.
option(PCPROXY_JEMALLOC "Link the pcproxy binary with jemalloc" ON)
if(PCPROXY_JEMALLOC)
  pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)
endif()
