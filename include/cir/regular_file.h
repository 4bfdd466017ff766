// cir core (L0), file opening: RegularFile, the one way cir opens a named path to read it.
//
// Part of the core module (src/core/files.cpp), in its own header so that only the readers
// that open files by hand (memory maps, streamed reads) include it; read_file_bytes,
// read_file_text and sha256_file in cir/core.h go through it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cir/core.h"

namespace cir {

/// An open regular file, read-only: the one way cir opens a named path to read it (whole-file
/// reads, hashing, memory maps of weights and vectors). The open uses O_NONBLOCK, so a FIFO or a
/// device given where a file is expected fails at once instead of blocking forever, and anything
/// but a regular file (after following symlinks) is refused. Move-only; closes on destruction.
class RegularFile {
 public:
  /// Opens `path`. `what` names the file's role in messages ("safetensors file", "image"...).
  /// Throws kNotFound (absent, dangling symlink), kInvalidArgument (a directory, FIFO, socket or
  /// device; a symlink loop; an over-long path), kIo (the OS refused), each naming the path.
  explicit RegularFile(const std::string& path, std::string_view what = "file");
  ~RegularFile();
  RegularFile(RegularFile&& other) noexcept;
  RegularFile& operator=(RegularFile&& other) noexcept;
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;

  int fd() const { return fd_; }                 ///< POSIX descriptor, O_CLOEXEC, blocking reads
  int64_t size() const { return size_; }         ///< bytes at open time
  const std::string& path() const { return path_; }
  /// Reads the rest of the file from the current position. Throws kIo naming the path.
  std::vector<uint8_t> read_all();
  /// Reads up to n bytes at the current position (fewer only at the end). Throws kIo.
  size_t read_some(void* out, size_t n);

 private:
  int fd_ = -1;
  int64_t size_ = 0;
  std::string path_;
};

/// "regular file", "directory", "FIFO", "socket", "character device", "block device",
/// "symbolic link" or "special file" for a st_mode value (messages about what a path is).
std::string_view file_type_name(unsigned mode);

}  // namespace cir
