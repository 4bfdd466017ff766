// A writer-preferring reader/writer lock. std::shared_mutex on glibc prefers readers, so a server
// searching in a tight loop would starve add_items forever; here a waiting writer stops new
// readers from entering, and it gets in as soon as the current searches finish.
#pragma once

#include <condition_variable>
#include <mutex>

namespace cir::index::detail {

class SharedMutex {
 public:
  void lock() {
    std::unique_lock lk(m_);
    ++writers_waiting_;
    cv_.wait(lk, [&] { return !writer_active_ && readers_ == 0; });
    --writers_waiting_;
    writer_active_ = true;
  }
  void unlock() {
    {
      std::lock_guard lk(m_);
      writer_active_ = false;
    }
    cv_.notify_all();
  }
  void lock_shared() {
    std::unique_lock lk(m_);
    cv_.wait(lk, [&] { return !writer_active_ && writers_waiting_ == 0; });
    ++readers_;
  }
  void unlock_shared() {
    bool wake = false;
    {
      std::lock_guard lk(m_);
      wake = --readers_ == 0 && writers_waiting_ > 0;
    }
    if (wake) cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int readers_ = 0;
  int writers_waiting_ = 0;
  bool writer_active_ = false;
};

}  // namespace cir::index::detail
