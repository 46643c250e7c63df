// Attributes of merged objects: what stat(2) reports through the overlay.
//
// Mode, owner, size and times come from the topmost real object, never from
// lower directories of a merge (LK-06). A merged directory reports nlink 1
// (HL-05). Inode numbers follow the samefs rules (INO-01): a copied-up
// object keeps the number of its origin, a merged directory reports its
// lower directory's number, and the root reports the upper root's. On
// several filesystems, xino (INO-05) keeps those numbers unique and the
// overlay's st_dev for all; without it, directories get numbers of the
// overlay's own and non-directories a device per filesystem (INO-02).
//
// The model's inode numbers are not the kernel's: they encode the layer and
// the layer's inode number, so that two paths have the same st_ino exactly
// when the kernel would give them the same one.
#ifndef OVLSIM_MODEL_INODE_H_
#define OVLSIM_MODEL_INODE_H_

#include "model/overlay.h"
#include "model/super.h"

namespace ovlsim::model {

// The model's st_ino for object `ino` of layer `layer`.
InodeNumber layer_ino(LayerRef ref);

// The real object whose inode number a positive dentry reports (INO-01):
// its origin when it was copied up, its lower directory when merged.
// `path` is the name the dentry was reached by, which a copy without an
// origin keeps its lower identity under (OvlFs::keep_identity); "" for
// none.
LayerRef ovl_ino_ref(const OvlFs& fs, const OvlDentry& dentry,
                     const std::string& path = "");

// The st_ino of a positive dentry, on one filesystem or with xino.
InodeNumber ovl_ino(const OvlFs& fs, const OvlDentry& dentry);

// ovl_getattr: the attributes of a positive dentry.
Stat ovl_getattr(const OvlFs& fs, const OvlDentry& dentry, bool is_root,
                 const std::string& path = "");

// Where the data of a positive regular file lives: the topmost object that
// is not a metacopy file (MD-09), or nullopt when none was found.
std::optional<LayerRef> ovl_data_ref(const OvlFs& fs, const OvlDentry& dentry);

// The d_type of a mode (DT_REG, DT_DIR, ...).
unsigned char dirent_type(mode_t mode);

}  // namespace ovlsim::model

#endif  // OVLSIM_MODEL_INODE_H_
