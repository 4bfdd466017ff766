#include <atomic>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <thread>

#include "cir/core.h"

namespace cir {

int default_thread_count() {
  if (const char* env = std::getenv("CIR_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

void parallel_for(int64_t n, int n_threads, const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  if (n_threads <= 0) n_threads = default_thread_count();
  n_threads = static_cast<int>(std::min<int64_t>(n_threads, n));
  std::atomic<int64_t> next{0};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto worker = [&] {
    for (;;) {
      const int64_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
        next.store(n);  // stop handing out work
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < n_threads; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (first_error) std::rethrow_exception(first_error);
}

namespace {
std::atomic<int> g_log_level{static_cast<int>(LogLevel::kWarn)};
std::mutex g_log_mutex;
}  // namespace

void set_log_level(LogLevel level) { g_log_level.store(static_cast<int>(level)); }

void log(LogLevel level, std::string_view message) {
  if (static_cast<int>(level) < g_log_level.load()) return;
  static const char* kNames[] = {"debug", "info", "warn", "error"};
  std::lock_guard<std::mutex> lock(g_log_mutex);
  std::cerr << "cir " << kNames[static_cast<int>(level)] << ": " << message << "\n";
}

}  // namespace cir
