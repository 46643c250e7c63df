#include "model/whiteout.h"

#include <sys/sysmacros.h>

namespace ovlsim::model {

bool is_whiteout(const Inode& inode) {
  return S_ISCHR(inode.mode) && inode.rdev == makedev(0, 0);
}

bool is_xwhiteout(const OvlFs& fs, const Inode& inode) {
  if (fs.kernel() < KernelVersion{6, 7})
    return false;
  return inode.is_reg() && inode.data.empty() &&
         fs.get_private(inode, kWhiteout) != nullptr;
}

bool is_any_whiteout(const OvlFs& fs, const Inode& inode) {
  return is_whiteout(inode) || is_xwhiteout(fs, inode);
}

InodeAttrs whiteout_attrs(Timespec now) {
  InodeAttrs attrs;
  attrs.mode = S_IFCHR | 0000;
  attrs.rdev = makedev(0, 0);
  attrs.atime = attrs.mtime = attrs.ctime = now;
  return attrs;
}

Opaque opaque_value(const OvlFs& fs, std::size_t layer, const Inode& dir) {
  const std::string* value = fs.get_private(dir, kOpaque);
  if (!value || value->size() != 1)
    return Opaque::kNone;
  if (*value == "y")
    return Opaque::kYes;
  if (*value == "x" && layer != 0 && layer != fs.lowest() &&
      fs.kernel() >= KernelVersion{6, 8})
    return Opaque::kXwhiteouts;
  return Opaque::kNone;
}

void make_whiteout(OvlFs& fs, InodeNumber dir, std::string_view name,
                   const std::string& path) {
  Layer& upper = fs.upper_layer();
  if (upper.lookup(dir, name))
    upper.remove_tree(dir, name);
  upper.create(dir, name, whiteout_attrs(fs.now()));
  fs.log(EventKind::kWhiteout, path, 0, "whiteout (char 0/0)");
}

bool lower_positive(const OvlFs& fs, const OvlDentry& parent,
                    const OvlDentry& dentry) {
  if (!dentry.upper)
    return dentry.has_lower();

  // The kernel looks the name up again in the parent's lower layers, so a
  // lower object hidden by an opaque upper directory still counts. The
  // first layer that has the name decides; a whiteout of either format
  // there, as lookup sees it (WO-06), means nothing is below.
  const std::string& name = dentry.name;
  for (const LayerRef& dir : parent.lower) {
    std::optional<InodeNumber> ino = fs.layer(dir.layer).lookup(dir.ino, name);
    if (!ino)
      continue;
    return !is_any_whiteout(fs, fs.real({dir.layer, *ino}));
  }
  return false;
}

}  // namespace ovlsim::model
