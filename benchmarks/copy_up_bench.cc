// Copy-up cost versus file size, beside copy_file_range of the same file.
//
// A lower layer holds files of 0 B to 256 MiB; each iteration copies up
// one file that was not copied up before, by one of two operations:
//   write  open(O_WRONLY), write one byte, close: a data copy-up, with
//          metacopy off or on (metacopy does not apply to opens for write)
//   chmod  chmod 0600: a data copy-up with metacopy off, a metadata-only
//          copy-up with metacopy on
// Targets: the model; the kernel's overlayfs on tmpfs and on ext4 (a
// loop-mounted image in the scratch tmpfs); fuse-overlayfs on tmpfs (which
// has no metacopy). The baseline copies the same file with
// copy_file_range(2) on the same backing filesystem, into a new file; on
// ext4 it is also measured with an fsync of the copy, because overlayfs
// fsyncs every file it copies up (unless mounted volatile).
//
// Because the machine is shared, each real copy-up is also paired with a
// baseline taken in the same iteration: copy_file_range and fsync of the
// very same lower file into the layers' filesystem, timed just before or
// just after the copy-up (in turn). The counters ratio_to_paired (copy-up
// time over baseline time) and paired_baseline_s hold it; the ratios the
// documentation quotes are these.
//
// Names: copy_up/<target>/<op>/<metacopy_off|metacopy_on>/<size>, and
// copy_up/baseline_<fs>/copy_file_range/<plain|fsync>/<size>. Times are
// wall-clock per copy-up; the page cache holds the lower file throughout.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "benchmarks/bench_env.h"
#include "model/layer.h"
#include "model/overlay.h"

namespace ovlsim::bench {
namespace {

enum class Op { kWrite, kChmod };

enum class Backing { kTmpfs, kExt4 };

std::string file_name(int i) {
  return fmt::format("c{}", i);
}

// An upper layer and one lower layer holding `count` files of `size`
// bytes, c0..c<count-1>.
model::Stack copy_up_stack(std::size_t size, int count) {
  model::Stack stack;
  stack.upper.emplace();
  model::Layer& lower = stack.lowers.emplace_back();
  for (int i = 0; i < count; i++)
    lower.create(lower.root(), file_name(i),
                 model::InodeAttrs{.data = std::string(size, 'x')});
  return stack;
}

std::vector<std::string> options_of(bool metacopy) {
  return {metacopy ? "metacopy=on" : "metacopy=off"};
}

// The operation on the real file `name` of `dir_fd`. Returns 0 or errno.
int real_op(int dir_fd, const std::string& name, Op op) {
  if (op == Op::kChmod)
    return fchmodat(dir_fd, name.c_str(), 0600, 0) == 0 ? 0 : errno;
  int fd = openat(dir_fd, name.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  int err = write(fd, "y", 1) == 1 ? 0 : errno;
  close(fd);
  return err;
}

// Copies `src` of `src_fd` to the new file `dst` of `dst_fd` with
// copy_file_range(2), then fsyncs the copy when asked. Returns 0 or errno.
int copy_file(int src_fd, const std::string& src, int dst_fd,
              const std::string& dst, std::size_t size, bool fsync_copy) {
  int in = openat(src_fd, src.c_str(), O_RDONLY | O_CLOEXEC);
  int out = openat(dst_fd, dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                   0644);
  int err = in < 0 || out < 0 ? errno : 0;
  for (std::size_t done = 0; done < size && err == 0;) {
    ssize_t n = copy_file_range(in, nullptr, out, nullptr, size - done, 0);
    if (n <= 0)
      err = n == 0 ? EIO : errno;
    else
      done += n;
  }
  if (err == 0 && fsync_copy && fsync(out) != 0)
    err = errno;
  if (in >= 0)
    close(in);
  if (out >= 0)
    close(out);
  return err;
}

void BM_Model(benchmark::State& state, Op op, bool metacopy, int count) {
  auto size = static_cast<std::size_t>(state.range(0));
  model::MountOptions opts;
  opts.metacopy = metacopy;
  opts.metacopy_set = true;
  auto mounted = model::Overlay::mount(copy_up_stack(size, count), opts);
  if (!mounted.ok()) {
    state.SkipWithError("the model refused the mount");
    return;
  }
  model::Overlay& ovl = mounted.value();

  int i = 0;
  for (auto _ : state) {
    if (i == count) {
      state.SkipWithError("more iterations than lower files");
      return;
    }
    std::string path = "/" + file_name(i++);
    bool ok = true;
    double s = seconds_of([&] {
      if (op == Op::kChmod) {
        ok = ovl.chmod(path, 0600).ok();
        return;
      }
      auto fd = ovl.open(path, O_WRONLY);
      ok = fd.ok() && ovl.write(*fd, "y").ok() && ovl.close(*fd).ok();
    });
    if (!ok) {
      state.SkipWithError("the model's copy-up failed");
      return;
    }
    state.SetIterationTime(s);
  }
}

// Copies up the lower files of `target` one by one; when they run out,
// mounts the overlay again with an empty upper layer.
template <class Target>
void run_real(benchmark::State& state, Target& target, Op op,
              const std::vector<std::string>& options, int count,
              bool sync_backing) {
  auto size = static_cast<std::size_t>(state.range(0));
  harness::MountResult r =
      target.mount(make_scenario(copy_up_stack(size, count), options));
  if (!r.ok()) {
    state.SkipWithError((r.failure.empty()
                             ? fmt::format("mount failed: {}", strerror(r.err))
                             : r.failure)
                            .c_str());
    return;
  }
  const harness::Layout& layout = target.layout();
  // The lower files reach the disk before any copy-up is timed.
  if (sync_backing) {
    int fd = open(layout.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    syncfs(fd);
    close(fd);
  }
  int merged_fd =
      open(layout.merged.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int lower_fd =
      open(layout.lowers[0].c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int layout_fd = open(layout.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  double copy_total = 0, base_total = 0;

  int i = 0;
  for (auto _ : state) {
    if (i == count) {
      close(merged_fd);
      if (!target.remount(options, true).ok()) {
        state.SkipWithError("mounting the overlay again failed");
        return;
      }
      merged_fd =
          open(layout.merged.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      i = 0;
    }
    std::string name = file_name(i++);

    // The paired baseline: copy_file_range and fsync of the same lower
    // file, on the same filesystem, just before or just after its copy-up
    // (in turn), so that both meet the same load.
    double copy_s = 0, base_s = 0;
    int err = 0, base_err = 0;
    auto copy_up = [&] {
      copy_s = seconds_of([&] { err = real_op(merged_fd, name, op); });
    };
    auto baseline = [&] {
      base_s = seconds_of([&] {
        base_err =
            copy_file(lower_fd, name, layout_fd, "paired-copy", size, true);
      });
      unlinkat(layout_fd, "paired-copy", 0);
    };
    if (i % 2 == 0) {
      copy_up();
      baseline();
    } else {
      baseline();
      copy_up();
    }
    if (err != 0 || base_err != 0) {
      state.SkipWithError(fmt::format("{} of {}: {}",
                                      err != 0 ? "copy-up" : "copy_file_range",
                                      name, strerror(err != 0 ? err : base_err))
                              .c_str());
      break;
    }
    state.SetIterationTime(copy_s);
    copy_total += copy_s;
    base_total += base_s;
  }
  if (base_total > 0) {
    state.counters["paired_baseline_s"] =
        base_total / static_cast<double>(state.iterations());
    state.counters["ratio_to_paired"] = copy_total / base_total;
  }
  close(lower_fd);
  close(layout_fd);
  close(merged_fd);

  // The copy must be in the upper layer, or nothing was measured.
  struct stat st;
  std::string copied = layout.upper + "/" + file_name(0);
  if (stat(copied.c_str(), &st) != 0)
    state.SkipWithError(fmt::format("{} was not copied up", copied).c_str());
}

void BM_Kernel(benchmark::State& state, Backing backing, Op op, bool metacopy,
               int count) {
  if (!need_kernel(state))
    return;
  std::string base;
  if (backing == Backing::kExt4) {
    std::string why;
    base = ext4_dir(&why);
    if (base.empty()) {
      state.SkipWithError(fmt::format("skipped: no ext4: {}", why).c_str());
      return;
    }
  }
  // On tmpfs each mount gets a tmpfs of its own; on ext4 the layers are a
  // directory of the ext4 filesystem.
  KernelMount target(new_target_dir("copy-up", base), base.empty());
  run_real(state, target, op, options_of(metacopy), count,
           backing == Backing::kExt4);
}

void BM_Fuse(benchmark::State& state, Op op, int count) {
  if (!need_fuse(state))
    return;
  FuseMount target(new_target_dir("copy-up-fuse"), true,
                   std::chrono::milliseconds(60000));
  run_real(state, target, op, {}, count, false);
}

// copy_file_range of `count` files of the size, each into a new file.
void BM_Baseline(benchmark::State& state, Backing backing, bool fsync_copy,
                 int count) {
  if (!need_kernel(state))
    return;
  std::string base;
  if (backing == Backing::kExt4) {
    std::string why;
    base = ext4_dir(&why);
    if (base.empty()) {
      state.SkipWithError(fmt::format("skipped: no ext4: {}", why).c_str());
      return;
    }
  }
  auto size = static_cast<std::size_t>(state.range(0));
  std::string dir = new_target_dir("copy", base);
  for (int i = 0; i < count; i++)
    if (int err = write_file(dir + "/" + file_name(i), size, 'x'); err != 0) {
      state.SkipWithError(fmt::format("cannot write {}/{}: {}", dir,
                                      file_name(i), strerror(err))
                              .c_str());
      return;
    }
  int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  syncfs(dir_fd);

  int i = 0;
  for (auto _ : state) {
    if (i == count) {
      state.SkipWithError("more iterations than files");
      break;
    }
    std::string src = file_name(i);
    std::string dst = fmt::format("copy-{}", i++);
    int err = 0;
    double s = seconds_of(
        [&] { err = copy_file(dir_fd, src, dir_fd, dst, size, fsync_copy); });
    if (err != 0) {
      state.SkipWithError(
          fmt::format("copy_file_range of {}: {}", src, strerror(err)).c_str());
      break;
    }
    state.SetIterationTime(s);
  }
  close(dir_fd);
  remove_children(dir);
}

// How many copy-ups to time at a size: enough for a stable mean, few
// enough that the largest sizes stay within the run's time budget.
int iterations_for(long size) {
  if (smoke())
    return 2;
  if (size <= (64 << 10))
    return 64;
  if (size <= (1 << 20))
    return 32;
  if (size <= (16 << 20))
    return 12;
  return 4;
}

int register_all() {
  std::vector<long> sizes = {0,       4 << 10,  64 << 10,
                             1 << 20, 16 << 20, 256 << 20};
  if (smoke())
    sizes = {0, 4 << 10};
  const Op ops[] = {Op::kWrite, Op::kChmod};

  // Size by size, every series in turn: a baseline and the copy-ups it is
  // compared with run minutes apart at most, under the same load, and
  // memory for the largest files is in use for one series at a time.
  std::vector<
      std::pair<std::string, std::function<void(benchmark::State&, int)>>>
      series;
  for (auto [fs, backing] : {std::pair{"tmpfs", Backing::kTmpfs},
                             std::pair{"ext4", Backing::kExt4}}) {
    for (bool fsync_copy : {false, true}) {
      if (fsync_copy && backing == Backing::kTmpfs)
        continue;
      series.emplace_back(fmt::format("copy_up/baseline_{}/copy_file_range/{}",
                                      fs, fsync_copy ? "fsync" : "plain"),
                          [=](benchmark::State& state, int n) {
                            BM_Baseline(state, backing, fsync_copy, n);
                          });
    }
  }
  for (Op op : ops) {
    const char* op_name = op == Op::kWrite ? "write" : "chmod";
    for (bool metacopy : {false, true}) {
      const char* mc = metacopy ? "metacopy_on" : "metacopy_off";
      series.emplace_back(fmt::format("copy_up/model/{}/{}", op_name, mc),
                          [=](benchmark::State& state, int n) {
                            BM_Model(state, op, metacopy, n);
                          });
      series.emplace_back(
          fmt::format("copy_up/kernel_tmpfs/{}/{}", op_name, mc),
          [=](benchmark::State& state, int n) {
            BM_Kernel(state, Backing::kTmpfs, op, metacopy, n);
          });
      series.emplace_back(fmt::format("copy_up/kernel_ext4/{}/{}", op_name, mc),
                          [=](benchmark::State& state, int n) {
                            BM_Kernel(state, Backing::kExt4, op, metacopy, n);
                          });
    }
    series.emplace_back(
        fmt::format("copy_up/fuse_overlayfs/{}/metacopy_off", op_name),
        [=](benchmark::State& state, int n) { BM_Fuse(state, op, n); });
  }

  for (long size : sizes) {
    int n = iterations_for(size);
    for (const auto& [name, fn] : series)
      benchmark::RegisterBenchmark(name.c_str(), fn, n)
          ->Arg(size)
          ->Iterations(n)
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
  }
  return 0;
}

[[maybe_unused]] const int registered = register_all();

}  // namespace
}  // namespace ovlsim::bench
