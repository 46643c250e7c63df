#include "benchmarks/bench_env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include <fmt/format.h>

namespace ovlsim::bench {

namespace {

// The ext4 image: big enough for the largest copy-up benchmark (a few
// 256 MiB files in a lower layer, their copies and the baseline's).
constexpr const char* kExt4ImageSize = "4G";

struct SandboxState {
  bool tried = false;
  std::optional<harness::Sandbox> sandbox;
  std::string why;
  harness::Capabilities caps;
};

SandboxState& sandbox_state() {
  static SandboxState state;
  return state;
}

}  // namespace

bool smoke() {
  const char* value = std::getenv("OVLSIM_BENCH_SMOKE");
  return value != nullptr && *value != '\0' && std::string(value) != "0";
}

const harness::Sandbox* sandbox(std::string* why) {
  SandboxState& s = sandbox_state();
  if (!s.tried) {
    s.tried = true;
    s.caps = harness::probe_capabilities();
    s.why = s.caps.kernel_missing();
    if (s.why.empty()) {
      auto entered = harness::Sandbox::enter({}, &s.why);
      if (entered.ok())
        s.sandbox.emplace(std::move(entered.value()));
    }
  }
  if (!s.sandbox) {
    *why = s.why;
    return nullptr;
  }
  return &*s.sandbox;
}

bool need_kernel(benchmark::State& state) {
  std::string why;
  if (sandbox(&why) != nullptr)
    return true;
  state.SkipWithError(
      fmt::format("skipped: cannot mount overlayfs: {}", why).c_str());
  return false;
}

bool need_fuse(benchmark::State& state) {
  std::string why;
  if (sandbox(&why) == nullptr) {
    state.SkipWithError(
        fmt::format("skipped: no sandbox for fuse-overlayfs: {}", why).c_str());
    return false;
  }
  why = sandbox_state().caps.fuse_missing();
  if (!why.empty()) {
    state.SkipWithError(
        fmt::format("skipped: cannot mount fuse-overlayfs: {}", why).c_str());
    return false;
  }
  return true;
}

std::string new_target_dir(const std::string& prefix, const std::string& base) {
  static int counter = 0;
  std::string why;
  std::string path =
      fmt::format("{}/{}-{}", base.empty() ? sandbox(&why)->scratch() : base,
                  prefix, counter++);
  mkdir(path.c_str(), 0755);
  return path;
}

const std::string& ext4_dir(std::string* why) {
  static bool tried = false;
  static std::string dir;
  static std::string error;
  if (tried) {
    *why = error;
    return dir;
  }
  tried = true;

  const harness::Sandbox* box = sandbox(&error);
  if (box == nullptr) {
    *why = error;
    return dir;
  }
  std::string image = box->scratch() + "/ext4.img";
  std::string mount_point = box->scratch() + "/ext4";
  // Lazy initialisation off: no kernel thread zeroing inode tables while
  // the benchmarks run.
  if (harness::run_program({"mkfs.ext4", "-q", "-F", "-E",
                            "lazy_itable_init=0,lazy_journal_init=0", image,
                            kExt4ImageSize}) != 0) {
    error = "mkfs.ext4 failed (is e2fsprogs installed?)";
  } else if (mkdir(mount_point.c_str(), 0755) != 0) {
    error =
        fmt::format("cannot create {}: {}", mount_point, std::strerror(errno));
  } else if (harness::run_program({"mount", "-t", "ext4", "-o", "loop", image,
                                   mount_point}) != 0) {
    error = fmt::format("cannot mount {} on a loop device", image);
  } else {
    dir = mount_point;
  }
  *why = error;
  return dir;
}

trace::Scenario make_scenario(model::Stack stack,
                              std::vector<std::string> options) {
  trace::Scenario scenario;
  scenario.stack = std::move(stack);
  for (const auto& option : options)
    (void)model::apply_option(scenario.mount_options, option);
  scenario.options = std::move(options);
  return scenario;
}

void remove_children(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return;
  DIR* dir = fdopendir(fd);
  if (dir == nullptr) {
    close(fd);
    return;
  }
  std::vector<std::string> names;
  while (dirent* d = readdir(dir)) {
    std::string name = d->d_name;
    if (name != "." && name != "..")
      names.push_back(name);
  }
  for (const auto& name : names)
    harness::remove_tree(dirfd(dir), name);
  closedir(dir);
}

int write_file(const std::string& path, std::size_t size, char byte) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return errno;
  std::string chunk(std::min<std::size_t>(size, 1 << 20), byte);
  int err = 0;
  for (std::size_t done = 0; done < size && err == 0;) {
    ssize_t n = write(fd, chunk.data(), std::min(chunk.size(), size - done));
    if (n < 0)
      err = errno;
    else
      done += n;
  }
  close(fd);
  return err;
}

}  // namespace ovlsim::bench
