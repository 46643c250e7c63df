// What the benchmarks of real mounts share: the sandbox, the checks for
// what the machine lacks, remounting a stack on the layers already written,
// an ext4 backing filesystem, and the smoke mode of CTest.
//
// Every real mount of a benchmark program lives in one harness Sandbox,
// entered the first time a benchmark needs it (while the program still has
// one thread) and left when the program exits. Mounts and layers come from
// the harness targets (KernelTarget, FuseTarget); this file adds only what
// a benchmark needs beyond one mount per scenario.
#ifndef OVLSIM_BENCHMARKS_BENCH_ENV_H_
#define OVLSIM_BENCHMARKS_BENCH_ENV_H_

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "harness/fuse_target.h"
#include "harness/kernel_target.h"
#include "harness/sandbox.h"
#include "model/overlay.h"
#include "trace/scenario.h"

namespace ovlsim::bench {

// True when OVLSIM_BENCH_SMOKE is set to anything but "" or "0": the
// benchmarks then register a reduced set of arguments, so that one run of
// each takes a moment (CTest's smoke run sets it).
bool smoke();

// The sandbox of this program, entered on first use. Returns null and
// sets `why` when the machine cannot mount overlays (no root or user
// namespaces, no overlay in /proc/filesystems) or the sandbox fails.
const harness::Sandbox* sandbox(std::string* why);

// Marks the benchmark skipped, with a message naming what is missing, and
// returns false when kernel overlay mounts (or fuse-overlayfs mounts) are
// not possible here.
bool need_kernel(benchmark::State& state);
bool need_fuse(benchmark::State& state);

// A fresh, empty directory for one target: "<base>/<prefix>-<n>", where
// `base` defaults to the sandbox's scratch directory.
// REQUIRES: sandbox() succeeded.
std::string new_target_dir(const std::string& prefix,
                           const std::string& base = "");

// The mount point of an ext4 filesystem, on a loop device over an image in
// the sandbox's scratch tmpfs, made with mkfs.ext4 and mounted on first use
// (inside the sandbox's mount namespace, so it goes when the program
// does). Returns "" and sets `why` when that fails.
const std::string& ext4_dir(std::string* why);

// A scenario mounting `stack` with `options` (the kernel's spelling).
trace::Scenario make_scenario(model::Stack stack,
                              std::vector<std::string> options = {});

// A harness target whose overlay can be unmounted and mounted again on the
// layers it already wrote, so that a benchmark can start from a cold cache
// or an empty upper layer without writing the lower layers again.
template <class Base>
class Remountable : public Base {
 public:
  using Base::Base;

  // Unmounts the overlay and mounts it again with `options`. With
  // `clear_upper` the upper layer and the workdir are emptied in between.
  // REQUIRES: mounted.
  harness::MountResult remount(const std::vector<std::string>& options,
                               bool clear_upper) {
    const harness::Layout& layout = this->layout();
    this->unmount_overlay(layout);
    if (clear_upper) {
      empty_dir(layout.upper);
      empty_dir(layout.work);
    }
    return this->mount_overlay(layout, options);
  }

 private:
  static void empty_dir(const std::string& path);
};

using KernelMount = Remountable<harness::KernelTarget>;
using FuseMount = Remountable<harness::FuseTarget>;

// Removes every entry of the directory `path` (not crossing mounts).
void remove_children(const std::string& path);

template <class Base>
void Remountable<Base>::empty_dir(const std::string& path) {
  remove_children(path);
}

// Seconds that `fn` took, by the monotonic clock.
template <class Fn>
double seconds_of(Fn&& fn) {
  auto start = std::chrono::steady_clock::now();
  std::forward<Fn>(fn)();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

// Writes `size` bytes of `byte` to a new file `path`. Returns 0 or errno.
int write_file(const std::string& path, std::size_t size, char byte);

}  // namespace ovlsim::bench

#endif  // OVLSIM_BENCHMARKS_BENCH_ENV_H_
