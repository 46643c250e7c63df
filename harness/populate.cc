#include "harness/populate.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include <fmt/format.h>

namespace ovlsim::harness {

namespace {

bool valid_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

class Populator {
 public:
  Populator(int dir_fd, const model::Layer& layer, std::string* error)
      : dir_fd_(dir_fd), layer_(layer), error_(error) {}

  model::Status run() {
    if (!create(layer_.root(), ""))
      return model::Errno{err_};

    // Times last, children before parents, because creating an entry
    // changes its directory's mtime.
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it)
      if (!set_times(it->first, layer_.inode(it->second)))
        return model::Errno{err_};
    return model::Ok{};
  }

 private:
  bool fail(const std::string& path, const char* call, int err) {
    err_ = err;
    if (error_ != nullptr)
      *error_ = fmt::format("{}: {}({}): {}", path.empty() ? "/" : path, call,
                            path, std::strerror(err));
    return false;
  }

  // `path` is relative to dir_fd_ ("" for the root, "a/b" below it).
  bool create(model::InodeNumber ino, const std::string& path) {
    const model::Inode& inode = layer_.inode(ino);
    if (!path.empty() && !make(inode, path))
      return false;
    if (!path.empty() && !inode.is_dir() && !set_times(path, inode))
      return false;

    if (!inode.is_dir())
      return true;
    dirs_.emplace_back(path, ino);
    for (const auto& [name, child] : inode.entries) {
      if (!valid_name(name))
        return fail(path + "/" + name, "name", EINVAL);
      std::string child_path = path.empty() ? name : path + "/" + name;
      if (!create(child, child_path))
        return false;
    }
    return true;
  }

  bool make(const model::Inode& inode, const std::string& path) {
    const char* p = path.c_str();

    // A second name of an inode already written is a hard link.
    if (auto it = written_.find(inode.ino); it != written_.end()) {
      if (linkat(dir_fd_, it->second.c_str(), dir_fd_, p, 0) != 0)
        return fail(path, "linkat", errno);
      return true;
    }

    mode_t perms = inode.mode & 07777;
    int rc = 0;
    const char* call = "mknodat";
    switch (inode.type()) {
      case S_IFDIR:
        call = "mkdirat";
        rc = mkdirat(dir_fd_, p, 0700);
        break;
      case S_IFLNK:
        call = "symlinkat";
        rc = symlinkat(inode.data.c_str(), dir_fd_, p);
        break;
      case S_IFREG:
        call = "openat";
        rc = write_file(p, inode.data);
        break;
      default:
        rc = mknodat(dir_fd_, p, inode.type() | 0600, inode.rdev);
        break;
    }
    if (rc != 0)
      return fail(path, call, errno);

    if (fchownat(dir_fd_, p, inode.uid, inode.gid, AT_SYMLINK_NOFOLLOW) != 0)
      return fail(path, "fchownat", errno);
    if (!inode.is_symlink() && fchmodat(dir_fd_, p, perms, 0) != 0)
      return fail(path, "fchmodat", errno);
    if (!set_xattrs(inode, path))
      return false;
    if (!inode.is_dir() && inode.nlink > 1)
      written_.emplace(inode.ino, path);
    return true;
  }

  int write_file(const char* p, const std::string& data) {
    int fd = openat(dir_fd_, p,
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
      return -1;
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t n = write(fd, data.data() + done, data.size() - done);
      if (n < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
      }
      done += n;
    }
    return close(fd);
  }

  bool set_xattrs(const model::Inode& inode, const std::string& path) {
    if (inode.xattrs.empty())
      return true;
    // The l* calls through /proc/self/fd never follow the last component
    // and resolve the rest inside the layer directory.
    std::string full = fmt::format("/proc/self/fd/{}/{}", dir_fd_, path);
    for (const auto& [name, value] : inode.xattrs)
      if (lsetxattr(full.c_str(), name.c_str(), value.data(), value.size(),
                    0) != 0)
        return fail(path, "lsetxattr", errno);
    return true;
  }

  bool set_times(const std::string& path, const model::Inode& inode) {
    struct timespec ts[2] = {{inode.atime.sec, inode.atime.nsec},
                             {inode.mtime.sec, inode.mtime.nsec}};
    int rc = path.empty()
                 ? futimens(dir_fd_, ts)
                 : utimensat(dir_fd_, path.c_str(), ts, AT_SYMLINK_NOFOLLOW);
    if (rc != 0)
      return fail(path, "utimensat", errno);
    return true;
  }

  int dir_fd_;
  const model::Layer& layer_;
  std::string* error_;
  int err_ = 0;
  std::map<model::InodeNumber, std::string> written_;
  std::vector<std::pair<std::string, model::InodeNumber>> dirs_;
};

}  // namespace

model::Status populate_layer(int dir_fd, const model::Layer& layer,
                             std::string* error) {
  const model::Inode& root = layer.inode(layer.root());
  // The root exists already: give it the layer's owner, mode and xattrs.
  if (fchown(dir_fd, root.uid, root.gid) != 0 ||
      fchmod(dir_fd, root.mode & 07777) != 0) {
    if (error != nullptr)
      *error =
          fmt::format("/: cannot set owner and mode: {}", std::strerror(errno));
    return model::Errno{errno};
  }
  for (const auto& [name, value] : root.xattrs)
    if (fsetxattr(dir_fd, name.c_str(), value.data(), value.size(), 0) != 0) {
      int err = errno;
      if (error != nullptr)
        *error = fmt::format("/: lsetxattr({}): {}", name, std::strerror(err));
      return model::Errno{err};
    }
  return Populator(dir_fd, layer, error).run();
}

std::string needs_initial_namespace(const model::Layer& layer) {
  std::string why;
  layer.walk([&](const std::string& path, const model::Inode& inode) {
    if (!why.empty())
      return;
    bool device = S_ISCHR(inode.mode) || S_ISBLK(inode.mode);
    bool whiteout = S_ISCHR(inode.mode) && inode.rdev == makedev(0, 0);
    if (inode.uid != 0 || inode.gid != 0)
      why = fmt::format("{}: owned by {}:{}", path, inode.uid, inode.gid);
    else if (device && !whiteout)
      why = fmt::format("{}: a device node", path);
    for (const auto& [name, value] : inode.xattrs)
      if (why.empty() && !name.starts_with("user."))
        why = fmt::format("{}: xattr {}", path, name);
  });
  return why;
}

}  // namespace ovlsim::harness
