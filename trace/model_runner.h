// Running a scenario against the model.
//
// ModelRunner mounts a scenario's stack on a model::Overlay and applies its
// steps one at a time, mapping the trace's file names ("f1") to the model's
// descriptors. It is the model's side of every comparison: `ovlsim run`
// checks its Outcomes against the trace, `ovlsim explain` reads its event
// log, and the harness compares it with a real mount step by step.
#ifndef OVLSIM_TRACE_MODEL_RUNNER_H_
#define OVLSIM_TRACE_MODEL_RUNNER_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/event.h"
#include "model/overlay.h"
#include "trace/op.h"
#include "trace/scenario.h"

namespace ovlsim::trace {

class ModelRunner {
 public:
  // Mounts the scenario's stack with its options and kernel version.
  // Returns the mount's outcome: ok, or the errno of the options or of
  // model::Overlay::mount. The scenario is copied; it need not outlive the
  // runner. `log`, when given, receives the model's events from the mount
  // on and must outlive the runner.
  Outcome mount(const Scenario& scenario, model::EventLog* log = nullptr);

  // True after a successful mount().
  bool mounted() const { return overlay_.has_value(); }

  // Applies one operation. A file name the trace never opened (or already
  // closed) stands for a descriptor that is not open: the call gets EBADF.
  // REQUIRES: mounted().
  Outcome apply(const Op& op);

  // The overlay, to inspect its layers or call it directly.
  // REQUIRES: mounted().
  model::Overlay& overlay() { return *overlay_; }
  const model::Overlay& overlay() const { return *overlay_; }

  // The merged view as a tree, read through the overlay with lstat,
  // readdir, pread, readlink and llistxattr, as a process would see it.
  // Lookups may write to the upper layer (LK-15), so check the upper layer
  // before the merged view.
  // REQUIRES: mounted().
  model::Layer merged_tree();

  // The object at `path` of the merged view as merged_tree() would show
  // it, or nullopt when lstat fails.
  // REQUIRES: mounted().
  std::optional<model::InodeAttrs> merged_object(const std::string& path);

  // Checks the expected states against the model and returns the first
  // difference, or nullopt when all hold. Upper checks run before merged
  // ones (see merged_tree()). States marked to_record are filled in from
  // the model when `record` is true, and otherwise checked like the rest.
  // REQUIRES: mounted().
  std::optional<std::string> check_states(std::vector<ExpectedState>& states,
                                          bool record = false);

 private:
  std::optional<model::Overlay> overlay_;
  std::map<std::string, int> fds_;  // trace name -> model descriptor
  model::EventLog* log_ = nullptr;
};

// The result of running one scenario against the model.
struct RunReport {
  bool passed = true;
  // Filled in for the first failure:
  int line = 0;          // the failing line (the step or the expectation)
  std::string step;      // the step as written ("unlink /a"), or "mount"
  std::string expected;  // in trace syntax
  std::string actual;    // in trace syntax, or the state difference
  // For --record: the scenario with every unchecked outcome, and every
  // state block marked to_record, filled in from the model. Expectations
  // already present are kept as written.
  Scenario recorded;
};

// Runs the whole scenario, stopping at the first failed expectation (with
// `record`: filling in missing expectations instead of stopping on them,
// and still stopping on a failed one).
RunReport run_on_model(const Scenario& scenario, bool record = false);

}  // namespace ovlsim::trace

#endif  // OVLSIM_TRACE_MODEL_RUNNER_H_
