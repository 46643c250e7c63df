// Properties of the model over random operation sequences on random small
// stacks: 1-3 lower layers of a few files, directories, symlinks,
// whiteouts and opaque directories, with or without an upper layer.
//
// A failure prints the shrunk stack and operations, one per line in the
// shape `op(args) = result`, with the seed rapidcheck needs to replay it.
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>
#include <catch2/catch.hpp>

#include "model/overlay.h"

namespace ovlsim::model {
namespace {

// ---- Random stacks.

const std::vector<std::string> kNames = {"a", "b", "c"};

enum class EntryKind {
  kFile,
  kDir,
  kSymlink,
  kWhiteout,
  kOpaqueDir,
  kXwhiteout,
  kXDir,  // a directory marked overlay.opaque=x
};

struct Entry {
  std::string path;  // absolute, 1 to 3 components
  EntryKind kind = EntryKind::kFile;
  std::string data;  // file content or symlink target
  bool xattr = false;
};

struct StackSpec {
  bool upper = false;
  std::vector<std::vector<Entry>> layers;  // upper first when `upper`
  int options = 0;                         // index into kOptions
};

// The mount options a run uses: the defaults, or one of the options that
// change what operations write.
const std::vector<std::string> kOptions = {"", "redirect_dir=on", "metacopy=on",
                                           "index=on"};

std::ostream& operator<<(std::ostream& os, const Entry& e) {
  static const char* kKinds[] = {"file",   "dir",       "symlink", "whiteout",
                                 "opaque", "xwhiteout", "xdir"};
  os << kKinds[static_cast<int>(e.kind)] << " " << e.path;
  if (!e.data.empty())
    os << " \"" << e.data << "\"";
  if (e.xattr)
    os << " +user.x";
  return os;
}

std::ostream& operator<<(std::ostream& os, const StackSpec& s) {
  os << "stack ("
     << (kOptions[s.options].empty() ? "defaults" : kOptions[s.options])
     << "):\n";
  for (std::size_t i = 0; i < s.layers.size(); ++i) {
    bool upper = s.upper && i == 0;
    os << "  "
       << (upper ? "upper" : fmt::format("lower{}", s.upper ? i : i + 1))
       << ":\n";
    for (const Entry& e : s.layers[i])
      os << "    " << e << "\n";
  }
  return os;
}

rc::Gen<std::string> gen_path() {
  return rc::gen::map(rc::gen::container<std::vector<std::string>>(
                          *rc::gen::inRange(1, 4), rc::gen::elementOf(kNames)),
                      [](const std::vector<std::string>& parts) {
                        std::string path;
                        for (const std::string& p : parts)
                          path += "/" + p;
                        return path;
                      });
}

rc::Gen<Entry> gen_entry() {
  return rc::gen::apply(
      [](std::string path, EntryKind kind, int data, bool xattr,
         std::string target) {
        Entry e{std::move(path), kind, "", xattr};
        if (kind == EntryKind::kFile)
          e.data = data == 0 ? "" : fmt::format("data{}", data);
        if (kind == EntryKind::kSymlink)
          e.data = data % 2 == 0 ? target : target.substr(1);
        return e;
      },
      gen_path(),
      rc::gen::weightedElement<EntryKind>({{6, EntryKind::kFile},
                                           {5, EntryKind::kDir},
                                           {2, EntryKind::kSymlink},
                                           {2, EntryKind::kWhiteout},
                                           {1, EntryKind::kOpaqueDir},
                                           {1, EntryKind::kXwhiteout},
                                           {1, EntryKind::kXDir}}),
      rc::gen::inRange(0, 4), rc::gen::arbitrary<bool>(), gen_path());
}

rc::Gen<StackSpec> gen_stack() {
  return rc::gen::apply(
      [](bool upper, std::vector<std::vector<Entry>> layers, int options) {
        StackSpec s;
        s.upper = upper;
        s.layers = std::move(layers);
        s.options = options;
        // A mount without upper needs two lower layers.
        if (!s.upper && s.layers.size() < 2)
          s.layers.emplace_back();
        if (s.upper && s.layers.size() < 2)
          s.layers.emplace_back();
        return s;
      },
      rc::gen::arbitrary<bool>(),
      rc::gen::container<std::vector<std::vector<Entry>>>(
          *rc::gen::inRange(1, 5), rc::gen::container<std::vector<Entry>>(
                                       *rc::gen::inRange(0, 7), gen_entry())),
      rc::gen::inRange(0, static_cast<int>(kOptions.size())));
}

// Creates `path` in the layer as `attrs`, with missing parents as
// directories; skips an entry whose parent is not a directory or whose name
// is taken.
void add_entry(Layer& layer, const Entry& e) {
  InodeNumber dir = layer.root();
  std::vector<std::string> parts;
  std::size_t pos = 1;
  while (pos <= e.path.size()) {
    std::size_t end = e.path.find('/', pos);
    if (end == std::string::npos)
      end = e.path.size();
    parts.push_back(e.path.substr(pos, end - pos));
    pos = end + 1;
  }
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    std::optional<InodeNumber> next = layer.lookup(dir, parts[i]);
    if (!next)
      next = layer.create(dir, parts[i], InodeAttrs{.mode = S_IFDIR | 0755});
    if (!layer.inode(*next).is_dir())
      return;
    dir = *next;
  }
  if (layer.lookup(dir, parts.back()))
    return;

  InodeAttrs attrs;
  switch (e.kind) {
    case EntryKind::kFile:
      attrs.mode = S_IFREG | 0644;
      attrs.data = e.data;
      break;
    case EntryKind::kDir:
      attrs.mode = S_IFDIR | 0755;
      break;
    case EntryKind::kSymlink:
      attrs.mode = S_IFLNK | 0777;
      attrs.data = e.data;
      break;
    case EntryKind::kWhiteout:
      attrs.mode = S_IFCHR;
      attrs.rdev = makedev(0, 0);
      break;
    case EntryKind::kOpaqueDir:
      attrs.mode = S_IFDIR | 0755;
      attrs.xattrs.emplace("trusted.overlay.opaque", "y");
      break;
    case EntryKind::kXwhiteout:
      attrs.mode = S_IFREG | 0644;
      attrs.xattrs.emplace("trusted.overlay.whiteout", "");
      break;
    case EntryKind::kXDir:
      attrs.mode = S_IFDIR | 0755;
      attrs.xattrs.emplace("trusted.overlay.opaque", "x");
      break;
  }
  if (e.xattr && (S_ISREG(attrs.mode) || S_ISDIR(attrs.mode)))
    attrs.xattrs.emplace("user.x", e.path);
  attrs.mtime = {100, 0};
  layer.create(dir, parts.back(), attrs);
}

Stack build(const StackSpec& spec) {
  Stack stack;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    Layer layer;
    for (const Entry& e : spec.layers[i])
      add_entry(layer, e);
    if (spec.upper && i == 0)
      stack.upper = std::move(layer);
    else
      stack.lowers.push_back(std::move(layer));
  }
  return stack;
}

MountOptions options_of(const StackSpec& spec) {
  MountOptions opts;
  if (!kOptions[spec.options].empty()) {
    Status applied = apply_option(opts, kOptions[spec.options]);
    RC_ASSERT(applied.ok());
  }
  return opts;
}

// ---- Random operations.

enum class OpKind {
  kStat,
  kLstat,
  kOpen,
  kWrite,
  kRead,
  kClose,
  kTruncate,
  kMkdir,
  kMknod,
  kSymlink,
  kReadlink,
  kUnlink,
  kRmdir,
  kChmod,
  kChown,
  kUtimens,
  kSetxattr,
  kRemovexattr,
  kGetxattr,
  kListxattr,
  kReaddir,
  kRename,
  kLink,
};

const char* kOpNames[] = {
    "stat",     "lstat",     "open",    "write",   "read",     "close",
    "truncate", "mkdir",     "mknod",   "symlink", "readlink", "unlink",
    "rmdir",    "chmod",     "chown",   "utimens", "setxattr", "removexattr",
    "getxattr", "listxattr", "readdir", "rename",  "link"};

struct Op {
  OpKind kind = OpKind::kStat;
  std::string path;
  std::string path2;
  int arg = 0;
};

std::ostream& operator<<(std::ostream& os, const Op& op) {
  os << kOpNames[static_cast<int>(op.kind)] << "(" << op.path;
  if (op.kind == OpKind::kRename || op.kind == OpKind::kLink ||
      op.kind == OpKind::kSymlink)
    os << ", " << op.path2;
  return os << ", " << op.arg << ")";
}

// Op paths name what the stack holds two times out of three.
rc::Gen<Op> gen_op(const std::vector<std::string>& known) {
  rc::Gen<std::string> path =
      known.empty() ? gen_path()
                    : rc::gen::weightedOneOf<std::string>(
                          {{2, rc::gen::elementOf(known)}, {1, gen_path()}});
  return rc::gen::apply(
      [](OpKind kind, std::string first, std::string second, int arg) {
        return Op{kind, std::move(first), std::move(second), arg};
      },
      rc::gen::weightedElement<OpKind>(
          {{1, OpKind::kStat},     {1, OpKind::kLstat},
           {4, OpKind::kOpen},     {2, OpKind::kWrite},
           {1, OpKind::kRead},     {1, OpKind::kClose},
           {1, OpKind::kTruncate}, {3, OpKind::kMkdir},
           {1, OpKind::kMknod},    {1, OpKind::kSymlink},
           {1, OpKind::kReadlink}, {4, OpKind::kUnlink},
           {3, OpKind::kRmdir},    {2, OpKind::kChmod},
           {1, OpKind::kChown},    {1, OpKind::kUtimens},
           {2, OpKind::kSetxattr}, {1, OpKind::kRemovexattr},
           {1, OpKind::kGetxattr}, {1, OpKind::kListxattr},
           {1, OpKind::kReaddir},  {3, OpKind::kRename},
           {1, OpKind::kLink}}),
      path, path, rc::gen::inRange(0, 8));
}

// The open(2) flags an Op's arg selects.
int open_flags(int arg) {
  static const int kFlags[] = {O_RDONLY,
                               O_WRONLY,
                               O_RDWR,
                               O_RDONLY | O_TRUNC,
                               O_CREAT | O_WRONLY,
                               O_CREAT | O_EXCL | O_RDWR,
                               O_WRONLY | O_APPEND,
                               O_RDONLY | O_DIRECTORY};
  return kFlags[arg % 8];
}

// Applies one operation and says how it went, as "ok" or an errno name.
// Descriptors are kept in `fds`; write, read and close use fds[arg].
class Runner {
 public:
  explicit Runner(Overlay& ovl) : ovl_(ovl) {}

  template <typename T>
  std::string outcome(const Result<T>& r) {
    return r.ok() ? "ok" : errno_name(r.err());
  }

  std::string apply(const Op& op) {
    switch (op.kind) {
      case OpKind::kStat:
        return outcome(ovl_.stat(op.path));
      case OpKind::kLstat:
        return outcome(ovl_.lstat(op.path));
      case OpKind::kOpen: {
        Result<int> fd = ovl_.open(op.path, open_flags(op.arg), 0644);
        if (fd.ok())
          fds_.push_back(*fd);
        return outcome(fd);
      }
      case OpKind::kWrite:
        if (fds_.empty())
          return "no fd";
        return outcome(
            ovl_.write(fds_[op.arg % fds_.size()], fmt::format("w{}", op.arg)));
      case OpKind::kRead:
        if (fds_.empty())
          return "no fd";
        return outcome(ovl_.read(fds_[op.arg % fds_.size()], 16));
      case OpKind::kClose: {
        if (fds_.empty())
          return "no fd";
        std::size_t i = op.arg % fds_.size();
        Status closed = ovl_.close(fds_[i]);
        fds_.erase(fds_.begin() + static_cast<long>(i));
        return outcome(closed);
      }
      case OpKind::kTruncate:
        return outcome(ovl_.truncate(op.path, op.arg));
      case OpKind::kMkdir:
        return outcome(ovl_.mkdir(op.path, 0755));
      case OpKind::kMknod:
        return outcome(ovl_.mknod(op.path, S_IFIFO | 0644, 0));
      case OpKind::kSymlink:
        return outcome(ovl_.symlink(op.path2, op.path));
      case OpKind::kReadlink:
        return outcome(ovl_.readlink(op.path));
      case OpKind::kUnlink:
        return outcome(ovl_.unlink(op.path));
      case OpKind::kRmdir:
        return outcome(ovl_.rmdir(op.path));
      case OpKind::kChmod:
        return outcome(ovl_.chmod(op.path, 0700 | op.arg));
      case OpKind::kChown:
        return outcome(ovl_.chown(op.path, op.arg, op.arg,
                                  op.arg % 2 ? Follow::kYes : Follow::kNo));
      case OpKind::kUtimens:
        return outcome(ovl_.utimens(op.path, {op.arg, 0}, {0, UTIME_NOW}));
      case OpKind::kSetxattr:
        return outcome(ovl_.setxattr(
            op.path, op.arg % 2 ? "user.x" : "trusted.overlay.opaque", "y"));
      case OpKind::kRemovexattr:
        return outcome(ovl_.removexattr(op.path, "user.x"));
      case OpKind::kGetxattr:
        return outcome(ovl_.getxattr(op.path, "user.x"));
      case OpKind::kListxattr:
        return outcome(ovl_.listxattr(op.path));
      case OpKind::kReaddir:
        return outcome(ovl_.readdir(op.path));
      case OpKind::kRename:
        return rename(op);
      case OpKind::kLink:
        return outcome(ovl_.link(op.path, op.path2));
    }
    return "unknown op";
  }

  // True for an op that may make a name exist.
  static bool creates(const Op& op) {
    switch (op.kind) {
      case OpKind::kOpen:
        return (open_flags(op.arg) & O_CREAT) != 0;
      case OpKind::kMkdir:
      case OpKind::kMknod:
      case OpKind::kSymlink:
      case OpKind::kRename:
      case OpKind::kLink:
        return true;
      default:
        return false;
    }
  }

 private:
  std::string rename(const Op& op) {
    unsigned flags = op.arg % 4 == 1   ? RENAME_NOREPLACE
                     : op.arg % 4 == 2 ? RENAME_EXCHANGE
                                       : 0;
    // The model asserts when a directory replaces a merged directory that
    // holds only whiteouts (rename_test's RN-06 case): leave that one out
    // until the model clears the replaced directory.
    Result<Stat> from = ovl_.lstat(op.path);
    Result<Stat> to = ovl_.lstat(op.path2);
    if (flags == 0 && from.ok() && to.ok() && S_ISDIR(from->mode) &&
        S_ISDIR(to->mode)) {
      Result<std::vector<Dirent>> entries = ovl_.readdir(op.path2);
      if (entries.ok() && entries->size() == 2)
        return "skipped";
    }
    return outcome(ovl_.rename(op.path, op.path2, flags));
  }

  Overlay& ovl_;
  std::vector<int> fds_;
};

// ---- The merged view, as a process sees it.

struct View {
  std::map<std::string, std::string> objects;  // path -> description

  bool operator==(const View&) const = default;
};

std::string describe(Overlay& ovl, const std::string& path, const Stat& st) {
  std::string out =
      fmt::format("{:o} {}:{} n{} r{} s{} m{}.{}", st.mode, st.uid, st.gid,
                  st.nlink, st.rdev, st.size, st.mtime.sec, st.mtime.nsec);
  if (S_ISLNK(st.mode)) {
    Result<std::string> target = ovl.readlink(path);
    out += " -> " + (target.ok() ? *target : errno_name(target.err()));
  }
  if (S_ISREG(st.mode)) {
    Result<int> fd = ovl.open(path, O_RDONLY);
    if (fd.ok()) {
      Result<std::string> data = ovl.read(*fd, 1 << 16);
      out += " \"" + (data.ok() ? *data : errno_name(data.err())) + "\"";
      Status closed = ovl.close(*fd);
      RC_ASSERT(closed.ok());
    } else {
      out += " open:" + errno_name(fd.err());
    }
  }
  Result<std::vector<std::string>> names = ovl.listxattr(path, Follow::kNo);
  if (names.ok()) {
    for (const std::string& name : *names) {
      Result<std::string> value = ovl.getxattr(path, name, Follow::kNo);
      out += " " + name + "=" + (value.ok() ? *value : errno_name(value.err()));
    }
  }
  if (S_ISDIR(st.mode)) {
    Result<std::vector<Dirent>> entries = ovl.readdir(path);
    if (entries.ok()) {
      out += " [";
      for (const Dirent& e : *entries)
        out += fmt::format("{}:{} ", e.name, e.type);
      out += "]";
    }
  }
  return out;
}

void collect(Overlay& ovl, const std::string& dir, View& view) {
  Result<std::vector<Dirent>> entries = ovl.readdir(dir);
  if (!entries.ok())
    return;
  for (const Dirent& e : *entries) {
    if (e.name == "." || e.name == "..")
      continue;
    std::string path = dir == "/" ? "/" + e.name : dir + "/" + e.name;
    Result<Stat> st = ovl.lstat(path);
    if (!st.ok()) {
      view.objects[path] = "listed, lstat " + errno_name(st.err());
      continue;
    }
    view.objects[path] = describe(ovl, path, *st);
    if (S_ISDIR(st->mode))
      collect(ovl, path, view);
  }
}

// Every object reachable by readdir from the root, described by lstat,
// readlink, content, xattrs and listing. Lookups can teach the model about
// xwhiteout layers (WO-06), so the view is taken after a first walk.
View view_of(Overlay& ovl) {
  View warm;
  collect(ovl, "/", warm);
  View view;
  Result<Stat> root = ovl.lstat("/");
  RC_ASSERT(root.ok());
  view.objects["/"] = describe(ovl, "/", *root);
  collect(ovl, "/", view);
  return view;
}

std::string show(const View& v) {
  std::string out;
  for (const auto& [path, what] : v.objects)
    out += "  " + path + ": " + what + "\n";
  return out;
}

// ---- Checks.

// True when some layer holds a whiteout of either format at `path`: then a
// real (non-merged) directory may list the name that lookup hides (DIR-01,
// WO-06).
bool whiteout_in_a_layer(const Overlay& ovl, const std::string& path) {
  auto is_whiteout = [&](const Layer& layer) {
    std::optional<InodeNumber> ino = layer.find(path);
    if (!ino)
      return false;
    const Inode& node = layer.inode(*ino);
    if (S_ISCHR(node.mode) && node.rdev == makedev(0, 0))
      return true;
    return node.is_reg() && node.data.empty() &&
           node.xattr("trusted.overlay.whiteout").has_value();
  };
  if (ovl.upper() != nullptr && is_whiteout(*ovl.upper()))
    return true;
  for (std::size_t i = 0; i < ovl.lower_count(); ++i)
    if (is_whiteout(ovl.lower(i)))
      return true;
  return false;
}

bool upper_has_redirects(const Overlay& ovl) {
  if (ovl.upper() == nullptr)
    return false;
  bool found = false;
  ovl.upper()->walk([&](const std::string&, const Inode& node) {
    found = found || node.xattr("trusted.overlay.redirect").has_value();
  });
  return found;
}

// Readdir and lookup agree: every listed name is found by lstat, but for
// whiteouts that real directories list, and every name lstat finds is
// listed exactly once by its parent.
void check_readdir_matches_lookup(Overlay& ovl, const std::string& dir,
                                  int depth) {
  Result<std::vector<Dirent>> entries = ovl.readdir(dir);
  if (!entries.ok())
    return;

  std::map<std::string, int> listed;
  for (const Dirent& e : *entries)
    listed[e.name]++;
  RC_ASSERT(listed["."] == 1);
  RC_ASSERT(listed[".."] == 1);

  for (const auto& [name, count] : listed) {
    RC_ASSERT(count == 1);
    if (name == "." || name == "..")
      continue;
    std::string path = dir == "/" ? "/" + name : dir + "/" + name;
    Result<Stat> st = ovl.lstat(path);
    if (!st.ok()) {
      RC_ASSERT(st.err() == ENOENT);
      RC_ASSERT(whiteout_in_a_layer(ovl, path) || upper_has_redirects(ovl));
      continue;
    }
    if (S_ISDIR(st->mode) && depth < 4)
      check_readdir_matches_lookup(ovl, path, depth + 1);
  }

  for (const std::string& name : kNames) {
    std::string path = dir == "/" ? "/" + name : dir + "/" + name;
    if (ovl.lstat(path).ok())
      RC_ASSERT(listed[name] == 1);
  }
}

// The object at `path` through the overlay, as copy-up must keep it.
struct Preserved {
  mode_t mode;
  uid_t uid;
  gid_t gid;
  std::string data;
  std::map<std::string, std::string> xattrs;

  bool operator==(const Preserved&) const = default;
};

Preserved preserved(Overlay& ovl, const std::string& path, const Stat& st) {
  Preserved p{st.mode, st.uid, st.gid, "", {}};
  if (S_ISLNK(st.mode))
    p.data = *ovl.readlink(path);
  if (S_ISREG(st.mode)) {
    Result<int> fd = ovl.open(path, O_RDONLY);
    RC_ASSERT(fd.ok());
    p.data = *ovl.read(*fd, 1 << 16);
    RC_ASSERT(ovl.close(*fd).ok());
  }
  Result<std::vector<std::string>> names = ovl.listxattr(path, Follow::kNo);
  RC_ASSERT(names.ok());
  for (const std::string& name : *names)
    p.xattrs[name] = *ovl.getxattr(path, name, Follow::kNo);
  return p;
}

// A random stack, mounted, with its layers kept to compare.
struct Mounted {
  StackSpec spec;
  Stack original;
  Overlay ovl;
};

std::optional<Mounted> mount_random(bool upper = false) {
  StackSpec spec = *gen_stack();
  if (upper && !spec.upper) {
    spec.upper = true;
    spec.layers.insert(spec.layers.begin(), std::vector<Entry>());
  }
  RC_TAG(spec.upper ? "upper" : "no upper");
  RC_LOG() << spec;
  Stack stack = build(spec);
  Stack original = stack;
  Result<Overlay> ovl = Overlay::mount(std::move(stack), options_of(spec));
  RC_ASSERT(ovl.ok());
  return Mounted{spec, std::move(original), std::move(ovl).value()};
}

// Runs random operations, logging each as `op(args) = result`.
void run_ops(
    Overlay& ovl, const std::vector<Op>& ops,
    const std::function<void(const Op&, const std::string&)>& after = nullptr) {
  Runner runner(ovl);
  for (const Op& op : ops) {
    std::string result = runner.apply(op);
    RC_LOG() << op << " = " << result << "\n";
    if (after)
      after(op, result);
  }
}

// Every path that a layer of the spec names, and its parents.
std::vector<std::string> known_paths(const StackSpec& spec) {
  std::set<std::string> known;
  for (const std::vector<Entry>& layer : spec.layers) {
    for (const Entry& e : layer) {
      for (std::size_t slash = e.path.find('/', 1); slash != std::string::npos;
           slash = e.path.find('/', slash + 1))
        known.insert(e.path.substr(0, slash));
      known.insert(e.path);
    }
  }
  return {known.begin(), known.end()};
}

std::vector<Op> random_ops(const StackSpec& spec) {
  return *rc::gen::container<std::vector<Op>>(*rc::gen::inRange(0, 41),
                                              gen_op(known_paths(spec)));
}

// Runs random operations on `m`, then picks the two names of a rename:
// each a path the stack knows, or a new one.
std::pair<std::string, std::string> random_rename(Mounted& m) {
  run_ops(m.ovl, random_ops(m.spec), nullptr);
  std::vector<std::string> known = known_paths(m.spec);
  known.push_back("/new");
  return {*rc::gen::elementOf(known), *rc::gen::elementOf(known)};
}

TEST_CASE("model properties over random stacks and operations",
          "[properties]") {
  rc::prop("lower layers are never modified (LK-13)", [] {
    std::optional<Mounted> m = mount_random();
    run_ops(m->ovl, random_ops(m->spec));
    view_of(m->ovl);
    for (std::size_t i = 0; i < m->original.lowers.size(); ++i)
      RC_ASSERT(m->ovl.lower(i).same_tree(m->original.lowers[i]));
    Stack back = std::move(m->ovl).unmount();
    RC_ASSERT(back.lowers.size() == m->original.lowers.size());
    RC_ASSERT(back.upper.has_value() == m->spec.upper);
  });

  rc::prop(
      "readdir lists exactly the names lookup finds (DIR-01, DIR-02, "
      "WO-06)",
      [] {
        std::optional<Mounted> m = mount_random();
        run_ops(m->ovl, random_ops(m->spec));
        check_readdir_matches_lookup(m->ovl, "/", 0);
      });

  rc::prop(
      "an unlinked name stays gone until something creates a name "
      "(RM-01)",
      [] {
        std::optional<Mounted> m = mount_random();
        Overlay& ovl = m->ovl;
        std::set<std::string> gone;
        run_ops(ovl, random_ops(m->spec),
                [&](const Op& op, const std::string& result) {
                  bool created = Runner::creates(op) && result == "ok";
                  for (auto it = gone.begin(); it != gone.end();) {
                    if (ovl.lstat(*it).ok()) {
                      RC_ASSERT(created);
                      it = gone.erase(it);
                    } else {
                      ++it;
                    }
                  }
                  if (op.kind == OpKind::kUnlink && result == "ok") {
                    RC_ASSERT(ovl.lstat(op.path).err() == ENOENT);
                    gone.insert(op.path);
                  }
                });
      });

  rc::prop("copy-up preserves content, mode, owner and xattrs (CU-04)", [] {
    std::optional<Mounted> m = mount_random(/*upper=*/true);
    Overlay& ovl = m->ovl;
    run_ops(ovl, random_ops(m->spec));

    // Copy up whatever still comes from a lower layer with an xattr that
    // no other check looks at.
    std::vector<std::string> lower_paths;
    View view = view_of(ovl);
    for (const auto& [path, what] : view.objects) {
      Result<Stat> st = ovl.lstat(path);
      if (st.ok() && st->layer != 0)
        lower_paths.push_back(path);
    }
    RC_CLASSIFY(lower_paths.empty(), "nothing left in lower layers");
    for (const std::string& path : lower_paths) {
      Result<Stat> before = ovl.lstat(path);
      if (!before.ok() || before->layer == 0)
        continue;  // copied up with a parent, or gone
      Preserved kept = preserved(ovl, path, *before);
      Status set = ovl.setxattr(path, "trusted.probe", "1", 0, Follow::kNo);
      RC_ASSERT(set.ok());
      Result<Stat> after = ovl.lstat(path);
      RC_ASSERT(after.ok());
      RC_ASSERT(after->layer == 0u);
      Preserved now = preserved(ovl, path, *after);
      RC_ASSERT(now.xattrs.erase("trusted.probe") == 1u);
      RC_ASSERT(now == kept);
    }
  });

  rc::prop(
      "a rename changes nothing that neither name leads to (RN-02, RN-09)", [] {
        std::optional<Mounted> m = mount_random(/*upper=*/true);
        Overlay& ovl = m->ovl;
        auto [from, to] = random_rename(*m);
        View before = view_of(ovl);
        std::map<std::string, Result<Stat>> before_stats, before_dirs;
        for (const auto& [path, what] : before.objects) {
          before_stats.emplace(path, ovl.lstat(path));
          for (std::size_t slash = path.find('/', 1);
               slash != std::string::npos; slash = path.find('/', slash + 1))
            before_dirs.emplace(path.substr(0, slash),
                                ovl.stat(path.substr(0, slash)));
        }
        // What the rename may change: the objects the two names lead
        // to and everything below them, and the directories above the
        // names, which it copies up. Symlinks can lead to all of these
        // by other paths, so they are known by inode number.
        std::set<InodeNumber> moved, parents;
        for (const std::string& name : {from, to}) {
          if (Result<Stat> st = ovl.lstat(name); st.ok())
            moved.insert(st->ino);
          std::string dir = name.substr(0, name.rfind('/'));
          for (int depth = 0; depth < 64; ++depth, dir += "/..") {
            Result<Stat> st = ovl.stat(dir.empty() ? "/" : dir);
            if (!st.ok() || !parents.insert(st->ino).second)
              break;
          }
        }

        Status renamed = ovl.rename(from, to, 0);
        RC_TAG(renamed.ok() ? "renamed" : "refused");
        View after = view_of(ovl);
        auto related = [&](const std::string& path) {
          for (const std::string& name : {from, to}) {
            if (path == name || path.starts_with(name + "/") ||
                name.starts_with(path == "/" ? path : path + "/"))
              return true;
          }
          // A name that readdir lists and lookup does not find (a
          // whiteout in a directory that is not merged) goes when its
          // directory is copied up and becomes merged.
          Result<Stat> st = before_stats.at(path);
          if (!st.ok() || moved.count(st->ino) || parents.count(st->ino))
            return true;
          for (std::size_t slash = path.find('/', 1);
               slash != std::string::npos; slash = path.find('/', slash + 1))
            if (Result<Stat> up = before_dirs.at(path.substr(0, slash));
                up.ok() && moved.count(up->ino))
              return true;
          return false;
        };
        for (const auto& [path, what] : before.objects) {
          if (related(path))
            continue;
          RC_LOG() << "checking " << path << "\n";
          RC_ASSERT(after.objects.count(path) == 1u);
          RC_ASSERT(after.objects.at(path) == what);
        }
      });

  rc::prop(
      "after a rename the target is what the source was, and the source "
      "is gone (RN-02)",
      [] {
        std::optional<Mounted> m = mount_random(/*upper=*/true);
        Overlay& ovl = m->ovl;
        auto [from, to] = random_rename(*m);
        Result<Stat> src = ovl.lstat(from);
        RC_PRE(src.ok());
        Result<Stat> dst = ovl.lstat(to);
        RC_PRE(from != to && (!dst.ok() || dst->ino != src->ino));
        Preserved was = preserved(ovl, from, *src);

        Status renamed = ovl.rename(from, to, 0);
        RC_TAG(renamed.ok() ? "renamed" : "refused");
        if (!renamed.ok())
          return;
        RC_ASSERT(ovl.lstat(from).err() == ENOENT);
        Result<Stat> now = ovl.lstat(to);
        RC_ASSERT(now.ok());
        RC_ASSERT(preserved(ovl, to, *now) == was);
      });

  rc::prop(
      "the merged view equals the view of the same layers mounted "
      "again",
      [] {
        std::optional<Mounted> m = mount_random();
        run_ops(m->ovl, random_ops(m->spec));
        View before = view_of(m->ovl);
        Stack stack = std::move(m->ovl).unmount();
        Result<Overlay> again =
            Overlay::mount(std::move(stack), options_of(m->spec));
        RC_ASSERT(again.ok());
        View after = view_of(again.value());
        RC_LOG() << "before:\n" << show(before) << "after:\n" << show(after);
        RC_ASSERT(before == after);
      });
}

TEST_CASE("model properties of hard links under index=on",
          "[properties][links]") {
  rc::prop(
      "every name of an indexed lower hard link keeps its inode number "
      "across copy-up (HL-03)",
      [] {
        // One lower file with two to four names, and random changes
        // through random names.
        int names = *rc::gen::inRange(2, 5);
        RC_TAG(fmt::format("{} names", names));
        std::vector<std::string> paths = {"/a", "/b", "/d/c", "/d/e"};
        paths.resize(static_cast<std::size_t>(names));
        Layer lower;
        InodeAttrs attrs;
        attrs.mode = S_IFREG | 0644;
        attrs.data = "data";
        InodeNumber file = lower.create(lower.root(), "a", attrs);
        InodeAttrs dir;
        dir.mode = S_IFDIR | 0755;
        InodeNumber d = lower.create(lower.root(), "d", dir);
        for (std::size_t i = 1; i < paths.size(); ++i) {
          std::string_view path = paths[i];
          InodeNumber parent = path.starts_with("/d/") ? d : lower.root();
          lower.link(parent, path.substr(path.rfind('/') + 1), file);
        }
        Stack stack;
        stack.upper = Layer();
        stack.lowers = {std::move(lower)};
        MountOptions opts;
        RC_ASSERT(apply_option(opts, "index=on").ok());
        Result<Overlay> mounted = Overlay::mount(std::move(stack), opts);
        RC_ASSERT(mounted.ok());
        Overlay& ovl = mounted.value();
        InodeNumber ino = ovl.lstat("/a")->ino;

        int changes = *rc::gen::inRange(1, 6);
        for (int i = 0; i < changes; ++i) {
          std::string path = *rc::gen::elementOf(paths);
          switch (*rc::gen::inRange(0, 4)) {
            case 0:
              RC_ASSERT(ovl.chmod(path, 0600).ok());
              break;
            case 1:
              RC_ASSERT(ovl.truncate(path, 2).ok());
              break;
            case 2:
              RC_ASSERT(ovl.setxattr(path, "user.x", "1", 0).ok());
              break;
            default: {
              Result<int> fd = ovl.open(path, O_WRONLY | O_APPEND);
              RC_ASSERT(fd.ok());
              RC_ASSERT(ovl.write(*fd, "+").ok());
              RC_ASSERT(ovl.close(*fd).ok());
            }
          }
          for (const std::string& name : paths) {
            Result<Stat> st = ovl.lstat(name);
            RC_ASSERT(st.ok());
            RC_ASSERT(st->ino == ino);
            RC_ASSERT(st->nlink == static_cast<nlink_t>(names));
          }
        }
      });
}

}  // namespace
}  // namespace ovlsim::model
