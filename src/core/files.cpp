#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <memory>
#include <utility>

#include "cir/core.h"
#include "cir/regular_file.h"

namespace cir {
namespace {

ErrorCode code_for_errno(int err) {
  switch (err) {
    case ENOENT: return ErrorCode::kNotFound;
    case ELOOP:         // a symlink loop
    case ENAMETOOLONG:  // a path past PATH_MAX or a component past NAME_MAX
    case ENOTDIR: return ErrorCode::kInvalidArgument;
    case ENOSPC:
    case EDQUOT: return ErrorCode::kResourceExhausted;
    default: return ErrorCode::kIo;
  }
}

[[noreturn]] void throw_io(const std::string& what, const std::string& path) {
  const int err = errno;
  throw Error(code_for_errno(err), what + " '" + path + "': " + std::strerror(err));
}

[[noreturn]] void throw_not_regular(std::string_view what, const std::string& path, mode_t mode) {
  throw Error(ErrorCode::kInvalidArgument, std::string(what) + " '" + path + "' is a " +
                                               std::string(file_type_name(mode)) + ", expected a regular file");
}

std::string to_hex(const unsigned char* digest, unsigned int len) {
  static const char* kHex = "0123456789abcdef";
  std::string out(len * 2, '0');
  for (unsigned int i = 0; i < len; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 15];
  }
  return out;
}

struct DigestContext {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
  DigestContext() { EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr); }
  void update(const void* data, size_t n) { EVP_DigestUpdate(ctx.get(), data, n); }
  std::string finish() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), digest, &len);
    return to_hex(digest, len);
  }
};

}  // namespace

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string_view file_type_name(unsigned mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return "regular file";
    case S_IFDIR: return "directory";
    case S_IFIFO: return "FIFO";
    case S_IFSOCK: return "socket";
    case S_IFCHR: return "character device";
    case S_IFBLK: return "block device";
    case S_IFLNK: return "symbolic link";
    default: return "special file";
  }
}

RegularFile::RegularFile(const std::string& path, std::string_view what) : path_(path) {
  const std::string role(what);
  // stat first so a device is refused without being opened at all (opening some has effects);
  // the fstat after the open is the authoritative check (the path may change in between).
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw_io("cannot open " + role, path);
  if (!S_ISREG(st.st_mode)) throw_not_regular(what, path, st.st_mode);
  // O_NONBLOCK: had the path been swapped for a FIFO, open() would otherwise wait for a writer.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd_ < 0) throw_io("cannot open " + role, path);
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    errno = err;
    throw_io("cannot stat " + role, path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    throw_not_regular(what, path, st.st_mode);
  }
  // Regular files ignore O_NONBLOCK; clearing it keeps later reads plainly blocking anyway.
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
  size_ = static_cast<int64_t>(st.st_size);
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) ::close(fd_);
}

RegularFile::RegularFile(RegularFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), size_(other.size_), path_(std::move(other.path_)) {}

RegularFile& RegularFile::operator=(RegularFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
    path_ = std::move(other.path_);
  }
  return *this;
}

size_t RegularFile::read_some(void* out, size_t n) {
  auto* p = static_cast<uint8_t*>(out);
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::read(fd_, p + done, n - done);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw_io("cannot read", path_);
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

std::vector<uint8_t> RegularFile::read_all() {
  std::vector<uint8_t> bytes(static_cast<size_t>(std::max<int64_t>(size_, 0)));
  bytes.resize(read_some(bytes.data(), bytes.size()));
  return bytes;
}

std::vector<uint8_t> read_file_bytes(const std::string& path) { return RegularFile(path).read_all(); }

std::string read_file_text(const std::string& path) {
  const auto bytes = read_file_bytes(path);
  return std::string(bytes.begin(), bytes.end());
}

void write_file_atomic(const std::string& path, std::string_view content) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_io("cannot create", tmp);
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      errno = err;
      throw_io("cannot write", tmp);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    errno = err;
    throw_io("cannot flush", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    errno = err;
    throw_io("cannot rename into", path);
  }
}

std::string sha256_hex(std::span<const uint8_t> data) {
  DigestContext d;
  d.update(data.data(), data.size());
  return d.finish();
}

std::string sha256_file(const std::string& path) {
  RegularFile file(path);
  DigestContext d;
  std::vector<uint8_t> buf(1 << 20);
  for (size_t got; (got = file.read_some(buf.data(), buf.size())) > 0;) d.update(buf.data(), got);
  return d.finish();
}

}  // namespace cir
