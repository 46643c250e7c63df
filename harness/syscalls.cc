#include "harness/syscalls.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>
#include <vector>

namespace ovlsim::harness {

namespace {

using trace::OpKind;
using trace::Outcome;

Outcome failed() {
  return Outcome{errno, {}};
}

Outcome done(int rc) {
  return rc == 0 ? Outcome{} : failed();
}

Outcome stat_outcome(int rc, const struct stat& st) {
  if (rc != 0)
    return failed();
  return Outcome{0, stat_from(st)};
}

Outcome read_into(ssize_t n, std::string& buf) {
  if (n < 0)
    return failed();
  buf.resize(n);
  return Outcome{0, std::move(buf)};
}

std::size_t capped(std::size_t count) {
  return std::min(count, kMaxTransfer);
}

Outcome do_getxattr(const trace::Op& op, bool follow) {
  auto get = follow ? getxattr : lgetxattr;
  ssize_t size = get(op.path.c_str(), op.name.c_str(), nullptr, 0);
  if (size < 0)
    return failed();
  std::string value(size, '\0');
  ssize_t n = get(op.path.c_str(), op.name.c_str(), value.data(), value.size());
  return read_into(n, value);
}

Outcome do_listxattr(const trace::Op& op, bool follow) {
  auto list = follow ? listxattr : llistxattr;
  ssize_t size = list(op.path.c_str(), nullptr, 0);
  if (size < 0)
    return failed();
  std::string buf(size, '\0');
  ssize_t n = list(op.path.c_str(), buf.data(), buf.size());
  if (n < 0)
    return failed();
  std::vector<std::string> names;
  for (std::size_t pos = 0; pos < static_cast<std::size_t>(n);) {
    names.emplace_back(buf.c_str() + pos);
    pos += names.back().size() + 1;
  }
  std::sort(names.begin(), names.end());
  return Outcome{0, std::move(names)};
}

// readdir(3) with the d_ino and d_type of each entry, in the order the
// filesystem returns them.
Outcome do_readdir(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return failed();
  DIR* dir = fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    close(fd);
    return Outcome{err, {}};
  }
  std::vector<model::Dirent> entries;
  errno = 0;
  while (dirent* d = readdir(dir))
    entries.push_back({d->d_name, d->d_ino, d->d_type});
  int err = errno;
  closedir(dir);
  if (err != 0)
    return Outcome{err, {}};
  return Outcome{0, std::move(entries)};
}

Outcome do_utimens(const trace::Op& op, int flags) {
  struct timespec ts[2] = {{op.atime.sec, op.atime.nsec},
                           {op.mtime.sec, op.mtime.nsec}};
  return done(utimensat(AT_FDCWD, op.path.c_str(), ts, flags));
}

// open(2) that never waits: a FIFO open for reading only or writing only
// blocks until the other end is opened, and a read of an empty FIFO with
// a writer blocks. The file is opened with O_NONBLOCK; a FIFO keeps it
// (its reads and writes fail with EAGAIN instead of waiting), and one
// opened for writing only is first given a reader of its own, as if
// another process had it open, which `partners` keeps open. Any other file
// gets the flags it asked for.
int open_never_blocking(const char* path, int flags, mode_t mode,
                        std::vector<int>& partners) {
  int fd = open(path, flags | O_NONBLOCK | O_CLOEXEC, mode);
  if (fd < 0 && errno == ENXIO && (flags & O_ACCMODE) == O_WRONLY) {
    int reader = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (reader < 0) {
      errno = ENXIO;
      return -1;
    }
    struct stat st;
    if (fstat(reader, &st) != 0 || !S_ISFIFO(st.st_mode)) {
      close(reader);
      errno = ENXIO;
      return -1;
    }
    partners.push_back(reader);
    fd = open(path, flags | O_NONBLOCK | O_CLOEXEC, mode);
  }
  if (fd < 0)
    return -1;
  struct stat st;
  if ((flags & O_NONBLOCK) == 0 && fstat(fd, &st) == 0 &&
      !S_ISFIFO(st.st_mode)) {
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
      fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  }
  return fd;
}

}  // namespace

model::Stat stat_from(const struct stat& st) {
  model::Stat s;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.mode = st.st_mode;
  s.nlink = st.st_nlink;
  s.uid = st.st_uid;
  s.gid = st.st_gid;
  s.rdev = st.st_rdev;
  s.size = st.st_size;
  s.atime = {st.st_atim.tv_sec, st.st_atim.tv_nsec};
  s.mtime = {st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
  s.ctime = {st.st_ctim.tv_sec, st.st_ctim.tv_nsec};
  return s;
}

int Process::fd_of(const std::string& name) const {
  auto it = fds_.find(name);
  return it == fds_.end() ? -1 : it->second;
}

void Process::close_all() {
  for (const auto& [name, fd] : fds_)
    close(fd);
  for (int fd : unnamed_)
    close(fd);
  fds_.clear();
  unnamed_.clear();
}

Outcome Process::apply(const trace::Op& op) {
  const char* path = op.path.c_str();
  const char* path2 = op.path2.c_str();
  int fd = fd_of(op.fd);
  struct stat st;

  switch (op.kind) {
    case OpKind::kStat:
      return stat_outcome(stat(path, &st), st);
    case OpKind::kLstat:
      return stat_outcome(lstat(path, &st), st);
    case OpKind::kFstat:
      return stat_outcome(fstat(fd, &st), st);

    case OpKind::kOpen: {
      // The model's runner keeps the old file open, unnamed; so do we.
      if (fd >= 0)
        unnamed_.push_back(fd);
      int opened = open_never_blocking(path, op.flags, op.mode, unnamed_);
      if (opened < 0)
        return failed();
      fds_[op.fd] = opened;
      return Outcome{};
    }
    case OpKind::kClose: {
      if (fd < 0)
        return Outcome{EBADF, {}};
      fds_.erase(op.fd);
      return done(close(fd));
    }

    case OpKind::kRead: {
      std::string buf(capped(op.count), '\0');
      return read_into(read(fd, buf.data(), buf.size()), buf);
    }
    case OpKind::kPread: {
      std::string buf(capped(op.count), '\0');
      return read_into(pread(fd, buf.data(), buf.size(), op.offset), buf);
    }
    case OpKind::kWrite: {
      ssize_t n = write(fd, op.data.data(), op.data.size());
      if (n < 0)
        return failed();
      return Outcome{0, static_cast<std::size_t>(n)};
    }
    case OpKind::kPwrite: {
      ssize_t n = pwrite(fd, op.data.data(), op.data.size(), op.offset);
      if (n < 0)
        return failed();
      return Outcome{0, static_cast<std::size_t>(n)};
    }
    case OpKind::kTruncate:
      return done(truncate(path, op.offset));
    case OpKind::kFtruncate:
      return done(ftruncate(fd, op.offset));

    case OpKind::kMkdir:
      return done(mkdir(path, op.mode));
    case OpKind::kMknod:
      return done(mknod(path, op.mode, op.dev));
    case OpKind::kSymlink:
      return done(symlink(op.data.c_str(), path));
    case OpKind::kReadlink: {
      std::string buf(4096, '\0');
      return read_into(readlink(path, buf.data(), buf.size()), buf);
    }
    case OpKind::kUnlink:
      return done(unlink(path));
    case OpKind::kRmdir:
      return done(rmdir(path));

    case OpKind::kChmod:
      return done(chmod(path, op.mode));
    case OpKind::kChown:
      return done(chown(path, op.uid, op.gid));
    case OpKind::kLchown:
      return done(lchown(path, op.uid, op.gid));
    case OpKind::kUtimens:
      return do_utimens(op, 0);
    case OpKind::kLutimens:
      return do_utimens(op, AT_SYMLINK_NOFOLLOW);

    case OpKind::kSetxattr:
      return done(setxattr(path, op.name.c_str(), op.data.data(),
                           op.data.size(), op.flags));
    case OpKind::kLsetxattr:
      return done(lsetxattr(path, op.name.c_str(), op.data.data(),
                            op.data.size(), op.flags));
    case OpKind::kGetxattr:
      return do_getxattr(op, true);
    case OpKind::kLgetxattr:
      return do_getxattr(op, false);
    case OpKind::kListxattr:
      return do_listxattr(op, true);
    case OpKind::kLlistxattr:
      return do_listxattr(op, false);
    case OpKind::kRemovexattr:
      return done(removexattr(path, op.name.c_str()));
    case OpKind::kLremovexattr:
      return done(lremovexattr(path, op.name.c_str()));

    case OpKind::kReaddir:
      return do_readdir(op.path);
    case OpKind::kRename:
      return done(static_cast<int>(
          syscall(SYS_renameat2, AT_FDCWD, path, AT_FDCWD, path2, op.flags)));
    case OpKind::kLink:
      return done(link(path, path2));
  }
  return Outcome{ENOSYS, {}};
}

}  // namespace ovlsim::harness
