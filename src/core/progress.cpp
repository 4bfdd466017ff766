#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "cir/core.h"

namespace cir {

struct Progress::State {
  std::string label;
  int64_t total = 0, done = 0, failed = 0;
  bool enabled = true, tty = false;
  std::chrono::steady_clock::time_point start, last_draw;
  std::mutex mutex;

  void draw(bool final) const;
};

Progress::Progress(std::string label, int64_t total, bool enabled) : state_(std::make_unique<State>()) {
  state_->label = std::move(label);
  state_->total = total;
  state_->enabled = enabled;
  state_->tty = ::isatty(STDERR_FILENO) == 1;
  state_->start = state_->last_draw = std::chrono::steady_clock::now();
}

Progress::~Progress() = default;

void Progress::advance(int64_t done_delta, int64_t failed_delta) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  s.done += done_delta;
  s.failed += failed_delta;
  const auto now = std::chrono::steady_clock::now();
  // Terminals redraw often; logs get a line every 5 s so they stay readable.
  const auto period = s.tty ? std::chrono::milliseconds(200) : std::chrono::milliseconds(5000);
  if (now - s.last_draw >= period) {
    s.last_draw = now;
    s.draw(false);
  }
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->draw(true);
}

void Progress::State::draw(bool final) const {
  if (!enabled) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  char eta[32] = "?";
  if (total > 0 && rate > 0) {
    const int64_t left = static_cast<int64_t>((total - done) / rate);
    std::snprintf(eta, sizeof eta, "%lld:%02lld", static_cast<long long>(left / 60), static_cast<long long>(left % 60));
  }
  char line[256];
  if (tty && total > 0) {
    const int width = 30;
    const int filled = static_cast<int>(width * std::min<double>(1.0, double(done) / double(total)));
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(width - filled), '.');
    std::snprintf(line, sizeof line, "\r%s [%s] %lld/%lld  %.1f items/s  ETA %s  failed %lld%s", label.c_str(),
                  bar.c_str(), static_cast<long long>(done), static_cast<long long>(total), rate, eta,
                  static_cast<long long>(failed), final ? "\n" : "");
  } else {
    std::snprintf(line, sizeof line, "%s: %lld/%lld done, %.1f items/s, ETA %s, failed %lld%s\n", label.c_str(),
                  static_cast<long long>(done), static_cast<long long>(total), rate, final ? "0:00" : eta,
                  static_cast<long long>(failed), final ? " (finished)" : "");
  }
  std::fputs(line, stderr);
  std::fflush(stderr);
}

}  // namespace cir
