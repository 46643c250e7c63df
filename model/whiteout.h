// Whiteouts and opaque directories: how a layer hides what lies below it.
//
// A whiteout is a name in a layer that says "this name does not exist in
// the layers below". The kernel's format is a character device 0/0 (WO-01);
// since 6.7 a zero-size regular file carrying overlay.whiteout is a whiteout
// too (an "xwhiteout", WO-05), for layers that are themselves read through
// an overlay. Lookup and readdir treat xwhiteouts differently (WO-06).
//
// An opaque directory (overlay.opaque=y) hides every directory of the same
// name below it (WO-07). The value "x" marks a lower directory that is not
// opaque but may hold xwhiteouts (WO-08).
#ifndef OVLSIM_MODEL_WHITEOUT_H_
#define OVLSIM_MODEL_WHITEOUT_H_

#include <string_view>

#include "model/layer.h"
#include "model/super.h"

namespace ovlsim::model {

// True for a kernel-format whiteout: a character device 0/0.
bool is_whiteout(const Inode& inode);

// True for an xwhiteout: a zero-size regular file with overlay.whiteout.
// Always false before 6.7 ("ovl: Add an alternative type of whiteout").
bool is_xwhiteout(const OvlFs& fs, const Inode& inode);

// What lookup treats as a whiteout in any layer: either format.
bool is_any_whiteout(const OvlFs& fs, const Inode& inode);

// The attributes of a new kernel-format whiteout: mode 0000, root-owned.
InodeAttrs whiteout_attrs(Timespec now);

enum class Opaque {
  kNone,        // an ordinary directory
  kYes,         // overlay.opaque=y: hides lower directories
  kXwhiteouts,  // overlay.opaque=x: may hold xwhiteouts (lower layers only)
};

// How the directory `dir` of layer `layer` is marked. "x" counts only in a
// lower layer other than the lowest, and only from 6.8 on ("ovl: mark
// xwhiteouts directory with overlay.opaque='x'"); a value other than a
// single "y" or "x" is not opaque.
Opaque opaque_value(const OvlFs& fs, std::size_t layer, const Inode& dir);

// ovl_whiteout: puts a whiteout at `name` in the upper directory `dir`,
// replacing what is there (for a directory, with everything below it).
void make_whiteout(OvlFs& fs, InodeNumber dir, std::string_view name,
                   const std::string& path);

// Whether a lower layer has a positive object under the name of the
// positive `dentry` in `parent` (ovl_lower_positive): then removing the
// name from the upper layer must leave a whiteout.
bool lower_positive(const OvlFs& fs, const OvlDentry& parent,
                    const OvlDentry& dentry);

}  // namespace ovlsim::model

#endif  // OVLSIM_MODEL_WHITEOUT_H_
