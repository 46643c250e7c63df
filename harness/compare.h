// Comparing a target with the model, under documented normalisation.
//
// Two overlay implementations can agree on everything a program relies on
// and still differ in details that no program may rely on. The comparison
// here ignores exactly those details (doc/harness.md, "Normalisation"):
//   - readdir order: listings compare as sets of (name, type);
//   - inode numbers: never compared as values. Within a tree, what is
//     compared is which paths share an inode; across operations, stat
//     results must map model inode numbers to target inode numbers one to
//     one (IdentityMatcher); devices likewise: the model names a device
//     as the overlay's or one backing filesystem's, and which paths share
//     a device is compared;
//   - whiteouts: type and device number only, never inode or link count
//     (the kernel links all whiteouts to one inode, WO-02);
//   - overlay.origin, overlay.impure and overlay.uuid: by presence, since
//     their values are file handles and UUIDs. An origin on a directory or
//     an impure marker that only the target has is accepted, because the
//     kernel adds them lazily on lookup (LK-15); overlay.uuid on the upper
//     root is not compared at all;
//   - times: the model keeps a logical clock (1, 2, 3... seconds), so only
//     times the model did not make up are compared: mtime 0 (the default of
//     a trace's layers, which copy-up must preserve) and mtimes from 1973
//     on (set explicitly by utimens or by a layer). atime and ctime never;
//   - directory sizes, which depend on the filesystem under the layers.
#ifndef OVLSIM_HARNESS_COMPARE_H_
#define OVLSIM_HARNESS_COMPARE_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness/snapshot.h"
#include "harness/target.h"
#include "trace/op.h"

namespace ovlsim::harness {

// What a difference is about.
enum class Area {
  kMount,    // the mount's result
  kOutcome,  // an operation's result
  kMerged,   // the merged view
  kUpper,    // the raw upper layer, in the kernel's format
  kDialect,  // the raw upper layer of a target with its own format
  kLower,    // a lower layer, which must never change
  kFailure,  // the target broke: a daemon died or hung
};

const char* area_name(Area area);

struct Difference {
  Area area = Area::kOutcome;
  std::string path;   // the path, or the lower layer ("lower 2:/a")
  std::string field;  // "type", "mode", "errno", "xattr user.x", ...
  std::string expected;
  std::string actual;
};

// What the comparison looks at.
enum class Scope {
  kAll,     // outcomes, merged view, upper and lower layers
  kMerged,  // outcomes and the merged view: what users of the mount see
};

struct CompareOptions {
  Scope scope = Scope::kAll;
  Dialect dialect = Dialect::kKernel;
  bool userxattr = false;  // overlay xattrs are user.overlay.*
  bool times = true;       // compare meaningful mtimes
  bool links = true;       // compare nlink and which paths share an inode
};

// Applies an --ignore list ("links", "times", comma separated) to
// `options`: link counts and shared inodes, or mtimes, are not compared.
// Returns "" or what is wrong with the list.
std::string apply_ignore(std::string_view list, CompareOptions& options);

// A one-to-one pairing of the model's values with a target's.
template <typename T>
class Bijection {
 public:
  // True when `expected` and `actual` are consistent with every earlier
  // pair; records the pair.
  bool match(const T& expected, const T& actual) {
    auto f = forward_.try_emplace(expected, actual).first;
    auto b = backward_.try_emplace(actual, expected).first;
    return f->second == actual && b->second == expected;
  }

 private:
  std::map<T, T> forward_;
  std::map<T, T> backward_;
};

// Pairs the identities the model reports with a target's, one to one over a
// whole run: st_dev with st_dev, and (st_dev, st_ino) with (st_dev,
// st_ino), since inode numbers are unique only within a device (INO-02).
struct IdentityMatcher {
  Bijection<std::uint64_t> devices;
  Bijection<std::pair<std::uint64_t, std::uint64_t>> inodes;
};

// True when an mtime of the model is worth comparing (see above).
bool meaningful_time(const model::Timespec& expected);

// The differences between the model's outcome of an operation and the
// target's.
std::vector<Difference> compare_outcomes(trace::OpKind kind,
                                         const trace::Outcome& expected,
                                         const trace::Outcome& actual,
                                         IdentityMatcher& ids,
                                         const CompareOptions& options = {});

// The differences between two trees of the same area.
std::vector<Difference> compare_trees(Area area, const Tree& expected,
                                      const Tree& actual,
                                      const CompareOptions& options);

// The differences between two snapshots, as far as `options.scope` looks.
std::vector<Difference> compare_snapshots(const Snapshot& expected,
                                          const Snapshot& actual,
                                          const CompareOptions& options);

// A type and permission bits as "file 0644", "whiteout", "chardev 0600".
std::string describe_mode(mode_t mode, dev_t rdev = 0);

}  // namespace ovlsim::harness

#endif  // OVLSIM_HARNESS_COMPARE_H_
