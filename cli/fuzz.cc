// ovlsim fuzz: random stacks and operation sequences, checked step by step
// against the model, shrunk to a minimal counterexample on divergence.
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "harness/campaign.h"
#include "harness/compare.h"
#include "harness/sandbox.h"
#include "harness/targets.h"

namespace ovlsim::cli {

namespace {

constexpr std::string_view kUsage =
    "usage: ovlsim fuzz --target kernel|fuse-overlayfs|model [OPTIONS]\n"
    "\n"
    "Generates random stacks and operation sequences (rapidcheck), runs them\n"
    "on the target and on the model step by step, and on divergence shrinks\n"
    "the case and writes it as a trace.\n"
    "\n"
    "options:\n"
    "  --seed S          seed (decimal or 0x hex); random when not given\n"
    "  --count N         test cases (default 100)\n"
    "  --max-ops K       operations per case, 1 to K (default 10)\n"
    "  --layers L        lower layers per stack, 1 to L (default 2)\n"
    "  --filesystems N   spread the layers over N backing filesystems at\n"
    "                    random (default 1: all on one)\n"
    "  --options SET     mount options, comma separated (default: none)\n"
    "  -j JOBS           worker processes (default 1)\n"
    "  --out DIR         where counterexamples go (default counterexamples)\n"
    "  --compare WHAT    all (default for kernel) or merged (default for\n"
    "                    fuse-overlayfs): what users of the mount see\n"
    "  --snapshot WHEN   every (default): compare snapshots after each step;\n"
    "                    end: only after the last one\n"
    "  --reference R     the reference target (default model;\n"
    "                    model-mutant:NAME for a deliberately broken model)\n"
    "  --backing DIR     keep layers on DIR's filesystem instead of a tmpfs\n"
    "  --ignore WHAT     links, times: fields not to compare (comma\n"
    "                    separated), to look past a known difference\n"
    "  --scratch DIR     where the scratch directory is made (default /tmp)\n"
    "  --legacy-mount    mount with mount(2) instead of fsopen/fsconfig\n"
    "  --timeout MS      per-operation timeout for fuse-overlayfs (5000)\n"
    "  --keep-going      go on after a counterexample (a new seed for the\n"
    "                    job that found it) and group them by cause\n"
    "  --stats           print where the time went\n"
    "  --if-available    when the machine cannot run the target, say so\n"
    "                    and exit 0 instead of 2\n";

struct FuzzArgs {
  harness::CampaignOptions campaign;
  harness::SandboxOptions sandbox;
  std::optional<harness::Scope> scope;
  bool stats = false;
  bool seed_given = false;
  bool if_available = false;  // skip, not fail, when the target cannot run
};

template <typename T>
bool parse_number(std::string_view text, T& out) {
  int base = 10;
  if (text.starts_with("0x") || text.starts_with("0X")) {
    base = 16;
    text.remove_prefix(2);
  }
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), out, base);
  return ec == std::errc() && end == text.data() + text.size();
}

std::vector<std::string> split_options(std::string_view set) {
  std::vector<std::string> out;
  if (set == "default" || set.empty())
    return out;
  while (!set.empty()) {
    auto comma = set.find(',');
    if (comma != 0)
      out.emplace_back(set.substr(0, comma));
    if (comma == std::string_view::npos)
      break;
    set.remove_prefix(comma + 1);
  }
  return out;
}

// Returns an error message, or "" when the arguments are good.
std::string parse_args(Args args, FuzzArgs& out) {
  auto& c = out.campaign;
  for (std::size_t i = 0; i < args.size(); i++) {
    std::string_view arg = args[i];
    auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= args.size())
        return std::nullopt;
      return args[++i];
    };
    auto number = [&](auto& field) -> std::string {
      auto v = value();
      if (!v || !parse_number(*v, field) || field < 0)
        return fmt::format("{} needs a non-negative number", arg);
      return "";
    };
    std::string error;
    if (arg == "--target") {
      auto v = value();
      if (!v)
        return "--target needs a name";
      c.target.name = *v;
    } else if (arg == "--reference") {
      auto v = value();
      if (!v)
        return "--reference needs a name";
      c.reference.name = *v;
    } else if (arg == "--seed") {
      error = number(c.fuzz.seed);
      out.seed_given = true;
    } else if (arg == "--count") {
      error = number(c.fuzz.count);
    } else if (arg == "--max-ops") {
      error = number(c.fuzz.max_ops);
      if (error.empty() && c.fuzz.max_ops < 1)
        error = "--max-ops must be >= 1";
    } else if (arg == "--layers") {
      error = number(c.fuzz.layers);
      if (error.empty() && (c.fuzz.layers < 1 || c.fuzz.layers > 500))
        error = "--layers must be between 1 and 500";
    } else if (arg == "--filesystems") {
      error = number(c.fuzz.filesystems);
      if (error.empty() && (c.fuzz.filesystems < 1 || c.fuzz.filesystems > 8))
        error = "--filesystems must be between 1 and 8";
    } else if (arg == "--options") {
      auto v = value();
      if (!v)
        return "--options needs a list";
      c.fuzz.options = split_options(*v);
    } else if (arg == "-j" || arg == "--jobs") {
      error = number(c.jobs);
      if (error.empty() && c.jobs < 1)
        error = "-j must be >= 1";
    } else if (arg.starts_with("-j") && arg.size() > 2) {
      if (!parse_number(arg.substr(2), c.jobs) || c.jobs < 1)
        error = "-j needs a positive number";
    } else if (arg == "--out") {
      auto v = value();
      if (!v)
        return "--out needs a directory";
      c.out_dir = *v;
    } else if (arg == "--compare") {
      auto v = value();
      if (v == "all")
        out.scope = harness::Scope::kAll;
      else if (v == "merged")
        out.scope = harness::Scope::kMerged;
      else
        return "--compare takes 'all' or 'merged'";
    } else if (arg == "--snapshot") {
      auto v = value();
      if (v == "every" || v == "end")
        c.fuzz.run.snapshot_every_step = v == "every";
      else
        return "--snapshot takes 'every' or 'end'";
    } else if (arg == "--ignore") {
      auto v = value();
      if (!v)
        return "--ignore needs a list";
      if (std::string bad = harness::apply_ignore(*v, c.fuzz.run.compare);
          !bad.empty())
        return bad;
      c.compare_flags += fmt::format(" --ignore {}", *v);
    } else if (arg == "--scratch") {
      auto v = value();
      if (!v)
        return "--scratch needs a directory";
      out.sandbox.scratch_root = *v;
    } else if (arg == "--backing") {
      auto v = value();
      if (!v)
        return "--backing needs a directory";
      out.sandbox.backing = *v;
    } else if (arg == "--legacy-mount") {
      c.target.api = harness::MountApi::kLegacy;
    } else if (arg == "--timeout") {
      long ms = 0;
      error = number(ms);
      c.target.op_timeout = std::chrono::milliseconds(ms);
    } else if (arg == "--keep-going") {
      c.keep_going = true;
    } else if (arg == "--if-available") {
      out.if_available = true;
    } else if (arg == "--stats") {
      out.stats = true;
    } else {
      return fmt::format("unknown argument '{}'", arg);
    }
    if (!error.empty())
      return error;
  }
  if (c.target.name.empty())
    return "--target is required";
  return "";
}

void print_replay(const harness::CampaignOptions& c,
                  const harness::CampaignFailure& f) {
  if (!f.trace_path.empty()) {
    fmt::print("counterexample: {}\n", f.trace_path);
    fmt::print("replay: ovlsim check --target {}{} {}\n", c.target.name,
               c.compare_flags, f.trace_path);
  }
  fmt::print(
      "rerun: {} --seed {:#x} -j 1 --count {} --max-ops {} "
      "--layers {}\n",
      c.command, f.seed, c.fuzz.count, c.fuzz.max_ops, c.fuzz.layers);
}

// With --keep-going: one block per cause, the first counterexample of each
// in full, then how often each cause came up.
void print_classes(const harness::CampaignOptions& c,
                   const harness::CampaignResult& r) {
  std::map<std::string, std::vector<const harness::CampaignFailure*>> by;
  for (const auto& f : r.failures)
    by[f.signature].push_back(&f);
  fmt::print(
      "fuzz: {} differs from {} in {} of {} cases, {} causes (seed "
      "{:#x}):\n",
      c.target.name, c.reference.name, r.failures.size(), r.cases, by.size(),
      c.fuzz.seed);
  for (const auto& [signature, list] : by) {
    fmt::print("\ncause: {} ({} counterexamples)\n", signature, list.size());
    fmt::print("{}", list.front()->report);
    print_replay(c, *list.front());
    for (std::size_t i = 1; i < list.size(); i++)
      if (!list[i]->trace_path.empty())
        fmt::print("also: {}\n", list[i]->trace_path);
  }
}

}  // namespace

int fuzz_command(Args args) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    fmt::print("{}", kUsage);
    return 0;
  }
  FuzzArgs a;
  if (std::string error = parse_args(args, a); !error.empty()) {
    fmt::print(stderr, "ovlsim fuzz: {}\n\n{}", error, kUsage);
    return 2;
  }
  auto& c = a.campaign;
  if (!a.seed_given)
    c.fuzz.seed = std::random_device{}();
  bool fuse = c.target.name == "fuse-overlayfs";
  c.fuzz.run.compare.scope =
      a.scope.value_or(fuse ? harness::Scope::kMerged : harness::Scope::kAll);
  c.fuzz.run.compare.dialect =
      fuse ? harness::Dialect::kFuseOverlayfs : harness::Dialect::kKernel;
  if (a.scope)
    c.compare_flags += *a.scope == harness::Scope::kMerged ? " --compare merged"
                                                           : " --compare all";
  c.command =
      fmt::format("ovlsim fuzz --target {}{}", c.target.name, c.compare_flags);
  if (c.reference.name != "model")
    c.command += fmt::format(" --reference {}", c.reference.name);
  if (!c.fuzz.options.empty())
    c.command += fmt::format(" --options {}", fmt::join(c.fuzz.options, ","));
  if (c.fuzz.filesystems > 1)
    c.command += fmt::format(" --filesystems {}", c.fuzz.filesystems);

  std::optional<harness::Sandbox> sandbox;
  if (harness::needs_sandbox(c.target.name)) {
    harness::Capabilities caps = harness::probe_capabilities();
    std::string missing = fuse ? caps.fuse_missing() : caps.kernel_missing();
    if (!missing.empty()) {
      if (a.if_available) {
        fmt::print("fuzz: skipped: cannot test {}: {}\n", c.target.name,
                   missing);
        return 0;
      }
      fmt::print(stderr, "ovlsim fuzz: cannot test {}: {}\n", c.target.name,
                 missing);
      return 2;
    }
    std::string error;
    auto entered = harness::Sandbox::enter(a.sandbox, &error);
    if (!entered.ok()) {
      fmt::print(stderr, "ovlsim fuzz: {}\n", error);
      return 2;
    }
    sandbox.emplace(std::move(entered.value()));
    if (sandbox->unprivileged()) {
      // Without root the harness mounts in a user namespace, with
      // userxattr; the model is told so.
      c.fuzz.userns = true;
      if (std::find(c.fuzz.options.begin(), c.fuzz.options.end(),
                    "userxattr") == c.fuzz.options.end())
        c.fuzz.options.push_back("userxattr");
    }
  }
  c.fuzz.run.compare.userxattr =
      std::find(c.fuzz.options.begin(), c.fuzz.options.end(), "userxattr") !=
      c.fuzz.options.end();

  bool tty = isatty(STDERR_FILENO);
  auto start = std::chrono::steady_clock::now();
  auto progress = [&](long cases) {
    if (!tty)
      return;
    double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    fmt::print(stderr, "\rfuzz: {}/{} cases, {:.0f} cases/s", cases,
               c.fuzz.count, cases / std::max(s, 1e-9));
  };
  harness::CampaignResult r =
      harness::run_campaign(c, sandbox ? &*sandbox : nullptr, progress);
  if (tty)
    fmt::print(stderr, "\n");

  if (a.stats)
    fmt::print("{}", harness::format_stats(r));
  if (!r.error.empty()) {
    fmt::print(stderr, "ovlsim fuzz: {}\n", r.error);
    if (r.failures.empty())
      return 2;
  }
  if (r.failures.empty()) {
    fmt::print(
        "fuzz: {} agrees with {} on {} cases ({} operations), seed "
        "{:#x}\n",
        c.target.name, c.reference.name, r.cases, r.operations, c.fuzz.seed);
    return 0;
  }
  if (c.keep_going) {
    print_classes(c, r);
    return 1;
  }
  for (const auto& f : r.failures) {
    fmt::print("fuzz: {} differs from {} (seed {:#x}, job {} seed {:#x}):\n",
               c.target.name, c.reference.name, c.fuzz.seed, f.job, f.seed);
    fmt::print("{}", f.report);
    print_replay(c, f);
  }
  return 1;
}

}  // namespace ovlsim::cli
