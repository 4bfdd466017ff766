#include "progress.h"

#include <unistd.h>

#include <cstdio>

namespace cir::engine {

Progress::Progress(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled), tty_(::isatty(STDERR_FILENO) == 1) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

void Progress::advance(int64_t done_delta, int64_t failed_delta) {
  std::lock_guard<std::mutex> lock(mutex_);
  done_ += done_delta;
  failed_ += failed_delta;
  const auto now = std::chrono::steady_clock::now();
  // Terminals redraw often; logs get a line every 5 s so they stay readable.
  const auto period = tty_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(5000);
  if (now - last_draw_ >= period) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  draw(true);
}

void Progress::draw(bool final) {
  if (!enabled_) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  char eta[32] = "?";
  if (total_ > 0 && rate > 0) {
    const int64_t left = static_cast<int64_t>((total_ - done_) / rate);
    std::snprintf(eta, sizeof eta, "%lld:%02lld", static_cast<long long>(left / 60), static_cast<long long>(left % 60));
  }
  char line[256];
  if (tty_ && total_ > 0) {
    const int width = 30;
    const int filled = static_cast<int>(width * std::min<double>(1.0, double(done_) / double(total_)));
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(width - filled), '.');
    std::snprintf(line, sizeof line, "\r%s [%s] %lld/%lld  %.1f items/s  ETA %s  failed %lld%s", label_.c_str(),
                  bar.c_str(), static_cast<long long>(done_), static_cast<long long>(total_), rate, eta,
                  static_cast<long long>(failed_), final ? "\n" : "");
  } else {
    std::snprintf(line, sizeof line, "%s: %lld/%lld done, %.1f items/s, ETA %s, failed %lld%s\n", label_.c_str(),
                  static_cast<long long>(done_), static_cast<long long>(total_), rate, final ? "0:00" : eta,
                  static_cast<long long>(failed_), final ? " (finished)" : "");
  }
  std::fputs(line, stderr);
  std::fflush(stderr);
}

}  // namespace cir::engine
