#include "model/copy_up.h"

#include <cassert>

#include <fmt/format.h>

#include "model/lookup.h"

namespace ovlsim::model {

namespace {

// The attributes of the upper copy of `src`.
InodeAttrs copy_attrs(const OvlFs& fs, const Inode& src, CopyUpData data,
                      Timespec now) {
  InodeAttrs attrs;
  attrs.mode = src.mode;
  attrs.uid = src.uid;
  attrs.gid = src.gid;
  attrs.rdev = src.rdev;
  if (src.is_symlink() || (src.is_reg() && data == CopyUpData::kFull))
    attrs.data = src.data;
  for (const auto& [name, value] : src.xattrs)
    if (!fs.xattrs().is_private(name))
      attrs.xattrs.emplace(name, value);
  attrs.atime = src.atime;
  attrs.mtime = src.mtime;
  attrs.ctime = now;
  return attrs;
}

}  // namespace

Status ovl_copy_up(OvlFs& fs, OvlPath& path, std::size_t depth,
                   CopyUpData data) {
  OvlDentry& dentry = path.chain[depth];
  assert(dentry.positive() && "copy-up of a negative dentry");
  if (dentry.upper)
    return Ok{};
  if (!fs.has_upper())
    return fs.fail(EROFS, "the overlay has no upper layer");

  // Parents first: the copy needs an upper directory to live in.
  assert(depth > 0 && "the root always has an upper directory");
  OVL_TRY(ovl_copy_up(fs, path, depth - 1, CopyUpData::kFull));

  OvlDentry& parent = path.chain[depth - 1];
  LayerRef origin = dentry.lower.front();
  const Inode& src = fs.real(origin);
  Layer& upper = fs.upper_layer();
  InodeNumber ino = upper.create(*parent.upper, dentry.name,
                                 copy_attrs(fs, src, data, fs.now()));
  dentry.upper = ino;

  // A lower hard link would be broken by a copy without an index, so the
  // copy does not claim the lower inode as its origin (HL-02).
  bool broken_link = src.is_reg() && src.nlink > 1 && !fs.options().index;
  if (!broken_link) {
    fs.set_private(upper.inode(ino), kOrigin, origin_marker(origin));
    // TODO(#5): with the link broken, only files opened through this very
    // name follow the copy in the kernel; the model lets none follow.
    fs.record_copy_up(origin, ino);
  }
  fs.set_private(upper.inode(*parent.upper), kImpure, "y");

  if (fs.logging()) {
    std::string what = src.is_dir()   ? "directory, without its children"
                       : src.is_reg() ? (data == CopyUpData::kFull
                                             ? "data and metadata"
                                             : "metadata only, data truncated")
                                      : "metadata";
    fs.log(
        EventKind::kCopyUp, path.path(depth), origin.layer,
        fmt::format("copied up from lower layer {} ({}){}", origin.layer, what,
                    broken_link ? "; no origin: hard link broken" : ""));
  }
  return Ok{};
}

}  // namespace ovlsim::model
