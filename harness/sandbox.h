// The sandbox: a private mount namespace and a scratch tmpfs.
//
// Everything the harness mounts lives in a mount namespace of its own, so
// that no mount is ever visible to the host and every mount disappears with
// the process, even on kill -9. In that namespace the harness mounts a tmpfs
// on a directory it created under the scratch root (/tmp by default) and
// keeps all layers, workdirs and merged directories below it. The host only
// ever sees an empty directory named "ovlsim-<pid>-<random>"; a later run
// removes the ones whose process is gone.
//
// Without root the sandbox enters a new user namespace first, mapping the
// caller to root in it, so that overlay mounts with `userxattr` work on
// kernels that allow unprivileged overlay mounts.
#ifndef OVLSIM_HARNESS_SANDBOX_H_
#define OVLSIM_HARNESS_SANDBOX_H_

#include <string>
#include <vector>

#include "model/result.h"

namespace ovlsim::harness {

struct SandboxOptions {
  // Where the scratch directory is created.
  std::string scratch_root = "/tmp";
  // When set, layers live on the filesystem of this directory instead of
  // a private tmpfs (a subdirectory is created in it and removed at exit).
  std::string backing;
};

// What the machine offers; see probe_capabilities().
struct Capabilities {
  bool root = false;             // euid 0 in the initial user namespace
  bool user_namespaces = false;  // unshare(CLONE_NEWUSER) is allowed
  bool overlay = false;          // "overlay" is in /proc/filesystems
  bool fuse = false;             // /dev/fuse opens
  bool fuse_overlayfs = false;   // a fuse-overlayfs binary is on PATH

  // Why kernel overlay mounts cannot be tested, or "" when they can.
  std::string kernel_missing() const;
  // Why fuse-overlayfs cannot be tested, or "" when it can.
  std::string fuse_missing() const;
};

// Looks at the machine without changing anything. Probing user namespaces
// forks a short-lived child.
Capabilities probe_capabilities();

class Sandbox {
 public:
  // Enters a private mount namespace (and a user namespace without root)
  // and mounts the scratch tmpfs. Removes scratch directories that earlier,
  // killed runs left behind. Must be called while the process has a single
  // thread. Returns EPERM when namespaces are not allowed, or the errno of
  // the failing step; `error` then names the step.
  static model::Result<Sandbox> enter(const SandboxOptions& options,
                                      std::string* error);

  Sandbox(Sandbox&& other) noexcept;
  Sandbox& operator=(Sandbox&&) = delete;
  ~Sandbox();

  // The scratch directory: a tmpfs (or the backing directory) private to
  // this process and its children.
  const std::string& scratch() const { return scratch_; }

  // True when the process is in a user namespace it made (not root).
  bool unprivileged() const { return unprivileged_; }

  // True when the scratch directory is on a backing directory rather than
  // a private tmpfs.
  bool on_backing() const { return on_backing_; }

 private:
  Sandbox(std::string host_dir, std::string scratch, bool unprivileged)
      : host_dir_(std::move(host_dir)),
        scratch_(std::move(scratch)),
        unprivileged_(unprivileged) {}

  std::string host_dir_;  // the directory the host sees (empty after exit)
  std::string scratch_;
  bool unprivileged_ = false;
  bool on_backing_ = false;
  int owner_pid_ = 0;
};

// Removes scratch directories under `scratch_root` whose owning process no
// longer exists. Returns how many were removed.
int remove_stale_scratch(const std::string& scratch_root);

// Removes a directory tree without following symlinks and without crossing
// into other mounts. Returns 0 or the first errno met.
int remove_tree(int parent_fd, const std::string& name);

// Runs a program (looked up in PATH) to completion, its output going to
// stderr. Returns its exit status, or -1 when it could not be started or
// did not exit.
int run_program(const std::vector<std::string>& args);

}  // namespace ovlsim::harness

#endif  // OVLSIM_HARNESS_SANDBOX_H_
