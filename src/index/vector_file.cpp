#include "index/vector_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "cir/regular_file.h"
#include "index/map_guard.h"
#include "index/util.h"

namespace cir::index::detail {
namespace {

constexpr char kFileMagic[8] = {'C', 'I', 'R', 'V', 'E', 'C', 'T', '1'};
constexpr uint32_t kFileVersion = 1;
constexpr size_t kFileHeaderBytes = 64;
constexpr uint32_t kBlockMagic = 0x31425643;  // "CVB1"
constexpr size_t kBlockHeaderBytes = 32;

uint32_t dtype_code(VectorDType dtype) { return dtype == VectorDType::kFp16 ? 0 : 1; }

template <typename T>
void put(uint8_t* p, T v) { std::memcpy(p, &v, sizeof v); }
template <typename T>
T get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

[[noreturn]] void throw_errno(const std::string& what, const std::string& path) {
  throw Error(ErrorCode::kIo, what + " '" + path + "': " + std::strerror(errno));
}

void pwrite_all(int fd, const void* data, size_t n, int64_t offset, const std::string& path) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, offset);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOSPC) throw Error(ErrorCode::kResourceExhausted, "disk full writing '" + path + "'");
      throw_errno("cannot write", path);
    }
    p += w;
    n -= static_cast<size_t>(w);
    offset += w;
  }
}

bool pread_all(int fd, void* data, size_t n, int64_t offset) {
  auto* p = static_cast<uint8_t*>(data);
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, offset);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
    offset += r;
  }
  return true;
}

}  // namespace

void VectorFile::create(const std::string& path, int dim, VectorDType dtype, uint64_t epoch) {
  uint8_t h[kFileHeaderBytes] = {};
  std::memcpy(h, kFileMagic, 8);
  put<uint32_t>(h + 8, kFileVersion);
  put<uint32_t>(h + 12, static_cast<uint32_t>(dim));
  put<uint32_t>(h + 16, dtype_code(dtype));
  put<uint64_t>(h + 24, epoch);
  put<uint32_t>(h + 60, crc32(h, 60));
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_errno("cannot create", path);
  try {
    pwrite_all(fd, h, sizeof h, 0, path);
    if (::fsync(fd) != 0) throw_errno("cannot fsync", path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  fsync_dir(std::filesystem::path(path).parent_path().string());
}

VectorFile::VectorFile(const std::string& path, int dim, VectorDType dtype, uint64_t epoch, int64_t committed_rows,
                       bool writable)
    : path_(path), dim_(dim), dtype_(dtype), epoch_(epoch), writable_(writable) {
  row_bytes_ = static_cast<size_t>(dim) * (dtype == VectorDType::kFp16 ? 2 : 4);
  fd_ = ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd_ < 0) {
    if (errno == ENOENT)
      throw Error(ErrorCode::kCorrupt, "'" + path + "' is missing: the index directory is incomplete");
    throw_errno("cannot open", path);
  }
  try {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) throw_errno("cannot stat", path);
    const int64_t size = st.st_size;
    uint8_t h[kFileHeaderBytes];
    if (size < static_cast<int64_t>(kFileHeaderBytes) || !pread_all(fd_, h, sizeof h, 0))
      throw Error(ErrorCode::kCorrupt, "'" + path + "': file header truncated (" + std::to_string(size) + " bytes)");
    if (std::memcmp(h, kFileMagic, 8) != 0)
      throw Error(ErrorCode::kCorrupt, "'" + path + "' is not a cir vector file (bad magic)");
    if (get<uint32_t>(h + 60) != crc32(h, 60))
      throw Error(ErrorCode::kCorrupt, "'" + path + "': file header checksum mismatch");
    if (get<uint32_t>(h + 8) > kFileVersion)
      throw Error(ErrorCode::kUnsupported, "'" + path + "': vector file version " +
                                               std::to_string(get<uint32_t>(h + 8)) + " is newer than this build reads (" +
                                               std::to_string(kFileVersion) + ")");
    if (get<uint32_t>(h + 12) != static_cast<uint32_t>(dim))
      throw Error(ErrorCode::kCorrupt, "'" + path + "': holds " + std::to_string(get<uint32_t>(h + 12)) +
                                           "-d vectors but manifest.json says embed_dim " + std::to_string(dim));
    if (get<uint32_t>(h + 16) != dtype_code(dtype))
      throw Error(ErrorCode::kCorrupt, "'" + path + "': stored dtype differs from manifest.json vector_dtype " +
                                           std::string(vector_dtype_name(dtype)));
    if (get<uint64_t>(h + 24) != epoch)
      throw Error(ErrorCode::kCorrupt, "'" + path + "': epoch " + std::to_string(get<uint64_t>(h + 24)) +
                                           " but items.sqlite expects epoch " + std::to_string(epoch));

    int64_t offset = kFileHeaderBytes;
    while (rows_ < committed_rows) {
      const std::string where = "'" + path + "': block at byte " + std::to_string(offset) + " (from row " +
                                std::to_string(rows_) + ")";
      const std::string missing = ", but items.sqlite references " + std::to_string(committed_rows) +
                                  " rows: vectors of committed items are missing";
      uint8_t b[kBlockHeaderBytes];
      if (offset + static_cast<int64_t>(kBlockHeaderBytes) > size || !pread_all(fd_, b, sizeof b, offset))
        throw Error(ErrorCode::kCorrupt, where + " is truncated" + missing);
      if (get<uint32_t>(b) != kBlockMagic || get<uint32_t>(b + 28) != crc32(b, 28))
        throw Error(ErrorCode::kCorrupt, where + " has a damaged header" + missing);
      Block blk;
      blk.n_rows = get<uint32_t>(b + 4);
      blk.first_row = static_cast<int64_t>(get<uint64_t>(b + 8));
      blk.crc = get<uint32_t>(b + 24);
      blk.payload_offset = offset + static_cast<int64_t>(kBlockHeaderBytes);
      if (blk.first_row != rows_ || get<uint32_t>(b + 16) != static_cast<uint32_t>(dim) ||
          get<uint32_t>(b + 20) != dtype_code(dtype) || blk.n_rows <= 0)
        throw Error(ErrorCode::kCorrupt, where + " disagrees with the file (first_row " +
                                             std::to_string(blk.first_row) + ", dim " +
                                             std::to_string(get<uint32_t>(b + 16)) + ")");
      const int64_t end = blk.payload_offset + blk.n_rows * static_cast<int64_t>(row_bytes_);
      if (end > size) throw Error(ErrorCode::kCorrupt, where + " is truncated" + missing);
      if (rows_ + blk.n_rows > committed_rows)
        throw Error(ErrorCode::kCorrupt, where + " crosses the committed row count " + std::to_string(committed_rows));
      blocks_.push_back(blk);
      rows_ += blk.n_rows;
      offset = end;
    }
    end_offset_ = offset;
    pending_end_ = offset;
    if (size > end_offset_) {
      recovered_bytes_ = size - end_offset_;
      if (writable_) {
        if (::ftruncate(fd_, end_offset_) != 0) throw_errno("cannot truncate", path);
        if (::fsync(fd_) != 0) throw_errno("cannot fsync", path);
      }
    }
    remap();
    remember_identity();
    // The last committed block is the only one a crash could have touched after its commit
    // (nothing is rewritten in place); checking it costs one batch, not the whole file.
    // Older blocks are checked by verify_vector_file (`cir index verify`).
    if (!blocks_.empty()) check_block_crc(blocks_.back());
  } catch (...) {
    if (map_) ::munmap(const_cast<uint8_t*>(map_), map_size_);
    ::close(fd_);
    throw;
  }
}

VectorFile::~VectorFile() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), map_size_);
  if (fd_ >= 0) ::close(fd_);
}

void VectorFile::remap() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), map_size_);
  map_ = nullptr;
  map_size_ = static_cast<size_t>(end_offset_);
  void* p = ::mmap(nullptr, map_size_, PROT_READ, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED) {
    map_size_ = 0;
    throw_errno("cannot mmap", path_);
  }
  map_ = static_cast<const uint8_t*>(p);
}

void VectorFile::check_block_crc(const Block& blk) const {
  const uint32_t crc = crc32(map_ + blk.payload_offset, static_cast<size_t>(blk.n_rows) * row_bytes_);
  if (crc != blk.crc)
    throw Error(ErrorCode::kCorrupt, "'" + path_ + "': block of rows " + std::to_string(blk.first_row) + ".." +
                                         std::to_string(blk.first_row + blk.n_rows - 1) + " fails its checksum");
}

int64_t VectorFile::append(const void* payload, int64_t n_rows, bool sync_now) {
  if (!writable_) throw Error(ErrorCode::kInvalidArgument, "'" + path_ + "' is open read-only");
  if (n_rows <= 0 || n_rows > 0xffffffffLL) throw Error(ErrorCode::kInternal, "bad block size");
  Block blk;
  blk.first_row = rows_;
  for (const Block& p : pending_) blk.first_row += p.n_rows;
  blk.n_rows = n_rows;
  const size_t payload_bytes = static_cast<size_t>(n_rows) * row_bytes_;
  blk.crc = crc32(payload, payload_bytes);
  uint8_t b[kBlockHeaderBytes] = {};
  put<uint32_t>(b, kBlockMagic);
  put<uint32_t>(b + 4, static_cast<uint32_t>(n_rows));
  put<uint64_t>(b + 8, static_cast<uint64_t>(blk.first_row));
  put<uint32_t>(b + 16, static_cast<uint32_t>(dim_));
  put<uint32_t>(b + 20, dtype_code(dtype_));
  put<uint32_t>(b + 24, blk.crc);
  put<uint32_t>(b + 28, crc32(b, 28));
  if (pending_.empty()) {
    // Anything past the published end is garbage from an earlier failed batch.
    if (::ftruncate(fd_, end_offset_) != 0) throw_errno("cannot truncate", path_);
  }
  try {
    pwrite_all(fd_, b, sizeof b, pending_end_, path_);
    pwrite_all(fd_, payload, payload_bytes, pending_end_ + static_cast<int64_t>(sizeof b), path_);
  } catch (...) {
    // The torn block stays past the published end (the next append truncates it); the file's
    // new size and mtime are ours, not another process's.
    remember_identity();
    throw;
  }
  blk.payload_offset = pending_end_ + static_cast<int64_t>(sizeof b);
  pending_end_ = blk.payload_offset + static_cast<int64_t>(payload_bytes);
  pending_.push_back(blk);
  if (sync_now) sync();
  remember_identity();
  return blk.first_row;
}

void VectorFile::sync() {
  if (::fdatasync(fd_) != 0) throw_errno("cannot fsync", path_);
}

void VectorFile::publish() {
  if (pending_.empty()) return;
  for (const Block& blk : pending_) {
    blocks_.push_back(blk);
    rows_ += blk.n_rows;
  }
  pending_.clear();
  end_offset_ = pending_end_;
  remap();
  remember_identity();
}

void VectorFile::discard() {
  pending_.clear();
  pending_end_ = end_offset_;
  if (writable_ && ::ftruncate(fd_, end_offset_) != 0) throw_errno("cannot truncate", path_);
  remember_identity();
}

const uint8_t* VectorFile::row_data(int64_t row, int64_t* rows_left) const {
  auto it = std::upper_bound(blocks_.begin(), blocks_.end(), row,
                             [](int64_t r, const Block& b) { return r < b.first_row; });
  if (it == blocks_.begin() || row >= rows_ || row < 0)
    throw Error(ErrorCode::kInternal, "vector row " + std::to_string(row) + " out of range (" + std::to_string(rows_) + ")");
  --it;
  *rows_left = it->first_row + it->n_rows - row;
  return map_ + it->payload_offset + (row - it->first_row) * static_cast<int64_t>(row_bytes_);
}

namespace {

// One contiguous span of mapped rows decoded to float: the part of read_rows that touches the map,
// run under guarded_map_copy (it only reads the map and writes `out`).
struct SpanCopy {
  const uint8_t* from = nullptr;
  float* out = nullptr;
  size_t values = 0;
  bool fp16 = false;
};

void copy_span(void* context) {
  const auto* c = static_cast<const SpanCopy*>(context);
  if (c->fp16) {
    half_to_float_n(reinterpret_cast<const uint16_t*>(c->from), c->out, c->values);
  } else {
    std::memcpy(c->out, c->from, c->values * sizeof(float));
  }
}

}  // namespace

void VectorFile::read_rows(int64_t row, int64_t n, float* out) const {
  while (n > 0) {
    int64_t left = 0;
    const uint8_t* p = row_data(row, &left);
    const int64_t take = std::min(left, n);
    const size_t values = static_cast<size_t>(take) * static_cast<size_t>(dim_);
    SpanCopy span{p, out, values, dtype_ == VectorDType::kFp16};
    guarded_map_copy(copy_span, &span, path_);
    out += values;
    row += take;
    n -= take;
  }
}

namespace {

int64_t mtime_ns_of(const struct stat& st) { return int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec; }

}  // namespace

void VectorFile::remember_identity() {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw_errno("cannot stat", path_);
  identity_ = {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), static_cast<int64_t>(st.st_size),
               mtime_ns_of(st)};
}

void VectorFile::check_unchanged() const {
  const std::string advice = ": reopen the index (restart the server) once the file is restored; `cir index verify` checks it";
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw_errno("cannot stat", path_);
  // Truncation is what turns a mapped read into SIGBUS; compare with what the map covers.
  if (static_cast<int64_t>(st.st_size) < end_offset_)
    throw Error(ErrorCode::kCorrupt, "'" + path_ + "' was truncated by another process while the index was open (" +
                                         std::to_string(st.st_size) + " bytes, the index needs " +
                                         std::to_string(end_offset_) + ")" + advice);
  if (static_cast<int64_t>(st.st_size) != identity_.size || mtime_ns_of(st) != identity_.mtime_ns)
    throw Error(ErrorCode::kCorrupt, "'" + path_ + "' was modified by another process while the index was open" + advice);
  // Renamed over: the map still shows the old file (no crash), but it is no longer the index's.
  struct stat now {};
  if (::stat(path_.c_str(), &now) != 0 || static_cast<uint64_t>(now.st_ino) != identity_.ino ||
      static_cast<uint64_t>(now.st_dev) != identity_.dev)
    throw Error(ErrorCode::kCorrupt, "'" + path_ + "' was replaced or removed while the index was open" + advice);
}

}  // namespace cir::index::detail

namespace cir::index::detail {
namespace {

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// First value of `n` that is NaN or infinite (its index), or -1. Both encodings mark those with
// an all-ones exponent.
int64_t first_non_finite(const uint8_t* p, size_t n, VectorDType dtype) {
  for (size_t i = 0; i < n; ++i) {
    if (dtype == VectorDType::kFp16) {
      if ((get<uint16_t>(p + 2 * i) & 0x7c00u) == 0x7c00u) return static_cast<int64_t>(i);
    } else if ((get<uint32_t>(p + 4 * i) & 0x7f800000u) == 0x7f800000u) {
      return static_cast<int64_t>(i);
    }
  }
  return -1;
}

struct Walker {
  const std::string& path;
  int fd;
  int64_t size;
  VectorFileCheck& out;

  void problem(int64_t offset, std::string message) { out.problems.push_back({kVectorsName, offset, std::move(message)}); }

  // Payload CRC and finiteness of one block, streamed (a compacted block is 32 MB).
  void check_payload(const BlockCheck& blk, uint32_t stored_crc, size_t row_bytes, VectorDType dtype) {
    const size_t value_bytes = dtype == VectorDType::kFp16 ? 2 : 4;
    const size_t total = static_cast<size_t>(blk.n_rows) * row_bytes;
    std::vector<uint8_t> buf(std::min<size_t>(total, size_t{4} << 20) / row_bytes * row_bytes + row_bytes);
    uint32_t crc = 0;
    int64_t bad_row = -1, n_bad_rows = 0;
    size_t done = 0;
    while (done < total) {
      const size_t n = std::min(buf.size() / row_bytes * row_bytes, total - done);
      if (!pread_all(fd, buf.data(), n, blk.byte_offset + 32 + static_cast<int64_t>(done))) {
        problem(blk.byte_offset, "block " + std::to_string(blk.index) + " payload cannot be read");
        return;
      }
      crc = crc32(buf.data(), n, crc);
      for (size_t r = 0; r < n / row_bytes; ++r) {
        if (first_non_finite(buf.data() + r * row_bytes, row_bytes / value_bytes, dtype) < 0) continue;
        if (bad_row < 0) bad_row = blk.first_row + static_cast<int64_t>((done / row_bytes) + r);
        ++n_bad_rows;
      }
      done += n;
    }
    const std::string where = "block " + std::to_string(blk.index) + " at byte " + std::to_string(blk.byte_offset) +
                              " (rows " + std::to_string(blk.first_row) + ".." +
                              std::to_string(blk.first_row + blk.n_rows - 1) + ")";
    if (crc != stored_crc)
      problem(blk.byte_offset, where + ": payload checksum mismatch (stored " + hex32(stored_crc) + ", computed " +
                                   hex32(crc) + "): its vectors are damaged");
    if (n_bad_rows > 0)
      problem(blk.byte_offset, where + ": " + std::to_string(n_bad_rows) + " row(s) hold NaN or infinity, first row " +
                                   std::to_string(bad_row));
  }
};

}  // namespace

VectorFileCheck check_vector_file(const std::string& path, int dim, VectorDType dtype, uint64_t epoch,
                                  int64_t committed_rows) {
  VectorFileCheck out;
  RegularFile file(path, "vector file");
  Walker w{path, file.fd(), file.size(), out};
  const size_t row_bytes = static_cast<size_t>(dim) * (dtype == VectorDType::kFp16 ? 2 : 4);
  uint8_t h[kFileHeaderBytes];
  if (w.size < static_cast<int64_t>(kFileHeaderBytes) || !pread_all(w.fd, h, sizeof h, 0)) {
    w.problem(0, "file header truncated (" + std::to_string(w.size) + " bytes)");
    return out;
  }
  if (std::memcmp(h, kFileMagic, 8) != 0 || get<uint32_t>(h + 60) != crc32(h, 60)) {
    w.problem(0, "file header damaged (bad magic or checksum)");
    return out;
  }
  if (get<uint32_t>(h + 12) != static_cast<uint32_t>(dim) || get<uint32_t>(h + 16) != dtype_code(dtype))
    w.problem(12, "file header says dim " + std::to_string(get<uint32_t>(h + 12)) + " / dtype code " +
                      std::to_string(get<uint32_t>(h + 16)) + ", manifest.json says " + std::to_string(dim) + " / " +
                      std::string(vector_dtype_name(dtype)));
  if (get<uint64_t>(h + 24) != epoch)
    w.problem(24, "epoch " + std::to_string(get<uint64_t>(h + 24)) + ", items.sqlite expects " + std::to_string(epoch));
  int64_t offset = kFileHeaderBytes, rows = 0;
  while (rows < committed_rows) {
    uint8_t b[kBlockHeaderBytes];
    const std::string where = "block " + std::to_string(out.blocks.size()) + " at byte " + std::to_string(offset) +
                              " (from row " + std::to_string(rows) + ")";
    const std::string lost = "; rows " + std::to_string(rows) + ".." + std::to_string(committed_rows - 1) +
                             " referenced by items.sqlite cannot be checked";
    if (offset + static_cast<int64_t>(kBlockHeaderBytes) > w.size || !pread_all(w.fd, b, sizeof b, offset)) {
      w.problem(offset, where + " is missing (the file ends at byte " + std::to_string(w.size) + ")" + lost);
      break;
    }
    if (get<uint32_t>(b) != kBlockMagic || get<uint32_t>(b + 28) != crc32(b, 28)) {
      w.problem(offset, where + " has a damaged header" + lost);
      break;
    }
    BlockCheck blk{static_cast<int64_t>(out.blocks.size()), offset, static_cast<int64_t>(get<uint64_t>(b + 8)),
                   get<uint32_t>(b + 4)};
    if (blk.first_row != rows || blk.n_rows <= 0 || get<uint32_t>(b + 16) != static_cast<uint32_t>(dim) ||
        get<uint32_t>(b + 20) != dtype_code(dtype)) {
      w.problem(offset, where + " disagrees with the file (first_row " + std::to_string(blk.first_row) + ", " +
                            std::to_string(blk.n_rows) + " rows, dim " + std::to_string(get<uint32_t>(b + 16)) + ")" + lost);
      break;
    }
    const int64_t end = offset + static_cast<int64_t>(kBlockHeaderBytes) + blk.n_rows * static_cast<int64_t>(row_bytes);
    if (end > w.size) {
      w.problem(offset, where + " is truncated (needs " + std::to_string(end) + " bytes, the file has " +
                            std::to_string(w.size) + ")" + lost);
      break;
    }
    if (rows + blk.n_rows > committed_rows)
      w.problem(offset, where + " crosses the committed row count " + std::to_string(committed_rows));
    const size_t problems_before = out.problems.size();
    w.check_payload(blk, get<uint32_t>(b + 24), row_bytes, dtype);
    blk.ok = out.problems.size() == problems_before;
    out.blocks.push_back(blk);
    rows += blk.n_rows;
    offset = end;
  }
  out.rows_checked = rows;
  out.tail_bytes = std::max<int64_t>(0, w.size - offset);
  return out;
}

}  // namespace cir::index::detail
