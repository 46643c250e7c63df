#include "harness/fuse_target.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

namespace ovlsim::harness {

namespace {

constexpr long kFuseSuperMagic = 0x65735546;
constexpr auto kStartTimeout = std::chrono::seconds(10);

std::string read_log(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  while (!s.empty() && s.back() == '\n')
    s.pop_back();
  return s;
}

}  // namespace

FuseTarget::FuseTarget(std::string dir, bool private_tmpfs,
                       std::chrono::milliseconds op_timeout,
                       std::string program)
    : RealTarget(std::move(dir), private_tmpfs),
      op_timeout_(op_timeout),
      program_(std::move(program)) {
  watchdog_ = std::thread([this] { watch(); });
}

FuseTarget::~FuseTarget() {
  unmount();
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  watchdog_.join();
}

void FuseTarget::watch() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (!busy_) {
      cv_.wait(lock);
      continue;
    }
    if (cv_.wait_until(lock, deadline_) != std::cv_status::timeout)
      continue;
    if (!busy_ || std::chrono::steady_clock::now() < deadline_)
      continue;
    // The daemon did not answer in time. Killing it aborts the FUSE
    // connection, and the blocked call returns ENOTCONN.
    failure_ = fmt::format("fuse-overlayfs did not answer within {} ms; killed",
                           op_timeout_.count());
    if (daemon_ > 0)
      kill(daemon_, SIGKILL);
    busy_ = false;
  }
}

bool FuseTarget::daemon_alive() {
  if (daemon_ <= 0)
    return false;
  int status;
  pid_t pid = waitpid(daemon_, &status, WNOHANG);
  if (pid == 0)
    return true;
  daemon_ = -1;
  return false;
}

void FuseTarget::reap(std::chrono::milliseconds grace) {
  if (daemon_ <= 0)
    return;
  auto until = std::chrono::steady_clock::now() + grace;
  while (daemon_alive() && std::chrono::steady_clock::now() < until)
    usleep(200);
  if (daemon_ > 0) {
    kill(daemon_, SIGKILL);
    waitpid(daemon_, nullptr, 0);
    daemon_ = -1;
  }
}

MountResult FuseTarget::mount_overlay(const Layout& layout,
                                      const std::vector<std::string>& options) {
  {
    std::lock_guard lock(mu_);
    failure_.clear();
  }
  std::string data = "lowerdir=";
  for (std::size_t i = 0; i < layout.lowers.size(); i++)
    data += (i == 0 ? "" : ":") + layout.lowers[i];
  if (!layout.upper.empty())
    data += ",upperdir=" + layout.upper + ",workdir=" + layout.work;
  // The trace's own options go along: fuse-overlayfs decides, as the
  // kernel does, which it takes, ignores or refuses.
  for (const std::string& option : options)
    data += "," + option;

  log_path_ = layout.dir + "/daemon.log";
  std::vector<std::string> args = {program_, "-f", "-o", data, layout.merged};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0)
    return MountResult{0,
                       fmt::format("cannot start {}: fork failed", program_)};
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log >= 0) {
      dup2(log, 1);
      dup2(log, 2);
    }
    execvp(argv[0], argv.data());
    _exit(127);
  }
  daemon_ = pid;

  auto until = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < until) {
    struct statfs fs;
    if (statfs(layout.merged.c_str(), &fs) == 0 && fs.f_type == kFuseSuperMagic)
      return MountResult{};
    // A daemon that gives up before mounting refused the mount, as the
    // kernel refuses one with EINVAL: fuse-overlayfs says why only on
    // stderr, so the errno stands for its refusal.
    if (!daemon_alive())
      return MountResult{EINVAL, ""};
    usleep(500);
  }
  reap(std::chrono::milliseconds(0));
  return MountResult{0, fmt::format("{} did not mount within {} s", program_,
                                    kStartTimeout.count())};
}

trace::Outcome FuseTarget::apply(const trace::Op& op) {
  if (!failure().empty())
    return trace::Outcome{ENOTCONN, {}};
  {
    std::lock_guard lock(mu_);
    deadline_ = std::chrono::steady_clock::now() + op_timeout_;
    busy_ = true;
  }
  cv_.notify_all();
  trace::Outcome outcome = RealTarget::apply(op);
  {
    std::lock_guard lock(mu_);
    busy_ = false;
  }
  if (failure().empty() && !daemon_alive()) {
    std::lock_guard lock(mu_);
    failure_ = fmt::format("fuse-overlayfs died: {}", read_log(log_path_));
  }
  return outcome;
}

std::string FuseTarget::failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

void FuseTarget::unmount_overlay(const Layout& layout) {
  if (umount2(layout.merged.c_str(), 0) != 0) {
    // Without root in the initial namespace, fusermount3 may be needed.
    pid_t pid = fork();
    if (pid == 0) {
      execlp("fusermount3", "fusermount3", "-u", "-z", layout.merged.c_str(),
             nullptr);
      _exit(127);
    }
    if (pid > 0)
      waitpid(pid, nullptr, 0);
    umount2(layout.merged.c_str(), MNT_DETACH);
  }
  reap(std::chrono::milliseconds(2000));
}

}  // namespace ovlsim::harness
