// An overlay mount and the syscalls made through it.
//
// Overlay is the model's public face: mount a stack of layers, then call
// the operations a process would call on the merged directory. Each call
// returns what the kernel's syscall returns, a value or an errno, and changes
// only the upper layer, exactly as a 6.18 kernel changes it: copy-up,
// whiteouts, opaque directories and the overlay.* xattrs that go with them.
// The layers can be read at any time to see what the kernel would have left
// on disk.
//
// Paths are resolved as a process whose root directory is the merged
// directory would resolve them: "/a" and "a" are the same name, ".." at the
// root stays at the root, and absolute symlinks lead back to the root.
//
// Changing a lower layer while it is mounted is undefined in the kernel
// (LK-13): the model's lower layers can only be read while mounted. To change
// them offline, unmount(), change the layers, and mount again.
#ifndef OVLSIM_MODEL_OVERLAY_H_
#define OVLSIM_MODEL_OVERLAY_H_

#include <fcntl.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/event.h"
#include "model/layer.h"
#include "model/options.h"
#include "model/result.h"
#include "model/super.h"

namespace ovlsim::model {

// The layers of an overlay: what is mounted, and what unmount gives back.
struct Stack {
  std::optional<Layer> upper;  // none: a read-only overlay
  std::vector<Layer> lowers;   // top to bottom
  // Data-only lower layers (after "::", or datadir+), below the others:
  // never seen by lookup or readdir, only read as the data of metacopy
  // files that redirect to them (LK-08).
  std::vector<Layer> data_lowers;
  // Which filesystem each layer lives on, by any numbers that tell them
  // apart: the upper layer's first (when there is one), then the lower
  // layers top to bottom, then the data-only layers. Empty: all layers on
  // one filesystem (samefs). The devices and inode numbers stat reports
  // depend on it (INO-01, INO-02, INO-05). Every filesystem is taken to
  // have file handles, as tmpfs, ext4 and xfs have, and a UUID unless
  // `null_uuid` says otherwise.
  std::vector<unsigned> filesystems;
  // The filesystems (numbers of `filesystems`) with a null UUID, as ext4
  // or xfs made without one. On a lower filesystem other than the upper's
  // that disables xino=auto and the following of origins, unless the mount
  // forbids offline changes (index, metacopy, redirect_dir=on, xino=on):
  // INO-03, INO-04.
  std::vector<unsigned> null_uuid;
};

// st_dev as the model reports it: kOverlayDev for the overlay's own device,
// or pseudo_dev(fsid) for the anonymous device the overlay gives the
// non-directories of one backing filesystem when their inode numbers cannot
// be mapped into one space (INO-02). Real devices differ from these
// numbers; which paths share a device is what compares.
using DeviceId = std::uint64_t;
inline constexpr DeviceId kOverlayDev = 0;
inline constexpr DeviceId pseudo_dev(unsigned fsid) {
  return fsid + 1;
}

struct Stat {
  DeviceId dev = kOverlayDev;
  InodeNumber ino = 0;
  mode_t mode = 0;
  nlink_t nlink = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  dev_t rdev = 0;
  off_t size = 0;
  Timespec atime;
  Timespec mtime;
  Timespec ctime;
  // Which layer the attributes come from: 0 upper, 1.. lower.
  std::size_t layer = 0;
};

struct Dirent {
  std::string name;
  InodeNumber ino = 0;
  unsigned char type = 0;  // DT_REG, DT_DIR, ...

  bool operator==(const Dirent&) const = default;
};

// Whether the last component of a path is followed when it is a symlink.
enum class Follow { kYes, kNo };

class Overlay {
 public:
  // Mounts the stack with the given options (see options.h).
  // Errors: EINVAL when there is no lower layer, when there is no upper
  // layer and fewer than two lower layers (data-only ones count), when
  // there are more than 500 lower layers, when there are data-only layers
  // without metacopy, or when the options contradict each other; ESTALE
  // with index=on when the upper layer was indexed against other lower
  // layers.
  // `mounter` is the credential of the mounting process, which also makes
  // the calls until set_cred() says otherwise. A mounter in a user
  // namespace (Cred::userns) cannot use file handles: index and nfs_export
  // fall back to off, xino=auto to off, and copies keep their lower inode
  // numbers only while their overlay inode is cached (see
  // doc/semantics.md, "Mounted in a user namespace").
  // REQUIRES: stack.filesystems is empty or has one number per layer.
  // REQUIRES: with mounter.userns, every object of the layers is owned by
  // uid 0 and gid 0, the only ids the namespace maps.
  static Result<Overlay> mount(Stack stack, MountOptions opts = {},
                               KernelVersion kernel = {}, Cred mounter = {});

  Overlay(Overlay&&) noexcept;
  Overlay& operator=(Overlay&&) noexcept;
  ~Overlay();

  // Closes every open file and gives back the layers.
  Stack unmount() &&;

  // The layers as they are now. Lower layers are never changed by the
  // model; the upper layer holds everything the operations wrote.
  // upper() is null for a read-only overlay.
  const Layer* upper() const;
  // REQUIRES: i < lower_count(); 0 is the topmost lower layer.
  const Layer& lower(std::size_t i) const;
  std::size_t lower_count() const;
  // REQUIRES: i < data_lower_count().
  const Layer& data_lower(std::size_t i) const;
  std::size_t data_lower_count() const;

  // The options in force, after resolution (metacopy=on implies
  // redirect_dir=on and so on).
  const MountOptions& options() const;
  KernelVersion kernel() const;

  // The device that non-directories whose inode numbers come from layer
  // `layer` (0 upper, 1.. lower) report on layers of several filesystems
  // without xino (INO-02).
  DeviceId layer_device(std::size_t layer) const;

  // The credentials of the calling process; root with umask 022 by
  // default.
  const Cred& cred() const;
  void set_cred(const Cred& cred);

  // Records what each following operation does into `log`, or stops
  // recording when null. The log must outlive the recording.
  void set_log(EventLog* log);

  // ---- Operations. Errors common to every call that takes a path:
  // ENOENT (a missing component, or an empty path), ENOTDIR (a component
  // used as a directory is not one), ELOOP (more than 40 symlinks, or
  // O_NOFOLLOW on a symlink), ENAMETOOLONG (a component over 255 bytes or
  // a path over 4095), EACCES (search permission denied), EPERM (a redirect
  // met under redirect_dir=nofollow, or a metacopy file with metacopy off).
  // Calls that write fail with EROFS on an overlay without upper layer.

  // stat(2) and lstat(2).
  Result<Stat> stat(std::string_view path);
  Result<Stat> lstat(std::string_view path);

  // open(2). Returns a file descriptor of the model (3, 4, ...).
  // O_WRONLY, O_RDWR and O_TRUNC copy the file up (CU-01); O_CREAT creates
  // it in the upper layer.
  // Errors: EEXIST (O_CREAT|O_EXCL on a visible name), EISDIR (a directory
  // opened for writing, or O_CREAT on a path ending in '/'), ENOTDIR
  // (O_DIRECTORY on a non-directory), ELOOP (O_NOFOLLOW on a symlink),
  // EACCES, EROFS, ENXIO (a socket, or a device other than the memory
  // devices null, zero and full, which the model has no driver for). A
  // fifo opens without waiting for its other end, as with O_NONBLOCK.
  Result<int> open(std::string_view path, int flags, mode_t mode = 0666);
  // creat(2): open with O_CREAT|O_WRONLY|O_TRUNC.
  Result<int> creat(std::string_view path, mode_t mode);
  // Errors: EBADF.
  Status close(int fd);

  // read(2) and pread(2) of at most `count` bytes. An fd opened on a lower
  // file reads the upper copy once the file is copied up (RD-03). A fifo
  // reads from the pipe that all its opens share; an empty one with a
  // writer fails with EAGAIN where a blocking read would wait.
  // Errors: EBADF (not open for reading), EISDIR (a directory), EINVAL
  // (a negative offset, before any other check), ESPIPE (pread on a fifo),
  // EAGAIN.
  Result<std::string> read(int fd, std::size_t count);
  Result<std::string> pread(int fd, std::size_t count, off_t offset);

  // write(2) and pwrite(2). With O_APPEND, write goes to the end. Writes
  // to a fifo fill its pipe (64 KiB); writes to a memory device vanish.
  // Errors: EBADF (not open for writing), EINVAL (a negative offset),
  // ESPIPE (pwrite on a fifo), EAGAIN (a full pipe), ENOSPC (/dev/full).
  Result<std::size_t> write(int fd, std::string_view data);
  Result<std::size_t> pwrite(int fd, std::string_view data, off_t offset);

  // fstat(2). Errors: EBADF.
  Result<Stat> fstat(int fd);

  // truncate(2) copies up (CU-01). Errors: EISDIR, EINVAL (negative
  // length), EACCES, EROFS.
  Status truncate(std::string_view path, off_t length);
  // ftruncate(2). Errors: EBADF, EINVAL (not open for writing, or not a
  // regular file).
  Status ftruncate(int fd, off_t length);

  // mkdir(2): the new directory goes to the upper layer; over a whiteout
  // it is opaque (WO-07). The mode keeps its permission and sticky bits
  // only. Errors: EEXIST, EROFS, EACCES.
  Status mkdir(std::string_view path, mode_t mode);

  // mknod(2) of a regular file, device, fifo or socket. Errors: EPERM for
  // a character device 0/0, which would be a whiteout (WO-04), and for any
  // other device without CAP_MKNOD over the initial namespace; EINVAL for
  // a directory or an unknown type; EEXIST.
  Status mknod(std::string_view path, mode_t mode, dev_t dev);

  // symlink(2). Errors: EEXIST, ENOENT for an empty target.
  Status symlink(std::string_view target, std::string_view linkpath);

  // readlink(2). Errors: EINVAL when the path is not a symlink.
  Result<std::string> readlink(std::string_view path);

  // unlink(2) and rmdir(2). A name that a lower layer also has becomes a
  // whiteout (RM-01). rmdir of a merged directory that holds only
  // whiteouts succeeds (RM-02).
  // Errors: EISDIR (unlink of a directory), ENOTDIR (rmdir of a
  // non-directory), ENOTEMPTY, EBUSY (the root), EINVAL (rmdir of ".").
  Status unlink(std::string_view path);
  Status rmdir(std::string_view path);

  // chmod(2), chown(2)/lchown(2) and utimensat(2) copy up (CU-01).
  // A uid or gid of -1 leaves it unchanged; a time with nsec UTIME_NOW is
  // the current time and UTIME_OMIT leaves it unchanged.
  // Errors: EPERM (not the owner), EROFS; EINVAL from chown for an id
  // that the caller's user namespace does not map (Cred::userns).
  Status chmod(std::string_view path, mode_t mode);
  Status chown(std::string_view path, uid_t uid, gid_t gid,
               Follow follow = Follow::kYes);
  Status utimens(std::string_view path, Timespec atime, Timespec mtime,
                 Follow follow = Follow::kYes);

  // The xattr calls, with the overlay's private xattrs hidden and escaped
  // (WO-10). setxattr and removexattr copy up (CU-01).
  // Errors: ENODATA (no such xattr), EEXIST (XATTR_CREATE on an existing
  // one), ENODATA (XATTR_REPLACE on a missing one), EPERM (user.* on a
  // symlink or device), EINVAL (bad flags), ERANGE (name over 255 bytes);
  // for trusted.* without CAP_SYS_ADMIN over the initial namespace, EPERM
  // to set or remove and ENODATA to get, and listxattr leaves them out.
  Status setxattr(std::string_view path, std::string_view name,
                  std::string_view value, int flags = 0,
                  Follow follow = Follow::kYes);
  Result<std::string> getxattr(std::string_view path, std::string_view name,
                               Follow follow = Follow::kYes);
  // The names in sorted order.
  Result<std::vector<std::string>> listxattr(std::string_view path,
                                             Follow follow = Follow::kYes);
  Status removexattr(std::string_view path, std::string_view name,
                     Follow follow = Follow::kYes);

  // rename(2) and renameat2(2) with RENAME_NOREPLACE or RENAME_EXCHANGE.
  // The source is copied up; a whiteout is left at its old name when a
  // lower layer has that name (RN-02).
  // Errors: EXDEV (a lower or merged directory without redirect_dir=on),
  // EINVAL (other flags, or a directory moved below itself), EEXIST
  // (RENAME_NOREPLACE onto a visible name), EISDIR, ENOTDIR, ENOTEMPTY,
  // EBUSY (the root).
  Status rename(std::string_view oldpath, std::string_view newpath,
                unsigned flags = 0);

  // link(2): the source is copied up, then linked in the upper layer
  // (CR-05). Errors: EPERM (a directory), EEXIST, EXDEV never.
  Status link(std::string_view oldpath, std::string_view newpath);

  // The entries of a directory, "." and ".." included, in the order a
  // merged directory lists them on the kernel (DIR-03), with each layer's
  // own order taken as sorted by name.
  // Errors: ENOTDIR, EACCES.
  Result<std::vector<Dirent>> readdir(std::string_view path);

 private:
  struct OpenFile;
  struct Pipe;
  class Impl;
  explicit Overlay(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace ovlsim::model

#endif  // OVLSIM_MODEL_OVERLAY_H_
