// Merged readdir: reading a whole directory whose entries are spread over
// 1 to 64 lower layers, 10 to 10,000 entries, with and without whiteouts.
//
// The directory /d exists in every lower layer; entry e<i> is a file in
// layer i mod L. "whiteouts" adds half as many names again in the bottom
// layer, each hidden by a whiteout in the upper layer (as rm in a container
// leaves them), so that the merge reads and drops them; without whiteouts
// the upper layer is empty. With one lower layer and no whiteouts /d is not
// a merged directory and overlayfs reads the lower directory directly.
//
// Series: the model (Overlay::readdir); the kernel (opendir, readdir to
// the end, closedir on the merged directory: the merged list is built
// again on every open, because overlayfs drops its cache with the last
// open file); the baseline, the same read of one plain tmpfs directory of
// as many entries. Names: readdir/<series>/<whiteouts|no_whiteouts>/
// <entries>/<layers>, and readdir/baseline/plain/<entries>.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "benchmarks/bench_env.h"
#include "model/layer.h"
#include "model/overlay.h"
#include "model/whiteout.h"

namespace ovlsim::bench {
namespace {

model::Stack readdir_stack(int entries, int layers, bool whiteouts) {
  model::Stack stack;
  stack.upper.emplace();
  std::vector<model::InodeNumber> dirs;
  for (int l = 0; l < layers; l++) {
    model::Layer& layer = stack.lowers.emplace_back();
    dirs.push_back(layer.create(layer.root(), "d",
                                model::InodeAttrs{.mode = S_IFDIR | 0755}));
  }
  for (int i = 0; i < entries; i++)
    stack.lowers[i % layers].create(dirs[i % layers], fmt::format("e{}", i),
                                    model::InodeAttrs{});
  if (whiteouts) {
    model::Layer& upper = *stack.upper;
    auto upper_d = upper.create(upper.root(), "d",
                                model::InodeAttrs{.mode = S_IFDIR | 0755});
    for (int j = 0; j < entries / 2; j++) {
      std::string name = fmt::format("w{}", j);
      stack.lowers.back().create(dirs.back(), name, model::InodeAttrs{});
      upper.create(upper_d, name, model::whiteout_attrs({}));
    }
  }
  return stack;
}

// Reads the directory `path` to the end; returns the number of entries
// other than "." and "..", or -1.
long read_dir(const std::string& path) {
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr)
    return -1;
  long n = 0;
  while (dirent* d = readdir(dir))
    if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
      n++;
  closedir(dir);
  return n;
}

void BM_Model(benchmark::State& state, bool whiteouts) {
  int entries = static_cast<int>(state.range(0));
  int layers = static_cast<int>(state.range(1));
  auto mounted =
      model::Overlay::mount(readdir_stack(entries, layers, whiteouts));
  if (!mounted.ok()) {
    state.SkipWithError("the model refused the stack");
    return;
  }
  model::Overlay& ovl = mounted.value();
  auto listed = ovl.readdir("/d");
  if (!listed.ok() || static_cast<int>(listed.value().size()) < entries ||
      static_cast<int>(listed.value().size()) > entries + 2) {
    state.SkipWithError("the model listed the wrong entries");
    return;
  }
  for (auto _ : state)
    benchmark::DoNotOptimize(ovl.readdir("/d"));
  state.SetItemsProcessed(state.iterations() * entries);
}

void BM_Kernel(benchmark::State& state, bool whiteouts) {
  if (!need_kernel(state))
    return;
  int entries = static_cast<int>(state.range(0));
  int layers = static_cast<int>(state.range(1));
  KernelMount target(new_target_dir("readdir"), true);
  harness::MountResult r =
      target.mount(make_scenario(readdir_stack(entries, layers, whiteouts)));
  if (!r.ok()) {
    state.SkipWithError((r.failure.empty()
                             ? fmt::format("mount failed: {}", strerror(r.err))
                             : r.failure)
                            .c_str());
    return;
  }
  std::string dir = target.layout().merged + "/d";
  if (read_dir(dir) != entries) {
    state.SkipWithError(
        fmt::format("{} does not list {} entries", dir, entries).c_str());
    return;
  }
  for (auto _ : state)
    benchmark::DoNotOptimize(read_dir(dir));
  state.SetItemsProcessed(state.iterations() * entries);
}

void BM_Baseline(benchmark::State& state) {
  if (!need_kernel(state))
    return;
  int entries = static_cast<int>(state.range(0));
  std::string dir = new_target_dir("readdir-plain");
  for (int i = 0; i < entries; i++)
    if (int err = write_file(fmt::format("{}/e{}", dir, i), 0, 'x'); err != 0) {
      state.SkipWithError(
          fmt::format("cannot create a file in {}: {}", dir, strerror(err))
              .c_str());
      return;
    }
  for (auto _ : state)
    benchmark::DoNotOptimize(read_dir(dir));
  state.SetItemsProcessed(state.iterations() * entries);
  remove_children(dir);
}

int register_all() {
  std::vector<long> entry_counts = {10, 100, 1000, 10000};
  std::vector<long> layer_counts = {1, 4, 16, 64};
  if (smoke()) {
    entry_counts = {10};
    layer_counts = {1, 4};
  }
  double min_time = smoke() ? 0.001 : 0.1;

  for (long entries : entry_counts)
    benchmark::RegisterBenchmark("readdir/baseline/plain", BM_Baseline)
        ->Arg(entries)
        ->MinTime(min_time)
        ->UseRealTime();
  for (bool whiteouts : {false, true}) {
    const char* wo = whiteouts ? "whiteouts" : "no_whiteouts";
    for (long entries : entry_counts)
      for (long layers : layer_counts) {
        benchmark::RegisterBenchmark(
            fmt::format("readdir/model/{}", wo).c_str(), BM_Model, whiteouts)
            ->Args({entries, layers})
            ->MinTime(min_time)
            ->UseRealTime();
        benchmark::RegisterBenchmark(
            fmt::format("readdir/kernel/{}", wo).c_str(), BM_Kernel, whiteouts)
            ->Args({entries, layers})
            ->MinTime(min_time)
            ->UseRealTime();
      }
  }
  return 0;
}

[[maybe_unused]] const int registered = register_all();

}  // namespace
}  // namespace ovlsim::bench
