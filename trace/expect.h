// Checking steps against their expectations, and saying what differs.
//
// The same comparisons serve every target: the model runner, the kernel
// harness and fuse-overlayfs all produce Outcomes and layer trees, and the
// functions here decide whether they match a trace and format both sides
// in trace syntax, so that a report reads like the trace it came from.
#ifndef OVLSIM_TRACE_EXPECT_H_
#define OVLSIM_TRACE_EXPECT_H_

#include <optional>
#include <string>

#include "model/layer.h"
#include "trace/op.h"
#include "trace/scenario.h"

namespace ovlsim::trace {

// True when `actual` satisfies `expected`: the same errno, and on success
// the expected value if one is given. Listings compare as sets.
bool matches(const Expected& expected, OpKind kind, const Outcome& actual);

// The full expectation that `actual` would satisfy, as --record writes it:
// the errno, or the value the call returned (stat: type, mode, uid, gid,
// size, nlink and, for devices, rdev; close and the like: just ok).
Expected expected_from(OpKind kind, const Outcome& actual);

// An expectation or an outcome in trace syntax, as it follows "->":
// "ENOENT", "ok", "5", "\"data\"", "file 0644 uid=0 gid=0 size=5 nlink=1",
// "[a:file b:dir]".
std::string format_expected(const Expected& expected);
std::string format_outcome(OpKind kind, const Outcome& actual);

// Options of a tree comparison.
struct TreeCompare {
  // Compare hard-link structure (nlink of non-directories). True for raw
  // layers; the merged view has no stable link counts across targets.
  bool links = true;
  // The overlay xattr prefix ("trusted.overlay." or "user.overlay.");
  // origin and uuid under it are compared by presence only.
  std::string overlay_prefix = "trusted.overlay.";
};

// The first difference between two trees, as one line ("/a/b: expected
// file, found whiteout"), or nullopt when they match. Compared per path:
// type, permission bits, uid, gid, rdev, data, xattrs; never times or
// inode numbers.
std::optional<std::string> diff_trees(const model::Layer& expected,
                                      const model::Layer& actual,
                                      const TreeCompare& how);

// The difference between an expected object and the actual one at `path`
// (nullopt for either side: absent), or nullopt when they match.
std::optional<std::string> diff_object(
    const std::string& path, const std::optional<model::InodeAttrs>& expected,
    const std::optional<model::InodeAttrs>& actual, const TreeCompare& how);

}  // namespace ovlsim::trace

#endif  // OVLSIM_TRACE_EXPECT_H_
