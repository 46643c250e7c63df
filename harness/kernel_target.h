// The Linux kernel's overlayfs as a target.
//
// Mounts with the new mount API: fsopen("overlay"), one fsconfig
// "lowerdir+" per lower layer (so that 500 layers never meet the one-page
// limit of a legacy option string), "upperdir", "workdir" and the options,
// then fsmount and move_mount. On a kernel without the new API or without
// "lowerdir+" it falls back to mount(2) with the short relative layer
// names l1:l2:..., as Docker's l/ links do. After every mount it checks
// whether the kernel silently made the mount read-only (a leftover it could
// not remove from the workdir) and reports that as a failure. An overlay
// whose case ended stays mounted, out of reach, until its batch of cases
// is detached (see real_target.h).
//
// Must run inside a Sandbox.
#ifndef OVLSIM_HARNESS_KERNEL_TARGET_H_
#define OVLSIM_HARNESS_KERNEL_TARGET_H_

#include <string>

#include "harness/real_target.h"

namespace ovlsim::harness {

enum class MountApi {
  kAuto,    // fsopen and lowerdir+, else mount(2)
  kLegacy,  // always mount(2)
};

class KernelTarget : public RealTarget {
 public:
  KernelTarget(std::string dir, bool private_tmpfs,
               MountApi api = MountApi::kAuto);
  ~KernelTarget() override;

  std::string name() const override { return "kernel"; }

  // What the kernel logged about the last mount (fsopen's log, "e ..."
  // lines), for reports.
  const std::string& mount_log() const { return mount_log_; }

  // Which API the last successful mount used.
  MountApi last_api() const { return last_api_; }

 protected:
  MountResult mount_overlay(const Layout& layout,
                            const std::vector<std::string>& options) override;
  void unmount_overlay(const Layout& layout) override;
  bool batch_unmount() const override { return true; }

 private:
  // Returns ENOSYS when the kernel lacks the new mount API or lowerdir+.
  int mount_new_api(const Layout& layout,
                    const std::vector<std::string>& options);
  int mount_legacy(const Layout& layout,
                   const std::vector<std::string>& options);

  MountApi api_;
  MountApi last_api_ = MountApi::kAuto;
  std::string mount_log_;
};

}  // namespace ovlsim::harness

#endif  // OVLSIM_HARNESS_KERNEL_TARGET_H_
