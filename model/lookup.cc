#include "model/lookup.h"

#include <charconv>
#include <forward_list>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "model/whiteout.h"

namespace ovlsim::model {

namespace {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t end = path.find('/', pos);
    if (end == std::string_view::npos)
      end = path.size();
    if (end > pos)
      parts.emplace_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return parts;
}

// Pushes the components of `path` on the stack `out`, so that the first
// component is popped first.
void push_components(std::string_view path,
                     std::vector<std::string_view>& out) {
  std::size_t end = path.size();
  while (end > 0) {
    std::size_t slash = path.rfind('/', end - 1);
    std::size_t begin = slash == std::string_view::npos ? 0 : slash + 1;
    if (end > begin)
      out.push_back(path.substr(begin, end - begin));
    if (slash == std::string_view::npos)
      break;
    end = slash;
  }
}

// The object at the '/'-separated `name` below `dir` in one layer, as
// ovl_lookup_layer() walks a multi-component redirect. Sets `stop` when an
// intermediate component ends the search for every layer below.
std::optional<InodeNumber> lookup_in_layer(const OvlFs& fs, LayerRef dir,
                                           std::string_view name, bool& stop) {
  const Layer& layer = fs.layer(dir.layer);
  if (name.find('/') == std::string_view::npos)
    return layer.lookup(dir.ino, name);

  std::vector<std::string> parts = split_path(name);
  InodeNumber cur = dir.ino;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    std::optional<InodeNumber> next = layer.lookup(cur, parts[i]);
    if (!next)
      return std::nullopt;
    bool last = i + 1 == parts.size();
    if (last)
      return next;

    const Inode& node = layer.inode(*next);
    if (!node.is_dir() || is_any_whiteout(fs, node)) {
      stop = true;
      return std::nullopt;
    }
    cur = *next;
  }
  return std::nullopt;
}

// The name to look up in the layers below, after a redirect `value` met at
// lookup name `current`: an absolute redirect replaces the whole path, a
// relative one only the last component.
std::string apply_redirect(std::string_view current, std::string_view value,
                           bool& from_root) {
  if (value.starts_with('/')) {
    from_root = true;
    return std::string(value.substr(1));
  }
  std::size_t slash = current.rfind('/');
  if (slash == std::string_view::npos)
    return std::string(value);
  return std::string(current.substr(0, slash + 1)) + std::string(value);
}

}  // namespace

std::string origin_marker(const OvlFs& fs, LayerRef origin) {
  if (!fs.file_handles())
    return "";
  return fmt::format("lower{}:{}", origin.layer, origin.ino);
}

std::optional<LayerRef> decode_origin(const OvlFs& fs, std::string_view value) {
  // "lower<layer>:<ino>", as origin_marker() writes it.
  constexpr std::string_view kPrefix = "lower";
  if (!value.starts_with(kPrefix))
    return std::nullopt;
  std::size_t layer = 0;
  InodeNumber ino = 0;
  const char* end = value.data() + value.size();
  auto [colon, err1] =
      std::from_chars(value.data() + kPrefix.size(), end, layer);
  if (err1 != std::errc() || colon == end || *colon != ':')
    return std::nullopt;
  auto [last, err2] = std::from_chars(colon + 1, end, ino);
  if (err2 != std::errc() || last != end)
    return std::nullopt;
  if (layer == 0 || layer >= fs.layer_count())
    return std::nullopt;
  if (!fs.layer(layer).contains(ino) || !fs.origin_followed(layer))
    return std::nullopt;
  return LayerRef{layer, ino};
}

namespace {

// The last step of a lookup: a merged directory whose upper half lacks an
// origin gets one, and its parent becomes impure (ovl_fix_origin).
OvlDentry finish_lookup(OvlFs& fs, OvlDentry& parent, OvlDentry& d,
                        bool is_dir) {
  if (d.upper && is_dir && !d.lower.empty()) {
    Inode& upper = fs.upper_inode(*d.upper);
    if (!fs.get_private(upper, kOrigin)) {
      fs.set_private(upper, kOrigin, origin_marker(fs, d.lower.front()));
      fs.set_private(fs.upper_inode(*parent.upper), kImpure, "y");
      fs.log(EventKind::kXattr, d.name, 0,
             "lookup added overlay.origin to the merged directory and "
             "marked its parent impure");
    }
  }
  // A lower name of an indexed inode finds the index entry: it is the
  // upper copy that another of its names made (HL-03).
  if (!d.upper && !is_dir && !d.lower.empty() && fs.options().index)
    d.index = fs.indexed(d.lower.front());
  return std::move(d);
}

}  // namespace

Result<OvlDentry> ovl_lookup(OvlFs& fs, OvlDentry& parent,
                             std::string_view name) {
  OvlDentry d;
  d.name = std::string(name);
  std::string lookup_name(name);
  bool from_root = false;
  bool stop = false;
  bool is_dir = false;
  bool redirected = false;
  // The object found so far is a metacopy file whose data lies below.
  bool need_data = false;

  // The upper layer first.
  if (parent.upper) {
    std::optional<InodeNumber> ino = fs.layer(0).lookup(*parent.upper, name);
    if (ino) {
      const Inode& node = fs.layer(0).inode(*ino);
      if (is_any_whiteout(fs, node))
        return d;
      d.upper = ino;
      is_dir = node.is_dir();
      if (is_dir) {
        d.opaque = opaque_value(fs, 0, node) == Opaque::kYes;
        stop = d.opaque;
        if (const std::string* redirect = fs.get_private(node, kRedirect);
            redirect && !stop) {
          lookup_name = apply_redirect(lookup_name, *redirect, from_root);
          redirected = true;
        }
      } else if (fs.get_private(node, kMetacopy)) {
        if (!fs.options().metacopy)
          return fs.fail(EPERM, "refusing to follow metacopy origin");
        need_data = true;
        if (const std::string* redirect = fs.get_private(node, kRedirect))
          lookup_name = apply_redirect(lookup_name, *redirect, from_root);
      } else {
        stop = true;
      }
    }
  }

  // Then each lower directory of the parent's merge, top to bottom.
  std::vector<LayerRef> roots;
  if (!stop && from_root) {
    for (std::size_t i = 1; i <= fs.lowest(); ++i)
      roots.push_back({i, fs.layer(i).root()});
  }
  const std::vector<LayerRef>& dirs = from_root ? roots : parent.lower;
  if (stop)
    return finish_lookup(fs, parent, d, is_dir);
  if (redirected && !dirs.empty() &&
      fs.options().redirect_dir == RedirectDir::kNoFollow)
    return fs.fail(EPERM, "refusing to follow redirect");

  for (const LayerRef& dir : dirs) {
    if (stop)
      break;
    std::optional<InodeNumber> ino =
        lookup_in_layer(fs, dir, lookup_name, stop);
    if (!ino)
      continue;

    LayerRef ref{dir.layer, *ino};
    const Inode& node = fs.real(ref);
    if (is_any_whiteout(fs, node))
      break;

    if (!node.is_dir()) {
      // A non-directory below a directory ends the merge without joining
      // it (LK-04); on its own, it is the object (LK-02). Below a metacopy
      // file it supplies the data (MD-09).
      if (is_dir || (d.positive() && !need_data))
        break;
      d.lower.push_back(ref);
      need_data = false;
      if (fs.get_private(node, kMetacopy) && node.is_reg()) {
        if (!fs.options().metacopy)
          return fs.fail(EPERM, "refusing to follow metacopy origin");
        need_data = true;
        if (const std::string* redirect = fs.get_private(node, kRedirect))
          lookup_name = apply_redirect(lookup_name, *redirect, from_root);
        continue;
      }
      break;
    }
    if (d.positive() && !is_dir)
      break;

    is_dir = true;
    d.lower.push_back(ref);
    Opaque opaque = opaque_value(fs, dir.layer, node);
    if (opaque == Opaque::kXwhiteouts) {
      d.xwhiteouts = true;
      fs.set_layer_has_xwhiteouts(dir.layer);
    }
    if (opaque == Opaque::kYes)
      break;
    if (const std::string* redirect = fs.get_private(node, kRedirect)) {
      if (fs.options().redirect_dir == RedirectDir::kNoFollow)
        return fs.fail(EPERM, "refusing to follow redirect");
      bool absolute = false;
      lookup_name = apply_redirect(lookup_name, *redirect, absolute);
      // An absolute redirect in a lower layer is resolved from the roots of
      // the layers below it; the loop's remaining directories are replaced.
      if (absolute) {
        std::vector<LayerRef> below_roots;
        for (std::size_t i = dir.layer + 1; i <= fs.lowest(); ++i)
          below_roots.push_back({i, fs.layer(i).root()});
        for (const LayerRef& root : below_roots) {
          bool ignored = false;
          std::optional<InodeNumber> below =
              lookup_in_layer(fs, root, lookup_name, ignored);
          if (!below)
            continue;
          const Inode& deeper = fs.real({root.layer, *below});
          if (is_any_whiteout(fs, deeper) || !deeper.is_dir())
            break;
          d.lower.push_back({root.layer, *below});
          if (opaque_value(fs, root.layer, deeper) == Opaque::kYes)
            break;
        }
        break;
      }
    }
  }

  // A metacopy file without data in the layers above finds it in the
  // data-only layers, by its absolute redirect (LK-08).
  if (need_data && from_root) {
    for (std::size_t i = fs.lowest() + 1; i < fs.layer_count(); ++i) {
      bool ignored = false;
      std::optional<InodeNumber> data =
          lookup_in_layer(fs, {i, fs.layer(i).root()}, lookup_name, ignored);
      if (data && fs.real({i, *data}).is_reg()) {
        d.lower.push_back({i, *data});
        break;
      }
    }
  }
  return finish_lookup(fs, parent, d, is_dir);
}

Status ovl_permission(const OvlFs& fs, const Inode& inode, int mask) {
  const Cred& cred = fs.cred();
  mode_t mode = inode.mode;
  if (cred.is_root()) {
    if ((mask & kMayExec) && !inode.is_dir() && (mode & 0111) == 0)
      return Errno{EACCES};
    return Ok{};
  }

  mode_t bits;
  if (cred.uid == inode.uid)
    bits = (mode >> 6) & 7;
  else if (cred.in_group(inode.gid))
    bits = (mode >> 3) & 7;
  else
    bits = mode & 7;
  if ((mask & ~static_cast<int>(bits)) != 0)
    return Errno{EACCES};
  return Ok{};
}

namespace {

// What explains the outcome of a lookup, for the event log: what a
// non-directory hides, what ends a merge, or what hid a negative name.
std::string lookup_detail(const OvlFs& fs, const OvlDentry& parent,
                          const OvlDentry& d, std::size_t& layer) {
  if (d.positive()) {
    const Inode& top = fs.top_inode(d);
    std::vector<std::string> facts;
    std::size_t layers = d.lower.size() + (d.upper ? 1 : 0);
    if (top.is_dir() && layers > 1)
      facts.push_back("a merged directory");
    if (!top.is_dir() && layers > 1)
      facts.push_back(fmt::format("metacopy: the data is in lower layer {}",
                                  d.lower.back().layer));
    const LayerRef last = d.lower.empty() ? LayerRef{} : d.lower.back();
    if (top.is_dir() && d.opaque)
      facts.push_back(
          "opaque in the upper layer: lower directories of "
          "this name are not merged");
    else if (top.is_dir() && !d.lower.empty() &&
             opaque_value(fs, last.layer, fs.real(last)) == Opaque::kYes)
      facts.push_back(
          fmt::format("opaque in lower layer {}: the layers "
                      "below are not merged",
                      last.layer));
    if (!top.is_dir() && d.upper && layers == 1) {
      for (const LayerRef& dir : parent.lower) {
        std::optional<InodeNumber> ino =
            fs.layer(dir.layer).lookup(dir.ino, d.name);
        if (ino && !is_any_whiteout(fs, fs.real({dir.layer, *ino})))
          facts.push_back(
              fmt::format("it hides the one in lower layer {}", dir.layer));
        if (ino)
          break;
      }
    }
    return fmt::format("{}", fmt::join(facts, "; "));
  }

  const Layer& upper = fs.layer(0);
  if (parent.upper) {
    if (std::optional<InodeNumber> ino = upper.lookup(*parent.upper, d.name);
        ino && is_any_whiteout(fs, upper.inode(*ino))) {
      layer = 0;
      return "a whiteout in the upper layer hides the name";
    }
  }
  for (const LayerRef& dir : parent.lower) {
    std::optional<InodeNumber> ino =
        fs.layer(dir.layer).lookup(dir.ino, d.name);
    if (ino && is_any_whiteout(fs, fs.real({dir.layer, *ino}))) {
      layer = dir.layer;
      return fmt::format("a whiteout in lower layer {} hides the name",
                         dir.layer);
    }
  }
  if (parent.opaque) {
    layer = 0;
    return "not in the upper directory, which is opaque: lower layers are "
           "not searched";
  }
  return "no layer has the name";
}

// Records which layers answered the lookup of `d` below the target of
// `walk` (`ovlsim explain` shows it).
void log_lookup(OvlFs& fs, const OvlPath& walk, const OvlDentry& d) {
  Event event{EventKind::kLookup, walk.path(), 0, ""};
  if (!walk.is_root())
    event.path += '/';
  event.path += d.name;
  if (d.upper)
    event.layers.push_back(0);
  for (const LayerRef& ref : d.lower)
    event.layers.push_back(ref.layer);
  if (!event.layers.empty())
    event.layer = event.layers.front();
  event.detail = lookup_detail(fs, walk.target(), d, event.layer);
  fs.log(std::move(event));
}

}  // namespace

Result<WalkResult> ovl_walk(OvlFs& fs, std::string_view path, bool follow) {
  if (path.empty())
    return fs.fail(ENOENT, "empty path");
  if (path.size() >= kPathMax)
    return Errno{ENAMETOOLONG};

  WalkResult result;
  OvlPath& walk = result.path;
  OvlDentry root;
  root.upper =
      fs.has_upper() ? std::optional(fs.layer(0).root()) : std::nullopt;
  for (std::size_t i = 1; i <= fs.lowest(); ++i)
    root.lower.push_back({i, fs.layer(i).root()});
  root.xwhiteouts = fs.root_xwhiteouts();
  walk.chain.push_back(std::move(root));
  walk.trailing_slash = path.size() > 1 && path.back() == '/';

  // The components still to walk, as views into `path` or into copies of
  // the symlink targets met on the way (a deque keeps the copies in place).
  std::forward_list<std::string> targets;
  std::vector<std::string_view> pending;  // a stack: the next one is last
  push_components(path, pending);
  result.last = pending.empty() ? LastType::kRoot : LastType::kNormal;
  int links = 0;

  while (!pending.empty()) {
    std::string_view name = pending.back();
    pending.pop_back();
    bool last = pending.empty();

    // Every component is looked up in a directory the caller may search.
    const OvlDentry& cur = walk.target();
    if (!cur.positive())
      return fs.fail(ENOENT, "a parent does not exist");
    const Inode& dir = fs.top_inode(cur);
    if (!dir.is_dir())
      return fs.fail(ENOTDIR, "a parent is not a directory");
    if (Status may = ovl_permission(fs, dir, kMayExec); !may)
      return fs.fail(EACCES, "no search permission on a parent");

    if (name == "." || name == "..") {
      if (name == ".." && walk.chain.size() > 1)
        walk.chain.pop_back();
      if (last)
        result.last = name == "." ? LastType::kDot : LastType::kDotDot;
      continue;
    }
    if (name.size() > kNameMax)
      return Errno{ENAMETOOLONG};
    if (last)
      result.last = LastType::kNormal;

    Result<OvlDentry> child = ovl_lookup(fs, walk.target(), name);
    if (!child)
      return Errno{child.err()};
    if (fs.logging())
      log_lookup(fs, walk, *child);
    if (!child->positive()) {
      if (!last)
        return fs.fail(ENOENT, "a parent does not exist");
      walk.chain.push_back(std::move(child).value());
      break;
    }

    const Inode& node = fs.top_inode(*child);
    bool follow_this = !last || follow || walk.trailing_slash;
    if (node.is_symlink() && follow_this) {
      if (++links > kMaxSymlinks)
        return fs.fail(ELOOP, "too many symlinks");
      if (node.data.empty())
        return Errno{ENOENT};
      std::size_t before = pending.size();
      push_components(targets.emplace_front(node.data), pending);
      if (node.data.starts_with('/'))
        walk.chain.resize(1);
      if (last && pending.size() == before)
        result.last = LastType::kRoot;
      continue;
    }
    walk.chain.push_back(std::move(child).value());
  }

  const OvlDentry& target = walk.target();
  if (walk.trailing_slash && target.positive() &&
      !fs.top_inode(target).is_dir())
    return fs.fail(ENOTDIR, "a trailing '/' names a non-directory");
  return result;
}

}  // namespace ovlsim::model
