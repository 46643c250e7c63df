// Snapshots: what a mount looks like, read back as data.
//
// A snapshot holds three kinds of tree: the merged view (what a process
// using the mount sees), the raw upper layer (whiteouts, opaque markers and
// the other overlay.* xattrs included) and each lower layer (which must
// never change). A tree is a table from absolute path ("/", "/a", "/a/b")
// to what lstat, readlink, the xattr calls and a read show for that path.
//
// Trees are read the same way from a real directory and from the model, so
// that they can be compared (compare.h).
#ifndef OVLSIM_HARNESS_SNAPSHOT_H_
#define OVLSIM_HARNESS_SNAPSHOT_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/layer.h"
#include "model/overlay.h"

namespace ovlsim::harness {

// File content longer than this is kept as a digest.
inline constexpr std::size_t kMaxKeptContent = 256;

struct Entry {
  mode_t mode = 0;  // type and permission bits
  uid_t uid = 0;
  gid_t gid = 0;
  nlink_t nlink = 0;
  dev_t rdev = 0;
  off_t size = 0;
  // A symlink's target, or a regular file's content (or its digest, see
  // content_digest()); empty for other types.
  std::string data;
  model::Xattrs xattrs;
  model::Timespec mtime;
  // For a non-directory that shares its inode with an earlier path of the
  // tree (in sorted order): that path. Whiteouts never share, because the
  // kernel links all whiteouts to one inode (WO-02) as an on-disk detail.
  std::string same_inode_as;
  // The errno of lstat when readdir lists a name that lstat cannot find
  // (an xattr whiteout seen by readdir only, WO-06); 0 otherwise.
  int stat_err = 0;
  // st_ino as read, for reports; never compared directly.
  model::InodeNumber ino = 0;
  // st_dev as read (the model's DeviceId in a model tree); in the merged
  // view, which paths share a device is compared.
  std::uint64_t dev = 0;
  // The d_ino readdir gave the name; in the merged view, whether it equals
  // st_ino is compared (DIR-07).
  model::InodeNumber d_ino = 0;

  bool is_whiteout() const;
};

struct Tree {
  std::map<std::string, Entry> entries;  // by absolute path

  const Entry* find(const std::string& path) const;
};

struct Snapshot {
  Tree merged;
  std::optional<Tree> upper;  // none for a read-only mount
  std::vector<Tree> lowers;   // top to bottom
};

// `data` itself when it is short, else "<N bytes, digest D>".
std::string content_digest(const std::string& data);

// Reads the tree below the directory `path` of the real filesystem, without
// following symlinks and without opening anything but regular files and
// directories. `path` must be a directory the harness created or mounted.
// Errors: the errno of the first call that failed on `path` itself.
// Entries below it that vanish or cannot be read get their stat_err set.
model::Result<Tree> read_tree(const std::string& path);

// The tree of a model layer, as read_tree would read the same layer
// populated on disk.
Tree tree_of_layer(const model::Layer& layer);

}  // namespace ovlsim::harness

#endif  // OVLSIM_HARNESS_SNAPSHOT_H_
