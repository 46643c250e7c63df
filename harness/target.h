// Targets: the filesystems that operations run against.
//
// A Target is one overlay implementation behind a narrow interface: mount a
// stack of layers with options, apply operations one at a time, read back
// a snapshot, unmount. The model, the kernel's overlayfs and fuse-overlayfs
// are targets, and so is any test double that injects faults; the harness
// drives each the same way and compares what they report.
#ifndef OVLSIM_HARNESS_TARGET_H_
#define OVLSIM_HARNESS_TARGET_H_

#include <chrono>
#include <string>
#include <vector>

#include "harness/snapshot.h"
#include "model/options.h"
#include "model/overlay.h"
#include "trace/op.h"
#include "trace/scenario.h"

namespace ovlsim::harness {

// The result of a mount. `err` is the errno the mount returned, which is
// compared like any operation's; `failure` is set instead when the target
// itself broke (the layers could not be written, a daemon did not start)
// and nothing can be compared.
struct MountResult {
  int err = 0;
  std::string failure;

  bool ok() const { return err == 0 && failure.empty(); }
};

// The on-disk format a target writes to its upper layer.
enum class Dialect {
  kKernel,         // whiteouts, opaque and origin as overlayfs writes them
  kFuseOverlayfs,  // fuse-overlayfs's own format (see its document)
};

// Wall-clock time spent in each phase, summed over all mounts.
struct PhaseTimes {
  using Duration = std::chrono::steady_clock::duration;
  Duration populate{};
  Duration mount{};
  Duration ops{};
  Duration snapshot{};
  Duration unmount{};
  long mounts = 0;
  long operations = 0;
  long snapshots = 0;

  PhaseTimes& operator+=(const PhaseTimes& other);
};

// What a snapshot reads: the merged view and the upper layer, the lower
// layers, or all of them.
enum class SnapshotParts { kViews, kLowers, kAll };

inline bool reads_views(SnapshotParts p) {
  return p != SnapshotParts::kLowers;
}
inline bool reads_lowers(SnapshotParts p) {
  return p != SnapshotParts::kViews;
}

class Target {
 public:
  virtual ~Target() = default;

  // "model", "kernel", "fuse-overlayfs", or a test double's name.
  virtual std::string name() const = 0;
  virtual Dialect dialect() const { return Dialect::kKernel; }

  // Mounts the scenario's stack with its options (the kernel's "name" or
  // "name=value" form, without layer options: the target places the
  // layers itself). Nothing the target does later may change the lower
  // layers.
  // REQUIRES: not mounted.
  virtual MountResult mount(const trace::Scenario& scenario) = 0;

  // Runs one operation on the mount.
  // REQUIRES: mounted.
  virtual trace::Outcome apply(const trace::Op& op) = 0;

  // Reads the parts of the mount that `parts` names. The lower layers
  // never change (or a change would last), so callers read them seldom.
  // REQUIRES: mounted.
  virtual Snapshot snapshot(SnapshotParts parts) = 0;

  // Closes every open file, unmounts and discards the layers. Does nothing
  // when not mounted.
  virtual void unmount() = 0;

  // Set when the target broke during the last call (a daemon that died or
  // hung): the outcomes it reported since are worthless. Empty otherwise.
  virtual std::string failure() const { return ""; }

  const PhaseTimes& times() const { return times_; }

 protected:
  PhaseTimes times_;
};

// Adds the time from its construction to its destruction to a duration.
class PhaseTimer {
 public:
  explicit PhaseTimer(PhaseTimes::Duration& sum)
      : sum_(sum), start_(std::chrono::steady_clock::now()) {}
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;
  ~PhaseTimer() { sum_ += std::chrono::steady_clock::now() - start_; }

 private:
  PhaseTimes::Duration& sum_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace ovlsim::harness

#endif  // OVLSIM_HARNESS_TARGET_H_
