// Populating a real directory from a model layer.
//
// The layers of a trace or of a generated stack are model::Layer trees. To
// mount them for real, each is written into an empty directory: files with
// their content, directories, symlinks, device nodes, fifos and sockets,
// hard links, owners, modes, xattrs (the overlay.* ones included, in the
// namespace the layer spells: trusted.overlay.* or user.overlay.*) and
// modification and access times. A whiteout is a character device 0/0, as
// the kernel makes it; an xattr whiteout is a regular file with its
// overlay.whiteout xattr, both written as they are in the layer.
#ifndef OVLSIM_HARNESS_POPULATE_H_
#define OVLSIM_HARNESS_POPULATE_H_

#include <string>

#include "model/layer.h"
#include "model/result.h"

namespace ovlsim::harness {

// Writes `layer` into the empty directory `dir_fd`. Nothing outside it is
// touched: every call is relative to `dir_fd` and never follows a symlink.
// Errors: EINVAL for a name that cannot be a directory entry ("", ".",
// "..", or one holding '/'); otherwise the errno of the first call that
// failed. `error`, when given, then names the path and the call.
model::Status populate_layer(int dir_fd, const model::Layer& layer,
                             std::string* error = nullptr);

// What of `layer` only root of the initial user namespace can write: an
// owner other than uid 0 or gid 0, a device node other than a whiteout, or
// a trusted.*, security.* or system.* xattr (overlay.* ones must be in
// user.overlay.*). The description names the first such path, as
// "/dev/null: a device node"; "" when root of a user namespace that maps
// only itself can write the whole layer (Cred::userns).
std::string needs_initial_namespace(const model::Layer& layer);

}  // namespace ovlsim::harness

#endif  // OVLSIM_HARNESS_POPULATE_H_
