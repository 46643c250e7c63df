// Readdir: listing a directory of the merged view.
//
// A directory whose entries may be spread over layers or hidden by
// whiteouts is "merged" (ovl_dir_is_real() is false): it has both an upper
// and a lower half, or several lower halves, or its topmost half carries
// overlay.origin. The root is always merged. Its listing is built from every
// layer of the merge (ovl_dir_read_merged() in fs/overlayfs/readdir.c):
//   - each name appears once, from the highest layer that has it (DIR-02);
//   - whiteouts remove the name and are not listed; xwhiteouts only where
//     the directory is marked for them (WO-06), and upper xwhiteouts in
//     an impure directory, whose d_ino the kernel recomputes by lookup;
//   - the lowest layer's names come first in that layer's order, then the
//     names missing from it, upper's first, then each lower layer's (DIR-03).
// Any other directory is listed as its one real directory is, whiteouts
// included (DIR-01).
//
// The model takes each layer's own order to be sorted by name.
#ifndef OVLSIM_MODEL_READDIR_H_
#define OVLSIM_MODEL_READDIR_H_

#include <vector>

#include "model/overlay.h"
#include "model/result.h"
#include "model/super.h"

namespace ovlsim::model {

// True when readdir and rmdir must look at every layer of `dir`.
bool ovl_dir_is_merged(const OvlFs& fs, const OvlDentry& dir);

// The entries of the positive directory `dir`, "." and ".." first.
std::vector<Dirent> ovl_iterate(OvlFs& fs, const OvlPath& dir);

// ovl_check_empty_dir: may the directory at the target of `path` be removed
// or replaced? A pure upper directory (no lower half, not merged) whose name
// no lower layer has is left to the upper filesystem, which counts
// whiteouts as entries (RM-05). Any other may go when its merged listing
// holds nothing but whiteouts (RM-02); the caller then removes the
// whiteouts with it. `lower_positive` tells whether a lower layer has the
// name (rmdir asks; rename does not).
// Errors: ENOTEMPTY.
Status ovl_check_empty_dir(OvlFs& fs, const OvlPath& path, bool lower_positive);

}  // namespace ovlsim::model

#endif  // OVLSIM_MODEL_READDIR_H_
