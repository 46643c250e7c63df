#include "model/super.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <utility>

namespace ovlsim::model {

bool Cred::maps_uid(uid_t id) const {
  return !userns || id == 0 || id == static_cast<uid_t>(-1);
}

bool Cred::maps_gid(gid_t id) const {
  return !userns || id == 0 || id == static_cast<gid_t>(-1);
}

bool Cred::in_group(gid_t g) const {
  return g == gid || std::find(groups.begin(), groups.end(), g) != groups.end();
}

std::string OvlPath::path() const {
  return path(chain.size() - 1);
}

std::string OvlPath::path(std::size_t depth) const {
  if (depth == 0)
    return "/";
  std::string out;
  for (std::size_t i = 1; i <= depth; ++i) {
    out += '/';
    out += chain[i].name;
  }
  return out;
}

OvlFs::OvlFs(std::optional<Layer> upper, std::vector<Layer> lowers,
             std::vector<Layer> data_lowers, const MountOptions& opts,
             KernelVersion kernel)
    : data_only_(data_lowers.size()),
      has_upper_(upper.has_value()),
      opts_(opts),
      xattrs_(opts.userxattr),
      kernel_(kernel) {
  assert(!lowers.empty() && "an overlay needs a lower layer");
  layers_.reserve(lowers.size() + 1);
  layers_.push_back(upper ? std::move(*upper) : Layer());
  for (Layer& lower : lowers)
    layers_.push_back(std::move(lower));
  for (Layer& data : data_lowers)
    layers_.push_back(std::move(data));
  layer_has_xwhiteouts_.assign(layers_.size(), false);
  fsid_.assign(layers_.size(), 0);
  bad_uuid_.assign(layers_.size(), false);
}

void OvlFs::set_filesystems(const std::vector<unsigned>& filesystems,
                            const std::vector<unsigned>& null_uuid) {
  filesystems_ = filesystems;
  null_uuid_ = null_uuid;
  std::size_t first = has_upper_ ? 0 : 1;
  bad_uuid_.assign(layers_.size(), false);
  if (filesystems.empty()) {
    fsid_.assign(layers_.size(), has_upper_ ? 0 : 1);
    samefs_ = true;
    return;
  }
  assert(filesystems.size() == layers_.size() - first &&
         "one filesystem per layer");

  // ovl_get_fsid: the upper layer's filesystem is fsid 0, and each other
  // filesystem gets the next number when a lower layer first meets it.
  std::map<unsigned, unsigned> ids;
  if (has_upper_)
    ids.emplace(filesystems[0], 0);
  for (std::size_t i = first; i < layers_.size(); ++i) {
    unsigned fs = filesystems[i - first];
    auto it = ids.try_emplace(fs, static_cast<unsigned>(ids.size()) +
                                      (has_upper_ ? 0 : 1))
                  .first;
    fsid_[i] = it->second;
  }
  samefs_ = ids.size() == 1;

  // ovl_lower_uuid_ok(): a null UUID on a lower filesystem of its own
  // cannot identify origins, unless the mount forbids offline changes.
  // xino=auto then falls back to off (INO-04).
  if (!has_upper_ || no_offline_changes(opts_))
    return;
  for (std::size_t i = 1; i < layers_.size(); ++i) {
    unsigned fs = filesystems[i - first];
    bool is_null =
        std::find(null_uuid.begin(), null_uuid.end(), fs) != null_uuid.end();
    bad_uuid_[i] = is_null && fsid_[i] != 0;
    if (bad_uuid_[i] && opts_.xino == Xino::kAuto)
      opts_.xino = Xino::kOff;
  }
}

void OvlFs::set_no_file_handles() {
  file_handles_ = false;
  opts_.index = false;
  opts_.nfs_export = false;
  if (opts_.xino == Xino::kAuto && has_upper_)
    opts_.xino = Xino::kOff;
}

namespace {

// `path` with its prefix `from` replaced by `to`, or nullopt when `path`
// is neither `from` nor below it.
std::optional<std::string> moved_name(const std::string& path,
                                      const std::string& from,
                                      const std::string& to) {
  if (path == from)
    return to;
  if (path.size() > from.size() && path.starts_with(from) &&
      path[from.size()] == '/')
    return to + path.substr(from.size());
  return std::nullopt;
}

}  // namespace

void OvlFs::rename_names(const std::string& from, const std::string& to,
                         bool exchange) {
  std::map<std::pair<InodeNumber, std::string>, LayerRef> kept;
  for (const auto& [key, lower] : kept_) {
    std::optional<std::string> name = moved_name(key.second, from, to);
    if (!name && exchange)
      name = moved_name(key.second, to, from);
    kept.emplace(std::make_pair(key.first, name.value_or(key.second)), lower);
  }
  kept_ = std::move(kept);
}

void OvlFs::forget_names(const std::string& path) {
  std::erase_if(kept_, [&](const auto& entry) {
    return moved_name(entry.first.second, path, path).has_value();
  });
}

LayerRef OvlFs::top(const OvlDentry& dentry) const {
  assert(dentry.positive() && "top() of a negative dentry");
  if (dentry.upper)
    return {0, *dentry.upper};
  if (dentry.index)
    return {0, *dentry.index};
  return dentry.lower.front();
}

const std::string* OvlFs::get_private(const Inode& inode,
                                      std::string_view suffix) const {
  if (inode.xattrs.empty())
    return nullptr;
  auto it = inode.xattrs.find(xattrs_.name(suffix));
  return it == inode.xattrs.end() ? nullptr : &it->second;
}

void OvlFs::set_private(Inode& inode, std::string_view suffix,
                        std::string_view value) {
  inode.xattrs[xattrs_.name(suffix)] = std::string(value);
}

void OvlFs::remove_private(Inode& inode, std::string_view suffix) {
  inode.xattrs.erase(xattrs_.name(suffix));
}

Timespec OvlFs::tick() {
  now_.sec++;
  return now_;
}

void OvlFs::log(EventKind kind, std::string path, std::size_t layer,
                std::string detail) {
  if (log_ == nullptr)
    return;
  log_->push_back({kind, std::move(path), layer, std::move(detail)});
}

void OvlFs::log(Event event) {
  if (log_ != nullptr)
    log_->push_back(std::move(event));
}

Errno OvlFs::fail(int err, std::string_view why) {
  if (log_ != nullptr)
    log_->push_back({EventKind::kError, "", 0, std::string(why)});
  return Errno{err};
}

}  // namespace ovlsim::model
