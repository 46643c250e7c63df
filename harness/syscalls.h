// Running operations with real syscalls.
//
// A Process executes trace operations the way a program would: one syscall
// per operation, paths resolved against the calling process's root and
// working directory, open files kept by the trace's names ("f1"). Targets
// that mount a real overlay chroot into the merged directory before they
// hand operations to a Process, so that absolute paths and symlinks resolve
// inside the mount exactly as the model resolves them.
#ifndef OVLSIM_HARNESS_SYSCALLS_H_
#define OVLSIM_HARNESS_SYSCALLS_H_

#include <sys/stat.h>

#include <map>
#include <string>
#include <vector>

#include "model/overlay.h"
#include "trace/op.h"

namespace ovlsim::harness {

// The most bytes one read, pread, readlink or getxattr returns.
inline constexpr std::size_t kMaxTransfer = 1 << 20;

class Process {
 public:
  Process() = default;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process() { close_all(); }

  // Runs one operation. An fd name that no successful open defined gives
  // EBADF; opening a name that is already open leaves the old file open
  // but unnamed until close_all(), as the model's runner does.
  trace::Outcome apply(const trace::Op& op);

  // Closes every open file.
  void close_all();

 private:
  int fd_of(const std::string& name) const;

  std::map<std::string, int> fds_;
  std::vector<int> unnamed_;
};

// The model's view of a struct stat.
model::Stat stat_from(const struct stat& st);

}  // namespace ovlsim::harness

#endif  // OVLSIM_HARNESS_SYSCALLS_H_
