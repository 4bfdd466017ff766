// vectors.bin: the append-only vector file (layout in include/cir/index.h). SQLite's kv
// 'vector_rows' says how many rows are committed; the file may hold more (a batch whose SQLite
// transaction never committed, or a block torn by kill -9) and those are cut away on open.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cir/index.h"

namespace cir::index::detail {

inline constexpr const char* kVectorsName = "vectors.bin";

/// One committed block of a vector file as check_vector_file read it.
struct BlockCheck {
  int64_t index = 0;        ///< 0-based position in the file
  int64_t byte_offset = 0;  ///< of its 32-byte header
  int64_t first_row = 0;
  int64_t n_rows = 0;
  bool ok = true;           ///< payload checksum matches and every value is finite
};

/// What check_vector_file found.
struct VectorFileCheck {
  std::vector<BlockCheck> blocks;       ///< committed blocks whose header could be read, in order
  std::vector<VerifyProblem> problems;  ///< file "vectors.bin"
  int64_t rows_checked = 0;
  int64_t tail_bytes = 0;               ///< bytes past the committed blocks (an uncommitted tail)
};

/// Reads the whole file with pread (no map: safe on a file that changes underneath) and checks
/// the header against (dim, dtype, epoch), then every block up to `committed_rows`: header,
/// payload CRC and that every value is finite. Never throws for damage (it is reported); throws
/// only when the file cannot be opened (RegularFile's errors).
VectorFileCheck check_vector_file(const std::string& path, int dim, VectorDType dtype, uint64_t epoch,
                                  int64_t committed_rows);

class VectorFile {
 public:
  /// Writes a new file holding only the header, fsyncs it and its directory. Throws kIo.
  static void create(const std::string& path, int dim, VectorDType dtype, uint64_t epoch);
  /// Reads the header and the block headers of the first `committed_rows` rows. Bytes past them
  /// are an uncommitted or torn tail: truncated when writable, ignored otherwise.
  /// kCorrupt when the header disagrees with (dim, dtype, epoch) or committed rows are missing.
  VectorFile(const std::string& path, int dim, VectorDType dtype, uint64_t epoch, int64_t committed_rows,
             bool writable);
  ~VectorFile();
  VectorFile(const VectorFile&) = delete;
  VectorFile& operator=(const VectorFile&) = delete;

  int64_t rows() const { return rows_; }
  int dim() const { return dim_; }
  VectorDType dtype() const { return dtype_; }
  size_t row_bytes() const { return row_bytes_; }
  uint64_t epoch() const { return epoch_; }
  /// Bytes cut from the tail when the file was opened (0 for a clean file).
  int64_t recovered_bytes() const { return recovered_bytes_; }
  const std::string& path() const { return path_; }

  /// Writes one block of n_rows rows (payload already in the file dtype) after the committed rows
  /// and, when `sync`, fsyncs it. The rows stay invisible until publish(). Returns the first row.
  int64_t append(const void* payload, int64_t n_rows, bool sync = true);
  /// fsyncs the file (after unsynced appends).
  void sync();
  /// Makes every appended block part of rows() (call after SQLite committed them).
  void publish();
  /// Forgets unpublished blocks and truncates them away (their SQLite transaction failed).
  void discard();

  /// Decodes rows [row, row + n) into out (n x dim floats).
  void read_rows(int64_t row, int64_t n, float* out) const;
  /// Throws kCorrupt when the file under the map was truncated, replaced or modified since this
  /// object last wrote or checked it. Readers call it before touching the map: a truncated
  /// mapped file would otherwise raise SIGBUS and kill the process. Two stat calls (~1 us).
  void check_unchanged() const;

 private:
  struct Block {
    int64_t first_row = 0;
    int64_t n_rows = 0;
    int64_t payload_offset = 0;
    uint32_t crc = 0;
  };
  /// What check_unchanged compares against.
  struct Identity {
    uint64_t dev = 0, ino = 0;
    int64_t size = 0;
    int64_t mtime_ns = 0;
  };
  const uint8_t* row_data(int64_t row, int64_t* rows_left_in_block) const;
  void remap();
  void check_block_crc(const Block& block) const;
  /// Records the file's current identity after this object changed it (or opened it).
  void remember_identity();

  Identity identity_;

  std::string path_;
  int fd_ = -1;
  int dim_ = 0;
  VectorDType dtype_ = VectorDType::kFp16;
  size_t row_bytes_ = 0;
  uint64_t epoch_ = 0;
  bool writable_ = false;
  int64_t rows_ = 0;
  int64_t end_offset_ = 0;  ///< end of the last published block
  std::vector<Block> blocks_;
  std::vector<Block> pending_;
  int64_t pending_end_ = 0;
  int64_t recovered_bytes_ = 0;
  const uint8_t* map_ = nullptr;
  size_t map_size_ = 0;
};

}  // namespace cir::index::detail
