// ovlsim check: run traces on a real overlay (or the model), compare each
// step with the model and with the trace's own expectations.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/terminal.h"
#include "harness/compare.h"
#include "harness/model_target.h"
#include "harness/populate.h"
#include "harness/runner.h"
#include "harness/sandbox.h"
#include "harness/targets.h"
#include "trace/parser.h"

namespace ovlsim::cli {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kUsage =
    "usage: ovlsim check --target kernel|fuse-overlayfs|model [OPTIONS] "
    "TRACE|DIR...\n"
    "\n"
    "Runs each trace on the target and on the model, compares them after\n"
    "every step, and checks the trace's expectations against the target.\n"
    "Directories are searched for *.trace files. Exits 1 when a trace\n"
    "diverges, 2 on malformed input.\n"
    "\n"
    "options:\n"
    "  --compare WHAT    all (default for kernel) or merged (default for\n"
    "                    fuse-overlayfs): what users of the mount see\n"
    "  --snapshot WHEN   every (default) or end: when snapshots compare\n"
    "  --reference R     the reference (default model)\n"
    "  --no-expectations compare with the model only\n"
    "  --backing DIR     keep layers on DIR's filesystem instead of a tmpfs\n"
    "  --ignore WHAT     links, times: fields not to compare (comma\n"
    "                    separated), to look past a known difference\n"
    "  --scratch DIR     where the scratch directory is made (default /tmp)\n"
    "  --legacy-mount    mount with mount(2) instead of fsopen/fsconfig\n"
    "  --timeout MS      per-operation timeout for fuse-overlayfs (5000)\n"
    "  --quiet           print only divergences and the summary\n"
    "  --if-available    when the machine cannot run the target, say so\n"
    "                    and exit 0 instead of 2\n";

struct CheckArgs {
  harness::TargetConfig target;
  harness::TargetConfig reference{"model"};
  harness::RunOptions run;
  harness::SandboxOptions sandbox;
  std::optional<harness::Scope> scope;
  bool quiet = false;
  bool if_available = false;  // skip, not fail, when the target cannot run
  std::vector<std::string> paths;
};

std::string parse_args(Args args, CheckArgs& out) {
  out.run.check_expectations = true;
  for (std::size_t i = 0; i < args.size(); i++) {
    std::string_view arg = args[i];
    auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= args.size())
        return std::nullopt;
      return args[++i];
    };
    if (arg == "--target" || arg == "--reference") {
      auto v = value();
      if (!v)
        return fmt::format("{} needs a name", arg);
      (arg == "--target" ? out.target : out.reference).name = *v;
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
      if (v != "every" && v != "end")
        return "--snapshot takes 'every' or 'end'";
      out.run.snapshot_every_step = v == "every";
    } else if (arg == "--no-expectations") {
      out.run.check_expectations = false;
    } else if (arg == "--ignore") {
      auto v = value();
      if (!v)
        return "--ignore needs a list";
      if (std::string bad = harness::apply_ignore(*v, out.run.compare);
          !bad.empty())
        return bad;
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
      out.target.api = harness::MountApi::kLegacy;
    } else if (arg == "--timeout") {
      auto v = value();
      long ms = v ? std::atol(std::string(*v).c_str()) : 0;
      if (ms <= 0)
        return "--timeout needs a positive number of milliseconds";
      out.target.op_timeout = std::chrono::milliseconds(ms);
    } else if (arg == "--if-available") {
      out.if_available = true;
    } else if (arg == "--quiet" || arg == "-q") {
      out.quiet = true;
    } else if (arg.starts_with("-")) {
      return fmt::format("unknown option '{}'", arg);
    } else {
      out.paths.emplace_back(arg);
    }
  }
  if (out.target.name.empty())
    return "--target is required";
  if (out.paths.empty())
    return "no trace or directory given";
  return "";
}

// The trace files named by `paths`, directories searched recursively, in
// sorted order. Returns false after printing an error for a missing path.
bool collect_traces(const std::vector<std::string>& paths,
                    std::vector<std::string>& files) {
  bool ok = true;
  for (const auto& path : paths) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(path, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file() && it->path().extension() == ".trace")
          found.push_back(it->path().string());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(path, ec)) {
      files.push_back(path);
    } else {
      fmt::print(stderr, "{}: no such file or directory\n", path);
      ok = false;
    }
  }
  return ok;
}

bool has_option(const trace::Scenario& s, std::string_view option) {
  return std::find(s.options.begin(), s.options.end(), option) !=
         s.options.end();
}

// Moves the overlay's private xattrs of a layer from trusted.overlay.* to
// user.overlay.*, as a mount with userxattr reads them.
void move_private_xattrs(model::Layer& layer) {
  constexpr std::string_view kTrusted = "trusted.overlay.";
  std::vector<model::InodeNumber> inodes;
  for (const auto& [ino, node] : layer.inodes())
    inodes.push_back(ino);
  for (model::InodeNumber ino : inodes) {
    model::Xattrs& xattrs = layer.inode(ino).xattrs;
    model::Xattrs moved;
    for (auto& [name, value] : xattrs) {
      if (name.starts_with(kTrusted))
        moved["user.overlay." + name.substr(kTrusted.size())] = value;
      else
        moved[name] = value;
    }
    xattrs = std::move(moved);
  }
}

// Without root the harness can mount only with userxattr, so a trace
// written for trusted.overlay.* is run with its private xattrs, in the
// layers and in the expected states, under user.overlay.* instead.
void use_userxattr(trace::Scenario& scenario) {
  scenario.options.push_back("userxattr");
  scenario.mount_options.userxattr = true;
  model::Stack& stack = scenario.stack;
  if (stack.upper)
    move_private_xattrs(*stack.upper);
  for (model::Layer& layer : stack.lowers)
    move_private_xattrs(layer);
  for (model::Layer& layer : stack.data_lowers)
    move_private_xattrs(layer);
  auto states = [](std::vector<trace::ExpectedState>& list) {
    for (trace::ExpectedState& state : list)
      move_private_xattrs(state.tree);
  };
  states(scenario.mount_states);
  for (trace::Step& step : scenario.steps)
    states(step.states);
}

// Why the layers of `scenario` cannot be written without root of the
// initial namespace, or "".
std::string needs_initial_namespace(const trace::Scenario& scenario) {
  const model::Stack& stack = scenario.stack;
  std::string why;
  if (stack.upper)
    why = harness::needs_initial_namespace(*stack.upper);
  for (const model::Layer& layer : stack.lowers)
    if (why.empty())
      why = harness::needs_initial_namespace(layer);
  for (const model::Layer& layer : stack.data_lowers)
    if (why.empty())
      why = harness::needs_initial_namespace(layer);
  return why;
}

// Makes `scenario` one for root of a user namespace (mounter userns), as
// a run without root mounts it. The trace's own expectations hold for its
// own mounter, so those of a trace written for root are dropped: the run
// then compares the target with the model alone.
void use_user_namespace(trace::Scenario& scenario) {
  if (!has_option(scenario, "userxattr"))
    use_userxattr(scenario);
  if (scenario.userns)
    return;
  scenario.userns = true;
  scenario.mount_expect.reset();
  scenario.mount_states.clear();
  for (trace::Step& step : scenario.steps) {
    step.expect.reset();
    step.states.clear();
  }
}

}  // namespace

int check_command(Args args) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    fmt::print("{}", kUsage);
    return 0;
  }
  CheckArgs a;
  if (std::string error = parse_args(args, a); !error.empty()) {
    fmt::print(stderr, "ovlsim check: {}\n\n{}", error, kUsage);
    return 2;
  }
  bool fuse = a.target.name == "fuse-overlayfs";
  a.run.compare.scope =
      a.scope.value_or(fuse ? harness::Scope::kMerged : harness::Scope::kAll);
  a.run.compare.dialect =
      fuse ? harness::Dialect::kFuseOverlayfs : harness::Dialect::kKernel;

  std::vector<std::string> files;
  bool inputs_ok = collect_traces(a.paths, files);

  std::optional<harness::Sandbox> sandbox;
  if (harness::needs_sandbox(a.target.name)) {
    harness::Capabilities caps = harness::probe_capabilities();
    std::string missing = fuse ? caps.fuse_missing() : caps.kernel_missing();
    if (!missing.empty()) {
      if (a.if_available) {
        fmt::print("check: skipped: cannot test {}: {}\n", a.target.name,
                   missing);
        return 0;
      }
      fmt::print(stderr, "ovlsim check: cannot test {}: {}\n", a.target.name,
                 missing);
      return 2;
    }
    std::string error;
    auto entered = harness::Sandbox::enter(a.sandbox, &error);
    if (!entered.ok()) {
      fmt::print(stderr, "ovlsim check: {}\n", error);
      return 2;
    }
    sandbox.emplace(std::move(entered.value()));
  }

  std::string error;
  auto reference = harness::make_target(a.reference, nullptr, "", &error);
  auto target =
      reference ? harness::make_target(a.target, sandbox ? &*sandbox : nullptr,
                                       "check", &error)
                : nullptr;
  if (!target) {
    fmt::print(stderr, "ovlsim check: {}\n", error);
    return 2;
  }

  Palette p;
  int passed = 0, diverged = 0, skipped = 0, malformed = inputs_ok ? 0 : 1;
  for (const auto& file : files) {
    auto parsed = trace::parse_trace_file(file);
    if (auto* e = std::get_if<trace::ParseError>(&parsed)) {
      fmt::print(stderr, "{}\n", e->str());
      malformed++;
      continue;
    }
    auto& scenario = std::get<trace::Scenario>(parsed);
    std::string why_skip;
    if (sandbox && sandbox->unprivileged()) {
      // Without root the harness mounts in a user namespace, with
      // userxattr; the model is told so. An ext4 on a loop device cannot
      // be mounted there.
      use_user_namespace(scenario);
      if (!scenario.null_uuid_fs.empty())
        why_skip =
            "a filesystem with a null UUID needs root (an ext4 on a loop "
            "device)";
      else if (std::string why = needs_initial_namespace(scenario);
               !why.empty())
        why_skip = fmt::format("its layers need root ({})", why);
    } else if (sandbox && scenario.userns) {
      why_skip = "it mounts in a user namespace: run ovlsim check without root";
    }
    if (!why_skip.empty()) {
      skipped++;
      fmt::print("skip {}: {}\n", file, why_skip);
      continue;
    }
    harness::RunOptions run = a.run;
    run.compare.userxattr = scenario.mount_options.userxattr;

    harness::RunResult r =
        harness::run_scenario(scenario, *reference, *target, run);
    if (r.passed()) {
      passed++;
      if (!a.quiet)
        fmt::print("{} {}\n", p.green("ok  "), file);
      continue;
    }
    diverged++;
    fmt::print("{} {}  {}\n", p.red("DIFF"), file, scenario.title);
    fmt::print("{}", harness::format_report(scenario, r, target->name()));
  }

  fmt::print("check: {} traces on {}: {} agree, {} differ{}{}\n",
             passed + diverged + skipped, target->name(), passed, diverged,
             skipped ? fmt::format(", {} skipped", skipped) : "",
             malformed ? fmt::format(", {} malformed", malformed) : "");
  if (diverged > 0)
    return 1;
  return malformed > 0 ? 2 : 0;
}

}  // namespace ovlsim::cli
