#include "harness/sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace ovlsim::harness {

namespace {

constexpr std::string_view kScratchPrefix = "ovlsim-";

bool write_file(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  bool ok =
      write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

bool on_path(const char* program) {
  const char* path = getenv("PATH");
  std::string_view dirs = path ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    auto colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    if (access((dir + "/" + program).c_str(), X_OK) == 0)
      return true;
    if (colon == std::string_view::npos)
      break;
    dirs.remove_prefix(colon + 1);
  }
  return false;
}

bool filesystem_listed(std::string_view name) {
  std::ifstream in("/proc/filesystems");
  std::string line;
  while (std::getline(in, line)) {
    auto tab = line.rfind('\t');
    if (tab != std::string::npos && line.substr(tab + 1) == name)
      return true;
  }
  return false;
}

// A child that tries unshare(CLONE_NEWUSER | CLONE_NEWNS) tells whether
// unprivileged namespaces are allowed, without changing this process.
bool user_namespaces_allowed() {
  pid_t pid = fork();
  if (pid < 0)
    return false;
  if (pid == 0)
    _exit(unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0 ? 0 : 1);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Maps the caller to root inside the user namespace just entered.
bool map_to_root(uid_t uid, gid_t gid) {
  return write_file("/proc/self/setgroups", "deny") &&
         write_file("/proc/self/uid_map", fmt::format("0 {} 1", uid)) &&
         write_file("/proc/self/gid_map", fmt::format("0 {} 1", gid));
}

// The pid in a scratch name "ovlsim-<pid>-<random>", or 0.
pid_t owner_of(std::string_view name) {
  if (!name.starts_with(kScratchPrefix))
    return 0;
  name.remove_prefix(kScratchPrefix.size());
  pid_t pid = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
  if (ec != std::errc() || end == name.data() + name.size() || *end != '-')
    return 0;
  return pid;
}

}  // namespace

std::string Capabilities::kernel_missing() const {
  if (!overlay)
    return "overlay is not in /proc/filesystems";
  if (!root && !user_namespaces)
    return "not root and user namespaces are not allowed";
  return "";
}

std::string Capabilities::fuse_missing() const {
  if (!fuse)
    return "/dev/fuse cannot be opened";
  if (!fuse_overlayfs)
    return "no fuse-overlayfs binary on PATH";
  if (!root && !user_namespaces)
    return "not root and user namespaces are not allowed";
  return "";
}

Capabilities probe_capabilities() {
  Capabilities caps;
  caps.root = geteuid() == 0;
  caps.user_namespaces = caps.root || user_namespaces_allowed();
  caps.overlay = filesystem_listed("overlay");
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  caps.fuse = fd >= 0;
  if (fd >= 0)
    close(fd);
  caps.fuse_overlayfs = on_path("fuse-overlayfs");
  return caps;
}

int remove_tree(int parent_fd, const std::string& name) {
  int fd = openat(parent_fd, name.c_str(),
                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOTDIR && errno != ELOOP)
      return errno;
    return unlinkat(parent_fd, name.c_str(), 0) == 0 ? 0 : errno;
  }

  struct stat parent_st, st;
  if (fstat(parent_fd, &parent_st) != 0 || fstat(fd, &st) != 0) {
    close(fd);
    return errno;
  }
  if (parent_st.st_dev != st.st_dev) {
    // Another mount: never reach into it.
    close(fd);
    return EBUSY;
  }

  DIR* dir = fdopendir(fd);
  if (dir == nullptr) {
    close(fd);
    return errno;
  }
  std::vector<std::string> names;
  while (dirent* d = readdir(dir)) {
    std::string_view n = d->d_name;
    if (n != "." && n != "..")
      names.emplace_back(n);
  }
  int first_error = 0;
  for (const auto& n : names) {
    int err = remove_tree(dirfd(dir), n);
    if (err != 0 && first_error == 0)
      first_error = err;
  }
  closedir(dir);

  if (unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) != 0 && first_error == 0)
    first_error = errno;
  return first_error;
}

int remove_stale_scratch(const std::string& scratch_root) {
  int root_fd = open(scratch_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0)
    return 0;
  DIR* dir = fdopendir(root_fd);
  if (dir == nullptr) {
    close(root_fd);
    return 0;
  }
  std::vector<std::string> stale;
  while (dirent* d = readdir(dir)) {
    pid_t pid = owner_of(d->d_name);
    if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH)
      stale.emplace_back(d->d_name);
  }
  int removed = 0;
  for (const auto& name : stale)
    if (remove_tree(dirfd(dir), name) == 0)
      removed++;
  closedir(dir);
  return removed;
}

model::Result<Sandbox> Sandbox::enter(const SandboxOptions& options,
                                      std::string* error) {
  auto fail = [&](std::string step) {
    int err = errno != 0 ? errno : EIO;
    if (error != nullptr)
      *error = fmt::format("{}: {}", step, std::strerror(err));
    return model::Errno{err};
  };

  remove_stale_scratch(options.scratch_root);
  if (!options.backing.empty())
    remove_stale_scratch(options.backing);

  uid_t uid = geteuid();
  gid_t gid = getegid();
  bool unprivileged = uid != 0;
  int flags = CLONE_NEWNS | (unprivileged ? CLONE_NEWUSER : 0);
  if (unshare(flags) != 0)
    return fail("cannot enter a private namespace");
  if (unprivileged && !map_to_root(uid, gid))
    return fail("cannot map the user to root in the user namespace");
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return fail("cannot make the mount namespace private");

  std::string parent =
      options.backing.empty() ? options.scratch_root : options.backing;
  std::string templ =
      fmt::format("{}/{}{}-XXXXXX", parent, kScratchPrefix, getpid());
  if (mkdtemp(templ.data()) == nullptr)
    return fail(fmt::format("cannot create a scratch directory in {}", parent));
  if (options.backing.empty() &&
      mount("ovlsim", templ.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
            "mode=0755") != 0) {
    int err = errno;
    rmdir(templ.c_str());
    errno = err;
    return fail(fmt::format("cannot mount a tmpfs on {}", templ));
  }
  Sandbox sandbox(templ, templ, unprivileged);
  sandbox.on_backing_ = !options.backing.empty();
  sandbox.owner_pid_ = getpid();
  return sandbox;
}

Sandbox::Sandbox(Sandbox&& other) noexcept
    : host_dir_(std::move(other.host_dir_)),
      scratch_(std::move(other.scratch_)),
      unprivileged_(other.unprivileged_),
      on_backing_(other.on_backing_),
      owner_pid_(other.owner_pid_) {
  other.owner_pid_ = 0;
}

Sandbox::~Sandbox() {
  // Forked workers inherit a copy; only the process that made the sandbox
  // takes it down.
  if (owner_pid_ == 0 || owner_pid_ != getpid())
    return;
  if (umount2(scratch_.c_str(), MNT_DETACH) == 0) {
    rmdir(host_dir_.c_str());
    return;
  }
  auto slash = host_dir_.rfind('/');
  std::string parent = host_dir_.substr(0, slash);
  int fd = open(parent.empty() ? "/" : parent.c_str(),
                O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return;
  remove_tree(fd, host_dir_.substr(slash + 1));
  close(fd);
}

int run_program(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  // The program dies with the harness: a helper left running after a
  // kill -9 (a `mount -o loop` halfway through) would keep the harness's
  // mount namespace, and whatever it mounts there, alive after the
  // harness is gone.
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
      _exit(127);
    dup2(STDERR_FILENO, STDOUT_FILENO);
    execvp(argv[0], argv.data());
    _exit(127);
  }

  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) != 127 ? WEXITSTATUS(status)
                                                         : -1;
}

}  // namespace ovlsim::harness
