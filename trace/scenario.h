// A scenario: one trace in memory.
//
// A trace (doc/trace-format.md) describes an overlay stack before mount, the
// mount options, and a sequence of syscalls, each optionally with what it
// must return and what the layers or the merged view must look like after
// it. The parser (parser.h) turns text into a Scenario, the writer
// (writer.h) turns a Scenario back into text, and a runner (model_runner.h,
// or the harness for a real mount) executes it.
//
// A Scenario is plain data: it can be copied, compared and built by
// programs (the fuzzer builds them and writes counterexamples as traces).
#ifndef OVLSIM_TRACE_SCENARIO_H_
#define OVLSIM_TRACE_SCENARIO_H_

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "model/layer.h"
#include "model/options.h"
#include "model/overlay.h"
#include "trace/op.h"

namespace ovlsim::trace {

// What stat(2) must report. Fields left empty are not compared; the type
// and permission bits in `mode` always are.
struct ExpectedStat {
  mode_t mode = 0;  // S_IFMT type and permission bits (incl. suid/sgid)
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::optional<off_t> size;
  std::optional<nlink_t> nlink;
  std::optional<dev_t> rdev;

  bool operator==(const ExpectedStat&) const = default;
};

// One entry of an expected directory listing. "." and ".." are never
// written in a trace; the comparison requires them and ignores them.
struct ExpectedDirent {
  std::string name;
  unsigned char type = 0;  // DT_REG, DT_DIR, ...

  bool operator==(const ExpectedDirent&) const = default;
};

// What a step must return: an errno, or success with an optional value.
// A success without a value ("-> ok") accepts any value. Listings compare
// as sets: readdir order is compared by the model's own tests, not traces,
// because the kernel's order depends on the native order of each layer.
struct Expected {
  using Value = std::variant<std::monostate,               // nothing to check
                             ExpectedStat,                 // stat family
                             std::string,                  // read, getxattr..
                             std::vector<std::string>,     // listxattr
                             std::vector<ExpectedDirent>,  // readdir
                             std::size_t>;                 // write, pwrite
  int err = 0;  // 0: the call succeeds
  Value value;

  bool operator==(const Expected&) const = default;
};

// What a layer or the merged view must hold after a step.
struct ExpectedState {
  enum class Kind {
    kMerged,  // the whole merged view, as a process sees it
    kUpper,   // the whole raw upper layer: whiteouts and overlay.* xattrs
    kPath,    // one path of the merged view
  };
  Kind kind = Kind::kMerged;

  // kMerged and kUpper: the tree, built like an initial layer. Times and
  // inode numbers are not compared; overlay.origin and overlay.uuid are
  // compared by presence only, because their values are file handles and
  // UUIDs that differ between targets.
  model::Layer tree;

  // kPath: the path, and the object it must name (nullopt: it must not
  // exist). The object is compared like an entry of a merged tree.
  std::string path;
  std::optional<model::InodeAttrs> object;

  int line = 0;      // where the expectation starts in the trace
  int end_line = 0;  // kMerged and kUpper: the line of its "end"

  // kMerged and kUpper: the block had no entry at all, which asks
  // `ovlsim run --record` to fill it in. (An empty tree is written
  // "dir /".)
  bool to_record = false;

  // Layers are compared by content, not identity.
  bool operator==(const ExpectedState& other) const;
};

// One syscall of the trace.
struct Step {
  Op op;
  std::optional<Expected> expect;  // none: not checked (see --record)
  std::vector<ExpectedState> states;
  int line = 0;  // 1-based line of the step in the trace

  bool operator==(const Step&) const = default;
};

struct Scenario {
  std::string title;        // one line, shown by reports
  std::string description;  // free text, lines joined with '\n'

  // The layers before mount. Lower layers are listed top to bottom, as in
  // lowerdir=. Labels name layers in reports ("image", "init"); empty
  // labels are shown as "upper", "lower 1", ...
  model::Stack stack;
  std::string upper_label;
  std::vector<std::string> lower_labels;  // one per lower layer

  // The backing filesystem of each layer by name ("fs=NAME" in a trace; ""
  // is the default one). Layers with one name share a filesystem;
  // place_layers() turns the names into stack.filesystems.
  std::string upper_fs;
  std::vector<std::string> lower_fs;  // empty, or one per lower layer
  // The filesystems declared with a null UUID ("filesystem NAME uuid=null"),
  // which place_layers() turns into stack.null_uuid.
  std::vector<std::string> null_uuid_fs;

  // The mount options as written ("redirect_dir=on", "userxattr"), and as
  // applied by model::apply_option. `options_error` is the errno that
  // applying them gave (EINVAL for an unknown option), 0 if none; the mount
  // then fails with it. Resolution (implied options, conflicts) is left to
  // the mount.
  std::vector<std::string> options;
  model::MountOptions mount_options;
  int options_error = 0;

  // The kernel release the expectations hold for, when it matters.
  std::optional<model::KernelVersion> kernel;

  // Who mounts the overlay and makes the calls ("mounter userns"): false
  // for root of the initial user namespace, true for root of a user
  // namespace that maps one user, as in a rootless container
  // (model::Cred::userns).
  bool userns = false;

  // What the mount must return (ok when not given) and the states that
  // must hold right after it.
  std::optional<Expected> mount_expect;
  std::vector<ExpectedState> mount_states;

  std::vector<Step> steps;

  bool operator==(const Scenario& other) const;
};

// The backing filesystem name of each layer, in the order of
// Stack::filesystems: the upper layer's first when there is one, then the
// lower layers' top to bottom ("" for the default one).
std::vector<std::string> layer_filesystems(const Scenario& scenario);

// Sets scenario.stack.filesystems from the layers' filesystem names: empty
// when all layers share one, else a number per layer, the same number for
// the same name; and scenario.stack.null_uuid from null_uuid_fs.
void place_layers(Scenario& scenario);

// The model's KernelVersion for a scenario: its own, or the default.
inline model::KernelVersion kernel_of(const Scenario& scenario) {
  return scenario.kernel.value_or(model::KernelVersion{});
}

// The credential the scenario mounts with and calls as: root, of the
// initial namespace or of a user namespace of its own.
inline model::Cred mounter_of(const Scenario& scenario) {
  model::Cred cred;
  cred.userns = scenario.userns;
  return cred;
}

// The label of layer `layer` (0 upper, 1.. lower) for reports: the
// scenario's label when it has one, else "upper", "lower 1", ...
std::string layer_label(const Scenario& scenario, std::size_t layer);

}  // namespace ovlsim::trace

#endif  // OVLSIM_TRACE_SCENARIO_H_
