// Reads from a shared file mapping that another process may truncate underneath us.
//
// VectorFile::check_unchanged catches truncation before a search touches vectors.bin, but a file
// cut between that check and the copy would still raise SIGBUS on the first page past its new end
// and kill the process. guarded_map_copy runs the copy with a SIGBUS handler armed for the calling
// thread: a fault inside it jumps back and becomes kCorrupt. Written by hand: no packaged library
// offers recoverable mapped reads (LMDB and SQLite's mmap mode simply crash in this case).
#pragma once

#include <cstddef>
#include <string>

namespace cir::index::detail {

/// Calls copy(), which must only read the mapping and write plain memory: no allocation, no
/// locks, no objects with destructors (a fault leaves it through siglongjmp, which skips them).
/// When the mapping faults with SIGBUS while copy() runs, throws kCorrupt naming `path`. A SIGBUS
/// anywhere else goes to the handler that was installed before ours (or the default: the process
/// dies as it would have). Cost: one sigsetjmp without mask save (a few ns) per call.
void guarded_map_copy(void (*copy)(void* context), void* context, const std::string& path);

}  // namespace cir::index::detail
