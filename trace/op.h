// Operations: the syscalls a trace makes, as data.
//
// An Op is one syscall with its arguments; an Outcome is what it returned.
// Every target (the model, the kernel's overlayfs, fuse-overlayfs) executes
// the same Ops and reports Outcomes, so that they can be compared. Open files
// are named by the trace ("f1"), never by number, because each target
// numbers its descriptors differently.
#ifndef OVLSIM_TRACE_OP_H_
#define OVLSIM_TRACE_OP_H_

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "model/layer.h"
#include "model/overlay.h"

namespace ovlsim::trace {

enum class OpKind {
  kStat,          // path
  kLstat,         // path
  kOpen,          // fd, path, flags, mode
  kClose,         // fd
  kRead,          // fd, count
  kPread,         // fd, count, offset
  kWrite,         // fd, data
  kPwrite,        // fd, data, offset
  kFstat,         // fd
  kTruncate,      // path, offset (the length)
  kFtruncate,     // fd, offset (the length)
  kMkdir,         // path, mode
  kMknod,         // path, mode (with the S_IFMT type), dev
  kSymlink,       // data (the target), path (the link)
  kReadlink,      // path
  kUnlink,        // path
  kRmdir,         // path
  kChmod,         // path, mode
  kChown,         // path, uid, gid
  kLchown,        // path, uid, gid
  kUtimens,       // path, atime, mtime
  kLutimens,      // path, atime, mtime (AT_SYMLINK_NOFOLLOW)
  kSetxattr,      // path, name, data (the value), flags
  kLsetxattr,     // path, name, data, flags
  kGetxattr,      // path, name
  kLgetxattr,     // path, name
  kListxattr,     // path
  kLlistxattr,    // path
  kRemovexattr,   // path, name
  kLremovexattr,  // path, name
  kReaddir,       // path
  kRename,        // path, path2, flags (RENAME_NOREPLACE, RENAME_EXCHANGE...)
  kLink,          // path (existing), path2 (new name)
};

struct Op {
  OpKind kind = OpKind::kStat;
  std::string path;
  std::string path2;
  std::string fd;    // the trace's name for an open file, e.g. "f1"
  std::string name;  // an xattr name
  std::string data;  // bytes to write, an xattr value, or a symlink target
  int flags = 0;
  mode_t mode = 0;
  dev_t dev = 0;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  off_t offset = 0;
  std::size_t count = 0;
  model::Timespec atime;
  model::Timespec mtime;

  bool operator==(const Op&) const = default;
};

// What an operation returned. `err` is 0 on success, and then `value` holds
// what the call returns, by kind:
//   stat, lstat, fstat                   -> model::Stat
//   read, pread, readlink, getxattr      -> std::string
//   listxattr                            -> std::vector<std::string> (sorted)
//   readdir                              -> std::vector<model::Dirent>
//   write, pwrite                        -> std::size_t (bytes written)
//   everything else                      -> std::monostate
struct Outcome {
  using Value = std::variant<std::monostate, model::Stat, std::string,
                             std::vector<std::string>,
                             std::vector<model::Dirent>, std::size_t>;
  int err = 0;
  Value value;

  bool ok() const { return err == 0; }
};

// The lower-case name of an operation as traces spell it ("stat",
// "lsetxattr"), and back. op_kind_from_name returns nullopt for an unknown
// name.
std::string_view op_name(OpKind kind);
std::optional<OpKind> op_kind_from_name(std::string_view name);

}  // namespace ovlsim::trace

#endif  // OVLSIM_TRACE_OP_H_
