#include "trace/op.h"

#include <array>
#include <utility>

namespace ovlsim::trace {

namespace {

constexpr std::array<std::pair<OpKind, std::string_view>, 33> kOpNames = {{
    {OpKind::kStat, "stat"},
    {OpKind::kLstat, "lstat"},
    {OpKind::kOpen, "open"},
    {OpKind::kClose, "close"},
    {OpKind::kRead, "read"},
    {OpKind::kPread, "pread"},
    {OpKind::kWrite, "write"},
    {OpKind::kPwrite, "pwrite"},
    {OpKind::kFstat, "fstat"},
    {OpKind::kTruncate, "truncate"},
    {OpKind::kFtruncate, "ftruncate"},
    {OpKind::kMkdir, "mkdir"},
    {OpKind::kMknod, "mknod"},
    {OpKind::kSymlink, "symlink"},
    {OpKind::kReadlink, "readlink"},
    {OpKind::kUnlink, "unlink"},
    {OpKind::kRmdir, "rmdir"},
    {OpKind::kChmod, "chmod"},
    {OpKind::kChown, "chown"},
    {OpKind::kLchown, "lchown"},
    {OpKind::kUtimens, "utimens"},
    {OpKind::kLutimens, "lutimens"},
    {OpKind::kSetxattr, "setxattr"},
    {OpKind::kLsetxattr, "lsetxattr"},
    {OpKind::kGetxattr, "getxattr"},
    {OpKind::kLgetxattr, "lgetxattr"},
    {OpKind::kListxattr, "listxattr"},
    {OpKind::kLlistxattr, "llistxattr"},
    {OpKind::kRemovexattr, "removexattr"},
    {OpKind::kLremovexattr, "lremovexattr"},
    {OpKind::kReaddir, "readdir"},
    {OpKind::kRename, "rename"},
    {OpKind::kLink, "link"},
}};

}  // namespace

std::string_view op_name(OpKind kind) {
  for (const auto& [k, name] : kOpNames)
    if (k == kind)
      return name;
  return "?";
}

std::optional<OpKind> op_kind_from_name(std::string_view name) {
  for (const auto& [kind, n] : kOpNames)
    if (n == name)
      return kind;
  return std::nullopt;
}

}  // namespace ovlsim::trace
