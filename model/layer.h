// A layer: one in-memory filesystem tree of an overlay stack.
//
// A layer is what the kernel calls a "real" filesystem under overlayfs: the
// upper layer or one lower layer. It is a table of inodes (regular files,
// directories, symlinks, device nodes, fifos and sockets) and, for each
// directory, a table of names. Hard links are names of one inode in several
// directories. A layer knows nothing of overlayfs: whiteouts, opaque markers
// and the other overlay.* xattrs are ordinary objects and xattrs here, and
// the overlay model gives them meaning.
//
// Invariants:
//   - the root is a directory and never goes away;
//   - every directory has exactly one name (except the root, which has none),
//     and its nlink is 2 plus the number of its subdirectories;
//   - a non-directory's nlink is the number of names it has; an inode with no
//     name is freed at once unless an open file pins it (an orphan); so is
//     a removed directory, whose orphan has nlink 0;
//   - inode numbers are never reused within a layer.
#ifndef OVLSIM_MODEL_LAYER_H_
#define OVLSIM_MODEL_LAYER_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ovlsim::model {

using InodeNumber = std::uint64_t;

// A point in the model's logical time. The model has no wall clock: each
// operation that changes something advances a counter, and times are read
// from it, so that runs are reproducible.
struct Timespec {
  std::int64_t sec = 0;
  std::int64_t nsec = 0;

  auto operator<=>(const Timespec&) const = default;
};

// Extended attributes by full name ("user.foo", "trusted.overlay.opaque").
using Xattrs = std::map<std::string, std::string, std::less<>>;

struct Inode {
  InodeNumber ino = 0;
  mode_t mode = 0;  // file type (S_IFMT bits) and permission bits
  uid_t uid = 0;
  gid_t gid = 0;
  nlink_t nlink = 0;
  dev_t rdev = 0;    // device number, for character and block devices
  std::string data;  // file content, or a symlink's target
  Xattrs xattrs;
  Timespec atime;
  Timespec mtime;
  Timespec ctime;
  unsigned pins = 0;  // open files on this inode (see Layer::pin)

  // A directory's entries, by name. Empty for other types.
  std::map<std::string, InodeNumber, std::less<>> entries;

  bool is_dir() const { return S_ISDIR(mode); }
  bool is_reg() const { return S_ISREG(mode); }
  bool is_symlink() const { return S_ISLNK(mode); }
  mode_t type() const { return mode & S_IFMT; }

  // st_size: the data length for files and symlinks, 0 for the rest.
  off_t size() const;

  // The xattr's value, or nullopt when the inode has no such xattr.
  std::optional<std::string> xattr(std::string_view name) const;
};

// What a new inode is made of; the layer assigns the inode number and nlink.
struct InodeAttrs {
  mode_t mode = S_IFREG | 0644;
  uid_t uid = 0;
  gid_t gid = 0;
  dev_t rdev = 0;
  std::string data;
  Xattrs xattrs;
  Timespec atime;
  Timespec mtime;
  Timespec ctime;
};

class Layer {
 public:
  // An empty layer: a root directory with mode 0755, owned by root.
  Layer();

  InodeNumber root() const { return root_; }

  // REQUIRES: the inode exists.
  const Inode& inode(InodeNumber ino) const;
  Inode& inode(InodeNumber ino);

  bool contains(InodeNumber ino) const { return inodes_.count(ino) != 0; }

  // The inode that `name` in directory `dir` refers to.
  // REQUIRES: `dir` is a directory of this layer.
  std::optional<InodeNumber> lookup(InodeNumber dir,
                                    std::string_view name) const;

  // Creates a new inode named `name` in `dir` and returns its number.
  // REQUIRES: `dir` is a directory and `name` is free in it.
  InodeNumber create(InodeNumber dir, std::string_view name,
                     const InodeAttrs& attrs);

  // Adds the name `name` in `dir` for the existing non-directory `ino`.
  // REQUIRES: `ino` is not a directory; `name` is free in `dir`.
  void link(InodeNumber dir, std::string_view name, InodeNumber ino);

  // Removes the name `name` from `dir`, freeing the inode when it was its
  // last name and nothing pins it. A directory must be empty.
  // REQUIRES: the name exists; a directory it names has no entries.
  void unlink(InodeNumber dir, std::string_view name);

  // Keeps an inode alive while a file is open on it, as an open file keeps
  // an unlinked inode alive. Each pin() needs one unpin().
  void pin(InodeNumber ino) { inode(ino).pins++; }
  void unpin(InodeNumber ino);

  // Removes the name `name` and, for a directory, everything below it.
  // REQUIRES: the name exists.
  void remove_tree(InodeNumber dir, std::string_view name);

  // Moves the entry `old_name` of `old_dir` to `new_name` of `new_dir`,
  // replacing what `new_name` named (which must then be of a compatible type
  // and, for a directory, empty), as rename(2) does.
  // REQUIRES: the source exists; the move does not put a directory below
  // itself.
  void rename(InodeNumber old_dir, std::string_view old_name,
              InodeNumber new_dir, std::string_view new_name);

  // Swaps two entries, as rename(2) with RENAME_EXCHANGE does.
  // REQUIRES: both exist; neither is an ancestor of the other.
  void exchange(InodeNumber dir1, std::string_view name1, InodeNumber dir2,
                std::string_view name2);

  // The inode at an absolute or relative path below the root, without
  // following symlinks ("a/b" and "/a/b" are the same; "" and "/" are the
  // root). Used to build and inspect layers, not to resolve overlay paths.
  std::optional<InodeNumber> find(std::string_view path) const;

  // Calls `visit(path, inode)` for every inode reachable from the root, in
  // sorted path order, the root first with path "/".
  void walk(const std::function<void(const std::string& path,
                                     const Inode& inode)>& visit) const;

  // Every inode of the layer by number.
  const std::unordered_map<InodeNumber, Inode>& inodes() const {
    return inodes_;
  }

  // Structural equality: the same names with the same types, attributes,
  // data, xattrs and link structure. Inode numbers are not compared.
  bool same_tree(const Layer& other) const;

 private:
  InodeNumber allocate(const InodeAttrs& attrs);
  void drop_name(Inode& dir, std::string_view name, Inode& child);

  std::unordered_map<InodeNumber, Inode> inodes_;
  InodeNumber root_ = 0;
  InodeNumber next_ino_ = 1;
};

// A short description of an inode's type: "file", "dir", "symlink",
// "chardev", "blockdev", "fifo" or "socket".
const char* type_name(mode_t mode);

}  // namespace ovlsim::model

#endif  // OVLSIM_MODEL_LAYER_H_
