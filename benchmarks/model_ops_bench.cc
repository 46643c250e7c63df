// The model's raw speed: random operation sequences on a small stack, one
// operation per benchmark iteration. Reports operations per second as
// items_per_second.
#include <fcntl.h>
#include <sys/stat.h>

#include <array>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "model/layer.h"
#include "model/overlay.h"

namespace ovlsim::model {
namespace {

constexpr std::array<const char*, 12> kPaths = {
    "/a",     "/b", "/d",   "/d/x", "/d/y",   "/d/e",
    "/d/e/z", "/n", "/n/m", "/a/q", "/d/new", "/e"};

// Two lower layers sharing the directory /d, with files on both levels.
Stack small_stack() {
  Stack stack;
  stack.upper.emplace();
  for (int level = 0; level < 2; level++) {
    Layer& layer = stack.lowers.emplace_back();
    InodeNumber d =
        layer.create(layer.root(), "d", InodeAttrs{.mode = S_IFDIR | 0755});
    layer.create(d, level == 0 ? "x" : "y", InodeAttrs{.data = "lower"});
    layer.create(layer.root(), level == 0 ? "a" : "b",
                 InodeAttrs{.data = std::string(100, 'a')});
    if (level == 1) {
      InodeNumber e = layer.create(d, "e", InodeAttrs{.mode = S_IFDIR | 0755});
      layer.create(e, "z", InodeAttrs{.data = "z"});
    }
  }
  return stack;
}

// One random operation through the merged view; errors are part of the
// workload, as they are in fuzzing.
void random_op(Overlay& ovl, std::mt19937& rng) {
  const char* path = kPaths[rng() % kPaths.size()];
  const char* other = kPaths[rng() % kPaths.size()];
  switch (rng() % 10) {
    case 0:
      benchmark::DoNotOptimize(ovl.stat(path));
      break;
    case 1: {
      auto fd = ovl.open(path, O_RDWR);
      if (fd) {
        benchmark::DoNotOptimize(ovl.write(*fd, "data"));
        (void)ovl.close(*fd);
      }
      break;
    }
    case 2:
      benchmark::DoNotOptimize(ovl.mkdir(path, 0755));
      break;
    case 3:
      benchmark::DoNotOptimize(ovl.unlink(path));
      break;
    case 4:
      benchmark::DoNotOptimize(ovl.rmdir(path));
      break;
    case 5:
      benchmark::DoNotOptimize(ovl.readdir(path));
      break;
    case 6:
      benchmark::DoNotOptimize(ovl.chmod(path, 0600));
      break;
    case 7:
      benchmark::DoNotOptimize(ovl.rename(path, other));
      break;
    case 8:
      benchmark::DoNotOptimize(ovl.setxattr(path, "user.k", "v"));
      break;
    default:
      benchmark::DoNotOptimize(ovl.lstat(path));
      break;
  }
}

// Sequences of 10 operations, each on a freshly mounted copy of the stack,
// as the fuzzer runs them; the copy and the mount are timed too.
void BM_ModelRandomSequence(benchmark::State& state) {
  const Stack stack = small_stack();
  std::mt19937 rng(1);
  for (auto _ : state) {
    Overlay ovl = std::move(Overlay::mount(stack)).value();
    for (int i = 0; i < 10; i++)
      random_op(ovl, rng);
  }
  state.SetItemsProcessed(state.iterations() * 10);
}
BENCHMARK(BM_ModelRandomSequence);

}  // namespace
}  // namespace ovlsim::model
