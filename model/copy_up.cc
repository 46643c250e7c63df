#include "model/copy_up.h"

#include <cassert>
#include <charconv>

#include <fmt/format.h>

#include "model/inode.h"
#include "model/lookup.h"

namespace ovlsim::model {

namespace {

// The attributes of the upper copy of `src`, whose data is `data_src`.
InodeAttrs copy_attrs(const OvlFs& fs, const Inode& src, const Inode* data_src,
                      CopyUpData data, Timespec now) {
  InodeAttrs attrs;
  attrs.mode = src.mode;
  attrs.uid = src.uid;
  attrs.gid = src.gid;
  attrs.rdev = src.rdev;
  if (src.is_symlink())
    attrs.data = src.data;
  if (src.is_reg() && data == CopyUpData::kFull && data_src != nullptr)
    attrs.data = data_src->data;
  // A metacopy file has its full size but no data: a sparse file.
  if (src.is_reg() && data == CopyUpData::kMeta)
    attrs.data.assign(src.data.size(), '\0');
  for (const auto& [name, value] : src.xattrs)
    if (!fs.xattrs().is_private(name))
      attrs.xattrs.emplace(name, value);
  attrs.atime = src.atime;
  attrs.mtime = src.mtime;
  attrs.ctime = now;
  return attrs;
}

const char* what_was_copied(const Inode& src, CopyUpData data) {
  if (src.is_dir())
    return "directory, without its children";
  if (!src.is_reg())
    return "metadata";
  switch (data) {
    case CopyUpData::kFull:
      return "data and metadata";
    case CopyUpData::kEmpty:
      return "metadata only, data truncated";
    case CopyUpData::kMeta:
      return "metadata only: overlay.metacopy, data stays below";
  }
  return "";
}

// Copies the data of an upper metacopy file up from below
// (ovl_copy_up_meta_inode_data).
Status copy_up_data(OvlFs& fs, OvlPath& path, std::size_t depth,
                    CopyUpData data) {
  OvlDentry& dentry = path.chain[depth];
  Inode& upper = fs.upper_inode(*dentry.upper);
  std::optional<LayerRef> source = ovl_data_ref(fs, dentry);
  if (!source || source->layer == 0)
    return fs.fail(EIO, "the data of a metacopy file is missing");
  if (data == CopyUpData::kFull)
    upper.data = fs.real(*source).data;
  upper.xattrs.erase(fs.xattrs().name(kMetacopy));
  // The data is written after the attributes were copied, and nothing
  // restores the times: the copy's mtime is now (MD-09; 6.18, tmpfs).
  upper.mtime = upper.ctime = fs.now();
  fs.log(EventKind::kCopyUp, path.path(depth), source->layer,
         fmt::format("copied the data up from lower layer {}; "
                     "overlay.metacopy removed",
                     source->layer));
  return Ok{};
}

}  // namespace

bool ovl_need_index(const OvlFs& fs, const Inode& src) {
  if (!fs.options().index || src.is_dir())
    return false;
  return fs.options().nfs_export || src.nlink > 1;
}

int ovl_index_nlink(const OvlFs& fs, const Inode& copy) {
  int nlink = static_cast<int>(copy.nlink);
  const std::string* value = fs.get_private(copy, kNlink);
  if (value == nullptr || value->size() < 3 || (*value)[0] != 'U')
    return nlink;
  int delta = 0;
  const char* begin = value->data() + 2;
  const char* end = value->data() + value->size();
  if (std::from_chars(begin, end, delta).ptr != end)
    return nlink;
  return (*value)[1] == '-' ? nlink - delta : nlink + delta;
}

void ovl_set_nlink_upper(OvlFs& fs, Inode& copy, int nlink) {
  int delta = nlink - static_cast<int>(copy.nlink);
  fs.set_private(copy, kNlink, fmt::format("U{:+d}", delta));
}

Status ovl_copy_up(OvlFs& fs, OvlPath& path, std::size_t depth,
                   CopyUpData data) {
  OvlDentry& dentry = path.chain[depth];
  assert(dentry.positive() && "copy-up of a negative dentry");
  if (dentry.upper) {
    bool metacopy = fs.get_private(fs.upper_inode(*dentry.upper), kMetacopy);
    if (metacopy && data != CopyUpData::kMeta)
      return copy_up_data(fs, path, depth, data);
    return Ok{};
  }
  if (!fs.has_upper())
    return fs.fail(EROFS, "the overlay has no upper layer");

  // Parents first: the copy needs an upper directory to live in.
  assert(depth > 0 && "the root always has an upper directory");
  OVL_TRY(ovl_copy_up(fs, path, depth - 1, CopyUpData::kFull));

  OvlDentry& parent = path.chain[depth - 1];
  LayerRef origin = dentry.lower.front();
  Layer& upper = fs.upper_layer();

  // A name of an indexed inode is copied up by linking the index's copy
  // under it (ovl_link_up): one more upper link, the same overlay nlink.
  if (dentry.index) {
    InodeNumber ino = *dentry.index;
    upper.link(*parent.upper, dentry.name, ino);
    dentry.upper = ino;
    dentry.index.reset();
    Inode& copy = upper.inode(ino);
    ovl_set_nlink_upper(fs, copy, ovl_index_nlink(fs, copy) - 1);
    fs.set_private(upper.inode(*parent.upper), kImpure, "y");
    fs.log(EventKind::kCopyUp, path.path(depth), 0,
           "linked the indexed copy of its lower inode under this name");
    if (fs.get_private(copy, kMetacopy) && data != CopyUpData::kMeta)
      return copy_up_data(fs, path, depth, data);
    return Ok{};
  }

  const Inode& src = fs.real(origin);
  if (data == CopyUpData::kMeta && (!fs.options().metacopy || !src.is_reg()))
    data = CopyUpData::kFull;
  std::optional<LayerRef> data_ref = ovl_data_ref(fs, dentry);
  if (src.is_reg() && data == CopyUpData::kFull && !data_ref)
    return fs.fail(EIO, "the data of a metacopy file is missing");
  const Inode* data_src = data_ref ? &fs.real(*data_ref) : nullptr;

  InodeNumber ino = upper.create(*parent.upper, dentry.name,
                                 copy_attrs(fs, src, data_src, data, fs.now()));
  dentry.upper = ino;
  if (data == CopyUpData::kMeta)
    fs.set_private(upper.inode(ino), kMetacopy, "");

  // A lower hard link would be broken by a copy without an index, so the
  // copy does not claim the lower inode as its origin (HL-02).
  bool broken_link = src.is_reg() && src.nlink > 1 && !fs.options().index;
  // With index=on the copy of a lower hard link goes into the index, which
  // keeps one link of it; the overlay nlink stays the lower one (HL-04).
  if (ovl_need_index(fs, src)) {
    Inode& copy = upper.inode(ino);
    copy.nlink++;
    fs.add_index(origin, ino);
    ovl_set_nlink_upper(fs, copy, static_cast<int>(src.nlink));
  }
  // Under userxattr the origin is a user.* xattr, which only regular files
  // and directories can carry (MD-02): other copies go without.
  bool can_hold = !fs.options().userxattr || src.is_reg() || src.is_dir();
  if (!broken_link) {
    if (can_hold)
      fs.set_private(upper.inode(ino), kOrigin, origin_marker(fs, origin));
    // An origin that cannot be written, or will not be followed, leaves
    // the lower identity in the overlay inode only.
    if ((!can_hold || !fs.origin_followed(origin.layer)) && src.nlink == 1)
      fs.keep_identity(ino, path.path(depth), origin);
    fs.record_copy_up(origin, ino);
  } else {
    fs.record_copy_up(origin, ino, path.path(depth));
  }
  fs.set_private(upper.inode(*parent.upper), kImpure, "y");

  if (fs.logging())
    fs.log(EventKind::kCopyUp, path.path(depth), origin.layer,
           fmt::format("copied up from lower layer {} ({}){}", origin.layer,
                       what_was_copied(src, data),
                       broken_link ? "; no origin: hard link broken" : ""));
  return Ok{};
}

}  // namespace ovlsim::model
