// Harness throughput: operation sequences checked per second.
//
// Each sequence is a trace: a small stack (two lower layers sharing a
// directory, an empty upper layer) and ten random operations, drawn with a
// fixed seed. The harness runner (run_scenario) mounts it on the model as
// reference and on a target, applies each step to both and compares the
// outcomes and the snapshots after every step, then unmounts: what
// `ovlsim check` and `ovlsim fuzz` do per case. Targets: the model itself
// (the cost of the harness alone), the kernel's overlayfs and
// fuse-overlayfs. A run that meets a difference stops at that step; the
// "diverged" counter gives the share of such runs, which are shorter.
//
// Names: harness/<target>; items_per_second is sequences per second.
#include <array>
#include <memory>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "benchmarks/bench_env.h"
#include "harness/fuse_target.h"
#include "harness/kernel_target.h"
#include "harness/model_target.h"
#include "harness/runner.h"
#include "trace/parser.h"

namespace ovlsim::bench {
namespace {

constexpr int kSequences = 64;
constexpr int kOpsPerSequence = 10;

constexpr const char* kLayers = R"(upper
lower
  dir /d
  file /d/x "lower"
  file /a "aaaa"
lower
  dir /d
  file /d/y "lower"
  dir /d/e
  file /d/e/z "z"
  file /b "bbbb"

steps
)";

constexpr std::array<const char*, 10> kPaths = {
    "/a", "/b", "/d", "/d/x", "/d/y", "/d/e", "/d/e/z", "/n", "/d/new", "/e"};

// One random step, in trace syntax, without an expected outcome.
std::string random_step(std::mt19937& rng, int& files) {
  const char* path = kPaths[rng() % kPaths.size()];
  const char* other = kPaths[rng() % kPaths.size()];
  switch (rng() % 9) {
    case 0:
      return fmt::format("stat {}", path);
    case 1: {
      int n = ++files;
      return fmt::format(
          "open f{0} {1} O_RDWR\nwrite f{0} \"data\"\nclose f{0}", n, path);
    }
    case 2:
      return fmt::format("mkdir {} 0755", path);
    case 3:
      return fmt::format("unlink {}", path);
    case 4:
      return fmt::format("rmdir {}", path);
    case 5:
      return fmt::format("readdir {}", path);
    case 6:
      return fmt::format("chmod {} 0600", path);
    case 7:
      return fmt::format("rename {} {}", path, other);
    default:
      return fmt::format("setxattr {} user.k \"v\"", path);
  }
}

// The sequences, parsed once. Sets `error` when one does not parse.
std::vector<trace::Scenario> sequences(std::string* error) {
  std::mt19937 rng(1);
  std::vector<trace::Scenario> out;
  for (int i = 0; i < kSequences; i++) {
    std::string text = fmt::format("title sequence {}\n{}", i, kLayers);
    int files = 0;
    for (int s = 0; s < kOpsPerSequence; s++)
      text += random_step(rng, files) + "\n";
    auto parsed = trace::parse_trace(text, "sequence");
    if (auto* e = std::get_if<trace::ParseError>(&parsed)) {
      *error = fmt::format("sequence {}: line {}: {}", i, e->line, e->message);
      return {};
    }
    out.push_back(std::move(std::get<trace::Scenario>(parsed)));
  }
  return out;
}

void run(benchmark::State& state, harness::Target& target,
         const harness::RunOptions& options) {
  std::string error;
  std::vector<trace::Scenario> all = sequences(&error);
  if (all.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  harness::ModelTarget reference;
  long diverged = 0;
  std::size_t i = 0;
  for (auto _ : state) {
    harness::RunResult r =
        harness::run_scenario(all[i], reference, target, options);
    if (!target.failure().empty()) {
      state.SkipWithError(target.failure().c_str());
      return;
    }
    diverged += r.passed() ? 0 : 1;
    i = (i + 1) % all.size();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["diverged"] = benchmark::Counter(
      static_cast<double>(diverged) / static_cast<double>(state.iterations()));
}

void BM_Model(benchmark::State& state) {
  harness::ModelTarget target;
  run(state, target, {});
}

void BM_Kernel(benchmark::State& state) {
  if (!need_kernel(state))
    return;
  harness::KernelTarget target(new_target_dir("harness"), true);
  run(state, target, {});
}

void BM_Fuse(benchmark::State& state) {
  if (!need_fuse(state))
    return;
  harness::FuseTarget target(new_target_dir("harness-fuse"), true);
  // fuse-overlayfs writes its own upper-layer format: compare the merged
  // view only, as `ovlsim fuzz --target fuse-overlayfs` does. Its link
  // counts differ from the kernel's from the mount on (nlink of a merged
  // directory), which would stop every run at the mount: they are left
  // out, so that the sequences run to their end.
  harness::RunOptions options;
  options.compare.scope = harness::Scope::kMerged;
  options.compare.dialect = harness::Dialect::kFuseOverlayfs;
  options.compare.links = false;
  run(state, target, options);
}

int register_all() {
  double min_time = smoke() ? 0.001 : 2.0;
  benchmark::RegisterBenchmark("harness/model", BM_Model)
      ->MinTime(min_time)
      ->UseRealTime();
  benchmark::RegisterBenchmark("harness/kernel", BM_Kernel)
      ->MinTime(min_time)
      ->UseRealTime();
  benchmark::RegisterBenchmark("harness/fuse_overlayfs", BM_Fuse)
      ->MinTime(min_time)
      ->UseRealTime();
  return 0;
}

[[maybe_unused]] const int registered = register_all();

}  // namespace
}  // namespace ovlsim::bench
