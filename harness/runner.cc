#include "harness/runner.h"

#include <fmt/format.h>

#include "model/result.h"
#include "trace/expect.h"
#include "trace/writer.h"

namespace ovlsim::harness {

namespace {

Entry entry_of_attrs(const model::InodeAttrs& attrs) {
  model::Layer layer;
  layer.create(layer.root(), "x", attrs);
  return tree_of_layer(layer).entries.at("/x");
}

// Expectation trees of a trace say nothing of times, link counts or the
// root's attributes.
CompareOptions loose(CompareOptions options) {
  options.times = false;
  options.links = false;
  return options;
}

std::vector<Difference> check_state(const trace::ExpectedState& state,
                                    const Snapshot& snap,
                                    const CompareOptions& options) {
  using Kind = trace::ExpectedState::Kind;
  std::vector<Difference> out;
  switch (state.kind) {
    case Kind::kMerged:
    case Kind::kUpper: {
      bool merged = state.kind == Kind::kMerged;
      // The raw upper layer is the kernel's format, not part of what
      // users of the mount see.
      if (!merged && options.scope == Scope::kMerged)
        break;
      if (!merged && !snap.upper) {
        out.push_back({Area::kUpper, "/", "exists", "upper layer", "(none)"});
        break;
      }
      Tree expected = tree_of_layer(state.tree);
      Tree actual = merged ? snap.merged : *snap.upper;
      expected.entries.erase("/");
      actual.entries.erase("/");
      out = compare_trees(merged ? Area::kMerged : Area::kUpper, expected,
                          actual, loose(options));
      break;
    }
    case Kind::kPath: {
      Tree expected, actual;
      if (state.object)
        expected.entries.emplace(state.path, entry_of_attrs(*state.object));
      if (const Entry* e = snap.merged.find(state.path))
        actual.entries.emplace(state.path, *e);
      out = compare_trees(Area::kMerged, expected, actual, loose(options));
      break;
    }
  }
  return out;
}

void check_states(const std::vector<trace::ExpectedState>& states,
                  Target& target, int step, const CompareOptions& options,
                  RunResult& result) {
  if (states.empty() || !result.expectation_failures.empty())
    return;
  Snapshot snap = target.snapshot(SnapshotParts::kViews);
  for (const auto& state : states) {
    auto diffs = check_state(state, snap, options);
    if (diffs.empty())
      continue;
    result.expectation_step = step;
    result.expectation_failures = std::move(diffs);
    return;
  }
}

void check_outcome(std::optional<trace::Expected> expected, trace::OpKind kind,
                   const trace::Outcome& actual, int step,
                   const CompareOptions& options, RunResult& result) {
  if (!expected || !result.expectation_failures.empty())
    return;
  // --ignore links drops a stat's link count from the expectation too.
  if (auto* st = std::get_if<trace::ExpectedStat>(&expected->value);
      st && !options.links)
    st->nlink.reset();
  if (trace::matches(*expected, kind, actual))
    return;
  result.expectation_step = step;
  result.expectation_failures.push_back({Area::kOutcome, "", "trace expects",
                                         trace::format_expected(*expected),
                                         trace::format_outcome(kind, actual)});
}

std::string mount_outcome(const MountResult& m) {
  if (!m.failure.empty())
    return m.failure;
  return m.err == 0 ? "ok" : model::errno_name(m.err);
}

}  // namespace

Lockstep::~Lockstep() {
  unmount();
}

void Lockstep::unmount() {
  reference_.unmount();
  target_.unmount();
  mounted_ = false;
}

bool Lockstep::compare_snapshots_at(int step, SnapshotParts parts) {
  auto diffs = compare_snapshots(reference_.snapshot(parts),
                                 target_.snapshot(parts), options_.compare);
  if (diffs.empty())
    return true;
  result_.step = step;
  result_.differences = std::move(diffs);
  return false;
}

bool Lockstep::mount(const trace::Scenario& scenario) {
  MountResult ref_mount = reference_.mount(scenario);
  MountResult tgt_mount = target_.mount(scenario);
  mounted_ = ref_mount.ok() && tgt_mount.ok();
  result_.expected_outcome = mount_outcome(ref_mount);
  result_.actual_outcome = mount_outcome(tgt_mount);
  if (!tgt_mount.failure.empty() || !ref_mount.failure.empty()) {
    result_.differences.push_back({Area::kFailure, "", "mount",
                                   result_.expected_outcome,
                                   result_.actual_outcome});
    unmount();
    return false;
  }
  if (ref_mount.err != tgt_mount.err) {
    result_.differences.push_back({Area::kMount, "", "errno",
                                   result_.expected_outcome,
                                   result_.actual_outcome});
    unmount();
    return false;
  }
  if (options_.check_expectations && scenario.mount_expect &&
      scenario.mount_expect->err != tgt_mount.err)
    result_.expectation_failures.push_back(
        {Area::kMount, "", "trace expects",
         trace::format_expected(*scenario.mount_expect),
         result_.actual_outcome});
  if (!mounted_) {
    unmount();
    return false;
  }
  if (options_.check_expectations)
    check_states(scenario.mount_states, target_, -1, options_.compare, result_);
  // The lower layers are compared here and once more at the end: a change
  // to them would last.
  return !options_.snapshot_every_step ||
         compare_snapshots_at(-1, SnapshotParts::kAll);
}

bool Lockstep::step(const trace::Step& step, int index) {
  if (!result_.differences.empty())
    return false;
  trace::Outcome expected = reference_.apply(step.op);
  trace::Outcome actual = target_.apply(step.op);
  result_.steps_run = index + 1;
  result_.target_outcomes.push_back(actual);
  result_.expected_outcome = trace::format_outcome(step.op.kind, expected);
  result_.actual_outcome = trace::format_outcome(step.op.kind, actual);

  if (std::string broken = target_.failure(); !broken.empty()) {
    result_.step = index;
    result_.differences.push_back(
        {Area::kFailure, "", "target", "a result", broken});
    return false;
  }
  if (options_.check_expectations) {
    check_outcome(step.expect, step.op.kind, actual, index, options_.compare,
                  result_);
    check_states(step.states, target_, index, options_.compare, result_);
  }
  auto diffs =
      compare_outcomes(step.op.kind, expected, actual, ids_, options_.compare);
  if (!diffs.empty()) {
    result_.step = index;
    result_.differences = std::move(diffs);
    return false;
  }
  return !options_.snapshot_every_step ||
         compare_snapshots_at(index, SnapshotParts::kViews);
}

bool Lockstep::finish(int steps) {
  bool ok = result_.differences.empty();
  if (ok && mounted_ && !options_.snapshot_every_step)
    ok = compare_snapshots_at(steps, SnapshotParts::kAll);
  else if (ok && mounted_ && steps > 0)
    ok = compare_snapshots_at(steps, SnapshotParts::kLowers);
  unmount();
  return ok;
}

RunResult run_scenario(const trace::Scenario& scenario, Target& reference,
                       Target& target, const RunOptions& options) {
  Lockstep lockstep(reference, target, options);
  if (lockstep.mount(scenario)) {
    for (std::size_t i = 0; i < scenario.steps.size(); i++)
      if (!lockstep.step(scenario.steps[i], static_cast<int>(i)))
        break;
  }
  lockstep.finish(static_cast<int>(scenario.steps.size()));
  return lockstep.result();
}

std::string divergence_signature(const trace::Scenario& scenario,
                                 const RunResult& result) {
  const auto& diffs = result.differences.empty() ? result.expectation_failures
                                                 : result.differences;
  int step = result.differences.empty() ? result.expectation_step : result.step;
  std::string op = "mount";
  if (step >= static_cast<int>(scenario.steps.size()))
    op = "end";
  else if (step >= 0)
    op = std::string(trace::op_name(scenario.steps[step].op.kind));
  if (diffs.empty())
    return op;
  const Difference& d = diffs.front();
  std::string out = fmt::format("{}: {} {}", op, area_name(d.area), d.field);
  if (d.field == "errno")
    out += fmt::format(": {}/{}", d.expected, d.actual);
  return out;
}

std::string format_report(const trace::Scenario& scenario,
                          const RunResult& result,
                          const std::string& target_name) {
  std::string out;
  auto describe_step = [&](int step) -> std::string {
    if (step < 0)
      return "mount";
    if (step >= static_cast<int>(scenario.steps.size()))
      return "after the last step";
    const trace::Step& s = scenario.steps[step];
    std::string text = trace::write_step({s.op, std::nullopt, {}, s.line});
    return s.line > 0
               ? fmt::format("step {} (line {}): {}", step + 1, s.line, text)
               : fmt::format("step {}: {}", step + 1, text);
  };
  auto list = [&](const std::vector<Difference>& diffs,
                  const std::string& expected_name) {
    for (const auto& d : diffs) {
      std::string where = d.area == Area::kOutcome || d.area == Area::kMount
                              ? area_name(d.area)
                              : fmt::format("{} {}", area_name(d.area), d.path);
      out += fmt::format("    {}: {}: {} {}, {} {}\n", where, d.field,
                         expected_name, d.expected, target_name, d.actual);
    }
  };

  if (!result.differences.empty()) {
    out += fmt::format("  {}\n", describe_step(result.step));
    if (result.step >= 0 &&
        result.step < static_cast<int>(scenario.steps.size()))
      out += fmt::format("    returned: model {}, {} {}\n",
                         result.expected_outcome, target_name,
                         result.actual_outcome);
    list(result.differences, "model");
  }
  if (!result.expectation_failures.empty()) {
    out += fmt::format("  {} (the trace's expectation)\n",
                       describe_step(result.expectation_step));
    list(result.expectation_failures, "trace");
  }
  return out;
}

}  // namespace ovlsim::harness
