#include "index/map_guard.h"

#include <csetjmp>
#include <csignal>
#include <mutex>

#include "cir/core.h"

namespace cir::index::detail {
namespace {

// Per thread: where a SIGBUS inside a guarded copy jumps to. `armed` is only read by the signal
// handler of this same thread (SIGBUS from a memory access is delivered to the faulting thread).
struct MapReadGuard {
  sigjmp_buf resume;
  volatile std::sig_atomic_t armed = 0;
};
thread_local MapReadGuard t_guard;

struct sigaction g_previous_handler {};

// Not ours: hand the signal to whoever had SIGBUS before, or die of it as without us.
void forward_sigbus(int sig, siginfo_t* info, void* ucontext) {
  if ((g_previous_handler.sa_flags & SA_SIGINFO) && g_previous_handler.sa_sigaction != nullptr) {
    g_previous_handler.sa_sigaction(sig, info, ucontext);
    return;
  }
  if (g_previous_handler.sa_handler != SIG_DFL && g_previous_handler.sa_handler != SIG_IGN) {
    g_previous_handler.sa_handler(sig);
    return;
  }
  ::signal(SIGBUS, SIG_DFL);
  ::raise(SIGBUS);
}

void on_sigbus(int sig, siginfo_t* info, void* ucontext) {
  if (t_guard.armed) {
    t_guard.armed = 0;
    siglongjmp(t_guard.resume, 1);
  }
  forward_sigbus(sig, info, ucontext);
}

void install_handler_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_sigaction = on_sigbus;
    // SA_NODEFER: the handler leaves by siglongjmp without restoring the signal mask (sigsetjmp
    // with savemask 0 is what keeps the guard cheap), so SIGBUS must not stay blocked after it.
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGBUS, &action, &g_previous_handler);
  });
}

}  // namespace

void guarded_map_copy(void (*copy)(void* context), void* context, const std::string& path) {
  install_handler_once();
  if (sigsetjmp(t_guard.resume, 0) != 0)
    throw Error(ErrorCode::kCorrupt, "'" + path + "' shrank under its memory map while being read (truncated by "
                                     "another process?): reopen the index once the file is restored; "
                                     "`cir index verify` checks it");
  t_guard.armed = 1;
  copy(context);
  t_guard.armed = 0;
}

}  // namespace cir::index::detail
