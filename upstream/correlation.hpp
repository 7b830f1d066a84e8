#pragma once
// Correlation headers (DESIGN.md §9, partner-center.md "Correlation vector"):
// MS-CorrelationId and MS-RequestId (UUIDs, passed through or generated) and the
// MS-CV correlation vector with its Seed, Extend and Increment operators (cV 2.1).
// Thread-safety: free functions over values; random_id_source is per caller.
#include <functional>
#include <string>
#include <string_view>

namespace pcproxy::upstream {

/// The ids of one client request as they travel upstream.
struct correlation {
  std::string correlation_id;  // constant across attempts
  std::string request_id;      // reused after a timeout/connection failure, new otherwise
  std::string vector;          // MS-CV, incremented before every attempt
};

/// Makes random bytes; injected so tests get predictable ids.
using random_source = std::function<void(unsigned char* out, std::size_t n)>;

/// The process's CSPRNG (OpenSSL RAND_bytes), for anything that must be unguessable.
random_source system_random();

/// Fast random bytes for correlation ids, which must be unique, not secret: a
/// per-thread xoshiro256** generator seeded once from the CSPRNG. About 100 x cheaper
/// than RAND_bytes per call (no locks, no fork check).
random_source id_random();

/// A random UUID v4 in canonical lower-case form.
std::string new_uuid(const random_source& random);

/// True when `value` is a UUID in 8-4-4-4-12 hex form.
bool is_uuid(std::string_view value);

/// True for a well-formed vector: a 16-char (v1) or 22-char (v2) base64 base, one or
/// more '.'-separated uint32 elements, an optional terminating '!', within the
/// version's length limit.
bool is_valid_vector(std::string_view cv);

/// Seed: a new v1 vector "<16 base64 chars>.0".
std::string seed_vector(const random_source& random);

/// Extend: V -> V.0, once on the incoming request. A terminated vector is returned as
/// is; a result over the length limit terminates the vector instead (V -> V!).
std::string extend_vector(std::string_view cv);

/// Increment: V.n -> V.n+1, before every outgoing attempt. Terminated vectors are
/// returned as is; a result over the length limit (or an overflowing element)
/// terminates the vector.
std::string increment_vector(std::string_view cv);

/// Correlation for an incoming request: its ids when valid, generated ones otherwise;
/// its vector extended, or a seeded one.
correlation correlation_for_request(std::string_view correlation_id, std::string_view request_id,
                                    std::string_view cv, const random_source& random);

}  // namespace pcproxy::upstream
