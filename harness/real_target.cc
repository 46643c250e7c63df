#include "harness/real_target.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include "harness/populate.h"
#include "harness/sandbox.h"

namespace ovlsim::harness {

PhaseTimes& PhaseTimes::operator+=(const PhaseTimes& other) {
  populate += other.populate;
  mount += other.mount;
  ops += other.ops;
  snapshot += other.snapshot;
  unmount += other.unmount;
  mounts += other.mounts;
  operations += other.operations;
  snapshots += other.snapshots;
  return *this;
}

RealTarget::RealTarget(std::string dir, bool private_tmpfs)
    : dir_(std::move(dir)), private_tmpfs_(private_tmpfs) {
  host_root_fd_ = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  host_cwd_fd_ = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert(host_root_fd_ >= 0 && host_cwd_fd_ >= 0 &&
         "the root and working directories must be reachable");
}

RealTarget::~RealTarget() {
  // Subclasses unmount in their destructors; this only releases the rest.
  leave_root();
  remove_layers();
  release_batch();
  close(host_root_fd_);
  close(host_cwd_fd_);
}

void RealTarget::enter_root() {
  if (in_root_)
    return;
  int rc = chroot(layout_.merged.c_str());
  assert(rc == 0 && "chroot into the merged directory must work as root");
  rc = chdir("/");
  assert(rc == 0 && "chdir to the new root cannot fail");
  (void)rc;
  in_root_ = true;
}

void RealTarget::leave_root() {
  if (!in_root_)
    return;
  // The saved descriptor of the host's root leads out of the chroot.
  int rc = fchdir(host_root_fd_);
  if (rc == 0)
    rc = chroot(".");
  if (rc == 0)
    rc = fchdir(host_cwd_fd_);
  assert(rc == 0 && "leaving the chroot through the saved root must work");
  (void)rc;
  in_root_ = false;
}

MountResult RealTarget::prepare(const trace::Scenario& scenario) {
  const model::Stack& stack = scenario.stack;
  auto broken = [](std::string what) {
    return MountResult{0, std::move(what)};
  };

  layout_ = Layout{};
  if (private_tmpfs_ && !batch_mounted_) {
    if (::mount("ovlsim", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                "mode=0755") != 0)
      return broken(fmt::format("cannot mount a tmpfs on {}: {}", dir_,
                                std::strerror(errno)));
    batch_mounted_ = true;
    batch_used_ = 0;
  }
  std::string case_dir =
      private_tmpfs_ ? fmt::format("c{}", batch_used_++) : "r";
  layout_.dir = dir_ + "/" + case_dir;
  if (mkdir(layout_.dir.c_str(), 0755) != 0)
    return broken(
        fmt::format("cannot create {}: {}", layout_.dir, std::strerror(errno)));
  layers_ready_ = true;

  int dir_fd = open(layout_.dir.c_str(),
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd < 0)
    return broken(
        fmt::format("cannot open {}: {}", layout_.dir, std::strerror(errno)));

  auto make_layer = [&](const std::string& name, const model::Layer* layer,
                        std::string& path) -> std::string {
    path = layout_.dir + "/" + name;
    if (mkdirat(dir_fd, name.c_str(), 0755) != 0)
      return fmt::format("cannot create {}: {}", path, std::strerror(errno));
    if (layer == nullptr)
      return "";
    int fd = openat(dir_fd, name.c_str(),
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return fmt::format("cannot open {}: {}", path, std::strerror(errno));
    std::string error;
    auto status = populate_layer(fd, *layer, &error);
    close(fd);
    if (!status.ok())
      return fmt::format("cannot populate {}: {}", path, error);
    return "";
  };

  // Layers on the first layer's filesystem live in the case directory;
  // each other filesystem is a tmpfs of its own below it, and one with a
  // null UUID an ext4 made without one, on a loop device.
  std::string error;
  std::vector<std::string> names = trace::layer_filesystems(scenario);
  auto null_uuid = [&](const std::string& name) {
    return std::find(scenario.null_uuid_fs.begin(), scenario.null_uuid_fs.end(),
                     name) != scenario.null_uuid_fs.end();
  };
  auto mount_tmpfs = [&](int at, const std::string& dir) -> std::string {
    std::string path = layout_.dir + "/" + dir;
    if (mkdirat(at, dir.c_str(), 0755) != 0 ||
        ::mount("ovlsim", path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                "mode=0755") != 0)
      return fmt::format("cannot mount a tmpfs on {}: {}", path,
                         std::strerror(errno));
    layout_.filesystems.push_back(path);
    return "";
  };
  auto mount_null_uuid_ext4 = [&](int at,
                                  const std::string& dir) -> std::string {
    std::string path = layout_.dir + "/" + dir;
    std::string image = path + ".img";
    int fd = open(image.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool made = fd >= 0 && ftruncate(fd, 16 << 20) == 0;
    if (fd >= 0)
      close(fd);
    if (!made || mkdirat(at, dir.c_str(), 0755) != 0)
      return fmt::format("cannot create {}: {}", path, std::strerror(errno));
    if (run_program({"mkfs.ext4", "-q", "-F", "-U", "clear", "-E",
                     "lazy_itable_init=0,lazy_journal_init=0", image}) != 0)
      return fmt::format("mkfs.ext4 of {} failed (is e2fsprogs installed?)",
                         image);
    if (run_program({"mount", "-t", "ext4", "-o", "loop,nosuid,nodev", image,
                     path}) != 0)
      return fmt::format("cannot mount {} on a loop device", image);
    layout_.filesystems.push_back(path);
    return "";
  };
  std::map<std::string, std::string> fs_dirs;
  auto place = [&](std::size_t layer, const std::string& name) {
    const std::string& fs = names[layer];
    if (fs == names[0] && !null_uuid(fs))
      return name;
    auto [it, fresh] =
        fs_dirs.try_emplace(fs, fmt::format("fs{}", fs_dirs.size()));
    if (fresh && error.empty())
      error = null_uuid(fs) ? mount_null_uuid_ext4(dir_fd, it->second)
                            : mount_tmpfs(dir_fd, it->second);
    return it->second + "/" + name;
  };

  std::size_t first_lower = stack.upper ? 1 : 0;
  layout_.lowers.resize(stack.lowers.size());
  for (std::size_t i = 0; i < stack.lowers.size() && error.empty(); i++) {
    std::string name = place(first_lower + i, fmt::format("l{}", i + 1));
    if (error.empty())
      error = make_layer(name, &stack.lowers[i], layout_.lowers[i]);
  }
  if (error.empty() && stack.upper) {
    error = make_layer(place(0, "u"), &*stack.upper, layout_.upper);
    if (error.empty())
      error = make_layer(place(0, "w"), nullptr, layout_.work);
  }
  if (error.empty())
    error = make_layer("m", nullptr, layout_.merged);
  close(dir_fd);
  return broken(error);
}

// Cases a batch tmpfs holds before it is detached.
constexpr int kBatchCases = 64;

void RealTarget::release_batch() {
  if (!batch_mounted_)
    return;
  leave_root();
  umount2(dir_.c_str(), MNT_DETACH);
  batch_mounted_ = false;
  batch_used_ = 0;
}

void RealTarget::remove_layers() {
  if (!layers_ready_)
    return;
  layers_ready_ = false;
  if (private_tmpfs_) {
    if (batch_used_ >= kBatchCases)
      release_batch();
    return;
  }
  for (const std::string& fs : layout_.filesystems)
    umount2(fs.c_str(), MNT_DETACH);
  int fd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return;
  remove_tree(fd, "r");
  close(fd);
}

MountResult RealTarget::mount(const trace::Scenario& scenario) {
  assert(!mounted_ && "mount of a target that is mounted");
  times_.mounts++;
  {
    PhaseTimer timer(times_.populate);
    MountResult prepared = prepare(scenario);
    if (!prepared.ok()) {
      remove_layers();
      return prepared;
    }
  }

  MountResult result;
  {
    PhaseTimer timer(times_.mount);
    result = mount_overlay(layout_, scenario.options);
  }
  if (!result.ok()) {
    PhaseTimer timer(times_.unmount);
    remove_layers();
    return result;
  }
  mounted_ = true;
  return result;
}

trace::Outcome RealTarget::run_in_root(const trace::Op& op) {
  enter_root();
  return process_.apply(op);
}

trace::Outcome RealTarget::apply(const trace::Op& op) {
  assert(mounted_ && "apply on a target that is not mounted");
  PhaseTimer timer(times_.ops);
  times_.operations++;
  return run_in_root(op);
}

Snapshot RealTarget::snapshot(SnapshotParts parts) {
  assert(mounted_ && "snapshot of a target that is not mounted");
  PhaseTimer timer(times_.snapshot);
  times_.snapshots++;
  leave_root();

  // The merged view first: lookups through the mount may still add lazy
  // origin and impure xattrs to the upper layer (LK-15).
  Snapshot snap;
  if (reads_views(parts)) {
    if (auto merged = read_tree(layout_.merged); merged.ok())
      snap.merged = std::move(merged.value());
    if (!layout_.upper.empty())
      if (auto upper = read_tree(layout_.upper); upper.ok())
        snap.upper = std::move(upper.value());
  }
  if (reads_lowers(parts))
    for (const auto& lower : layout_.lowers)
      if (auto tree = read_tree(lower); tree.ok())
        snap.lowers.push_back(std::move(tree.value()));
  return snap;
}

void RealTarget::unmount() {
  if (!mounted_)
    return;
  PhaseTimer timer(times_.unmount);
  leave_root();
  process_.close_all();
  if (!(private_tmpfs_ && batch_unmount()))
    unmount_overlay(layout_);
  mounted_ = false;
  remove_layers();
}

}  // namespace ovlsim::harness
