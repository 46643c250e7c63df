// Mount options of an overlay, with the defaults of a stock 6.18 kernel.
//
// The defaults are those of a kernel built with OVERLAY_FS_REDIRECT_DIR,
// OVERLAY_FS_INDEX, OVERLAY_FS_XINO_AUTO and OVERLAY_FS_METACOPY unset and
// OVERLAY_FS_REDIRECT_ALWAYS_FOLLOW set, as Debian and most distributions
// build it: redirect_dir=follow, index=off, metacopy=off, xino=off,
// uuid=auto, nfs_export=off.
//
// resolve_options() does what the kernel's option parser does once all
// options are known (ovl_fs_params_verify() in fs/overlayfs/params.c): it
// refuses contradictory combinations with the kernel's errno and turns on
// the options that others imply.
#ifndef OVLSIM_MODEL_OPTIONS_H_
#define OVLSIM_MODEL_OPTIONS_H_

#include <optional>
#include <string>
#include <string_view>

#include "model/result.h"

namespace ovlsim::model {

// A kernel release, for behaviour that changed between versions.
struct KernelVersion {
  int major = 6;
  int minor = 18;

  auto operator<=>(const KernelVersion&) const = default;
};

// "redirect_dir=off" is not a mode of its own: with redirect_always_follow (the
// stock setting) the kernel turns it into kFollow.
enum class RedirectDir { kFollow, kNoFollow, kOn };
enum class Xino { kOff, kAuto, kOn };
enum class Uuid { kNull, kOff, kOn, kAuto };
enum class Verity { kOff, kOn, kRequire };
enum class Fsync { kAuto, kStrict, kVolatile };

struct MountOptions {
  RedirectDir redirect_dir = RedirectDir::kFollow;
  bool index = false;
  bool metacopy = false;
  bool nfs_export = false;
  Xino xino = Xino::kOff;
  Uuid uuid = Uuid::kAuto;
  Verity verity = Verity::kOff;
  Fsync fsync = Fsync::kAuto;
  bool userxattr = false;
  bool default_permissions = false;

  // Which options the user gave explicitly: the kernel treats an implied
  // value differently from a requested one when they conflict.
  bool redirect_dir_set = false;
  bool index_set = false;
  bool metacopy_set = false;
  bool nfs_export_set = false;

  bool operator==(const MountOptions&) const = default;
};

// Applies one option in the kernel's "name" or "name=value" form, as
// fsconfig(FSCONFIG_SET_STRING/FLAG) would on `kernel`. Layer options
// (lowerdir, upperdir, workdir, datadir+) are not handled here.
// Errors: EINVAL for an unknown option or value, including an option the
// kernel is too old to know.
Status apply_option(MountOptions& opts, std::string_view option,
                    KernelVersion kernel = {});

// The first kernel release that knows the option `name`, or nullopt for a
// name no release knows.
std::optional<KernelVersion> option_since(std::string_view name);

// Checks the options of a mount with or without an upper layer and resolves
// the options that imply others.
// Errors: EINVAL for a contradictory combination (for example metacopy=on
// with redirect_dir=off, or userxattr with metacopy=on).
Status resolve_options(MountOptions& opts, bool has_upper);

// The options in the kernel's "name=value,..." form, only those that differ
// from the defaults.
std::string format_options(const MountOptions& opts);

// True when the mount may not be changed offline (ovl_allow_offline_changes
// is false): with index, metacopy, redirect_dir=on or xino=on.
bool no_offline_changes(const MountOptions& opts);

}  // namespace ovlsim::model

#endif  // OVLSIM_MODEL_OPTIONS_H_
