// Rename: moving names within the merged view, and the redirects it needs.
//
// Renaming a non-directory always works: the source is copied up and moved
// in the upper layer, and a whiteout is left at the old name when a lower
// layer has it (RN-02). A directory whose contents lie in a lower layer
// cannot be moved that simply, since its lower half stays where it is:
// without redirect_dir=on the kernel refuses with EXDEV (RN-03) and tools
// fall back to copying. With redirect_dir=on the moved upper directory gets
// overlay.redirect, naming where its lower half is: the old name when it
// stays in the same parent, else the absolute lower path (RN-04). A
// pure-upper directory moved into a merged parent becomes opaque, so that it
// does not merge with a lower directory of its new name (WO-07).
#ifndef OVLSIM_MODEL_RENAME_H_
#define OVLSIM_MODEL_RENAME_H_

#include <cstddef>
#include <optional>
#include <string>

#include "model/result.h"
#include "model/super.h"

namespace ovlsim::model {

// The kernel's redirect_max: the longest absolute redirect it writes.
inline constexpr std::size_t kRedirectMax = 256;

// ovl_can_move: whether the object at path.chain[depth] may be moved.
// Non-directories and pure-upper directories may always move; merged and
// lower directories only with redirect_dir=on.
bool ovl_can_move(const OvlFs& fs, const OvlDentry& dentry);

// True for an object without an upper half, a directory with a lower
// half, or a metacopy file (ovl_type_merge_or_lower).
bool ovl_type_merge_or_lower(const OvlFs& fs, const OvlDentry& dentry);

// The redirect to store on the copied-up target of `path` before it moves
// (ovl_set_redirect): nullopt when the redirect it already has stays
// valid, otherwise the relative old name for a move within the same parent
// or the absolute lower path for any other move, and for a file whose
// lower inode has several links.
// Errors: EXDEV when the absolute redirect would exceed kRedirectMax
// (RN-05).
Result<std::optional<std::string>> ovl_redirect_for_move(OvlFs& fs,
                                                         const OvlPath& path,
                                                         bool samedir);

}  // namespace ovlsim::model

#endif  // OVLSIM_MODEL_RENAME_H_
