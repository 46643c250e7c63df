// Copy-up: bringing a lower object into the upper layer before a change.
//
// Before anything changes an object that lives only in a lower layer, the
// kernel copies it to the upper layer (ovl_copy_up() in
// fs/overlayfs/copy_up.c), and changes the copy. Copy-up
//   - copies every missing ancestor directory first, up to the root
//     (CU-02);
//   - copies a directory without its children (CU-03);
//   - preserves the type, mode with suid/sgid/sticky, owner, atime and
//     mtime, symlink target, device number, data, and every xattr that is
//     not overlay-private (CU-04, CU-05); ctime becomes the copy-up time;
//   - records overlay.origin, except for a regular file with several links
//     while index is off (CU-06), and marks the upper parent impure
//     (CU-07);
//   - leaves the times of the parent directory as they were (CU-09).
// What triggers copy-up is the caller's business (CU-01, overlay.cc).
#ifndef OVLSIM_MODEL_COPY_UP_H_
#define OVLSIM_MODEL_COPY_UP_H_

#include <cstddef>

#include "model/result.h"
#include "model/super.h"

namespace ovlsim::model {

// Whether copying up the lower non-directory `src` puts it in the inodes
// index (ovl_need_index): with index=on, a hard-linked file, or any file
// with nfs_export=on.
bool ovl_need_index(const OvlFs& fs, const Inode& src);

// The overlay nlink of an indexed upper inode: its own nlink adjusted by
// overlay.nlink ("U+1", "U-1"), or its own nlink when it has none or
// another form (HL-04).
int ovl_index_nlink(const OvlFs& fs, const Inode& copy);

// Stores `nlink` as the overlay nlink of `copy`, relative to its upper
// nlink (ovl_set_nlink_upper).
void ovl_set_nlink_upper(OvlFs& fs, Inode& copy, int nlink);

enum class CopyUpData {
  kFull,   // copy the data along with the metadata
  kEmpty,  // the caller truncates to 0 at once (open with O_TRUNC)
  kMeta,   // a metadata change: with metacopy=on a regular file is copied
           // without its data and marked overlay.metacopy (MD-09)
};

// Makes path.chain[depth] an upper object, copying its ancestors first, and
// fills in the `upper` of every dentry it copied. An upper metacopy file
// asked for with kFull or kEmpty gets its data now, and loses
// overlay.metacopy.
// REQUIRES: the dentry is positive.
// Errors: EROFS when the overlay has no upper layer.
Status ovl_copy_up(OvlFs& fs, OvlPath& path, std::size_t depth,
                   CopyUpData data = CopyUpData::kFull);

// Copies up the target of `path`.
inline Status ovl_copy_up(OvlFs& fs, OvlPath& path,
                          CopyUpData data = CopyUpData::kFull) {
  return ovl_copy_up(fs, path, path.chain.size() - 1, data);
}

}  // namespace ovlsim::model

#endif  // OVLSIM_MODEL_COPY_UP_H_
