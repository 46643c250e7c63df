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
//   kernel_cold_ext4, baseline_ext4
//                the same with the layers on ext4 (a loop-mounted image):
//                ext4 keeps negative dentries, which tmpfs drops at once
// The name's last number is the depth. Times are wall-clock per lookup.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <string>
#include <utility>
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

enum class Backing { kTmpfs, kExt4 };

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

// One stack mounted for real, with descriptors of the merged directory
// and of the bottom layer's.
struct RealStack {
  std::unique_ptr<KernelMount> kernel;
  std::string error;
  int merged_fd = -1;
  int bottom_fd = -1;

  ~RealStack() { close_fds(); }

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

  // Mounts `stack` on first use, on a tmpfs of its own or, with `base`, in
  // a directory of that filesystem. Returns false and sets `error` when
  // that fails.
  bool mount(const model::Stack& stack, const std::string& base) {
    if (kernel)
      return error.empty();
    kernel = std::make_unique<KernelMount>(new_target_dir("lookup", base),
                                           base.empty());
    harness::MountResult r = kernel->mount(make_scenario(stack));
    if (!r.ok()) {
      error = r.failure.empty() ? fmt::format("mount failed: errno {}", r.err)
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

// The stack of one depth, in the model and mounted for real on tmpfs and
// on ext4; made when a benchmark of another depth asks for it. Benchmarks
// are registered depth by depth, so each stack is written once.
struct DepthFixture {
  int depth = 0;
  model::Stack stack;
  std::optional<model::Overlay> model;
  RealStack tmpfs;
  RealStack ext4;
};

// The fixture's real stack on `backing`, mounted; null after marking the
// benchmark skipped when that is not possible.
RealStack* real_stack(benchmark::State& state, DepthFixture& f,
                      Backing backing) {
  std::string base;
  if (backing == Backing::kExt4) {
    std::string why;
    base = ext4_dir(&why);
    if (base.empty()) {
      state.SkipWithError(fmt::format("skipped: no ext4: {}", why).c_str());
      return nullptr;
    }
  }
  RealStack& real = backing == Backing::kExt4 ? f.ext4 : f.tmpfs;
  if (!real.mount(f.stack, base)) {
    state.SkipWithError(real.error.c_str());
    return nullptr;
  }
  return &real;
}

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
  if (RealStack* real = real_stack(state, fixture(depth), Backing::kTmpfs))
    warm_stat(state, real->merged_fd, kind);
}

void BM_Baseline(benchmark::State& state, int depth, Kind kind,
                 Backing backing) {
  if (!need_kernel(state))
    return;
  if (RealStack* real = real_stack(state, fixture(depth), backing))
    warm_stat(state, real->bottom_fd, kind);
}

void BM_KernelCold(benchmark::State& state, int depth, Kind kind,
                   Backing backing) {
  if (!need_kernel(state))
    return;
  RealStack* real = real_stack(state, fixture(depth), backing);
  if (real == nullptr)
    return;
  std::vector<std::string> paths;
  for (int k = 0; k < kNames; k++)
    paths.push_back(path_of(kind, k));

  int k = 0;
  for (auto _ : state) {
    if (k == 0 && !real->remount()) {
      state.SkipWithError("mounting the overlay again failed");
      return;
    }
    struct stat st;
    int rc = 0, err = 0;
    double s = seconds_of([&] {
      rc = fstatat(real->merged_fd, paths[k].c_str(), &st, AT_SYMLINK_NOFOLLOW);
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
      for (auto [suffix, backing] : {std::pair{"", Backing::kTmpfs},
                                     std::pair{"_ext4", Backing::kExt4}}) {
        benchmark::RegisterBenchmark(
            name(fmt::format("baseline{}", suffix).c_str()).c_str(),
            BM_Baseline, depth, kind, backing)
            ->Arg(depth)
            ->MinTime(min_time)
            ->UseRealTime();
        benchmark::RegisterBenchmark(
            name(fmt::format("kernel_cold{}", suffix).c_str()).c_str(),
            BM_KernelCold, depth, kind, backing)
            ->Arg(depth)
            ->Iterations(cold_iterations)
            ->UseManualTime();
      }
      benchmark::RegisterBenchmark(name("kernel_warm").c_str(), BM_KernelWarm,
                                   depth, kind)
          ->Arg(depth)
          ->MinTime(min_time)
          ->UseRealTime();
    }
  }
  return 0;
}

[[maybe_unused]] const int registered = register_all();

}  // namespace
}  // namespace ovlsim::bench
