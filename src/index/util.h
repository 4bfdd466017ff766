// Small helpers private to src/index: CRC-32, half-float row decoding, clocks, directory fsync.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace cir::index::detail {

/// CRC-32 (IEEE, reflected 0xEDB88320), continuing from `crc` (start with 0).
uint32_t crc32(const void* data, size_t n, uint32_t crc = 0);

/// Decodes n IEEE halves to floats (F16C when the CPU has it: the exact-scan hot loop).
void half_to_float_n(const uint16_t* in, float* out, size_t n);
/// Encodes n floats to IEEE halves (round to nearest even).
void float_to_half_n(const float* in, uint16_t* out, size_t n);

/// Inner product of two float vectors of length d.
float dot(const float* a, const float* b, size_t d);

int64_t now_unix();
/// Current UTC time as ISO-8601 "2024-05-01T12:34:56Z".
std::string now_iso8601();

/// fsyncs a directory so a rename/create inside it is durable. Throws kIo.
void fsync_dir(const std::string& dir);

/// Size of a file in bytes, or -1 when it does not exist.
int64_t file_size_or_neg(const std::string& path);

}  // namespace cir::index::detail
