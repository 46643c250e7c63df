// fuse-overlayfs as a target.
//
// For each mount the target starts a fuse-overlayfs daemon in the
// foreground (-f) on the layers, waits until the merged directory is a FUSE
// mount, runs operations, unmounts (umount2, or fusermount3 -u without
// root) and reaps the daemon. The daemon dies with the harness
// (PR_SET_PDEATHSIG), so a killed harness leaves none behind.
//
// A daemon that dies, or does not answer an operation within the
// per-operation timeout, is a failure of the target: a watchdog kills it,
// which aborts the FUSE connection so that the blocked call returns, and
// failure() says what happened. The harness never hangs on it.
//
// The mount options of the trace follow the layer options in -o, so that
// what fuse-overlayfs does with them (it ignores index, metacopy and xino,
// refuses redirect_dir) is measured, not assumed. Its on-disk format is its
// own (Dialect).
#ifndef OVLSIM_HARNESS_FUSE_TARGET_H_
#define OVLSIM_HARNESS_FUSE_TARGET_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "harness/real_target.h"

namespace ovlsim::harness {

class FuseTarget : public RealTarget {
 public:
  FuseTarget(
      std::string dir, bool private_tmpfs,
      std::chrono::milliseconds op_timeout = std::chrono::milliseconds(5000),
      std::string program = "fuse-overlayfs");
  ~FuseTarget() override;

  std::string name() const override { return "fuse-overlayfs"; }
  Dialect dialect() const override { return Dialect::kFuseOverlayfs; }
  trace::Outcome apply(const trace::Op& op) override;
  std::string failure() const override;

  // The daemon's pid while mounted, for tests that break it on purpose.
  pid_t daemon() const { return daemon_; }

 protected:
  MountResult mount_overlay(const Layout& layout,
                            const std::vector<std::string>& options) override;
  void unmount_overlay(const Layout& layout) override;

 private:
  void watch();
  bool daemon_alive();
  void reap(std::chrono::milliseconds grace);

  std::chrono::milliseconds op_timeout_;
  std::string program_;
  std::atomic<pid_t> daemon_{-1};
  std::string log_path_;

  // The watchdog: `deadline_` is set while an operation runs.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::chrono::steady_clock::time_point deadline_{};
  bool busy_ = false;
  bool stop_ = false;
  std::string failure_;
  std::thread watchdog_;
};

}  // namespace ovlsim::harness

#endif  // OVLSIM_HARNESS_FUSE_TARGET_H_
