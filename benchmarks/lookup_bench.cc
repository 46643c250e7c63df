// Lookup cost versus the depth of the stack: stat through the merged view
// of 1 to 500 lower layers (and an empty upper layer, as a container has).
//
// Three lookups:
//   bottom    a file that exists only in the bottom layer ("/f0")
//   negative  a name that exists in no layer ("/n0")
//   deep      a file three directories down ("/d0/b/c/f"), where d0, b and
//             c are directories in every layer, so each is merged across
//             all of them; f is only in the bottom layer
// Four series:
//   model        model::Overlay::stat
//   kernel_warm  fstatat on the merged directory, the same name each time:
//                after the first call every dentry is cached
//   kernel_cold  fstatat of a name the overlay has not looked up since it
//                was mounted: the overlay is unmounted and mounted again on
//                the same layers every kNames lookups, and each lookup of
//                a round uses a different name (f0..f7, n0..n7, d0..d7).
//                Only the overlay's dentries are cold: the layers live on
//                tmpfs, whose own dentries are never dropped.
//   baseline     the same fstatat on the bottom layer's directory, outside
//                the overlay
// The name's last number is the depth. Times are wall-clock per lookup.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "benchmarks/bench_env.h"
#include "model/layer.h"
#include "model/overlay.h"

namespace ovlsim::bench {
namespace {

// Distinct names per remount of the cold series.
constexpr int kNames = 8;
// Remounts per cold measurement.
constexpr int kColdRounds = 48;

enum class Kind { kBottom, kNegative, kDeep };

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kBottom:
      return "bottom";
    case Kind::kNegative:
      return "negative";
    case Kind::kDeep:
      return "deep";
  }
  return "?";
}

// The path looked up, relative to the root of the merged view.
std::string path_of(Kind kind, int k) {
  switch (kind) {
    case Kind::kBottom:
      return fmt::format("f{}", k);
    case Kind::kNegative:
      return fmt::format("n{}", k);
    case Kind::kDeep:
      return fmt::format("d{}/b/c/f", k);
  }
  return "";
}

// `depth` lower layers, each with the directories d<k>/b/c; the bottom
// one also holds the files f<k> and d<k>/b/c/f. An empty upper layer.
model::Stack lookup_stack(int depth) {
  model::Stack stack;
  stack.upper.emplace();
  for (int i = 0; i < depth; i++) {
    model::Layer& layer = stack.lowers.emplace_back();
    bool bottom = i == depth - 1;
    for (int k = 0; k < kNames; k++) {
      model::InodeAttrs dir_attrs{.mode = S_IFDIR | 0755};
      auto d = layer.create(layer.root(), fmt::format("d{}", k), dir_attrs);
      auto b = layer.create(d, "b", dir_attrs);
      auto c = layer.create(b, "c", dir_attrs);
      if (bottom) {
        layer.create(c, "f", model::InodeAttrs{.data = "deep"});
        layer.create(layer.root(), fmt::format("f{}", k),
                     model::InodeAttrs{.data = "bottom"});
      }
    }
  }
  return stack;
}

// The stack of one depth, in the model and mounted for real; made when a
// benchmark of another depth asks for it. Benchmarks are registered depth
// by depth, so each stack is written once.
struct DepthFixture {
  int depth = 0;
  model::Stack stack;
  std::optional<model::Overlay> model;
  std::unique_ptr<KernelMount> kernel;
  std::string kernel_error;
  int merged_fd = -1;
  int bottom_fd = -1;

  ~DepthFixture() { close_fds(); }

  void close_fds() {
    if (merged_fd >= 0)
      close(merged_fd);
    if (bottom_fd >= 0)
      close(bottom_fd);
    merged_fd = bottom_fd = -1;
  }

  void open_fds() {
    merged_fd = open(kernel->layout().merged.c_str(),
                     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bottom_fd = open(kernel->layout().lowers.back().c_str(),
                     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }

  // Mounts the stack for real on first use. Returns false and sets
  // kernel_error when that fails.
  bool mount_kernel() {
    if (kernel)
      return kernel_error.empty();
    kernel = std::make_unique<KernelMount>(new_target_dir("lookup"), true);
    harness::MountResult r = kernel->mount(make_scenario(stack));
    if (!r.ok()) {
      kernel_error = r.failure.empty()
                         ? fmt::format("mount failed: errno {}", r.err)
                         : r.failure;
      return false;
    }
    open_fds();
    return true;
  }

  // A fresh overlay on the same layers: no dentry of it is cached.
  bool remount() {
    close_fds();
    harness::MountResult r = kernel->remount({}, false);
    if (!r.ok())
      return false;
    open_fds();
    return true;
  }
};

DepthFixture& fixture(int depth) {
  // The sandbox outlives the fixture: it is made first.
  std::string why;
  (void)sandbox(&why);
  static std::unique_ptr<DepthFixture> current;
  if (!current || current->depth != depth) {
    current.reset();
    current = std::make_unique<DepthFixture>();
    current->depth = depth;
    current->stack = lookup_stack(depth);
  }
  return *current;
}

// True when the stat result is what the lookup must give.
bool expected(Kind kind, int rc, int err) {
  return kind == Kind::kNegative ? rc != 0 && err == ENOENT : rc == 0;
}

void BM_Model(benchmark::State& state, int depth, Kind kind) {
  DepthFixture& f = fixture(depth);
  if (!f.model) {
    auto mounted = model::Overlay::mount(f.stack);
    if (!mounted.ok()) {
      state.SkipWithError("the model refused the stack");
      return;
    }
    f.model.emplace(std::move(mounted.value()));
  }
  std::string path = "/" + path_of(kind, 0);
  if ((kind == Kind::kNegative) == f.model->stat(path).ok()) {
    state.SkipWithError("the model's stat gave an unexpected result");
    return;
  }
  for (auto _ : state)
    benchmark::DoNotOptimize(f.model->stat(path));
}

// fstatat on `dir_fd`, the same name each time.
void warm_stat(benchmark::State& state, int dir_fd, Kind kind) {
  std::string path = path_of(kind, 0);
  struct stat st;
  int rc = fstatat(dir_fd, path.c_str(), &st, AT_SYMLINK_NOFOLLOW);
  if (!expected(kind, rc, errno)) {
    state.SkipWithError(
        fmt::format("stat {}: unexpected result", path).c_str());
    return;
  }
  for (auto _ : state)
    benchmark::DoNotOptimize(
        fstatat(dir_fd, path.c_str(), &st, AT_SYMLINK_NOFOLLOW));
}

void BM_KernelWarm(benchmark::State& state, int depth, Kind kind) {
  if (!need_kernel(state))
    return;
  DepthFixture& f = fixture(depth);
  if (!f.mount_kernel()) {
    state.SkipWithError(f.kernel_error.c_str());
    return;
  }
  warm_stat(state, f.merged_fd, kind);
}

void BM_Baseline(benchmark::State& state, int depth, Kind kind) {
  if (!need_kernel(state))
    return;
  DepthFixture& f = fixture(depth);
  if (!f.mount_kernel()) {
    state.SkipWithError(f.kernel_error.c_str());
    return;
  }
  warm_stat(state, f.bottom_fd, kind);
}

void BM_KernelCold(benchmark::State& state, int depth, Kind kind) {
  if (!need_kernel(state))
    return;
  DepthFixture& f = fixture(depth);
  if (!f.mount_kernel()) {
    state.SkipWithError(f.kernel_error.c_str());
    return;
  }
  std::vector<std::string> paths;
  for (int k = 0; k < kNames; k++)
    paths.push_back(path_of(kind, k));

  int k = 0;
  for (auto _ : state) {
    if (k == 0 && !f.remount()) {
      state.SkipWithError("mounting the overlay again failed");
      return;
    }
    struct stat st;
    int rc = 0, err = 0;
    double s = seconds_of([&] {
      rc = fstatat(f.merged_fd, paths[k].c_str(), &st, AT_SYMLINK_NOFOLLOW);
      err = errno;
    });
    if (!expected(kind, rc, err)) {
      state.SkipWithError(
          fmt::format("stat {}: unexpected result", paths[k]).c_str());
      return;
    }
    state.SetIterationTime(s);
    k = (k + 1) % kNames;
  }
}

int register_all() {
  std::vector<int> depths = {1, 2, 4, 8, 16, 32, 64, 128, 256, 500};
  if (smoke())
    depths = {1, 4};
  const Kind kinds[] = {Kind::kBottom, Kind::kNegative, Kind::kDeep};
  // The minimum time of the warm series; the cold one runs a fixed number
  // of remounts.
  double min_time = smoke() ? 0.001 : 0.2;
  int cold_iterations = smoke() ? kNames : kNames * kColdRounds;

  for (int depth : depths) {
    for (Kind kind : kinds) {
      auto name = [&](const char* series) {
        return fmt::format("lookup/{}/{}", series, kind_name(kind));
      };
      benchmark::RegisterBenchmark(name("model").c_str(), BM_Model, depth, kind)
          ->Arg(depth)
          ->MinTime(min_time)
          ->UseRealTime();
      benchmark::RegisterBenchmark(name("baseline").c_str(), BM_Baseline, depth,
                                   kind)
          ->Arg(depth)
          ->MinTime(min_time)
          ->UseRealTime();
      benchmark::RegisterBenchmark(name("kernel_warm").c_str(), BM_KernelWarm,
                                   depth, kind)
          ->Arg(depth)
          ->MinTime(min_time)
          ->UseRealTime();
      benchmark::RegisterBenchmark(name("kernel_cold").c_str(), BM_KernelCold,
                                   depth, kind)
          ->Arg(depth)
          ->Iterations(cold_iterations)
          ->UseManualTime();
    }
  }
  return 0;
}

[[maybe_unused]] const int registered = register_all();

}  // namespace
}  // namespace ovlsim::bench
