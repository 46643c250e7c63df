#include "harness/snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <utility>

#include <fmt/format.h>

namespace ovlsim::harness {

namespace {

// Closes a file descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0)
      close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::string child_path(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

// listxattrat(2) and getxattrat(2) (Linux 6.13) read the xattrs of a name
// relative to a directory descriptor without following it: one lookup
// instead of a walk through /proc/self/fd. Their numbers are the same on
// every architecture.
#ifndef SYS_getxattrat
#define SYS_getxattrat 464
#endif
#ifndef SYS_listxattrat
#define SYS_listxattrat 465
#endif

struct XattrArgs {  // struct xattr_args of <linux/xattr.h>
  std::uint64_t value;
  std::uint32_t size;
  std::uint32_t flags;
};

bool xattrat_works = true;  // cleared on the first ENOSYS

// The xattrs of `name` in the directory `dir_fd` ("" for the directory
// itself), without following a symlink.
model::Xattrs read_xattrs(int dir_fd, const std::string& name) {
  model::Xattrs xattrs;
  unsigned at_flags = AT_SYMLINK_NOFOLLOW | (name.empty() ? AT_EMPTY_PATH : 0);
  // Without the *xattrat calls, the l* calls on "/proc/self/fd/N/name"
  // never follow `name` and resolve the rest inside the directory the
  // harness holds open; the directory itself is read through its
  // descriptor.
  std::string path = fmt::format("/proc/self/fd/{}/{}", dir_fd, name);
  auto list = [&](char* buf, std::size_t size) -> ssize_t {
    if (xattrat_works) {
      long n =
          syscall(SYS_listxattrat, dir_fd, name.c_str(), at_flags, buf, size);
      if (n >= 0 || errno != ENOSYS)
        return n;
      xattrat_works = false;
    }
    return name.empty() ? flistxattr(dir_fd, buf, size)
                        : llistxattr(path.c_str(), buf, size);
  };
  auto get = [&](const char* key, char* buf, std::size_t size) -> ssize_t {
    if (xattrat_works) {
      XattrArgs args{reinterpret_cast<std::uintptr_t>(buf),
                     static_cast<std::uint32_t>(size), 0};
      return syscall(SYS_getxattrat, dir_fd, name.c_str(), at_flags, key, &args,
                     sizeof args);
    }
    return name.empty() ? fgetxattr(dir_fd, key, buf, size)
                        : lgetxattr(path.c_str(), key, buf, size);
  };

  std::string names(1024, '\0');
  ssize_t len;
  while ((len = list(names.data(), names.size())) < 0 && errno == ERANGE)
    names.resize(names.size() * 4);
  if (len <= 0)
    return xattrs;
  names.resize(len);

  for (std::size_t pos = 0; pos < names.size();) {
    std::string key(names.c_str() + pos);
    pos += key.size() + 1;
    std::string value(256, '\0');
    ssize_t vlen;
    while ((vlen = get(key.c_str(), value.data(), value.size())) < 0 &&
           errno == ERANGE)
      value.resize(value.size() * 4);
    if (vlen < 0)
      continue;
    value.resize(vlen);
    xattrs.emplace(std::move(key), std::move(value));
  }
  return xattrs;
}

std::string read_content(int dir_fd, const std::string& name) {
  Fd fd(openat(dir_fd, name.c_str(),
               O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (fd.get() < 0)
    return fmt::format("<unreadable: errno {}>", errno);
  std::string data;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd.get(), buf, sizeof buf)) > 0)
    data.append(buf, n);
  return content_digest(data);
}

Entry entry_from_stat(const struct stat& st) {
  Entry e;
  e.mode = st.st_mode;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.nlink = st.st_nlink;
  e.rdev = st.st_rdev;
  e.size = st.st_size;
  e.mtime = {st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
  e.ino = st.st_ino;
  e.dev = st.st_dev;
  return e;
}

struct Reader {
  Tree tree;
  std::map<std::pair<dev_t, ino_t>, std::string> first_name;

  void note_identity(const std::string& path, const struct stat& st, Entry& e) {
    if (S_ISDIR(st.st_mode) || e.is_whiteout())
      return;
    auto [it, fresh] = first_name.try_emplace({st.st_dev, st.st_ino}, path);
    if (!fresh)
      e.same_inode_as = it->second;
  }

  void read_dir(int dir_fd, const std::string& dir_path) {
    int fd = dup(dir_fd);
    if (fd < 0)
      return;
    DIR* dir = fdopendir(fd);
    if (dir == nullptr) {
      close(fd);
      return;
    }
    std::map<std::string, ino_t> names;  // sorted, with their d_ino
    while (dirent* d = readdir(dir)) {
      std::string_view n = d->d_name;
      if (n != "." && n != "..")
        names.emplace(n, d->d_ino);
    }
    closedir(dir);

    for (const auto& [name, d_ino] : names) {
      std::string path = child_path(dir_path, name);
      struct stat st;
      if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        Entry e;
        e.stat_err = errno;
        tree.entries.emplace(path, std::move(e));
        continue;
      }
      Entry e = entry_from_stat(st);
      e.d_ino = d_ino;
      note_identity(path, st, e);
      e.xattrs = read_xattrs(dir_fd, name);
      if (S_ISLNK(st.st_mode)) {
        std::string target(st.st_size + 1, '\0');
        ssize_t n =
            readlinkat(dir_fd, name.c_str(), target.data(), target.size());
        target.resize(n < 0 ? 0 : n);
        e.data = std::move(target);
      } else if (S_ISREG(st.st_mode)) {
        e.data = read_content(dir_fd, name);
      }
      tree.entries.emplace(path, std::move(e));

      if (S_ISDIR(st.st_mode)) {
        Fd sub(openat(dir_fd, name.c_str(),
                      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (sub.get() >= 0)
          read_dir(sub.get(), path);
      }
    }
  }
};

}  // namespace

bool Entry::is_whiteout() const {
  return S_ISCHR(mode) && rdev == 0 && stat_err == 0;
}

const Entry* Tree::find(const std::string& path) const {
  auto it = entries.find(path);
  return it == entries.end() ? nullptr : &it->second;
}

std::string content_digest(const std::string& data) {
  if (data.size() <= kMaxKeptContent)
    return data;
  // FNV-1a: the digest only has to tell contents apart in a report.
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return fmt::format("<{} bytes, digest {:016x}>", data.size(), hash);
}

model::Result<Tree> read_tree(const std::string& path) {
  Fd root(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (root.get() < 0)
    return model::Errno{errno};
  struct stat st;
  if (fstat(root.get(), &st) != 0)
    return model::Errno{errno};

  Reader reader;
  Entry e = entry_from_stat(st);
  e.xattrs = read_xattrs(root.get(), "");
  reader.tree.entries.emplace("/", std::move(e));
  reader.read_dir(root.get(), "/");
  return std::move(reader.tree);
}

Tree tree_of_layer(const model::Layer& layer) {
  Tree tree;
  std::map<model::InodeNumber, std::string> first_name;
  layer.walk([&](const std::string& path, const model::Inode& inode) {
    Entry e;
    e.mode = inode.mode;
    e.uid = inode.uid;
    e.gid = inode.gid;
    e.nlink = inode.nlink;
    e.rdev = inode.rdev;
    e.size = inode.size();
    e.xattrs = inode.xattrs;
    e.mtime = inode.mtime;
    e.ino = inode.ino;
    if (inode.is_symlink())
      e.data = inode.data;
    else if (inode.is_reg())
      e.data = content_digest(inode.data);
    if (!inode.is_dir() && !e.is_whiteout()) {
      auto [it, fresh] = first_name.try_emplace(inode.ino, path);
      if (!fresh)
        e.same_inode_as = it->second;
    }
    tree.entries.emplace(path, std::move(e));
  });
  return tree;
}

}  // namespace ovlsim::harness
