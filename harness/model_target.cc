#include "harness/model_target.h"

#include <fcntl.h>

#include <algorithm>
#include <set>
#include <utility>

#include "model/xattr.h"

namespace ovlsim::harness {

namespace {

std::string child_path(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

Entry entry_of(const model::Stat& st) {
  Entry e;
  e.mode = st.mode;
  e.uid = st.uid;
  e.gid = st.gid;
  e.nlink = st.nlink;
  e.rdev = st.rdev;
  e.size = st.size;
  e.mtime = st.mtime;
  e.ino = st.ino;
  e.dev = st.dev;
  return e;
}

void read_xattrs(model::Overlay& ovl, const std::string& path, Entry& e) {
  auto names = ovl.listxattr(path, model::Follow::kNo);
  if (!names.ok())
    return;
  for (const auto& key : names.value())
    if (auto v = ovl.getxattr(path, key, model::Follow::kNo); v.ok())
      e.xattrs.emplace(key, v.value());
}

void read_overlay_dir(model::Overlay& ovl, const std::string& dir, Tree& tree,
                      std::map<model::InodeNumber, std::string>& first) {
  auto listing = ovl.readdir(dir);
  if (!listing.ok())
    return;
  std::map<std::string, model::InodeNumber> names;  // with their d_ino
  for (const auto& d : listing.value())
    if (d.name != "." && d.name != "..")
      names.emplace(d.name, d.ino);

  for (const auto& [name, d_ino] : names) {
    std::string path = child_path(dir, name);
    auto st = ovl.lstat(path);
    if (!st.ok()) {
      Entry e;
      e.stat_err = st.err();
      tree.entries.emplace(path, std::move(e));
      continue;
    }
    Entry e = entry_of(st.value());
    e.d_ino = d_ino;
    if (!S_ISDIR(e.mode)) {
      auto [it, fresh] = first.try_emplace(st->ino, path);
      if (!fresh)
        e.same_inode_as = it->second;
    }
    read_xattrs(ovl, path, e);
    if (S_ISLNK(e.mode)) {
      if (auto target = ovl.readlink(path); target.ok())
        e.data = target.value();
    } else if (S_ISREG(e.mode)) {
      if (auto fd = ovl.open(path, O_RDONLY | O_NOFOLLOW); fd.ok()) {
        // Up to the end of file, as a real target reads it: the data of a
        // metacopy file may be longer than the size it reports.
        std::string bytes;
        while (true) {
          auto chunk =
              ovl.pread(fd.value(), 1 << 16, static_cast<off_t>(bytes.size()));
          if (!chunk.ok() || chunk.value().empty())
            break;
          bytes += chunk.value();
        }
        e.data = content_digest(bytes);
        (void)ovl.close(fd.value());
      }
    }
    tree.entries.emplace(path, std::move(e));
    if (S_ISDIR(st->mode))
      read_overlay_dir(ovl, path, tree, first);
  }
}

// Splits "/a/b" into the layer inode of "/a" and "b".
std::pair<std::optional<model::InodeNumber>, std::string> parent_of(
    const model::Layer& layer, const std::string& path) {
  auto slash = path.rfind('/');
  std::string parent = slash == 0 ? "/" : path.substr(0, slash);
  return {layer.find(parent), path.substr(slash + 1)};
}

}  // namespace

Tree tree_of_overlay(model::Overlay& overlay) {
  Tree tree;
  std::map<model::InodeNumber, std::string> first;
  if (auto st = overlay.lstat("/"); st.ok()) {
    Entry e = entry_of(st.value());
    read_xattrs(overlay, "/", e);
    tree.entries.emplace("/", std::move(e));
  }
  read_overlay_dir(overlay, "/", tree, first);
  return tree;
}

std::optional<Mutation> mutation_from_name(std::string_view name) {
  for (auto m :
       {Mutation::kUnlinkLeavesNoWhiteout, Mutation::kCopyUpDropsXattrs})
    if (mutation_name(m) == name)
      return m;
  return std::nullopt;
}

std::string_view mutation_name(Mutation mutation) {
  switch (mutation) {
    case Mutation::kNone:
      return "none";
    case Mutation::kUnlinkLeavesNoWhiteout:
      return "unlink-no-whiteout";
    case Mutation::kCopyUpDropsXattrs:
      return "copy-up-drops-xattrs";
  }
  return "?";
}

std::string ModelTarget::name() const {
  if (mutation_ == Mutation::kNone)
    return "model";
  return "model-mutant:" + std::string(mutation_name(mutation_));
}

MountResult ModelTarget::mount(const trace::Scenario& scenario) {
  PhaseTimer timer(times_.mount);
  times_.mounts++;
  scenario_ = scenario;
  runner_.emplace();
  trace::Outcome outcome = runner_->mount(scenario_);
  if (!outcome.ok())
    runner_.reset();
  return MountResult{outcome.err, ""};
}

trace::Outcome ModelTarget::apply(const trace::Op& op) {
  PhaseTimer timer(times_.ops);
  times_.operations++;
  Tree before;
  if (mutation_ != Mutation::kNone && overlay().upper() != nullptr)
    before = tree_of_layer(*overlay().upper());
  trace::Outcome outcome = runner_->apply(op);
  if (mutation_ != Mutation::kNone && outcome.ok() &&
      overlay().upper() != nullptr)
    mutate(op, before);
  return outcome;
}

void ModelTarget::mutate(const trace::Op& op, const Tree& upper_before) {
  bool removal =
      op.kind == trace::OpKind::kUnlink || op.kind == trace::OpKind::kRmdir;
  if (mutation_ == Mutation::kUnlinkLeavesNoWhiteout && !removal)
    return;

  model::Stack stack = std::move(overlay()).unmount();
  model::Layer& upper = *stack.upper;
  model::OverlayXattrs ovl(scenario_.mount_options.userxattr);
  Tree after = tree_of_layer(upper);
  for (const auto& [path, entry] : after.entries) {
    if (path == "/" || upper_before.find(path) != nullptr)
      continue;
    auto [dir, name] = parent_of(upper, path);
    if (!dir)
      continue;
    auto ino = upper.lookup(*dir, name);
    if (!ino)
      continue;
    if (mutation_ == Mutation::kUnlinkLeavesNoWhiteout && entry.is_whiteout()) {
      upper.unlink(*dir, name);
    } else if (mutation_ == Mutation::kCopyUpDropsXattrs) {
      auto& xattrs = upper.inode(*ino).xattrs;
      std::erase_if(xattrs, [&](const auto& kv) {
        return kv.first.starts_with("user.") && !ovl.is_private(kv.first);
      });
    }
  }

  scenario_.stack = std::move(stack);
  runner_.emplace();
  (void)runner_->mount(scenario_);
}

Snapshot ModelTarget::snapshot(SnapshotParts parts) {
  PhaseTimer timer(times_.snapshot);
  times_.snapshots++;
  model::Overlay& ovl = overlay();
  Snapshot snap;
  // The merged view first, as a real target reads it: reading it may
  // change the upper layer (lazy origin and impure marks, LK-15, and an
  // impure mark dropped by readdir).
  if (reads_views(parts))
    snap.merged = tree_of_overlay(ovl);
  if (ovl.upper() != nullptr && reads_views(parts))
    snap.upper = tree_of_layer(*ovl.upper());
  for (std::size_t i = 0; reads_lowers(parts) && i < ovl.lower_count(); i++)
    snap.lowers.push_back(tree_of_layer(ovl.lower(i)));
  return snap;
}

void ModelTarget::unmount() {
  PhaseTimer timer(times_.unmount);
  runner_.reset();
}

}  // namespace ovlsim::harness
