// Progress reporting for long jobs: a redrawn bar on a terminal, plain periodic lines otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace cir::engine {

class Progress {
 public:
  /// `total` items (0 = unknown); writes to stderr. `label` prefixes every line.
  Progress(std::string label, int64_t total, bool enabled = true);
  /// Records `done_delta` processed and `failed_delta` failed items; redraws when due.
  void advance(int64_t done_delta, int64_t failed_delta = 0);
  /// Final line with totals and rate.
  void finish();

 private:
  void draw(bool final);
  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  int64_t failed_ = 0;
  bool enabled_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::mutex mutex_;
};

}  // namespace cir::engine
