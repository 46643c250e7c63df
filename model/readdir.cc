#include "model/readdir.h"

#include <dirent.h>

#include <map>
#include <string>
#include <vector>

#include "model/inode.h"
#include "model/lookup.h"
#include "model/whiteout.h"

namespace ovlsim::model {

namespace {

struct MergedEntry {
  std::string name;
  LayerRef ref;
  bool whiteout = false;
};

// Whether the entry `ref` of the directory `dir` hides its name instead of
// naming an object.
bool hides_name(const OvlFs& fs, const OvlDentry& dir, LayerRef ref) {
  const Inode& node = fs.real(ref);
  if (is_whiteout(node))
    return true;
  return dir.xwhiteouts && fs.layer_has_xwhiteouts(ref.layer) &&
         is_xwhiteout(fs, node);
}

// The merged listing of `dir` in the kernel's order (DIR-03), whiteouts
// included and flagged.
std::vector<MergedEntry> read_merged(const OvlFs& fs, const OvlDentry& dir) {
  std::vector<LayerRef> layers;
  if (dir.upper)
    layers.push_back({0, *dir.upper});
  layers.insert(layers.end(), dir.lower.begin(), dir.lower.end());

  std::vector<MergedEntry> rest;
  std::map<std::string, std::size_t, std::less<>> seen;
  for (std::size_t i = 0; i + 1 < layers.size(); ++i) {
    const Inode& real = fs.real(layers[i]);
    for (const auto& [name, ino] : real.entries) {
      if (seen.count(name) != 0)
        continue;
      LayerRef ref{layers[i].layer, ino};
      seen.emplace(name, rest.size());
      rest.push_back({name, ref, hides_name(fs, dir, ref)});
    }
  }

  // The lowest layer's names go first, so that offsets stay stable; a name
  // that a higher layer also has moves to its place among them.
  std::vector<MergedEntry> merged;
  std::vector<bool> moved(rest.size(), false);
  const LayerRef lowest = layers.back();
  for (const auto& [name, ino] : fs.real(lowest).entries) {
    auto it = seen.find(name);
    if (it != seen.end()) {
      merged.push_back(rest[it->second]);
      moved[it->second] = true;
      continue;
    }
    LayerRef ref{lowest.layer, ino};
    merged.push_back({name, ref, hides_name(fs, dir, ref)});
  }
  for (std::size_t i = 0; i < rest.size(); ++i)
    if (!moved[i])
      merged.push_back(rest[i]);
  return merged;
}

// The d_ino of an entry the kernel looks up to fix it (ovl_cache_update()):
// the st_ino of what the name finds, which is its origin's number when it
// has one (DIR-07); nullopt when the lookup is negative or fails (a
// redirect that is not followed, say), and the entry is stale: a merged
// listing drops it, an impure one keeps its real number. The lookup is not
// logged: it is the kernel's, not the caller's.
std::optional<InodeNumber> looked_up_ino(OvlFs& fs, const OvlPath& dir,
                                         const std::string& name) {
  EventLog* log = fs.log_sink();
  fs.set_log(nullptr);
  OvlDentry parent = dir.target();
  Result<OvlDentry> child = ovl_lookup(fs, parent, name);
  fs.set_log(log);
  if (!child || !child->positive())
    return std::nullopt;
  std::string path = dir.is_root() ? "/" + name : dir.path() + "/" + name;
  return layer_ino(ovl_ino_ref(fs, *child, path));
}

}  // namespace

bool ovl_dir_is_merged(const OvlFs& fs, const OvlDentry& dir) {
  if (dir.upper && !dir.lower.empty())
    return true;
  if (dir.lower.size() > 1)
    return true;
  return fs.get_private(fs.top_inode(dir), kOrigin) != nullptr;
}

std::vector<Dirent> ovl_iterate(OvlFs& fs, const OvlPath& path) {
  const OvlDentry& dir = path.target();
  std::vector<Dirent> out;
  InodeNumber parent_ino =
      path.is_root() ? ovl_ino(fs, dir) : ovl_ino(fs, path.parent());
  out.push_back({".", ovl_ino(fs, dir), DT_DIR});
  out.push_back({"..", parent_ino, DT_DIR});

  if (!ovl_dir_is_merged(fs, dir)) {
    LayerRef top = fs.top(dir);
    // When all objects share the overlay's device (one filesystem, or
    // xino), an impure upper directory is read entry by entry to give
    // copied-up entries their origin's d_ino; one that turns out to hold
    // none loses its impure mark (ovl_cache_get_impure()), and an upper
    // xwhiteout, negative on lookup, is dropped as stale (WO-06). Without
    // a common device the real directory is read as it is.
    bool same_dev = fs.samefs() || fs.xino();
    bool impure =
        same_dev && top.layer == 0 && fs.get_private(fs.real(top), kImpure);
    // A cache that is still valid answers; else one is built, and kept
    // unless no entry needs it.
    const auto* cache = impure ? fs.impure_cache(top.ino) : nullptr;
    std::map<std::string, InodeNumber, std::less<>> built;
    for (const auto& [name, ino] : fs.real(top).entries) {
      LayerRef ref{top.layer, ino};
      const Inode& node = fs.real(ref);
      if (impure && is_xwhiteout(fs, node))
        continue;
      InodeNumber d_ino = layer_ino(ref);
      if (cache) {
        if (auto it = cache->find(name); it != cache->end())
          d_ino = it->second;
      } else if (impure) {
        d_ino = looked_up_ino(fs, path, name).value_or(d_ino);
        if (d_ino != layer_ino(ref))
          built.emplace(name, d_ino);
      }
      out.push_back({name, d_ino, dirent_type(node.mode)});
    }
    if (impure && !cache && built.empty())
      fs.remove_private(fs.upper_inode(top.ino), kImpure);
    else if (impure && !cache)
      fs.set_impure_cache(top.ino, std::move(built));
    return out;
  }

  // The kernel recomputes the d_ino of an entry by looking its name up
  // (ovl_calc_d_ino(), ovl_cache_update()): on one filesystem every upper
  // entry of an impure directory, with xino every entry. An xwhiteout
  // looks up as negative and is dropped as stale (WO-06). Layers on
  // several filesystems without xino keep the real d_ino: nothing is
  // looked up, and upper xwhiteouts stay listed.
  bool impure =
      dir.upper && fs.get_private(fs.real({0, *dir.upper}), kImpure) != nullptr;
  bool upper_lookups = fs.xino() || (fs.samefs() && impure);
  for (const MergedEntry& entry : read_merged(fs, dir)) {
    if (entry.whiteout)
      continue;
    bool looked_up = entry.ref.layer == 0 ? upper_lookups : fs.xino();
    InodeNumber d_ino = layer_ino(entry.ref);
    if (looked_up) {
      std::optional<InodeNumber> found = looked_up_ino(fs, path, entry.name);
      if (!found)
        continue;
      d_ino = *found;
    }
    out.push_back({entry.name, d_ino, dirent_type(fs.real(entry.ref).mode)});
  }
  return out;
}

Status ovl_check_empty_dir(OvlFs& fs, const OvlPath& path,
                           bool lower_positive) {
  const OvlDentry& dir = path.target();

  bool pure_upper = !dir.has_lower() && !ovl_dir_is_merged(fs, dir);
  if (pure_upper && !lower_positive) {
    if (!fs.top_inode(dir).entries.empty())
      return fs.fail(ENOTEMPTY, "the upper directory has entries");
    return Ok{};
  }

  for (const MergedEntry& entry : read_merged(fs, dir))
    if (!entry.whiteout)
      return fs.fail(ENOTEMPTY, "the merged directory has visible entries");
  return Ok{};
}

}  // namespace ovlsim::model
