#include "model/overlay.h"

#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cassert>
#include <utility>

#include <fmt/format.h>

#include "model/copy_up.h"
#include "model/inode.h"
#include "model/lookup.h"
#include "model/readdir.h"
#include "model/rename.h"
#include "model/whiteout.h"

namespace ovlsim::model {

namespace {

constexpr std::size_t kMaxLowerLayers = 500;
constexpr std::size_t kXattrNameMax = 255;
constexpr std::size_t kXattrSizeMax = 65536;

// The memory devices (null, zero, full) and the size of a pipe.
const dev_t kDevNull = makedev(1, 3);
const dev_t kDevZero = makedev(1, 5);
const dev_t kDevFull = makedev(1, 7);
constexpr std::size_t kPipeCapacity = 65536;
constexpr std::size_t kPipeBuf = 4096;

// A pure upper directory moved into a merged parent must not merge with
// lower directories of its new name (ovl_rename).
void mark_moved_opaque(OvlFs& fs, Inode& dir, const std::string& where) {
  fs.set_private(dir, kOpaque, "y");
  fs.log(EventKind::kOpaque, where, 0,
         "marked opaque: a pure upper directory moved into a merged "
         "parent must not merge with lower directories of its new name");
}

bool is_special(const Inode& node) {
  return S_ISFIFO(node.mode) || S_ISCHR(node.mode) || S_ISBLK(node.mode);
}

bool valid_xattr_namespace(std::string_view name) {
  return name.starts_with("user.") || name.starts_with("trusted.") ||
         name.starts_with("security.");
}

bool wants_write(int flags) {
  int acc = flags & O_ACCMODE;
  return acc == O_WRONLY || acc == O_RDWR;
}

// `path` without the slashes that end it, "/" alone kept.
std::string_view without_trailing_slashes(std::string_view path) {
  while (path.size() > 1 && path.back() == '/')
    path.remove_suffix(1);
  return path;
}

// What the last name of `path` is, read from its text as the kernel's
// filename_parentat() reads it: ".", "..", "/" alone, or a name.
LastType last_type(std::string_view path) {
  path = without_trailing_slashes(path);
  if (path == "/")
    return LastType::kRoot;
  std::string_view name = path.substr(path.rfind('/') + 1);
  if (name == ".")
    return LastType::kDot;
  if (name == "..")
    return LastType::kDotDot;
  return LastType::kNormal;
}

// The directory that holds the last name of `path`, written so that a walk
// of it must end in a directory ("a/b/" for "a/b/c", "/" for "/c"); nullopt
// for a path of one name, whose parent is the root.
std::optional<std::string> parent_dir(std::string_view path) {
  path = without_trailing_slashes(path);
  std::size_t slash = path.rfind('/');
  if (slash == std::string_view::npos)
    return std::nullopt;
  return std::string(path.substr(0, slash + 1));
}

}  // namespace

struct Overlay::OpenFile {
  LayerRef real;        // the object opened, or its upper copy once copied
  LayerRef data;        // where its bytes are: below a metacopy file
  int flags = 0;        // the open(2) flags
  off_t pos = 0;        // the file position
  bool pinned = false;  // real is an upper inode this file keeps alive
  // The merged dentry the file was opened on and whether it is the root:
  // fstat of a merged directory reports what stat of its path does.
  OvlDentry dentry;
  bool is_root = false;
  std::string path;  // the path it was opened through, resolved
};

// The data in flight through a fifo. The pipe belongs to the overlay
// inode, so every open of the fifo shares it, before and after a copy-up.
struct Overlay::Pipe {
  LayerRef fifo;       // the fifo's real inode (its upper copy once copied)
  std::string buffer;  // written and not yet read
  // Opened for writing only at some point: the harness gives such a fifo
  // a reader of its own, which holds the pipe open until the unmount.
  bool held_open = false;
};

class Overlay::Impl {
 public:
  Impl(Stack stack, const MountOptions& opts, KernelVersion kernel,
       const Cred& mounter)
      : fs(std::move(stack.upper), std::move(stack.lowers),
           std::move(stack.data_lowers), opts, kernel) {
    fs.set_cred(mounter);
    if (mounter.userns)
      fs.set_no_file_handles();
    fs.set_filesystems(stack.filesystems, stack.null_uuid);
  }

  OvlFs fs;
  std::map<int, OpenFile> files;
  std::vector<Pipe> pipes;
  int next_fd = 3;

  Result<WalkResult> walk(std::string_view path, Follow follow) {
    return ovl_walk(fs, path, follow == Follow::kYes);
  }

  // Resolves a path that must name an existing object.
  Result<OvlPath> walk_positive(std::string_view path, Follow follow) {
    Result<WalkResult> res = walk(path, follow);
    if (!res)
      return Errno{res.err()};
    if (!res->path.target().positive())
      return fs.fail(ENOENT, "no such file or directory");
    return std::move(res).value().path;
  }

  // The checks of an operation that changes an object: a writable overlay
  // first (EROFS), then, with the object copied up, its upper inode.
  Result<Inode*> change(OvlPath& path, CopyUpData data = CopyUpData::kFull) {
    if (!fs.has_upper())
      return fs.fail(EROFS, "read-only overlay");
    OVL_TRY(ovl_copy_up(fs, path, data));
    return &fs.upper_inode(*path.target().upper);
  }

  // The upper inode an xattr change goes to: the xattr calls copy up only
  // an overlay inode without any upper inode, so a name of an indexed
  // inode changes the index's copy without being linked up (ovl_xattr_set).
  Result<Inode*> change_xattrs(OvlPath& path) {
    if (!fs.has_upper())
      return fs.fail(EROFS, "read-only overlay");
    if (path.target().index)
      return &fs.upper_inode(*path.target().index);
    return change(path, CopyUpData::kMeta);
  }

  bool owner_or_root(const Inode& node) const {
    return fs.cred().is_root() || fs.cred().uid == node.uid;
  }

  // The checks of every call that creates a name: the name is free
  // (EEXIST), the overlay writable (EROFS), the parent writable (EACCES).
  Status may_create(WalkResult& res) {
    if (res.last != LastType::kNormal || res.path.target().positive())
      return fs.fail(EEXIST, "the name is visible in the merged view");
    if (!fs.has_upper())
      return fs.fail(EROFS, "read-only overlay");
    const Inode& dir = fs.top_inode(res.path.parent());
    if (Status may = ovl_permission(fs, dir, kMayWrite | kMayExec); !may)
      return fs.fail(EACCES, "no write permission on the parent");
    return Ok{};
  }

  // Creates the object `attrs` at the negative target of `path` in the
  // upper layer (ovl_create_object): the parent is copied up, a whiteout at
  // the name is replaced, and a new directory over a whiteout is opaque.
  Result<InodeNumber> create(OvlPath& path, InodeAttrs attrs) {
    std::size_t depth = path.chain.size() - 1;
    OVL_TRY(ovl_copy_up(fs, path, depth - 1));

    OvlDentry& parent = path.parent();
    OvlDentry& dentry = path.target();
    Inode& dir = fs.upper_inode(*parent.upper);
    Timespec now = fs.now();
    attrs.uid = fs.cred().uid;
    attrs.gid = fs.cred().gid;
    // The parent's sgid bit passes on its group, and to directories the bit
    // itself (CR-01).
    if (dir.mode & S_ISGID) {
      attrs.gid = dir.gid;
      if (S_ISDIR(attrs.mode))
        attrs.mode |= S_ISGID;
    }
    attrs.atime = attrs.mtime = attrs.ctime = now;

    Layer& upper = fs.upper_layer();
    bool over_whiteout = false;
    if (upper.lookup(*parent.upper, dentry.name)) {
      upper.remove_tree(*parent.upper, dentry.name);
      over_whiteout = true;
    }
    InodeNumber ino = upper.create(*parent.upper, dentry.name, attrs);
    dentry.upper = ino;
    Inode& dir_after = fs.upper_inode(*parent.upper);
    dir_after.mtime = dir_after.ctime = now;

    std::string where = path.path();
    fs.log(EventKind::kCreate, where, 0,
           fmt::format("created {} in the upper layer{}", type_name(attrs.mode),
                       over_whiteout ? ", replacing the whiteout" : ""));
    if (S_ISDIR(attrs.mode)) {
      // Over a whiteout the new directory must hide what the whiteout hid
      // (CR-02). In a merged parent, mounts that do not allow offline
      // changes make every new directory opaque (WO-07).
      bool opaque = over_whiteout ||
                    (parent.has_lower() && no_offline_changes(fs.options()));
      if (opaque) {
        fs.set_private(upper.inode(ino), kOpaque, "y");
        dentry.opaque = true;
        fs.log(EventKind::kOpaque, where, 0,
               over_whiteout
                   ? "marked opaque: it replaces a whiteout, so lower "
                     "directories of this name stay hidden"
                   : "marked opaque: new directories in merged parents are "
                     "opaque on mounts without offline changes");
      }
    }
    return ino;
  }

  // Before a name of a lower hard link goes away under index=on, the
  // kernel copies it up into the index, so that the overlay nlink has an
  // upper inode to be kept on (ovl_nlink_start).
  Status index_before_unlink(OvlPath& path) {
    OvlDentry& dentry = path.target();
    if (dentry.upper || dentry.lower.empty() || !fs.has_upper())
      return Ok{};
    if (!dentry.index && !ovl_need_index(fs, fs.real(dentry.lower.front())))
      return Ok{};
    return ovl_copy_up(fs, path, CopyUpData::kMeta);
  }

  // Removes the positive target of `path` (ovl_do_remove): the name becomes
  // a whiteout when a lower layer has it (RM-01), else it is just removed.
  Status remove(OvlPath& path) {
    std::size_t depth = path.chain.size() - 1;
    OVL_TRY(ovl_copy_up(fs, path, depth - 1));
    OVL_TRY(index_before_unlink(path));

    OvlDentry& parent = path.parent();
    OvlDentry& dentry = path.target();
    Layer& upper = fs.upper_layer();
    std::string where = path.path();
    bool whiteout = lower_positive(fs, parent, dentry);
    fs.dir_modified(*parent.upper, whiteout || has_origin(dentry, where));
    fs.forget_names(where);
    if (whiteout) {
      make_whiteout(fs, *parent.upper, dentry.name, where);
    } else {
      upper.remove_tree(*parent.upper, dentry.name);
      fs.log(EventKind::kRemove, where, 0,
             "removed from the upper layer; no lower layer has the name, "
             "so no whiteout is needed");
    }
    Inode& dir = fs.upper_inode(*parent.upper);
    dir.mtime = dir.ctime = fs.now();
    return Ok{};
  }

  // ovl_type_origin(): whether the overlay inode of `dentry`, reached as
  // `path`, holds its copy-up origin, on disk or only in memory.
  bool has_origin(const OvlDentry& dentry, const std::string& path) const {
    if (!dentry.upper)
      return false;
    if (const std::string* origin =
            fs.get_private(fs.real({0, *dentry.upper}), kOrigin))
      return decode_origin(fs, *origin).has_value();
    return fs.kept_identity(*dentry.upper, path).has_value();
  }

  Result<OpenFile*> file(int fd) {
    auto it = files.find(fd);
    if (it == files.end())
      return fs.fail(EBADF, "not an open file");
    OpenFile& of = it->second;

    // A file opened before its copy-up now reads the upper copy (RD-03).
    if (of.real.layer != 0) {
      if (std::optional<InodeNumber> up = fs.copied_up(of.real, of.path)) {
        of.real = {0, *up};
        fs.upper_layer().pin(*up);
        of.pinned = true;
      }
    }
    if (of.real.layer == 0 && of.data != of.real &&
        !fs.get_private(fs.real(of.real), kMetacopy))
      of.data = of.real;
    return &of;
  }

  // ---- Special files. Their reads and writes never reach overlayfs: a
  // fifo's go through the pipe of the overlay inode, a device's to its
  // driver. The model knows the memory devices, whose behaviour does not
  // depend on the machine.

  // The inode `ref` names now: a fifo copied up while open stays one
  // overlay inode, so its pipe follows the copy.
  LayerRef current(LayerRef ref) const {
    if (ref.layer != 0)
      if (std::optional<InodeNumber> up = fs.copied_up(ref))
        return {0, *up};
    return ref;
  }

  // The pipe of the fifo `fifo`, or null when none is open.
  Pipe* pipe_of(LayerRef fifo) {
    for (Pipe& p : pipes) {
      p.fifo = current(p.fifo);
      if (p.fifo == current(fifo))
        return &p;
    }
    return nullptr;
  }

  Pipe& open_pipe(LayerRef fifo) {
    if (Pipe* p = pipe_of(fifo))
      return *p;
    pipes.push_back({current(fifo), "", false});
    return pipes.back();
  }

  // Whether some open file of the fifo has the access `acc` (O_RDONLY or
  // O_WRONLY; O_RDWR counts for both).
  bool pipe_has(LayerRef fifo, int acc) {
    for (const auto& [fd, of] : files) {
      int mode = of.flags & O_ACCMODE;
      if (current(of.real) == current(fifo) && (mode == acc || mode == O_RDWR))
        return true;
    }
    return false;
  }

  // Frees the pipe of `fifo` once no file holds it open.
  void release_pipe(LayerRef fifo) {
    Pipe* p = pipe_of(fifo);
    if (p == nullptr || p->held_open)
      return;
    for (const auto& [fd, of] : files)
      if (current(of.real) == current(fifo))
        return;
    pipes.erase(pipes.begin() + (p - pipes.data()));
  }

  // Opening a fifo never waits: the harness opens them non-blocking and
  // gives one opened for writing only a reader of its own.
  void open_special(const Inode& node, LayerRef real, int flags) {
    if (S_ISFIFO(node.mode)) {
      Pipe& p = open_pipe(real);
      if ((flags & O_ACCMODE) == O_WRONLY)
        p.held_open = true;
    }
  }

  Result<std::string> read_special(OpenFile& of, const Inode& node,
                                   std::size_t count) {
    if (S_ISCHR(node.mode) && node.rdev != kDevNull)
      return std::string(count, '\0');  // zero and full read zeros
    if (!S_ISFIFO(node.mode))
      return std::string();
    Pipe& p = open_pipe(of.real);
    if (p.buffer.empty()) {
      // Empty with a writer, a blocking read would wait.
      if (pipe_has(of.real, O_WRONLY))
        return fs.fail(EAGAIN, "an empty fifo with a writer");
      return std::string();  // no writer: end of file
    }
    std::string out = p.buffer.substr(0, count);
    p.buffer.erase(0, out.size());
    return out;
  }

  Result<std::size_t> write_special(OpenFile& of, const Inode& node,
                                    std::string_view data) {
    if (S_ISCHR(node.mode))
      return node.rdev == kDevFull ? fs.fail(ENOSPC, "/dev/full is full")
                                   : Result<std::size_t>(data.size());
    Pipe& p = open_pipe(of.real);
    // A write of up to PIPE_BUF bytes is atomic: all of it or EAGAIN.
    std::size_t room = kPipeCapacity - p.buffer.size();
    if (room == 0 || (data.size() <= kPipeBuf && data.size() > room))
      return fs.fail(EAGAIN, "the fifo is full");
    std::size_t n = std::min(room, data.size());
    p.buffer.append(data.substr(0, n));
    return n;
  }

  // Points every open file at the upper copy of what it opened, pinning
  // the copy: the kernel's overlay inode holds its upper inode, so a copy
  // whose name goes away lives on for the files open on it. Called before
  // anything can remove an upper name.
  void follow_copy_ups() {
    for (auto& [fd, of] : files)
      (void)file(fd);
  }

  // The upper inode an open file writes to.
  Result<Inode*> writable(OpenFile& of) {
    if (!wants_write(of.flags))
      return fs.fail(EBADF, "the file is not open for writing");
    assert(of.real.layer == 0 && "a file open for writing is in upper");
    return &fs.upper_inode(of.real.ino);
  }

  // Drops the suid and sgid bits and file capabilities after a write by an
  // unprivileged caller, as file_remove_privs() does; a write by root keeps
  // the mode but still drops security.capability (MD-04). Keeping the bits
  // takes CAP_FSETID over the initial namespace (capable()): root of a
  // user namespace loses them too.
  void remove_privs(Inode& node) {
    node.xattrs.erase("security.capability");
    if (fs.cred().capable())
      return;
    node.mode &= ~S_ISUID;
    if ((node.mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
      node.mode &= ~S_ISGID;
  }

  Result<std::size_t> write_at(int fd, std::string_view data,
                               std::optional<off_t> offset) {
    if (offset && *offset < 0)
      return fs.fail(EINVAL, "negative offset");
    Result<OpenFile*> of = file(fd);
    if (!of)
      return Errno{of.err()};
    const Inode& real = fs.real((*of)->real);
    if (offset && S_ISFIFO(real.mode))
      return fs.fail(ESPIPE, "pwrite on a fifo");
    if (is_special(real)) {
      if (!wants_write((*of)->flags))
        return fs.fail(EBADF, "the file is not open for writing");
      return write_special(**of, real, data);
    }
    Result<Inode*> node = writable(**of);
    if (!node)
      return Errno{node.err()};

    Inode& inode = **node;
    // Linux appends under O_APPEND whatever offset pwrite(2) names.
    off_t pos = offset ? *offset : (*of)->pos;
    if ((*of)->flags & O_APPEND)
      pos = inode.size();
    std::size_t end = static_cast<std::size_t>(pos) + data.size();
    if (inode.data.size() < end)
      inode.data.resize(end, '\0');
    std::copy(data.begin(), data.end(), inode.data.begin() + pos);
    if (!data.empty()) {
      inode.mtime = inode.ctime = fs.tick();
      remove_privs(inode);
    }
    if (!offset)
      (*of)->pos = static_cast<off_t>(end);
    return data.size();
  }

  Result<std::string> read_at(int fd, std::size_t count,
                              std::optional<off_t> offset) {
    if (offset && *offset < 0)
      return fs.fail(EINVAL, "negative offset");
    Result<OpenFile*> of = file(fd);
    if (!of)
      return Errno{of.err()};
    const Inode& inode = fs.real((*of)->data);
    if (offset && S_ISFIFO(inode.mode))
      return fs.fail(ESPIPE, "pread on a fifo");
    if (((*of)->flags & O_ACCMODE) == O_WRONLY)
      return fs.fail(EBADF, "the file is not open for reading");
    if (inode.is_dir())
      return fs.fail(EISDIR, "read of a directory");
    if (is_special(inode))
      return count == 0 ? std::string() : read_special(**of, inode, count);

    off_t pos = offset ? *offset : (*of)->pos;
    std::string out;
    if (static_cast<std::size_t>(pos) < inode.data.size())
      out = inode.data.substr(pos, count);
    if (!offset)
      (*of)->pos = pos + static_cast<off_t>(out.size());
    return out;
  }

  void truncate_inode(Inode& inode, off_t length) {
    inode.data.resize(static_cast<std::size_t>(length), '\0');
    inode.mtime = inode.ctime = fs.now();
    remove_privs(inode);
  }

  // The xattr name a layer stores for `name`, after the checks every xattr
  // call makes on the name and the object.
  Result<std::string> xattr_name(const Inode& node, std::string_view name,
                                 bool write) {
    if (name.empty() || name.size() > kXattrNameMax)
      return fs.fail(ERANGE, "bad xattr name length");
    // POSIX ACLs are read and copied up as they are (MD-05); setting one
    // would also change the mode, which the model does not do.
    if (!write && (name == "system.posix_acl_access" ||
                   name == "system.posix_acl_default"))
      return std::string(name);
    if (!valid_xattr_namespace(name))
      return fs.fail(EOPNOTSUPP, "unsupported xattr namespace");
    if (name.starts_with("trusted.") && !fs.cred().capable())
      return write ? fs.fail(EPERM, "trusted.* needs CAP_SYS_ADMIN")
                   : fs.fail(ENODATA, "trusted.* is hidden from non-root");
    if (name.starts_with("user.")) {
      if (!node.is_reg() && !node.is_dir())
        return write ? fs.fail(EPERM, "user.* only on files and directories")
                     : fs.fail(ENODATA, "user.* only on files and dirs");
      int mask = write ? kMayWrite : kMayRead;
      if (Status may = ovl_permission(fs, node, mask); !may)
        return fs.fail(EACCES, "permission denied on the object");
    }
    return fs.xattrs().to_layer(name);
  }
};

Overlay::Overlay(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Overlay::Overlay(Overlay&&) noexcept = default;
Overlay& Overlay::operator=(Overlay&&) noexcept = default;
Overlay::~Overlay() = default;

Result<Overlay> Overlay::mount(Stack stack, MountOptions opts,
                               KernelVersion kernel, Cred mounter) {
  std::size_t layers = stack.lowers.size() + stack.data_lowers.size();
  if (stack.lowers.empty())
    return Errno{EINVAL};
  if (!stack.upper && layers < 2)
    return Errno{EINVAL};
  if (layers > kMaxLowerLayers)
    return Errno{EINVAL};
  OVL_TRY(resolve_options(opts, stack.upper.has_value()));
  // Data-only layers mount without metacopy too (6.18): they are then
  // never read, since only metacopy files lead to them.

  auto impl = std::make_unique<Impl>(std::move(stack), opts, kernel, mounter);
  OvlFs& fs = impl->fs;
  const MountOptions& in_force = fs.options();

  for (std::size_t i = 1; i <= fs.lowest(); ++i) {
    const Inode& root = fs.layer(i).inode(fs.layer(i).root());
    if (opaque_value(fs, i, root) == Opaque::kXwhiteouts) {
      fs.set_layer_has_xwhiteouts(i);
      fs.set_root_xwhiteouts();
    }
  }

  // A fresh upper layer gets a persistent uuid (INO-06, since 6.6): one
  // whose root is not yet impure, which older overlays' roots are.
  if (fs.has_upper() && kernel >= KernelVersion{6, 6}) {
    Layer& upper = fs.upper_layer();
    Inode& root = upper.inode(upper.root());
    bool stored = fs.get_private(root, kUuid) != nullptr;
    bool fresh = fs.get_private(root, kImpure) == nullptr;
    if (!stored && (in_force.uuid == Uuid::kOn ||
                    (in_force.uuid == Uuid::kAuto && fresh))) {
      fs.set_private(root, kUuid, "model-uuid");
      // The first mount of a fresh upper reports uuid=on in mountinfo.
      fs.mutable_options().uuid = Uuid::kOn;
    }
  }

  // With index=on the upper root records the top lower root as its origin,
  // and a later mount over other lower layers is refused (§12, index).
  if (fs.has_upper() && in_force.index) {
    Inode& root = fs.upper_inode(fs.layer(0).root());
    LayerRef lower_root{1, fs.layer(1).root()};
    const std::string* origin = fs.get_private(root, kOrigin);
    if (origin == nullptr)
      fs.set_private(root, kOrigin, origin_marker(fs, lower_root));
    else if (decode_origin(fs, *origin) != lower_root)
      return Errno{ESTALE};
  }
  return Overlay(std::move(impl));
}

Stack Overlay::unmount() && {
  for (auto& [fd, of] : impl_->files)
    if (of.pinned)
      impl_->fs.upper_layer().unpin(of.real.ino);
  impl_->files.clear();

  Stack stack;
  // OvlFs owns the layers; rebuild the stack from copies of them.
  const OvlFs& fs = impl_->fs;
  if (fs.has_upper())
    stack.upper = fs.layer(0);
  for (std::size_t i = 1; i <= fs.lowest(); ++i)
    stack.lowers.push_back(fs.layer(i));
  for (std::size_t i = fs.lowest() + 1; i < fs.layer_count(); ++i)
    stack.data_lowers.push_back(fs.layer(i));
  stack.filesystems = fs.filesystems();
  stack.null_uuid = fs.null_uuid();
  return stack;
}

const Layer* Overlay::upper() const {
  return impl_->fs.has_upper() ? &impl_->fs.layer(0) : nullptr;
}

const Layer& Overlay::lower(std::size_t i) const {
  return impl_->fs.layer(i + 1);
}

std::size_t Overlay::lower_count() const {
  return impl_->fs.lowest();
}

const Layer& Overlay::data_lower(std::size_t i) const {
  return impl_->fs.layer(impl_->fs.lowest() + 1 + i);
}

std::size_t Overlay::data_lower_count() const {
  return impl_->fs.data_only_count();
}

const MountOptions& Overlay::options() const {
  return impl_->fs.options();
}
DeviceId Overlay::layer_device(std::size_t layer) const {
  return pseudo_dev(impl_->fs.fsid(layer));
}

KernelVersion Overlay::kernel() const {
  return impl_->fs.kernel();
}
const Cred& Overlay::cred() const {
  return impl_->fs.cred();
}
void Overlay::set_cred(const Cred& cred) {
  impl_->fs.set_cred(cred);
}
void Overlay::set_log(EventLog* log) {
  impl_->fs.set_log(log);
}

Result<Stat> Overlay::stat(std::string_view path) {
  Result<WalkResult> res = impl_->walk(path, Follow::kYes);
  if (!res)
    return Errno{res.err()};
  const OvlPath& p = res->path;
  if (!p.target().positive())
    return impl_->fs.fail(ENOENT, "no such file or directory");
  impl_->fs.log(EventKind::kLookup, p.path(), impl_->fs.top(p.target()).layer,
                "");
  return ovl_getattr(impl_->fs, p.target(), p.is_root(), p.path());
}

Result<Stat> Overlay::lstat(std::string_view path) {
  Result<WalkResult> res = impl_->walk(path, Follow::kNo);
  if (!res)
    return Errno{res.err()};
  const OvlPath& p = res->path;
  if (!p.target().positive())
    return impl_->fs.fail(ENOENT, "no such file or directory");
  impl_->fs.log(EventKind::kLookup, p.path(), impl_->fs.top(p.target()).layer,
                "");
  return ovl_getattr(impl_->fs, p.target(), p.is_root(), p.path());
}

Result<int> Overlay::open(std::string_view path, int flags, mode_t mode) {
  OvlFs& fs = impl_->fs;
  bool creat = flags & O_CREAT;
  bool excl = creat && (flags & O_EXCL);
  if (creat && (flags & O_DIRECTORY))
    return fs.fail(EINVAL, "O_CREAT with O_DIRECTORY");

  bool follow = !(flags & O_NOFOLLOW) && !excl;
  Result<WalkResult> res = ovl_walk(fs, path, follow);
  if (!res)
    return Errno{res.err()};
  OvlPath& p = res->path;
  Timespec now = fs.tick();

  if (!p.target().positive()) {
    if (!creat)
      return fs.fail(ENOENT, "no such file or directory");
    if (p.trailing_slash)
      return fs.fail(EISDIR, "O_CREAT of a name with '/'");
    OVL_TRY(impl_->may_create(*res));
    InodeAttrs attrs;
    attrs.mode = S_IFREG | (mode & 07777 & ~fs.cred().umask);
    Result<InodeNumber> ino = impl_->create(p, attrs);
    if (!ino)
      return Errno{ino.err()};
    impl_->files[impl_->next_fd] = {{0, *ino}, {0, *ino}, flags, 0, true};
    fs.upper_layer().pin(*ino);
    return impl_->next_fd++;
  }

  if (excl)
    return fs.fail(EEXIST, "O_CREAT|O_EXCL on a visible name");
  const Inode& node = fs.top_inode(p.target());
  if (node.is_symlink())
    return fs.fail(ELOOP, "O_NOFOLLOW on a symlink");
  bool write = wants_write(flags);
  bool trunc = (flags & O_TRUNC) && node.is_reg();
  // O_TRUNC asks for write access too, even on a directory.
  if (node.is_dir() && (write || creat || (flags & O_TRUNC)))
    return fs.fail(EISDIR, "a directory opened for writing");
  if ((flags & O_DIRECTORY) && !node.is_dir())
    return fs.fail(ENOTDIR, "O_DIRECTORY on a non-directory");
  if (S_ISSOCK(node.mode))
    return fs.fail(ENXIO, "a socket cannot be opened");
  bool memory_device =
      S_ISCHR(node.mode) &&
      (node.rdev == kDevNull || node.rdev == kDevZero || node.rdev == kDevFull);
  if ((S_ISCHR(node.mode) || S_ISBLK(node.mode)) && !memory_device)
    return fs.fail(ENXIO, "the model has no driver for this device");

  // Writing and truncating need a writable overlay before permission.
  bool rofs_type = node.is_reg() || node.is_dir() || node.is_symlink();
  if ((write || trunc) && rofs_type && !fs.has_upper())
    return fs.fail(EROFS, "read-only overlay");
  int mask = 0;
  if ((flags & O_ACCMODE) != O_WRONLY)
    mask |= kMayRead;
  if (write || trunc)
    mask |= kMayWrite;
  if (Status may = ovl_permission(fs, node, mask); !may)
    return fs.fail(EACCES, "permission denied");

  // Opening for writing or truncating copies up, even if nothing is
  // written (CU-01); O_TRUNC copies no data (the result is empty anyway).
  LayerRef real = fs.top(p.target());
  if ((write || trunc) && rofs_type) {
    OVL_TRY(ovl_copy_up(fs, p, trunc ? CopyUpData::kEmpty : CopyUpData::kFull));
    real = {0, *p.target().upper};
    if (trunc) {
      Inode& up = fs.upper_inode(real.ino);
      up.data.clear();
      up.mtime = up.ctime = now;
    }
  }
  LayerRef data = real;
  if (node.is_reg()) {
    std::optional<LayerRef> found = ovl_data_ref(fs, p.target());
    if (!found)
      return fs.fail(EIO, "the data of a metacopy file is missing");
    data = *found;
  }
  impl_->open_special(node, real, flags);
  impl_->files[impl_->next_fd] = {
      real, data, flags, 0, real.layer == 0, p.target(), p.is_root(), p.path()};
  if (real.layer == 0)
    fs.upper_layer().pin(real.ino);
  return impl_->next_fd++;
}

Result<int> Overlay::creat(std::string_view path, mode_t mode) {
  return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

Status Overlay::close(int fd) {
  Result<OpenFile*> of = impl_->file(fd);
  if (!of)
    return Errno{of.err()};
  if ((*of)->pinned)
    impl_->fs.upper_layer().unpin((*of)->real.ino);
  LayerRef real = (*of)->real;
  impl_->files.erase(fd);
  impl_->release_pipe(real);
  return Ok{};
}

Result<std::string> Overlay::read(int fd, std::size_t count) {
  return impl_->read_at(fd, count, std::nullopt);
}

Result<std::string> Overlay::pread(int fd, std::size_t count, off_t offset) {
  return impl_->read_at(fd, count, offset);
}

Result<std::size_t> Overlay::write(int fd, std::string_view data) {
  impl_->fs.tick();
  return impl_->write_at(fd, data, std::nullopt);
}

Result<std::size_t> Overlay::pwrite(int fd, std::string_view data,
                                    off_t offset) {
  impl_->fs.tick();
  return impl_->write_at(fd, data, offset);
}

Result<Stat> Overlay::fstat(int fd) {
  Result<OpenFile*> of = impl_->file(fd);
  if (!of)
    return Errno{of.err()};
  // A directory stays the merge it was opened as; anything else is the
  // object the file reads, which a copy-up may have moved to upper.
  LayerRef real = (*of)->real;
  OvlDentry dentry;
  if (impl_->fs.real(real).is_dir())
    dentry = (*of)->dentry;
  else if (real.layer != 0)
    dentry.lower.push_back(real);
  if (real.layer == 0)
    dentry.upper = real.ino;
  return ovl_getattr(impl_->fs, dentry, (*of)->is_root, (*of)->path);
}

Status Overlay::truncate(std::string_view path, off_t length) {
  OvlFs& fs = impl_->fs;
  Result<OvlPath> p = impl_->walk_positive(path, Follow::kYes);
  if (!p)
    return Errno{p.err()};
  const Inode& node = fs.top_inode(p->target());
  if (node.is_dir())
    return fs.fail(EISDIR, "truncate of a directory");
  if (!node.is_reg())
    return fs.fail(EINVAL, "truncate of a special file");
  if (length < 0)
    return fs.fail(EINVAL, "negative length");
  if (!fs.has_upper())
    return fs.fail(EROFS, "read-only overlay");
  if (Status may = ovl_permission(fs, node, kMayWrite); !may)
    return fs.fail(EACCES, "no write permission");

  fs.tick();
  Result<Inode*> up = impl_->change(*p);
  if (!up)
    return Errno{up.err()};
  impl_->truncate_inode(**up, length);
  return Ok{};
}

Status Overlay::ftruncate(int fd, off_t length) {
  OvlFs& fs = impl_->fs;
  Result<OpenFile*> of = impl_->file(fd);
  if (!of)
    return Errno{of.err()};
  if (!wants_write((*of)->flags))
    return fs.fail(EINVAL, "the file is not open for writing");
  if (!fs.real((*of)->real).is_reg())
    return fs.fail(EINVAL, "ftruncate of a non-regular file");
  if (length < 0)
    return fs.fail(EINVAL, "negative length");

  fs.tick();
  impl_->truncate_inode(fs.upper_inode((*of)->real.ino), length);
  return Ok{};
}

Status Overlay::mkdir(std::string_view path, mode_t mode) {
  OvlFs& fs = impl_->fs;
  Result<WalkResult> res = impl_->walk(path, Follow::kNo);
  if (!res)
    return Errno{res.err()};
  OVL_TRY(impl_->may_create(*res));

  fs.tick();
  InodeAttrs attrs;
  // mkdir(2) keeps only the permission and sticky bits; sgid comes from
  // the parent (vfs_mkdir).
  attrs.mode = S_IFDIR | (mode & 01777 & ~fs.cred().umask);
  Result<InodeNumber> ino = impl_->create(res->path, attrs);
  if (!ino)
    return Errno{ino.err()};
  return Ok{};
}

Status Overlay::mknod(std::string_view path, mode_t mode, dev_t dev) {
  OvlFs& fs = impl_->fs;
  mode_t type = mode & S_IFMT;
  if (type == S_IFDIR)
    return fs.fail(EPERM, "mknod of a directory");
  if (type != 0 && type != S_IFREG && type != S_IFCHR && type != S_IFBLK &&
      type != S_IFIFO && type != S_IFSOCK)
    return fs.fail(EINVAL, "mknod of an unknown type");
  if (type == 0)
    type = S_IFREG;

  Result<WalkResult> res = impl_->walk(path, Follow::kNo);
  if (!res)
    return Errno{res.err()};
  if (res->path.trailing_slash && !res->path.target().positive())
    return fs.fail(ENOENT, "a trailing '/' on a new non-directory");
  OVL_TRY(impl_->may_create(*res));
  bool device = type == S_IFCHR || type == S_IFBLK;
  if (device && !fs.cred().capable())
    return fs.fail(EPERM, "mknod of a device needs CAP_MKNOD");
  if (type == S_IFCHR && dev == makedev(0, 0))
    return fs.fail(EPERM, "a char device 0/0 would be a whiteout");

  fs.tick();
  InodeAttrs attrs;
  attrs.mode = type | (mode & 07777 & ~fs.cred().umask);
  attrs.rdev = device ? dev : 0;
  Result<InodeNumber> ino = impl_->create(res->path, attrs);
  if (!ino)
    return Errno{ino.err()};
  return Ok{};
}

Status Overlay::symlink(std::string_view target, std::string_view linkpath) {
  OvlFs& fs = impl_->fs;
  if (target.empty())
    return fs.fail(ENOENT, "empty symlink target");
  if (target.size() >= kPathMax)
    return Errno{ENAMETOOLONG};

  Result<WalkResult> res = impl_->walk(linkpath, Follow::kNo);
  if (!res)
    return Errno{res.err()};
  if (res->path.trailing_slash && !res->path.target().positive())
    return fs.fail(ENOENT, "a trailing '/' on a new non-directory");
  OVL_TRY(impl_->may_create(*res));

  fs.tick();
  InodeAttrs attrs;
  attrs.mode = S_IFLNK | 0777;
  attrs.data = std::string(target);
  Result<InodeNumber> ino = impl_->create(res->path, attrs);
  if (!ino)
    return Errno{ino.err()};
  return Ok{};
}

Result<std::string> Overlay::readlink(std::string_view path) {
  OvlFs& fs = impl_->fs;
  Result<OvlPath> p = impl_->walk_positive(path, Follow::kNo);
  if (!p)
    return Errno{p.err()};
  const Inode& node = fs.top_inode(p->target());
  if (!node.is_symlink())
    return fs.fail(EINVAL, "not a symlink");
  return node.data;
}

Status Overlay::unlink(std::string_view path) {
  OvlFs& fs = impl_->fs;
  impl_->follow_copy_ups();
  Result<WalkResult> res = impl_->walk(path, Follow::kNo);
  if (!res)
    return Errno{res.err()};
  if (res->last != LastType::kNormal)
    return fs.fail(EISDIR, "unlink of a directory");
  if (!fs.has_upper())
    return fs.fail(EROFS, "read-only overlay");
  OvlPath& p = res->path;
  if (!p.target().positive())
    return fs.fail(ENOENT, "no such file or directory");
  if (fs.top_inode(p.target()).is_dir())
    return fs.fail(EISDIR, "unlink of a directory");
  if (p.trailing_slash)
    return fs.fail(ENOTDIR, "trailing '/' on a file");
  const Inode& dir = fs.top_inode(p.parent());
  if (Status may = ovl_permission(fs, dir, kMayWrite | kMayExec); !may)
    return fs.fail(EACCES, "no write permission on the parent");
  if ((dir.mode & S_ISVTX) && !fs.cred().is_root() &&
      fs.cred().uid != dir.uid && fs.cred().uid != fs.top_inode(p.target()).uid)
    return fs.fail(EPERM, "sticky directory");

  fs.tick();
  return impl_->remove(p);
}

Status Overlay::rmdir(std::string_view path) {
  OvlFs& fs = impl_->fs;
  impl_->follow_copy_ups();
  Result<WalkResult> res = impl_->walk(path, Follow::kNo);
  if (!res)
    return Errno{res.err()};
  switch (res->last) {
    case LastType::kDot:
      return fs.fail(EINVAL, "rmdir of '.'");
    case LastType::kDotDot:
      return fs.fail(ENOTEMPTY, "rmdir of '..'");
    case LastType::kRoot:
      return fs.fail(EBUSY, "rmdir of the overlay root");
    case LastType::kNormal:
      break;
  }
  if (!fs.has_upper())
    return fs.fail(EROFS, "read-only overlay");
  OvlPath& p = res->path;
  if (!p.target().positive())
    return fs.fail(ENOENT, "no such file or directory");
  if (p.is_root())
    return fs.fail(EBUSY, "rmdir of the overlay root");
  if (!fs.top_inode(p.target()).is_dir())
    return fs.fail(ENOTDIR, "rmdir of a non-directory");
  const Inode& dir = fs.top_inode(p.parent());
  if (Status may = ovl_permission(fs, dir, kMayWrite | kMayExec); !may)
    return fs.fail(EACCES, "no write permission on the parent");
  OVL_TRY(
      ovl_check_empty_dir(fs, p, lower_positive(fs, p.parent(), p.target())));

  fs.tick();
  return impl_->remove(p);
}

Status Overlay::chmod(std::string_view path, mode_t mode) {
  OvlFs& fs = impl_->fs;
  Result<OvlPath> p = impl_->walk_positive(path, Follow::kYes);
  if (!p)
    return Errno{p.err()};
  if (!fs.has_upper())
    return fs.fail(EROFS, "read-only overlay");
  const Inode& node = fs.top_inode(p->target());
  if (!impl_->owner_or_root(node))
    return fs.fail(EPERM, "chmod by a non-owner");
  bool drop_sgid = !fs.cred().is_root() && !fs.cred().in_group(node.gid);

  Timespec now = fs.tick();
  Result<Inode*> up = impl_->change(*p, CopyUpData::kMeta);
  if (!up)
    return Errno{up.err()};
  Inode& inode = **up;
  inode.mode = inode.type() | (mode & 07777);
  if (drop_sgid)
    inode.mode &= ~S_ISGID;
  inode.ctime = now;
  return Ok{};
}

Status Overlay::chown(std::string_view path, uid_t uid, gid_t gid,
                      Follow follow) {
  OvlFs& fs = impl_->fs;
  Result<OvlPath> p = impl_->walk_positive(path, follow);
  if (!p)
    return Errno{p.err()};
  if (!fs.has_upper())
    return fs.fail(EROFS, "read-only overlay");
  const Cred& cred = fs.cred();
  if (!cred.maps_uid(uid) || !cred.maps_gid(gid))
    return fs.fail(EINVAL, "the id has no mapping in the user namespace");
  const Inode& node = fs.top_inode(p->target());
  bool uid_change = uid != static_cast<uid_t>(-1) && uid != node.uid;
  bool gid_ok = gid == static_cast<gid_t>(-1) || gid == node.gid ||
                (cred.uid == node.uid && cred.in_group(gid));
  if (!cred.is_root() && (uid_change || !gid_ok))
    return fs.fail(EPERM, "chown needs CAP_CHOWN");

  Timespec now = fs.tick();
  Result<Inode*> up = impl_->change(*p, CopyUpData::kMeta);
  if (!up)
    return Errno{up.err()};
  Inode& inode = **up;
  if (uid != static_cast<uid_t>(-1))
    inode.uid = uid;
  if (gid != static_cast<gid_t>(-1))
    inode.gid = gid;
  // chown of a non-directory drops suid, sgid with group-exec, and file
  // capabilities, even for root (chown_common, notify_change).
  if (!inode.is_dir()) {
    inode.mode &= ~S_ISUID;
    if ((inode.mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
      inode.mode &= ~S_ISGID;
    inode.xattrs.erase("security.capability");
  }
  inode.ctime = now;
  return Ok{};
}

Status Overlay::utimens(std::string_view path, Timespec atime, Timespec mtime,
                        Follow follow) {
  OvlFs& fs = impl_->fs;
  // utimensat(2) returns before it even resolves the path when both times
  // are UTIME_OMIT: nothing is copied up.
  if (atime.nsec == UTIME_OMIT && mtime.nsec == UTIME_OMIT)
    return Ok{};
  Result<OvlPath> p = impl_->walk_positive(path, follow);
  if (!p)
    return Errno{p.err()};
  if (!fs.has_upper())
    return fs.fail(EROFS, "read-only overlay");
  const Inode& node = fs.top_inode(p->target());
  bool explicit_time = (atime.nsec != UTIME_NOW && atime.nsec != UTIME_OMIT) ||
                       (mtime.nsec != UTIME_NOW && mtime.nsec != UTIME_OMIT);
  if (!impl_->owner_or_root(node)) {
    if (explicit_time)
      return fs.fail(EPERM, "explicit times by a non-owner");
    if (!ovl_permission(fs, node, kMayWrite))
      return fs.fail(EACCES, "no write permission");
  }

  Timespec now = fs.tick();
  Result<Inode*> up = impl_->change(*p, CopyUpData::kMeta);
  if (!up)
    return Errno{up.err()};
  Inode& inode = **up;
  auto apply = [&](Timespec& field, Timespec value) {
    if (value.nsec == UTIME_OMIT)
      return;
    field = value.nsec == UTIME_NOW ? now : value;
  };
  apply(inode.atime, atime);
  apply(inode.mtime, mtime);
  inode.ctime = now;
  return Ok{};
}

Status Overlay::setxattr(std::string_view path, std::string_view name,
                         std::string_view value, int flags, Follow follow) {
  OvlFs& fs = impl_->fs;
  if ((flags & ~(XATTR_CREATE | XATTR_REPLACE)) != 0)
    return fs.fail(EINVAL, "bad setxattr flags");
  if (name.empty() || name.size() > kXattrNameMax)
    return fs.fail(ERANGE, "bad xattr name length");
  if (value.size() > kXattrSizeMax)
    return fs.fail(E2BIG, "value too big");
  Result<OvlPath> p = impl_->walk_positive(path, follow);
  if (!p)
    return Errno{p.err()};
  if (!fs.has_upper())
    return fs.fail(EROFS, "read-only overlay");
  // The VFS checks the name and the caller's rights on the overlay inode;
  // overlayfs then copies up and leaves the rest (the namespace, the
  // XATTR_CREATE and XATTR_REPLACE checks) to the upper filesystem, so
  // those failures still leave an upper copy (MD-03).
  bool known_namespace = valid_xattr_namespace(name);
  Result<std::string> real_name =
      known_namespace ? impl_->xattr_name(fs.top_inode(p->target()), name, true)
                      : Result<std::string>(std::string(name));
  if (!real_name)
    return Errno{real_name.err()};

  Timespec now = fs.tick();
  Result<Inode*> up = impl_->change_xattrs(*p);
  if (!up)
    return Errno{up.err()};
  if (!known_namespace)
    return fs.fail(EOPNOTSUPP, "unsupported xattr namespace");
  bool exists = (*up)->xattrs.count(*real_name) != 0;
  if ((flags & XATTR_CREATE) && exists)
    return fs.fail(EEXIST, "XATTR_CREATE on an existing xattr");
  if ((flags & XATTR_REPLACE) && !exists)
    return fs.fail(ENODATA, "XATTR_REPLACE on a missing xattr");
  (*up)->xattrs[*real_name] = std::string(value);
  (*up)->ctime = now;
  if (*real_name != name)
    fs.log(EventKind::kXattr, p->path(), 0,
           fmt::format("stored as {}: names in the overlay's private "
                       "namespace are escaped",
                       *real_name));
  return Ok{};
}

Result<std::string> Overlay::getxattr(std::string_view path,
                                      std::string_view name, Follow follow) {
  OvlFs& fs = impl_->fs;
  Result<OvlPath> p = impl_->walk_positive(path, follow);
  if (!p)
    return Errno{p.err()};
  const Inode& node = fs.top_inode(p->target());
  Result<std::string> real_name = impl_->xattr_name(node, name, false);
  if (!real_name)
    return Errno{real_name.err()};
  std::optional<std::string> value = node.xattr(*real_name);
  if (!value)
    return fs.fail(ENODATA, "no such xattr");
  return *value;
}

Result<std::vector<std::string>> Overlay::listxattr(std::string_view path,
                                                    Follow follow) {
  OvlFs& fs = impl_->fs;
  Result<OvlPath> p = impl_->walk_positive(path, follow);
  if (!p)
    return Errno{p.err()};
  const Inode& node = fs.top_inode(p->target());
  std::vector<std::string> names;
  for (const auto& [real_name, value] : node.xattrs) {
    std::optional<std::string> shown = fs.xattrs().from_layer(real_name);
    if (!shown)
      continue;
    if (shown->starts_with("trusted.") && !fs.cred().capable())
      continue;
    names.push_back(*shown);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Status Overlay::removexattr(std::string_view path, std::string_view name,
                            Follow follow) {
  OvlFs& fs = impl_->fs;
  Result<OvlPath> p = impl_->walk_positive(path, follow);
  if (!p)
    return Errno{p.err()};
  if (!fs.has_upper())
    return fs.fail(EROFS, "read-only overlay");
  const Inode& node = fs.top_inode(p->target());
  Result<std::string> real_name = impl_->xattr_name(node, name, true);
  if (!real_name)
    return Errno{real_name.err()};
  // A missing xattr fails before anything is copied up.
  if (node.xattrs.count(*real_name) == 0)
    return fs.fail(ENODATA, "no such xattr");

  Timespec now = fs.tick();
  Result<Inode*> up = impl_->change_xattrs(*p);
  if (!up)
    return Errno{up.err()};
  (*up)->xattrs.erase(*real_name);
  (*up)->ctime = now;
  return Ok{};
}

Result<std::vector<Dirent>> Overlay::readdir(std::string_view path) {
  OvlFs& fs = impl_->fs;
  Result<OvlPath> p = impl_->walk_positive(path, Follow::kYes);
  if (!p)
    return Errno{p.err()};
  const Inode& node = fs.top_inode(p->target());
  if (!node.is_dir())
    return fs.fail(ENOTDIR, "readdir of a non-directory");
  if (Status may = ovl_permission(fs, node, kMayRead); !may)
    return fs.fail(EACCES, "no read permission");
  return ovl_iterate(fs, *p);
}

Status Overlay::rename(std::string_view oldpath, std::string_view newpath,
                       unsigned flags) {
  OvlFs& fs = impl_->fs;
  impl_->follow_copy_ups();
  bool exchange = flags & RENAME_EXCHANGE;
  bool noreplace = flags & RENAME_NOREPLACE;
  bool whiteout = flags & RENAME_WHITEOUT;
  // The VFS knows three flags and refuses the pairs that make no sense.
  if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) != 0)
    return fs.fail(EINVAL, "unknown rename flag");
  if (exchange && (noreplace || whiteout))
    return fs.fail(EINVAL, "RENAME_EXCHANGE with another flag");

  // do_renameat2(), in its order: both parents, the kinds of the two last
  // names, a writable overlay, the old name, and only then the new one. A
  // lookup can write to the upper layer (LK-15), so what an error leaves
  // unlooked-up shows.
  for (std::string_view path : {oldpath, newpath}) {
    if (path.empty())
      return fs.fail(ENOENT, "empty path");
    std::optional<std::string> parent = parent_dir(path);
    if (!parent)
      continue;
    Result<OvlPath> dir = impl_->walk_positive(*parent, Follow::kYes);
    if (!dir)
      return Errno{dir.err()};
    if (!fs.top_inode(dir->target()).is_dir())
      return fs.fail(ENOTDIR, "a parent is not a directory");
  }
  if (last_type(oldpath) != LastType::kNormal)
    return fs.fail(EBUSY, "rename of '.', '..' or the root");
  if (last_type(newpath) != LastType::kNormal)
    return fs.fail(noreplace ? EEXIST : EBUSY,
                   "rename onto '.', '..' or the root");
  if (!fs.has_upper())
    return fs.fail(EROFS, "read-only overlay");
  Result<WalkResult> old_res = impl_->walk(oldpath, Follow::kNo);
  if (!old_res)
    return Errno{old_res.err()};
  if (!old_res->path.target().positive())
    return fs.fail(ENOENT, "the source does not exist");
  Result<WalkResult> new_res = impl_->walk(newpath, Follow::kNo);
  if (!new_res)
    return Errno{new_res.err()};
  if (old_res->last != LastType::kNormal)
    return fs.fail(EBUSY, "rename of '.', '..' or the root");
  if (new_res->last != LastType::kNormal)
    return fs.fail(noreplace ? EEXIST : EBUSY,
                   "rename onto '.', '..' or the root");

  // Then the new name, trailing slashes, and the ancestry of the two
  // parents.
  OvlPath& from = old_res->path;
  OvlPath& to = new_res->path;
  bool target_positive = to.target().positive();
  if (noreplace && target_positive)
    return fs.fail(EEXIST, "RENAME_NOREPLACE onto a visible name");
  if (exchange && !target_positive)
    return fs.fail(ENOENT, "the exchange target does not exist");
  const Inode& src = fs.top_inode(from.target());
  bool is_dir = src.is_dir();
  bool target_dir = target_positive && fs.top_inode(to.target()).is_dir();
  if (exchange && !target_dir && to.trailing_slash)
    return fs.fail(ENOTDIR, "trailing '/' on a non-directory");
  if (!is_dir && (from.trailing_slash || (!exchange && to.trailing_slash)))
    return fs.fail(ENOTDIR, "trailing '/' on a non-directory");
  std::string from_name = from.path();
  std::string to_name = to.path();
  if (to_name.starts_with(from_name + "/"))
    return fs.fail(EINVAL, "a directory moved below itself");
  if (from_name.starts_with(to_name + "/"))
    return exchange ? fs.fail(EINVAL, "an exchange with an ancestor")
                    : fs.fail(ENOTEMPTY, "the target holds the source");

  // vfs_rename(): one object under two names is left alone; then the
  // permission on both parents and, unless exchanging, the types.
  if (from_name == to_name)
    return Ok{};
  // Two names of one overlay inode: nothing to do. Names of one lower
  // inode are one overlay inode only when the index ties them together.
  LayerRef from_top = fs.top(from.target());
  if (target_positive && from_top == fs.top(to.target()) &&
      (from_top.layer == 0 || fs.options().index))
    return Ok{};
  for (OvlPath* side : {&from, &to}) {
    const Inode& dir = fs.top_inode(side->parent());
    if (Status may = ovl_permission(fs, dir, kMayWrite | kMayExec); !may)
      return fs.fail(EACCES, "no write permission on a parent");
  }
  if (!exchange && target_positive) {
    if (is_dir && !target_dir)
      return fs.fail(ENOTDIR, "dir over non-dir");
    if (!is_dir && target_dir)
      return fs.fail(EISDIR, "non-dir over dir");
  }

  // ovl_rename(): its own flags, then moves that need redirects, and only
  // then whether a directory target is empty.
  if (whiteout)
    return fs.fail(EINVAL, "overlayfs does not take RENAME_WHITEOUT");
  if (!ovl_can_move(fs, from.target()) ||
      (exchange && !ovl_can_move(fs, to.target())))
    return fs.fail(EXDEV,
                   "a merged or lower directory cannot move without "
                   "redirect_dir=on");
  // A merged target must be empty in the merged sense; whether a pure
  // upper one is empty only the upper filesystem's rename tells, after
  // the copy-ups and markings below.
  bool target_pure_upper = !exchange && target_dir &&
                           !to.target().has_lower() &&
                           !ovl_dir_is_merged(fs, to.target());
  if (!exchange && target_dir && !target_pure_upper)
    OVL_TRY(ovl_check_empty_dir(fs, to, false));

  bool samedir =
      from.path(from.chain.size() - 2) == to.path(to.chain.size() - 2);
  bool old_whiteout =
      !exchange && lower_positive(fs, from.parent(), from.target());

  // Copy up both sides. Copying the source may copy directories the
  // target's walk shares, so the target is walked again after it.
  Timespec now = fs.tick();
  OVL_TRY(ovl_copy_up(fs, from, CopyUpData::kMeta));
  Result<WalkResult> again = impl_->walk(newpath, Follow::kNo);
  if (!again)
    return Errno{again.err()};
  *new_res = std::move(again).value();
  OVL_TRY(ovl_copy_up(fs, to, to.chain.size() - 2));
  if (exchange)
    OVL_TRY(ovl_copy_up(fs, to, CopyUpData::kMeta));
  else if (target_positive && !target_dir)
    OVL_TRY(impl_->index_before_unlink(to));

  // A merged or lower directory, or a metacopy file, keeps finding its
  // lower half through a redirect (RN-04, RN-10).
  std::optional<std::string> redirect;
  if (ovl_type_merge_or_lower(fs, from.target())) {
    Result<std::optional<std::string>> r =
        ovl_redirect_for_move(fs, from, samedir);
    if (!r)
      return Errno{r.err()};
    redirect = *r;
  }
  std::optional<std::string> target_redirect;
  if (exchange && ovl_type_merge_or_lower(fs, to.target())) {
    Result<std::optional<std::string>> r =
        ovl_redirect_for_move(fs, to, samedir);
    if (!r)
      return Errno{r.err()};
    target_redirect = *r;
  }

  Layer& upper = fs.upper_layer();
  InodeNumber old_dir = *from.parent().upper;
  InodeNumber new_dir = *to.parent().upper;
  InodeNumber moved = *from.target().upper;
  Inode& moved_inode = upper.inode(moved);

  // Each object that moves keeps its lower half through a redirect, or,
  // as a pure upper directory entering a merged parent, becomes opaque.
  auto mark_moved = [&](Inode& node, const OvlDentry& dentry, bool dir,
                        const std::optional<std::string>& r,
                        const OvlDentry& new_parent, const std::string& where) {
    if (r) {
      fs.set_private(node, kRedirect, *r);
      fs.log(EventKind::kXattr, where, 0,
             "set overlay.redirect=" + *r +
                 " so that the moved object still finds its lower half");
    } else if (dir && !ovl_type_merge_or_lower(fs, dentry) &&
               opaque_value(fs, 0, node) != Opaque::kYes &&
               new_parent.has_lower()) {
      mark_moved_opaque(fs, node, where);
    }
  };
  mark_moved(moved_inode, from.target(), is_dir, redirect, to.parent(),
             to_name);
  if (exchange)
    mark_moved(upper.inode(*to.target().upper), to.target(), target_dir,
               target_redirect, from.parent(), from_name);

  if (target_pure_upper && !upper.inode(*to.target().upper).entries.empty())
    return fs.fail(ENOTEMPTY, "the upper directory has entries");
  // A merged target that holds only whiteouts is emptied of them first
  // (ovl_clear_empty), so that the upper rename may replace it (RN-06).
  if (!exchange && target_dir && to.target().upper) {
    InodeNumber victim = *to.target().upper;
    std::vector<std::string> names;
    for (const auto& [name, ino] : upper.inode(victim).entries)
      names.push_back(name);
    for (const std::string& name : names)
      upper.remove_tree(victim, name);
  }

  // ovl_dir_modified() of both parents: "with impurity" when a name with
  // an origin leaves or enters them.
  bool old_origin = impl_->has_origin(from.target(), from_name);
  bool new_origin = target_positive && impl_->has_origin(to.target(), to_name);
  fs.dir_modified(old_dir, old_origin || (exchange && new_origin));
  fs.dir_modified(new_dir, old_origin || new_origin);

  // A source that needs a whiteout, renamed onto a whiteout, swaps the
  // two: the whiteout that was at the target, of whichever format, is
  // left at the source.
  std::optional<InodeNumber> at_target =
      upper.lookup(new_dir, to.target().name);
  bool switch_whiteouts =
      old_whiteout && at_target && is_any_whiteout(fs, upper.inode(*at_target));
  if (exchange || switch_whiteouts) {
    upper.exchange(old_dir, from.target().name, new_dir, to.target().name);
    if (exchange)
      upper.inode(*to.target().upper).ctime = now;
    old_whiteout = false;
  } else {
    upper.rename(old_dir, from.target().name, new_dir, to.target().name);
  }
  moved_inode.ctime = now;
  fs.log(EventKind::kCreate, to_name, 0,
         "renamed in the upper layer from " + from_name);

  // Moving an entry with an origin elsewhere makes the new parent impure;
  // an origin the overlay inode only holds in memory counts too. A copy
  // that broke a lower hard link has none (HL-02).
  if (!samedir && old_origin)
    fs.set_private(upper.inode(new_dir), kImpure, "y");
  if (!samedir && exchange && new_origin)
    fs.set_private(upper.inode(old_dir), kImpure, "y");

  if (old_whiteout)
    make_whiteout(fs, old_dir, from.target().name, from_name);
  for (InodeNumber dir : {old_dir, new_dir}) {
    Inode& d = upper.inode(dir);
    d.mtime = d.ctime = now;
  }
  if (!exchange && target_positive)
    fs.forget_names(to_name);
  fs.rename_names(from_name, to_name, exchange);
  return Ok{};
}

Status Overlay::link(std::string_view oldpath, std::string_view newpath) {
  OvlFs& fs = impl_->fs;
  Result<OvlPath> from = impl_->walk_positive(oldpath, Follow::kNo);
  if (!from)
    return Errno{from.err()};
  Result<WalkResult> to = impl_->walk(newpath, Follow::kNo);
  if (!to)
    return Errno{to.err()};
  if (to->path.trailing_slash && !to->path.target().positive())
    return fs.fail(ENOENT, "a trailing '/' on a new non-directory");
  OVL_TRY(impl_->may_create(*to));
  if (fs.top_inode(from->target()).is_dir())
    return fs.fail(EPERM, "hard link to a directory");

  // The source is copied up first, then linked in the upper layer (CR-05).
  Timespec now = fs.tick();
  OVL_TRY(ovl_copy_up(fs, *from, CopyUpData::kMeta));
  // A metacopy file finds its data by the name it was copied up under; a
  // new name needs the absolute path to it (ovl_set_link_redirect).
  Inode& copy = fs.upper_inode(*from->target().upper);
  if (fs.get_private(copy, kMetacopy)) {
    Result<std::optional<std::string>> r =
        ovl_redirect_for_move(fs, *from, false);
    if (!r)
      return Errno{r.err()};
    if (*r) {
      fs.set_private(copy, kRedirect, **r);
      fs.log(EventKind::kXattr, from->path(), 0,
             "set overlay.redirect=" + **r +
                 " so that every name of the metacopy file finds its data");
    }
  }
  Result<WalkResult> again = impl_->walk(newpath, Follow::kNo);
  if (!again)
    return Errno{again.err()};
  *to = std::move(again).value();
  OvlPath& p = to->path;
  OVL_TRY(ovl_copy_up(fs, p, p.chain.size() - 2));
  InodeNumber ino = *from->target().upper;
  InodeNumber dir = *p.parent().upper;
  Layer& upper = fs.upper_layer();
  bool over_whiteout = upper.lookup(dir, p.target().name).has_value();
  if (over_whiteout)
    upper.remove_tree(dir, p.target().name);
  upper.link(dir, p.target().name, ino);
  upper.inode(ino).ctime = now;
  Inode& parent = upper.inode(dir);
  parent.mtime = parent.ctime = now;
  if (fs.get_private(upper.inode(ino), kOrigin))
    fs.set_private(parent, kImpure, "y");
  fs.log(EventKind::kCreate, p.path(), 0,
         std::string("hard link in the upper layer to ") + from->path() +
             (over_whiteout ? ", replacing the whiteout" : ""));
  return Ok{};
}

}  // namespace ovlsim::model
