// Lookup: finding a name in the merged view, and walking paths.
//
// ovl_lookup() mirrors the kernel's ovl_lookup() in fs/overlayfs/namei.c.
// It looks the name up in the upper directory, then in each lower directory
// of the parent's merge, top to bottom, and stops at the first
//   - non-directory (LK-02), which supplies the whole object;
//   - whiteout, in either format and in any layer (LK-07, WO-06), which
//     makes the name negative from there down;
//   - opaque directory (LK-03, WO-07), which is the last layer merged.
// Directories found before a stop merge (LK-03). An upper directory with
// overlay.redirect merges with the lower directory the redirect names
// instead of the same-named one (LK-09).
//
// Lookup is not read-only: a merged directory whose upper half has no
// overlay.origin gets one, and its parent is marked impure (LK-15).
#ifndef OVLSIM_MODEL_LOOKUP_H_
#define OVLSIM_MODEL_LOOKUP_H_

#include <string_view>

#include "model/result.h"
#include "model/super.h"

namespace ovlsim::model {

inline constexpr std::size_t kNameMax = 255;
inline constexpr std::size_t kPathMax = 4096;
inline constexpr int kMaxSymlinks = 40;

// The access modes of permission checks.
inline constexpr int kMayExec = 1;
inline constexpr int kMayWrite = 2;
inline constexpr int kMayRead = 4;

// The dentry of `name` in the positive merged directory `parent`, which may
// be negative. Errors: EPERM for a redirect under redirect_dir=nofollow
// (LK-10) or a metacopy file with metacopy off (LK-11).
Result<OvlDentry> ovl_lookup(OvlFs& fs, OvlDentry& parent,
                             std::string_view name);

// How the last component of a path names its object.
enum class LastType {
  kNormal,  // a name
  kDot,     // "."
  kDotDot,  // ".."
  kRoot,    // "/" alone
};

struct WalkResult {
  OvlPath path;
  LastType last = LastType::kNormal;
};

// Resolves `path` component by component from the overlay root. The target
// (path.target()) may be negative when only the last component is
// missing; every other component exists. The last component is followed
// when it is a symlink and `follow` is kYes or the path ends in '/'.
// Errors: ENOENT (an empty path, or a missing component before the last),
// ENOTDIR (a component that must be a directory is not one, or a trailing
// '/' after a non-directory), ELOOP (more than 40 symlinks), ENAMETOOLONG,
// EACCES (no search permission), and the errors of ovl_lookup().
Result<WalkResult> ovl_walk(OvlFs& fs, std::string_view path, bool follow);

// generic_permission(): may the caller access `inode` with `mask`
// (kMayRead | kMayWrite | kMayExec)? Root may do anything but execute a
// file that has no execute bit. Errors: EACCES.
Status ovl_permission(const OvlFs& fs, const Inode& inode, int mask);

// The overlay.origin value the model writes: a readable marker naming the
// lower object, where the kernel stores a binary file handle; empty, as the
// kernel's, when the mounter cannot encode file handles.
std::string origin_marker(const OvlFs& fs, LayerRef origin);

// The lower object an overlay.origin value names, if the model can decode
// it (values written by the kernel cannot be decoded here).
std::optional<LayerRef> decode_origin(const OvlFs& fs, std::string_view value);

}  // namespace ovlsim::model

#endif  // OVLSIM_MODEL_LOOKUP_H_
