#include "model/inode.h"

#include "model/copy_up.h"

#include <dirent.h>

#include "model/lookup.h"

namespace ovlsim::model {

namespace {

constexpr int kLayerShift = 48;

// Marks the inode numbers the overlay allocates itself (INO-02), so that
// they never equal a layer's.
constexpr InodeNumber kOverlayInoTag = InodeNumber{1} << 63;

}  // namespace

InodeNumber layer_ino(LayerRef ref) {
  return (static_cast<InodeNumber>(ref.layer) << kLayerShift) | ref.ino;
}

LayerRef ovl_ino_ref(const OvlFs& fs, const OvlDentry& dentry,
                     const std::string& path) {
  if (!dentry.upper)
    return dentry.lower.front();
  if (!dentry.lower.empty() && fs.real(dentry.lower.front()).is_dir())
    return dentry.lower.front();

  const Inode& upper = fs.real({0, *dentry.upper});
  if (const std::string* origin = fs.get_private(upper, kOrigin))
    if (std::optional<LayerRef> ref = decode_origin(fs, *origin))
      return *ref;
  if (std::optional<LayerRef> kept = fs.kept_identity(*dentry.upper, path))
    return *kept;
  // A metacopy file without an origin finds its lower file by name; the
  // overlay inode still takes that file's number, unless it is a lower
  // hard link.
  if (!dentry.lower.empty() && dentry.lower.front().layer <= fs.lowest() &&
      fs.real(dentry.lower.front()).nlink == 1)
    return dentry.lower.front();
  return {0, *dentry.upper};
}

InodeNumber ovl_ino(const OvlFs& fs, const OvlDentry& dentry) {
  return layer_ino(ovl_ino_ref(fs, dentry));
}

Stat ovl_getattr(const OvlFs& fs, const OvlDentry& dentry, bool is_root,
                 const std::string& path) {
  LayerRef top = fs.top(dentry);
  const Inode& real = fs.real(top);
  Stat st;
  LayerRef source =
      is_root && dentry.upper ? top : ovl_ino_ref(fs, dentry, path);
  st.ino = layer_ino(source);
  if (!fs.samefs() && !fs.xino()) {
    // ovl_map_dev_ino without xino: directories keep the overlay's
    // st_dev with an inode number of the overlay's own, non-directories
    // report the pseudo device of the filesystem their number comes from
    // (INO-02).
    if (real.is_dir())
      st.ino |= kOverlayInoTag;
    else
      st.dev = pseudo_dev(fs.fsid(source.layer));
  }
  st.mode = real.mode;
  st.nlink = real.nlink;
  st.uid = real.uid;
  st.gid = real.gid;
  st.rdev = real.rdev;
  st.size = real.size();
  st.atime = real.atime;
  st.mtime = real.mtime;
  st.ctime = real.ctime;
  st.layer = top.layer;
  if (top.layer == 0 && fs.options().index && !real.is_dir())
    st.nlink = static_cast<nlink_t>(ovl_index_nlink(fs, real));
  bool merge = dentry.upper ? dentry.has_lower() : dentry.lower.size() > 1;
  if (real.is_dir() && merge)
    st.nlink = 1;
  return st;
}

std::optional<LayerRef> ovl_data_ref(const OvlFs& fs, const OvlDentry& dentry) {
  if (dentry.upper && !fs.get_private(fs.real({0, *dentry.upper}), kMetacopy))
    return LayerRef{0, *dentry.upper};
  for (const LayerRef& ref : dentry.lower)
    if (!fs.get_private(fs.real(ref), kMetacopy))
      return ref;
  return std::nullopt;
}

unsigned char dirent_type(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return DT_REG;
    case S_IFDIR:
      return DT_DIR;
    case S_IFLNK:
      return DT_LNK;
    case S_IFCHR:
      return DT_CHR;
    case S_IFBLK:
      return DT_BLK;
    case S_IFIFO:
      return DT_FIFO;
    case S_IFSOCK:
      return DT_SOCK;
  }
  return DT_UNKNOWN;
}

}  // namespace ovlsim::model
