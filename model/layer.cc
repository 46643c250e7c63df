#include "model/layer.h"

#include <cassert>
#include <vector>

namespace ovlsim::model {

off_t Inode::size() const {
  if (is_reg() || is_symlink())
    return static_cast<off_t>(data.size());
  return 0;
}

std::optional<std::string> Inode::xattr(std::string_view name) const {
  if (xattrs.empty())
    return std::nullopt;
  auto it = xattrs.find(name);
  if (it == xattrs.end())
    return std::nullopt;
  return it->second;
}

Layer::Layer() {
  InodeAttrs attrs;
  attrs.mode = S_IFDIR | 0755;
  root_ = allocate(attrs);
  inodes_.at(root_).nlink = 2;
}

const Inode& Layer::inode(InodeNumber ino) const {
  auto it = inodes_.find(ino);
  assert(it != inodes_.end() && "inode not in layer");
  return it->second;
}

Inode& Layer::inode(InodeNumber ino) {
  auto it = inodes_.find(ino);
  assert(it != inodes_.end() && "inode not in layer");
  return it->second;
}

std::optional<InodeNumber> Layer::lookup(InodeNumber dir,
                                         std::string_view name) const {
  const Inode& parent = inode(dir);
  assert(parent.is_dir() && "lookup in a non-directory");
  auto it = parent.entries.find(name);
  if (it == parent.entries.end())
    return std::nullopt;
  return it->second;
}

InodeNumber Layer::allocate(const InodeAttrs& attrs) {
  InodeNumber ino = next_ino_++;
  Inode& node = inodes_[ino];
  node.ino = ino;
  node.mode = attrs.mode;
  node.uid = attrs.uid;
  node.gid = attrs.gid;
  node.rdev = attrs.rdev;
  node.data = attrs.data;
  node.xattrs = attrs.xattrs;
  node.atime = attrs.atime;
  node.mtime = attrs.mtime;
  node.ctime = attrs.ctime;
  return ino;
}

InodeNumber Layer::create(InodeNumber dir, std::string_view name,
                          const InodeAttrs& attrs) {
  assert(!name.empty() && name.find('/') == std::string_view::npos);
  assert(!lookup(dir, name) && "create over an existing name");

  InodeNumber ino = allocate(attrs);
  Inode& child = inodes_.at(ino);
  Inode& parent = inode(dir);
  parent.entries.emplace(std::string(name), ino);
  if (child.is_dir()) {
    child.nlink = 2;
    parent.nlink++;
  } else {
    child.nlink = 1;
  }
  return ino;
}

void Layer::link(InodeNumber dir, std::string_view name, InodeNumber ino) {
  Inode& child = inode(ino);
  assert(!child.is_dir() && "hard link to a directory");
  assert(!lookup(dir, name) && "link over an existing name");

  inode(dir).entries.emplace(std::string(name), ino);
  child.nlink++;
}

void Layer::drop_name(Inode& dir, std::string_view name, Inode& child) {
  dir.entries.erase(dir.entries.find(name));
  if (child.is_dir()) {
    // An open directory outlives its name, empty and with no links.
    dir.nlink--;
    child.nlink = 0;
    if (child.pins == 0)
      inodes_.erase(child.ino);
    return;
  }
  if (--child.nlink == 0 && child.pins == 0)
    inodes_.erase(child.ino);
}

void Layer::unpin(InodeNumber ino) {
  Inode& node = inode(ino);
  assert(node.pins > 0 && "unpin without pin");
  if (--node.pins == 0 && node.nlink == 0)
    inodes_.erase(ino);
}

void Layer::unlink(InodeNumber dir, std::string_view name) {
  std::optional<InodeNumber> ino = lookup(dir, name);
  assert(ino && "unlink of a missing name");
  Inode& child = inode(*ino);
  assert((!child.is_dir() || child.entries.empty()) &&
         "unlink of a non-empty directory");
  drop_name(inode(dir), name, child);
}

void Layer::remove_tree(InodeNumber dir, std::string_view name) {
  std::optional<InodeNumber> ino = lookup(dir, name);
  assert(ino && "remove_tree of a missing name");
  if (inode(*ino).is_dir()) {
    std::vector<std::string> names;
    for (const auto& [child, unused] : inode(*ino).entries)
      names.push_back(child);
    for (const std::string& child : names)
      remove_tree(*ino, child);
  }
  unlink(dir, name);
}

void Layer::rename(InodeNumber old_dir, std::string_view old_name,
                   InodeNumber new_dir, std::string_view new_name) {
  std::optional<InodeNumber> ino = lookup(old_dir, old_name);
  assert(ino && "rename of a missing name");
  if (old_dir == new_dir && old_name == new_name)
    return;

  std::optional<InodeNumber> victim = lookup(new_dir, new_name);
  if (victim == ino) {
    // Two names of one inode: rename(2) does nothing.
    return;
  }
  if (victim)
    unlink(new_dir, new_name);

  bool is_dir = inode(*ino).is_dir();
  Inode& from = inode(old_dir);
  from.entries.erase(from.entries.find(old_name));
  Inode& to = inode(new_dir);
  to.entries.emplace(std::string(new_name), *ino);
  if (is_dir && old_dir != new_dir) {
    inode(old_dir).nlink--;
    inode(new_dir).nlink++;
  }
}

void Layer::exchange(InodeNumber dir1, std::string_view name1, InodeNumber dir2,
                     std::string_view name2) {
  std::optional<InodeNumber> ino1 = lookup(dir1, name1);
  std::optional<InodeNumber> ino2 = lookup(dir2, name2);
  assert(ino1 && ino2 && "exchange of a missing name");

  inode(dir1).entries.find(name1)->second = *ino2;
  inode(dir2).entries.find(name2)->second = *ino1;
  if (dir1 != dir2) {
    int moved = int(inode(*ino1).is_dir()) - int(inode(*ino2).is_dir());
    inode(dir1).nlink -= moved;
    inode(dir2).nlink += moved;
  }
}

std::optional<InodeNumber> Layer::find(std::string_view path) const {
  InodeNumber cur = root_;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos)
      end = path.size();
    std::string_view name = path.substr(pos, end - pos);
    pos = end + 1;
    if (name.empty() || name == ".")
      continue;
    if (!inode(cur).is_dir())
      return std::nullopt;
    std::optional<InodeNumber> next = lookup(cur, name);
    if (!next)
      return std::nullopt;
    cur = *next;
  }
  return cur;
}

namespace {

void walk_dir(
    const Layer& layer, const std::string& path, const Inode& dir,
    const std::function<void(const std::string&, const Inode&)>& visit) {
  for (const auto& [name, ino] : dir.entries) {
    const Inode& child = layer.inode(ino);
    std::string child_path = path == "/" ? "/" + name : path + "/" + name;
    visit(child_path, child);
    if (child.is_dir())
      walk_dir(layer, child_path, child, visit);
  }
}

// The position of each inode among the inodes of the layer in walk order,
// so that two layers can be compared without their inode numbers.
std::map<InodeNumber, size_t> walk_order(const Layer& layer) {
  std::map<InodeNumber, size_t> order;
  layer.walk([&](const std::string&, const Inode& node) {
    order.emplace(node.ino, order.size());
  });
  return order;
}

}  // namespace

void Layer::walk(const std::function<void(const std::string& path,
                                          const Inode& inode)>& visit) const {
  const Inode& top = inode(root_);
  visit("/", top);
  walk_dir(*this, "/", top, visit);
}

bool Layer::same_tree(const Layer& other) const {
  std::map<InodeNumber, size_t> mine = walk_order(*this);
  std::map<InodeNumber, size_t> theirs = walk_order(other);
  if (mine.size() != theirs.size())
    return false;

  struct Flat {
    std::string path;
    const Inode* node;
  };
  std::vector<Flat> a, b;
  walk([&](const std::string& p, const Inode& n) { a.push_back({p, &n}); });
  other.walk([&](const std::string& p, const Inode& n) {
    b.push_back({p, &n});
  });
  if (a.size() != b.size())
    return false;

  for (size_t i = 0; i < a.size(); ++i) {
    const Inode& x = *a[i].node;
    const Inode& y = *b[i].node;
    if (a[i].path != b[i].path || x.mode != y.mode || x.uid != y.uid ||
        x.gid != y.gid || x.nlink != y.nlink || x.rdev != y.rdev ||
        x.data != y.data || x.xattrs != y.xattrs || x.atime != y.atime ||
        x.mtime != y.mtime || x.ctime != y.ctime ||
        mine.at(x.ino) != theirs.at(y.ino))
      return false;
  }
  return true;
}

const char* type_name(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return "file";
    case S_IFDIR:
      return "dir";
    case S_IFLNK:
      return "symlink";
    case S_IFCHR:
      return "chardev";
    case S_IFBLK:
      return "blockdev";
    case S_IFIFO:
      return "fifo";
    case S_IFSOCK:
      return "socket";
  }
  return "unknown";
}

}  // namespace ovlsim::model
