#include "harness/kernel_target.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

namespace ovlsim::harness {

namespace {

// The kernel's log of a filesystem context: one line per message.
std::string read_fs_log(int fs_fd) {
  std::string log;
  char buf[1024];
  ssize_t n;
  while ((n = read(fs_fd, buf, sizeof buf)) > 0) {
    if (!log.empty())
      log += '\n';
    log.append(buf, n);
  }
  return log;
}

int set_option(int fs_fd, const std::string& option) {
  auto eq = option.find('=');
  int rc =
      eq == std::string::npos
          ? fsconfig(fs_fd, FSCONFIG_SET_FLAG, option.c_str(), nullptr, 0)
          : fsconfig(fs_fd, FSCONFIG_SET_STRING, option.substr(0, eq).c_str(),
                     option.c_str() + eq + 1, 0);
  return rc == 0 ? 0 : errno;
}

}  // namespace

KernelTarget::KernelTarget(std::string dir, bool private_tmpfs, MountApi api)
    : RealTarget(std::move(dir), private_tmpfs), api_(api) {}

KernelTarget::~KernelTarget() {
  unmount();
  release_batch();
}

int KernelTarget::mount_new_api(const Layout& layout,
                                const std::vector<std::string>& options) {
  int fs_fd = fsopen("overlay", FSOPEN_CLOEXEC);
  if (fs_fd < 0)
    return errno == ENOSYS ? ENOSYS : errno;

  auto finish = [&](int err) {
    mount_log_ = read_fs_log(fs_fd);
    close(fs_fd);
    return err;
  };

  for (const auto& lower : layout.lowers)
    if (fsconfig(fs_fd, FSCONFIG_SET_STRING, "lowerdir+", lower.c_str(), 0) !=
        0)
      // Before 6.8 the parameter is unknown: fall back to mount(2).
      return finish(errno == EINVAL ? ENOSYS : errno);
  if (!layout.upper.empty()) {
    if (fsconfig(fs_fd, FSCONFIG_SET_STRING, "upperdir", layout.upper.c_str(),
                 0) != 0 ||
        fsconfig(fs_fd, FSCONFIG_SET_STRING, "workdir", layout.work.c_str(),
                 0) != 0)
      return finish(errno);
  }
  for (const auto& option : options)
    if (int err = set_option(fs_fd, option); err != 0)
      return finish(err);
  if (fsconfig(fs_fd, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
    return finish(errno);

  int mnt_fd = fsmount(fs_fd, FSMOUNT_CLOEXEC, 0);
  if (mnt_fd < 0)
    return finish(errno);
  int rc = move_mount(mnt_fd, "", AT_FDCWD, layout.merged.c_str(),
                      MOVE_MOUNT_F_EMPTY_PATH);
  int err = rc == 0 ? 0 : errno;
  close(mnt_fd);
  return finish(err);
}

int KernelTarget::mount_legacy(const Layout& layout,
                               const std::vector<std::string>& options) {
  // Relative names from inside the layout directory keep the option
  // string short.
  std::string data = "lowerdir=";
  for (std::size_t i = 0; i < layout.lowers.size(); i++)
    data += fmt::format("{}l{}", i == 0 ? "" : ":", i + 1);
  if (!layout.upper.empty())
    data += ",upperdir=u,workdir=w";
  for (const auto& option : options)
    data += "," + option;

  int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cwd < 0)
    return errno;
  int err = 0;
  if (chdir(layout.dir.c_str()) != 0 ||
      ::mount("overlay", "m", "overlay", 0, data.c_str()) != 0)
    err = errno;
  if (fchdir(cwd) != 0 && err == 0)
    err = errno;
  close(cwd);
  mount_log_.clear();
  return err;
}

MountResult KernelTarget::mount_overlay(
    const Layout& layout, const std::vector<std::string>& options) {
  int err = ENOSYS;
  if (api_ == MountApi::kAuto) {
    err = mount_new_api(layout, options);
    last_api_ = MountApi::kAuto;
  }
  if (err == ENOSYS) {
    err = mount_legacy(layout, options);
    last_api_ = MountApi::kLegacy;
  }
  if (err != 0)
    return MountResult{err, ""};

  // A leftover in the workdir that the kernel cannot remove makes the
  // mount read-only without an error (see "Workdir handling").
  struct statvfs vfs;
  if (!layout.upper.empty() && (statvfs(layout.merged.c_str(), &vfs) != 0 ||
                                (vfs.f_flag & ST_RDONLY) != 0)) {
    umount2(layout.merged.c_str(), MNT_DETACH);
    return MountResult{0, "the kernel mounted the overlay read-only"};
  }
  return MountResult{};
}

void KernelTarget::unmount_overlay(const Layout& layout) {
  umount2(layout.merged.c_str(), MNT_DETACH);
}

}  // namespace ovlsim::harness
