#include "trace/expect.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "model/result.h"
#include "model/xattr.h"
#include "trace/syntax.h"

namespace ovlsim::trace {

namespace {

std::string format_stat(const ExpectedStat& st) {
  std::string out =
      fmt::format("{} {:04o}", model::type_name(st.mode), st.mode & 07777);
  if (st.uid)
    out += fmt::format(" uid={}", *st.uid);
  if (st.gid)
    out += fmt::format(" gid={}", *st.gid);
  if (st.size)
    out += fmt::format(" size={}", *st.size);
  if (st.nlink)
    out += fmt::format(" nlink={}", *st.nlink);
  if (st.rdev)
    out += fmt::format(" rdev={}:{}", major(*st.rdev), minor(*st.rdev));
  return out;
}

ExpectedStat stat_of(const model::Stat& st) {
  ExpectedStat e;
  e.mode = st.mode;
  e.uid = st.uid;
  e.gid = st.gid;
  // A directory's size belongs to the filesystem below (tmpfs counts its
  // entries, ext4 its blocks), so a recorded stat leaves it out.
  if (!S_ISDIR(st.mode))
    e.size = st.size;
  e.nlink = st.nlink;
  if (S_ISCHR(st.mode) || S_ISBLK(st.mode))
    e.rdev = st.rdev;
  return e;
}

bool stat_matches(const ExpectedStat& e, const model::Stat& st) {
  return e.mode == st.mode && (!e.uid || *e.uid == st.uid) &&
         (!e.gid || *e.gid == st.gid) && (!e.size || *e.size == st.size) &&
         (!e.nlink || *e.nlink == st.nlink) && (!e.rdev || *e.rdev == st.rdev);
}

// The listing without "." and "..", sorted by name.
std::vector<ExpectedDirent> dirents_of(const std::vector<model::Dirent>& in) {
  std::vector<ExpectedDirent> out;
  for (const model::Dirent& d : in)
    if (d.name != "." && d.name != "..")
      out.push_back({d.name, d.type});
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

bool has_dots(const std::vector<model::Dirent>& in) {
  int dots = 0;
  for (const model::Dirent& d : in)
    if (d.name == "." || d.name == "..")
      ++dots;
  return dots == 2;
}

std::string format_names(const std::vector<std::string>& names) {
  std::vector<std::string> words;
  for (const std::string& n : names)
    words.push_back(syntax::word(n));
  return fmt::format("[{}]", fmt::join(words, " "));
}

std::string format_dirents(const std::vector<ExpectedDirent>& dirents) {
  std::vector<std::string> words;
  for (const ExpectedDirent& d : dirents)
    words.push_back(
        syntax::word(fmt::format("{}:{}", d.name, syntax::dtype_name(d.type))));
  return fmt::format("[{}]", fmt::join(words, " "));
}

// A value of an Outcome in the shape of an expectation.
Expected::Value value_of(const Outcome::Value& value) {
  if (auto* st = std::get_if<model::Stat>(&value))
    return stat_of(*st);
  if (auto* s = std::get_if<std::string>(&value))
    return *s;
  if (auto* names = std::get_if<std::vector<std::string>>(&value)) {
    std::vector<std::string> sorted = *names;
    std::sort(sorted.begin(), sorted.end());
    return sorted;
  }
  if (auto* d = std::get_if<std::vector<model::Dirent>>(&value))
    return dirents_of(*d);
  if (auto* n = std::get_if<std::size_t>(&value))
    return *n;
  return std::monostate{};
}

}  // namespace

bool matches(const Expected& expected, OpKind kind, const Outcome& actual) {
  (void)kind;
  if (expected.err != actual.err)
    return false;
  if (actual.err != 0)
    return true;
  if (std::holds_alternative<std::monostate>(expected.value))
    return true;

  if (auto* e = std::get_if<ExpectedStat>(&expected.value)) {
    auto* st = std::get_if<model::Stat>(&actual.value);
    return st && stat_matches(*e, *st);
  }
  if (auto* e = std::get_if<std::vector<ExpectedDirent>>(&expected.value)) {
    auto* d = std::get_if<std::vector<model::Dirent>>(&actual.value);
    return d && has_dots(*d) && dirents_of(*d) == *e;
  }
  return value_of(actual.value) == expected.value;
}

Expected expected_from(OpKind kind, const Outcome& actual) {
  (void)kind;
  Expected e;
  e.err = actual.err;
  if (actual.err == 0)
    e.value = value_of(actual.value);
  return e;
}

std::string format_expected(const Expected& e) {
  if (e.err != 0)
    return model::errno_name(e.err);
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>)
          return "ok";
        else if constexpr (std::is_same_v<T, ExpectedStat>)
          return format_stat(v);
        else if constexpr (std::is_same_v<T, std::string>)
          return syntax::quote(v);
        else if constexpr (std::is_same_v<T, std::vector<std::string>>)
          return format_names(v);
        else if constexpr (std::is_same_v<T, std::vector<ExpectedDirent>>)
          return format_dirents(v);
        else
          return fmt::format("{}", v);
      },
      e.value);
}

std::string format_outcome(OpKind kind, const Outcome& actual) {
  return format_expected(expected_from(kind, actual));
}

// ---- Trees.

namespace {

std::string describe(const model::InodeAttrs& a) {
  mode_t type = a.mode & S_IFMT;
  if (type == S_IFCHR && a.rdev == makedev(0, 0) && (a.mode & 07777) == 0)
    return "whiteout";
  return model::type_name(a.mode);
}

model::InodeAttrs attrs_of(const model::Inode& node) {
  model::InodeAttrs a;
  a.mode = node.mode;
  a.uid = node.uid;
  a.gid = node.gid;
  a.rdev = node.rdev;
  a.data = node.data;
  a.xattrs = node.xattrs;
  return a;
}

bool by_presence(const std::string& name, const TreeCompare& how) {
  return name == how.overlay_prefix + std::string(model::kOrigin) ||
         name == how.overlay_prefix + std::string(model::kUuid);
}

std::string show_xattrs(const model::Xattrs& xattrs) {
  std::vector<std::string> parts;
  for (const auto& [name, value] : xattrs)
    parts.push_back(name + "=" + syntax::quote(value));
  if (parts.empty())
    return "none";
  return fmt::format("{}", fmt::join(parts, " "));
}

struct FlatNode {
  const model::Inode* node;
  std::size_t first_index;  // walk position of the inode's first name
  std::string first_name;   // the path of the inode's first name
};

std::map<std::string, FlatNode> flatten(const model::Layer& layer) {
  std::map<std::string, FlatNode> out;
  std::map<model::InodeNumber, std::pair<std::size_t, std::string>> first;
  std::size_t index = 0;
  layer.walk([&](const std::string& path, const model::Inode& node) {
    auto [it, inserted] =
        first.emplace(node.ino, std::make_pair(index++, path));
    out.emplace(path, FlatNode{&node, it->second.first, it->second.second});
  });
  return out;
}

}  // namespace

std::optional<std::string> diff_object(
    const std::string& path, const std::optional<model::InodeAttrs>& expected,
    const std::optional<model::InodeAttrs>& actual, const TreeCompare& how) {
  if (!expected && !actual)
    return std::nullopt;
  if (!expected)
    return fmt::format("{}: expected nothing, found {}", path,
                       describe(*actual));
  if (!actual)
    return fmt::format("{}: expected {}, found nothing", path,
                       describe(*expected));

  const model::InodeAttrs& e = *expected;
  const model::InodeAttrs& a = *actual;
  if ((e.mode & S_IFMT) != (a.mode & S_IFMT) || describe(e) != describe(a))
    return fmt::format("{}: expected {}, found {}", path, describe(e),
                       describe(a));
  if ((e.mode & 07777) != (a.mode & 07777))
    return fmt::format("{}: expected mode {:04o}, found {:04o}", path,
                       e.mode & 07777, a.mode & 07777);
  if (e.uid != a.uid || e.gid != a.gid)
    return fmt::format("{}: expected owner {}:{}, found {}:{}", path, e.uid,
                       e.gid, a.uid, a.gid);
  if (e.rdev != a.rdev)
    return fmt::format("{}: expected device {}:{}, found {}:{}", path,
                       major(e.rdev), minor(e.rdev), major(a.rdev),
                       minor(a.rdev));
  if (e.data != a.data)
    return fmt::format("{}: expected {} {}, found {}", path,
                       S_ISLNK(e.mode) ? "target" : "content",
                       syntax::quote(e.data), syntax::quote(a.data));

  model::Xattrs ex = e.xattrs, ax = a.xattrs;
  for (auto* side : {&ex, &ax})
    for (auto& [name, value] : *side)
      if (by_presence(name, how))
        value.clear();
  if (ex != ax)
    return fmt::format("{}: expected xattrs {}, found {}", path,
                       show_xattrs(e.xattrs), show_xattrs(a.xattrs));
  return std::nullopt;
}

std::optional<std::string> diff_trees(const model::Layer& expected,
                                      const model::Layer& actual,
                                      const TreeCompare& how) {
  std::map<std::string, FlatNode> e = flatten(expected);
  std::map<std::string, FlatNode> a = flatten(actual);

  // Walk both in path order, so the first difference is the shallowest.
  auto ei = e.begin();
  auto ai = a.begin();
  while (ei != e.end() || ai != a.end()) {
    if (ai == a.end() || (ei != e.end() && ei->first < ai->first)) {
      return diff_object(ei->first, attrs_of(*ei->second.node), std::nullopt,
                         how);
    }
    if (ei == e.end() || ai->first < ei->first) {
      return diff_object(ai->first, std::nullopt, attrs_of(*ai->second.node),
                         how);
    }
    if (auto diff = diff_object(ei->first, attrs_of(*ei->second.node),
                                attrs_of(*ai->second.node), how))
      return diff;
    const model::Inode& en = *ei->second.node;
    // Hard links compare by which names of the layer share an inode, not
    // by link counts: an inode in the index (HL-03) has a link outside the
    // layer, and whiteouts may share one inode on the kernel (WO-02).
    bool whiteout = describe(attrs_of(en)) == "whiteout";
    if (how.links && !en.is_dir() && !whiteout &&
        ei->second.first_name != ai->second.first_name) {
      auto link_of = [&](const std::string& first) {
        return first == ei->first ? std::string("an inode of its own")
                                  : "a hard link of " + first;
      };
      return fmt::format("{}: expected {}, found {}", ei->first,
                         link_of(ei->second.first_name),
                         link_of(ai->second.first_name));
    }
    ++ei;
    ++ai;
  }
  return std::nullopt;
}

}  // namespace ovlsim::trace
