// Running one scenario on two targets and comparing them step by step.
//
// The reference (normally the model) and the target under test mount the
// same stack with the same options and apply the same operations. After
// the mount and after every operation, their results, and (unless told
// otherwise) their snapshots, are compared under the normalisation of
// compare.h. The run stops at the first step that differs. A trace's own
// expectations can be checked against the target at the same time.
#ifndef OVLSIM_HARNESS_RUNNER_H_
#define OVLSIM_HARNESS_RUNNER_H_

#include <string>
#include <vector>

#include "harness/compare.h"
#include "harness/target.h"
#include "trace/scenario.h"

namespace ovlsim::harness {

struct RunOptions {
  CompareOptions compare;
  // Compare snapshots after the mount and after every step; when false,
  // only once after the last step.
  bool snapshot_every_step = true;
  // Also check the trace's expectations against the target.
  bool check_expectations = false;
};

struct RunResult {
  // The step where the first difference showed: -1 for the mount,
  // scenario.steps.size() when only the final snapshot differed.
  int step = -1;
  std::vector<Difference> differences;  // empty: the run passed
  // Differences between the target and the trace's expectations (only
  // with check_expectations), at `expectation_step`.
  std::vector<Difference> expectation_failures;
  int expectation_step = -1;
  // What each side returned at `step`, in trace syntax.
  std::string expected_outcome;
  std::string actual_outcome;
  int steps_run = 0;
  // What the target returned at each step run.
  std::vector<trace::Outcome> target_outcomes;

  bool passed() const {
    return differences.empty() && expectation_failures.empty();
  }
};

// Runs a reference and a target side by side, one step at a time. The
// fuzzer feeds it operations as it generates them; run_scenario() feeds it
// a whole trace. Each call returns false once a difference was found (and
// then does nothing more); result() says what differed. The destructor
// unmounts both targets.
class Lockstep {
 public:
  Lockstep(Target& reference, Target& target, const RunOptions& options)
      : reference_(reference), target_(target), options_(options) {}
  Lockstep(const Lockstep&) = delete;
  Lockstep& operator=(const Lockstep&) = delete;
  ~Lockstep();

  // Mounts the scenario's stack on both. Returns false when the mounts
  // differ, or when both failed alike (there is nothing left to run; see
  // mounted()).
  bool mount(const trace::Scenario& scenario);
  bool mounted() const { return mounted_; }

  // Applies one step to both and compares. `index` numbers the step in
  // reports.
  // REQUIRES: mounted().
  bool step(const trace::Step& step, int index);

  // Compares the final snapshots (only the lower layers when snapshots
  // were compared after every step) and unmounts both.
  bool finish(int steps);

  const RunResult& result() const { return result_; }

 private:
  bool compare_snapshots_at(int step, SnapshotParts parts);
  void unmount();

  Target& reference_;
  Target& target_;
  RunOptions options_;
  RunResult result_;
  IdentityMatcher ids_;
  bool mounted_ = false;
};

RunResult run_scenario(const trace::Scenario& scenario, Target& reference,
                       Target& target, const RunOptions& options);

// A report of a failed run, one line per difference, indented:
//   step 3: unlink /a
//     result: expected ok, kernel returned ENOENT
//     upper /a: type: expected whiteout, kernel (absent)
std::string format_report(const trace::Scenario& scenario,
                          const RunResult& result,
                          const std::string& target_name);

// A one-line class of a failed run, the same for every counterexample of
// one cause: the operation of the failing step and what differed first,
// without paths ("ftruncate: result errno: ok/EINVAL", "mkdir: upper
// type"). Campaigns count divergences by it.
std::string divergence_signature(const trace::Scenario& scenario,
                                 const RunResult& result);

}  // namespace ovlsim::harness

#endif  // OVLSIM_HARNESS_RUNNER_H_
