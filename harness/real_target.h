// The part of a real overlay target that does not depend on who mounts it.
//
// A RealTarget owns one directory of the sandbox. For each mount it makes a
// fresh case directory, writes the lower layers into l1..lN (top to bottom;
// the short names keep a legacy mount(2) option string small), makes an
// upper layer u, a workdir w and a mount point m, and lets the subclass
// mount. Operations run in this process after a chroot into m, so that
// paths and absolute symlinks resolve inside the mount; the chroot is left
// before a snapshot or an unmount.
//
// Case directories live on a private tmpfs that holds a batch of them.
// Every unmount costs the kernel an RCU grace period, so a subclass may
// leave its overlay mounted (unreachable, its files closed) when a case
// ends; detaching the batch's tmpfs takes all of them down at once. With a
// backing directory instead of a tmpfs, every case is unmounted and its
// directory removed as it ends.
//
// Only one RealTarget per process may be mounted at a time, because the
// root directory belongs to the whole process.
#ifndef OVLSIM_HARNESS_REAL_TARGET_H_
#define OVLSIM_HARNESS_REAL_TARGET_H_

#include <string>
#include <vector>

#include "harness/syscalls.h"
#include "harness/target.h"

namespace ovlsim::harness {

// Where the layers of one mount are, as absolute paths.
struct Layout {
  std::string dir;                  // holds all of the below
  std::vector<std::string> lowers;  // top to bottom
  std::string upper;                // "" for a read-only mount
  std::string work;
  std::string merged;
  // The mounts made for layers on filesystems of their own (fs= in a
  // trace), under `dir`: a tmpfs each, or an ext4 on a loop device for a
  // filesystem with a null UUID.
  std::vector<std::string> filesystems;
};

class RealTarget : public Target {
 public:
  // `dir` must be an empty directory inside the sandbox, owned by this
  // target; `private_tmpfs` puts a tmpfs on it for each mount.
  RealTarget(std::string dir, bool private_tmpfs);
  ~RealTarget() override;

  MountResult mount(const trace::Scenario& scenario) override;
  trace::Outcome apply(const trace::Op& op) override;
  Snapshot snapshot(SnapshotParts parts) override;
  void unmount() override;

  const Layout& layout() const { return layout_; }

 protected:
  // Mounts the overlay of `layout` on layout.merged.
  virtual MountResult mount_overlay(
      const Layout& layout, const std::vector<std::string>& options) = 0;
  // Unmounts the overlay. The chroot has been left and files closed.
  virtual void unmount_overlay(const Layout& layout) = 0;

  // Runs `op` in the chroot. Subclasses wrap it to watch for hangs.
  trace::Outcome run_in_root(const trace::Op& op);

  // True when an ended case's overlay may stay mounted until its batch is
  // detached (see above); unmount_overlay() is then not called.
  virtual bool batch_unmount() const { return false; }

  // Detaches the batch tmpfs and everything mounted below it. Subclasses
  // that batch call it in their destructors.
  void release_batch();

 private:
  void enter_root();
  void leave_root();
  MountResult prepare(const trace::Scenario& scenario);
  void remove_layers();

  std::string dir_;
  bool private_tmpfs_;
  int host_root_fd_ = -1;
  int host_cwd_fd_ = -1;
  bool mounted_ = false;
  bool layers_ready_ = false;
  bool in_root_ = false;
  bool batch_mounted_ = false;
  int batch_used_ = 0;
  Layout layout_;
  Process process_;
};

}  // namespace ovlsim::harness

#endif  // OVLSIM_HARNESS_REAL_TARGET_H_
