#include "harness/campaign.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "trace/expect.h"
#include "trace/writer.h"

namespace ovlsim::harness {

namespace {

constexpr std::uint64_t kNextRoundSalt = 0x6b656570'676f696eull;

// Messages from a job to the parent: "<type> <length>\n<payload>".
void send(int fd, char type, const std::string& payload) {
  std::string frame = fmt::format("{} {}\n{}", type, payload.size(), payload);
  std::size_t done = 0;
  while (done < frame.size()) {
    ssize_t n = write(fd, frame.data() + done, frame.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    done += n;
  }
}

std::string times_line(const PhaseTimes& t) {
  auto ns = [](PhaseTimes::Duration d) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  };
  return fmt::format("{} {} {} {} {} {} {} {}", ns(t.populate), ns(t.mount),
                     ns(t.ops), ns(t.snapshot), ns(t.unmount), t.mounts,
                     t.operations, t.snapshots);
}

PhaseTimes parse_times(std::istream& in) {
  PhaseTimes t;
  long long v[5] = {};
  for (auto& x : v)
    in >> x;
  in >> t.mounts >> t.operations >> t.snapshots;
  t.populate = std::chrono::nanoseconds(v[0]);
  t.mount = std::chrono::nanoseconds(v[1]);
  t.ops = std::chrono::nanoseconds(v[2]);
  t.snapshot = std::chrono::nanoseconds(v[3]);
  t.unmount = std::chrono::nanoseconds(v[4]);
  return t;
}

// Writes the counterexample, with the target's results as the steps'
// expectations: the kernel is the truth the model must meet.
std::string write_counterexample(const CampaignOptions& options,
                                 const FuzzOptions& fuzz,
                                 const FuzzFailure& failure,
                                 std::string* error) {
  trace::Scenario s = failure.scenario;
  const auto& outcomes = failure.result.target_outcomes;
  for (std::size_t i = 0; i < s.steps.size() && i < outcomes.size(); i++)
    s.steps[i].expect = trace::expected_from(s.steps[i].op.kind, outcomes[i]);

  std::string name = options.target.name;
  std::replace(name.begin(), name.end(), ':', '-');
  std::string path =
      fmt::format("{}/{}-{:016x}.trace", options.out_dir, name, fuzz.seed);
  s.title = fmt::format("{} differs from {} (fuzz seed {:#x})", name,
                        options.reference.name, fuzz.seed);
  s.description = fmt::format(
      "Found by: {} --seed {:#x} -j 1 --count {} --max-ops {} --layers {}\n"
      "Replay: ovlsim check --target {}{} {}\n"
      "Expectations are what {} returned.",
      options.command, fuzz.seed, fuzz.count, fuzz.max_ops, fuzz.layers,
      options.target.name, options.compare_flags, path, options.target.name);

  std::error_code ec;
  std::filesystem::create_directories(options.out_dir, ec);
  std::ofstream out(path);
  out << trace::write_trace(s);
  if (!out) {
    *error = fmt::format("cannot write {}", path);
    return "";
  }
  return path;
}

[[noreturn]] void run_job(const CampaignOptions& options,
                          const Sandbox* sandbox, int job, int count, int fd) {
  std::string error;
  auto reference = make_target(options.reference, sandbox,
                               fmt::format("ref{}", job), &error);
  auto target = reference ? make_target(options.target, sandbox,
                                        fmt::format("job{}", job), &error)
                          : nullptr;
  if (!target) {
    send(fd, 'e', error);
    _exit(1);
  }

  // Each round fuzzes from a fresh seed; a round ends at the end of the
  // job's share or at a counterexample.
  FuzzOptions fuzz_options = options.fuzz;
  fuzz_options.seed = job_seed(options.fuzz.seed, job);
  int cases = 0;
  long operations = 0;
  auto last = std::chrono::steady_clock::now();
  while (cases < count) {
    fuzz_options.count = count - cases;
    FuzzResult r = fuzz(*reference, *target, fuzz_options, [&](int n) {
      auto now = std::chrono::steady_clock::now();
      if (now - last < std::chrono::milliseconds(100))
        return;
      last = now;
      send(fd, 'p', fmt::format("{}", cases + n));
    });
    cases += r.cases;
    operations += r.operations;
    if (r.failure) {
      std::string path =
          write_counterexample(options, fuzz_options, *r.failure, &error);
      send(fd, 'f',
           fmt::format(
               "{} {}\n{}\n{}", fuzz_options.seed, path,
               divergence_signature(r.failure->scenario, r.failure->result),
               r.failure->report));
      cases++;  // the failing case counts as run
    }
    if (!r.error.empty()) {
      send(fd, 'e', r.error);
      break;
    }
    if (!r.failure || !options.keep_going)
      break;
    // A mix that no other job's seed derivation reaches.
    fuzz_options.seed = job_seed(fuzz_options.seed ^ kNextRoundSalt, 1);
  }
  send(
      fd, 'd',
      fmt::format("{} {} {} {}", cases, operations, times_line(target->times()),
                  times_line(reference->times())));
  target.reset();
  reference.reset();
  _exit(0);
}

struct Job {
  pid_t pid = -1;
  int fd = -1;
  std::string buffer;
  long cases = 0;
  bool done = false;
};

// Handles the complete frames in a job's buffer.
void take_frames(Job& job, int index, bool keep_going, CampaignResult& result,
                 bool& stop_others) {
  while (true) {
    auto nl = job.buffer.find('\n');
    if (nl == std::string::npos)
      return;
    char type = job.buffer[0];
    std::size_t len = 0;
    std::from_chars(job.buffer.data() + 2, job.buffer.data() + nl, len);
    if (job.buffer.size() < nl + 1 + len)
      return;
    std::string payload = job.buffer.substr(nl + 1, len);
    job.buffer.erase(0, nl + 1 + len);

    std::istringstream in(payload);
    switch (type) {
      case 'p':
        in >> job.cases;
        break;
      case 'e':
        if (result.error.empty())
          result.error = payload;
        break;
      case 'f': {
        CampaignFailure f;
        f.job = index;
        in >> f.seed;
        in.get();
        std::getline(in, f.trace_path);
        std::getline(in, f.signature);
        f.report = payload.substr(static_cast<std::size_t>(in.tellg()));
        result.failures.push_back(std::move(f));
        stop_others = !keep_going;
        break;
      }
      case 'd': {
        long cases = 0, ops = 0;
        in >> cases >> ops;
        job.cases = cases;
        result.operations += ops;
        result.target_times += parse_times(in);
        result.reference_times += parse_times(in);
        job.done = true;
        break;
      }
    }
  }
}

}  // namespace

CampaignResult run_campaign(const CampaignOptions& options,
                            const Sandbox* sandbox,
                            const std::function<void(long)>& progress) {
  CampaignResult result;
  auto start = std::chrono::steady_clock::now();
  int jobs = std::max(1, options.jobs);
  std::vector<Job> running(jobs);

  for (int j = 0; j < jobs; j++) {
    int count = options.fuzz.count / jobs + (j < options.fuzz.count % jobs);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      result.error = fmt::format("cannot make a pipe: {}", strerror(errno));
      break;
    }
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
      // A job dies with the campaign, even on kill -9.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      close(fds[0]);
      run_job(options, sandbox, j, count, fds[1]);
    }
    close(fds[1]);
    if (pid < 0) {
      close(fds[0]);
      result.error = fmt::format("cannot fork: {}", strerror(errno));
      break;
    }
    running[j].pid = pid;
    running[j].fd = fds[0];
  }

  bool stop_others = false;
  bool stopped = false;
  while (true) {
    std::vector<pollfd> fds;
    std::vector<int> index;
    for (int j = 0; j < jobs; j++)
      if (running[j].fd >= 0) {
        fds.push_back({running[j].fd, POLLIN, 0});
        index.push_back(j);
      }
    if (fds.empty())
      break;
    if (poll(fds.data(), fds.size(), 200) < 0 && errno != EINTR)
      break;
    for (std::size_t i = 0; i < fds.size(); i++) {
      if (fds[i].revents == 0)
        continue;
      Job& job = running[index[i]];
      char buf[4096];
      ssize_t n = read(job.fd, buf, sizeof buf);
      if (n <= 0) {
        close(job.fd);
        job.fd = -1;
        continue;
      }
      job.buffer.append(buf, n);
      take_frames(job, index[i], options.keep_going, result, stop_others);
    }
    if (stop_others && !stopped) {
      // The first counterexample ends the campaign.
      int failing = result.failures.front().job;
      for (int j = 0; j < jobs; j++)
        if (j != failing && !running[j].done && running[j].pid > 0)
          kill(running[j].pid, SIGKILL);
      stopped = true;
    }
    if (progress) {
      long cases = 0;
      for (const auto& job : running)
        cases += job.cases;
      progress(cases);
    }
  }

  for (auto& job : running) {
    if (job.pid <= 0)
      continue;
    int status = 0;
    while (waitpid(job.pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!stopped && result.error.empty() &&
        !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
      result.error = fmt::format("job {} ended abnormally (status {:#x})",
                                 &job - running.data(), status);
    result.cases += job.cases;
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return result;
}

std::string format_stats(const CampaignResult& r) {
  auto sec = [](PhaseTimes::Duration d) {
    return std::chrono::duration<double>(d).count();
  };
  const PhaseTimes& t = r.target_times;
  double total = sec(t.populate) + sec(t.mount) + sec(t.ops) + sec(t.snapshot) +
                 sec(t.unmount);
  std::string out = fmt::format(
      "{} cases, {} operations in {:.2f} s: {:.0f} cases/s, {:.0f} "
      "operations/s\n",
      r.cases, r.operations, r.seconds, r.cases / std::max(r.seconds, 1e-9),
      r.operations / std::max(r.seconds, 1e-9));
  auto line = [&](const char* name, PhaseTimes::Duration d) {
    out += fmt::format("  target {:<9} {:8.3f} s  {:5.1f}%\n", name, sec(d),
                       total > 0 ? 100 * sec(d) / total : 0.0);
  };
  line("populate", t.populate);
  line("mount", t.mount);
  line("ops", t.ops);
  line("snapshot", t.snapshot);
  line("unmount", t.unmount);
  const PhaseTimes& m = r.reference_times;
  out += fmt::format(
      "  reference (all phases) {:.3f} s; summed over jobs, per-job time "
      "runs in parallel\n",
      sec(m.populate) + sec(m.mount) + sec(m.ops) + sec(m.snapshot) +
          sec(m.unmount));
  return out;
}

}  // namespace ovlsim::harness
