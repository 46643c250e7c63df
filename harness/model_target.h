// The model as a target, and deliberately broken variants of it.
//
// ModelTarget runs operations on model::Overlay through the trace's model
// runner and reads snapshots the same way the real targets do: the merged
// view through the overlay's operations, the layers straight from memory.
//
// A mutation turns it into a wrong implementation on purpose, so that the
// harness can be shown to catch one: it edits the model's upper layer after
// an operation (an unmount, an edit, a mount again; open files are lost,
// which only makes the mutant more wrong).
#ifndef OVLSIM_HARNESS_MODEL_TARGET_H_
#define OVLSIM_HARNESS_MODEL_TARGET_H_

#include <optional>
#include <string>
#include <string_view>

#include "harness/target.h"
#include "trace/model_runner.h"

namespace ovlsim::harness {

enum class Mutation {
  kNone,
  kUnlinkLeavesNoWhiteout,  // unlink and rmdir leave no whiteout (RM-01)
  kCopyUpDropsXattrs,       // copy-up loses user.* xattrs (CU-04)
};

// "unlink-no-whiteout", "copy-up-drops-xattrs"; nullopt for other names.
std::optional<Mutation> mutation_from_name(std::string_view name);
std::string_view mutation_name(Mutation mutation);

class ModelTarget : public Target {
 public:
  explicit ModelTarget(Mutation mutation = Mutation::kNone)
      : mutation_(mutation) {}

  std::string name() const override;
  MountResult mount(const trace::Scenario& scenario) override;
  trace::Outcome apply(const trace::Op& op) override;
  Snapshot snapshot(SnapshotParts parts) override;
  void unmount() override;

  // REQUIRES: mounted.
  model::Overlay& overlay() { return runner_->overlay(); }

 private:
  void mutate(const trace::Op& op, const Tree& upper_before);

  Mutation mutation_;
  trace::Scenario scenario_;
  std::optional<trace::ModelRunner> runner_;
};

// The merged view of a mounted model overlay, read through its operations
// (readdir, lstat, readlink, llistxattr, lgetxattr, open and pread) in the
// order read_tree() reads a real mount. Reads never copy up, so this
// leaves the overlay's layers as they were.
Tree tree_of_overlay(model::Overlay& overlay);

}  // namespace ovlsim::harness

#endif  // OVLSIM_HARNESS_MODEL_TARGET_H_
