// The harness mounts as root, so what it mounts must never reach the host:
// every mount lives in a private mount namespace under a scratch directory
// the harness made, and nothing stays mounted after it exits, is
// interrupted or is killed. These tests run the real `ovlsim` binary and
// watch the host's mount table while it works.
#include "harness/sandbox.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "tests/harness/requirements.h"

extern char** environ;

namespace ovlsim::harness {
namespace {

namespace fs = std::filesystem;

// A fresh scratch root, so that only this test's runs are looked at.
std::string scratch_root(const std::string& name) {
  fs::path dir = fs::temp_directory_path() /
                 fmt::format("ovlsim-sandbox-test-{}-{}", getpid(), name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// The host's mount table lines that name `dir` or anything below it.
std::vector<std::string> mounts_under(const std::string& dir) {
  std::ifstream in("/proc/self/mountinfo");
  std::vector<std::string> found;
  for (std::string line; std::getline(in, line);)
    if (line.find(dir) != std::string::npos)
      found.push_back(line);
  return found;
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  return names;
}

// Starts `ovlsim ARGS...` with its output sent to /dev/null.
pid_t start(const std::vector<std::string>& args) {
  std::vector<std::string> argv{OVLSIM_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv)
    cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  int err =
      posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(err == 0);
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// Waits until the fuzzer's scratch directory shows up under `root`.
void wait_for_scratch(const std::string& root) {
  for (int i = 0; i < 200 && entries(root).empty(); i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  REQUIRE_FALSE(entries(root).empty());
  // Give it time to mount and run a few cases.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
}

std::vector<std::string> fuzz_args(const std::string& root) {
  return {"fuzz",    "--target", "kernel",     "--seed", "3",
          "--count", "1000000",  "--scratch",  root,     "-j",
          "2",       "--out",    root + "/out"};
}

TEST_CASE("a check mounts nothing the host can see", "[sandbox]") {
  testing::require_kernel_overlay();
  std::string root = scratch_root("check");
  pid_t pid = start({"check", "--target", "kernel", "--scratch", root,
                     OVLSIM_SOURCE_DIR "/traces/docker"});

  // While it runs, and after it ends, the host sees no mount below root.
  bool ran_while_watched = false;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    ran_while_watched = true;
    CHECK(mounts_under(root).empty());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(ran_while_watched);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(mounts_under(root).empty());
  CHECK(entries(root).empty());  // its scratch directory is gone
  fs::remove_all(root);
}

TEST_CASE("nothing stays mounted after an interrupt", "[sandbox]") {
  testing::require_kernel_overlay();
  std::string root = scratch_root("sigint");
  pid_t pid = start(fuzz_args(root));
  wait_for_scratch(root);
  CHECK(mounts_under(root).empty());
  kill(pid, SIGINT);
  int status = wait_for(pid);
  CHECK((WIFSIGNALED(status) || WIFEXITED(status)));
  CHECK(mounts_under(root).empty());
  fs::remove_all(root);
}

TEST_CASE("nothing stays mounted after kill -9, and a later run tidies up",
          "[sandbox]") {
  testing::require_kernel_overlay();
  std::string root = scratch_root("sigkill");
  pid_t pid = start(fuzz_args(root));
  wait_for_scratch(root);
  auto left = entries(root);
  kill(pid, SIGKILL);
  wait_for(pid);

  // The namespace died with the process and took every mount with it; the
  // jobs die with their parent.
  for (int i = 0; i < 100 && !mounts_under(root).empty(); i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(mounts_under(root).empty());

  // Only the empty directory named after the dead process is left.
  fs::path scratch;
  for (const auto& name : left)
    if (name.starts_with("ovlsim-"))
      scratch = fs::path(root) / name;
  REQUIRE_FALSE(scratch.empty());
  REQUIRE(fs::exists(scratch));
  CHECK(fs::is_empty(scratch));
  CHECK(remove_stale_scratch(root) == 1);
  CHECK_FALSE(fs::exists(scratch));
  fs::remove_all(root);
}

TEST_CASE("kill -9 at random moments never leaves a mount behind",
          "[sandbox]") {
  testing::require_kernel_overlay();
  std::string root = scratch_root("random-kills");
  std::ifstream before_in("/proc/self/mountinfo");
  std::string before((std::istreambuf_iterator<char>(before_in)), {});
  std::mt19937 random(20261204);
  for (int round = 0; round < 20; round++) {
    pid_t pid = start({"check", "--target", "kernel", "--quiet", "--scratch",
                       root, OVLSIM_SOURCE_DIR "/traces"});
    // From right after the start to well into the corpus.
    int ms = std::uniform_int_distribution<int>(0, 400)(random);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    CHECK(mounts_under(root).empty());
    kill(pid, SIGKILL);
    wait_for(pid);
  }
  std::ifstream after_in("/proc/self/mountinfo");
  std::string after((std::istreambuf_iterator<char>(after_in)), {});
  CHECK(after == before);
  remove_stale_scratch(root);
  CHECK(entries(root).empty());
  fs::remove_all(root);
}

}  // namespace
}  // namespace ovlsim::harness
