// cir core (L0): the one error type, plain data types shared across modules, and small
// std-only utilities (files, NumPy .npy, SHA-256, thread pool, logging, progress lines).
//
// Contract: everything here depends on the C++ standard library only (plus OpenSSL's SHA-256
// in the .cpp). Functions throw cir::Error when the operation cannot go on; expected misses are
// std::optional. All types are plain values, safe to copy and to move across threads.
#pragma once

#include <array>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cir {

/// Why an operation failed. The CLI maps these to exit codes and the server to HTTP statuses,
/// each in one place.
enum class ErrorCode {
  kInvalidArgument,    ///< the caller's input is wrong (bad flag, malformed JSON, bad value)
  kNotFound,           ///< a named file, item, index or tensor does not exist
  kUnsupported,        ///< valid input that cir does not handle (format, dtype, architecture)
  kIo,                 ///< the operating system refused a read or write
  kCorrupt,            ///< a file exists but its content is damaged or truncated
  kModel,              ///< a model's weights or config do not fit the architecture
  kResourceExhausted,  ///< a limit was hit (pixels, body size, memory budget)
  kInternal,           ///< a bug in cir
};

/// Stable lower_snake name of a code ("invalid_argument", ...), used in JSON errors.
std::string_view error_code_name(ErrorCode code);

/// The one exception type thrown by cir library code. The message names what was wrong
/// (file, field, expected and found values).
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

/// Row-major n x d float matrix (the faiss convention): the form embeddings cross modules in.
struct FloatMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> data;  ///< rows * cols values

  FloatMatrix() = default;
  FloatMatrix(int64_t r, int64_t c) : rows(r), cols(c), data(static_cast<size_t>(r * c), 0.f) {}
  float* row(int64_t i) { return data.data() + i * cols; }
  const float* row(int64_t i) const { return data.data() + i * cols; }
};

/// L2-normalises a vector in place (sum of squares in double; a zero vector stays zero).
void normalize_in_place(std::span<float> v);
/// L2-normalises every row in place (rows of zero norm stay zero).
void normalize_rows(FloatMatrix& m);

/// A batch of token id sequences, padded with `pad_id` to `context_length` (row-major n x ctx).
struct TokenBatch {
  int64_t n_texts = 0;
  int64_t context_length = 0;
  std::vector<int32_t> ids;      ///< n_texts * context_length
  std::vector<int32_t> lengths;  ///< real length of each row (start..end token inclusive)
};

/// How images are resized before the model.
enum class ResizeMode {
  kShortestCenterCrop,  ///< shortest side -> size, then center crop (OpenAI/HF CLIP)
  kSquash,              ///< resize straight to size x size (BLIP-2, OpenCLIP "squash")
  kTargetPad,           ///< pad to aspect <= ratio, then shortest + center crop (CLIP4Cir/SEARLE)
};

/// Static description of a model's image preprocessing, read from its directory.
struct PreprocessSpec {
  int image_size = 224;
  ResizeMode resize_mode = ResizeMode::kShortestCenterCrop;
  double target_pad_ratio = 1.25;
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};
};

std::string_view resize_mode_name(ResizeMode mode);
/// Parses "shortest" | "squash" | "targetpad"; throws kInvalidArgument otherwise.
ResizeMode parse_resize_mode(std::string_view name);

// ---------------------------------------------------------------------------------------------
// Files

/// Reads a whole file; throws kNotFound / kIo naming the path.
std::vector<uint8_t> read_file_bytes(const std::string& path);
std::string read_file_text(const std::string& path);
/// Writes via temp file + fsync + rename so readers never see a half-written file.
void write_file_atomic(const std::string& path, std::string_view content);
bool file_exists(const std::string& path);

/// `text` without leading and trailing spaces, tabs, CR and LF.
std::string trim_space(std::string_view text);

/// RFC 4180 fields of the CSV record starting at text[pos] (quoted fields, "" escapes, CRLF);
/// advances pos past the record's line end. An empty rest gives no fields. kCorrupt starting
/// with `what` (e.g. "metadata file 'x.csv'") for an unterminated quoted field.
std::vector<std::string> parse_csv_record(std::string_view text, size_t& pos, const std::string& what);

/// Hex SHA-256 of a buffer / of a file's content (streamed).
std::string sha256_hex(std::span<const uint8_t> data);
std::string sha256_file(const std::string& path);

// ---------------------------------------------------------------------------------------------
// NumPy .npy (format 1.0/2.0/3.0, little-endian, C order): what `cir embed` writes and
// what the golden fixtures are stored as.

struct NpyArray {
  std::vector<int64_t> shape;
  std::string dtype;          ///< numpy descr without byte order: "f4", "f2", "i8", ...
  std::vector<uint8_t> data;  ///< raw little-endian bytes, C order
  int64_t size() const;
  /// Values as float32 (from f4, f2, f8); throws kUnsupported for other dtypes.
  std::vector<float> as_floats() const;
};

NpyArray read_npy(const std::string& path);
/// Writes float32 data with the given shape.
void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, std::span<const float> values);
/// Writes raw bytes with a numpy descr such as "<f2".
void write_npy_raw(const std::string& path, const std::vector<int64_t>& shape, std::string_view descr,
                   std::span<const uint8_t> bytes);

/// IEEE half <-> float conversions (round to nearest even).
uint16_t float_to_half(float value);
float half_to_float(uint16_t value);
uint16_t float_to_bf16(float value);
float bf16_to_float(uint16_t value);

// ---------------------------------------------------------------------------------------------
// Limits on outside data

/// How deeply JSON from outside (request bodies, config files, sidecars, annotations) may nest.
/// No format cir reads needs more than a few levels; the bound keeps recursive readers (ours and
/// nlohmann's dump/compare) off the end of the stack.
inline constexpr int kMaxJsonDepth = 256;

/// Throws kInvalidArgument "<source>: JSON nested deeper than <max_depth> levels (the limit)"
/// when arrays/objects in `text` nest deeper than `max_depth`. A byte scan (strings and escapes
/// skipped); it does not validate the JSON otherwise.
void check_json_depth(std::string_view text, std::string_view source, int max_depth = kMaxJsonDepth);

// ---------------------------------------------------------------------------------------------
// Threads

/// Runs fn(i) for i in [0, n) on up to n_threads threads (0 = hardware concurrency).
/// The first exception thrown by any call is rethrown in the caller after all threads join.
void parallel_for(int64_t n, int n_threads, const std::function<void(int64_t)>& fn);

/// Number of threads to use when the user gave 0 (CIR_THREADS env or hardware concurrency).
int default_thread_count();

// ---------------------------------------------------------------------------------------------
// Logging: plain lines on stderr, quiet by default for library code.

enum class LogLevel { kDebug, kInfo, kWarn, kError };
void set_log_level(LogLevel level);
void log(LogLevel level, std::string_view message);

// ---------------------------------------------------------------------------------------------
// Progress of long jobs (indexing, evaluation) on stderr: a redrawn bar on a terminal, a plain
// line every 5 s otherwise (logs stay readable). Thread-safe.

class Progress {
 public:
  /// `total` items (0 = unknown). `label` prefixes every line; disabled = silent.
  Progress(std::string label, int64_t total, bool enabled = true);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  /// Records `done_delta` processed and `failed_delta` failed items; redraws when due.
  void advance(int64_t done_delta, int64_t failed_delta = 0);
  /// Final line with totals and rate.
  void finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace cir
