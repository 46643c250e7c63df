// The mounted stack: layers, options and the state shared by all operations.
//
// OvlFs plays the part of the kernel's struct ovl_fs. Layer 0 is the upper
// layer and layers 1..n are the lower layers from top to bottom, as in the
// kernel's ofs->layers[]. Without an upper layer, layer 0 exists but is
// unused and every write fails with EROFS.
//
// OvlDentry and OvlPath describe what a name in the merged view is made of;
// lookup (lookup.h) builds them, and copy-up (copy_up.h) fills in the upper
// half as it copies.
#ifndef OVLSIM_MODEL_SUPER_H_
#define OVLSIM_MODEL_SUPER_H_

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "model/event.h"
#include "model/layer.h"
#include "model/options.h"
#include "model/result.h"
#include "model/xattr.h"

namespace ovlsim::model {

// The credentials of the process calling into the overlay.
struct Cred {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  mode_t umask = 022;
  // The ids are those of a user namespace that maps one outside user to
  // uid and gid 0 and nothing else, as a rootless container's does. Root
  // there holds its capabilities over that namespace only: none of the
  // checks made against the initial namespace pass (mknod of a device,
  // trusted.* xattrs, decoding file handles), and ids other than 0 cannot
  // be given to a file.
  bool userns = false;

  // uid 0, in the caller's namespace: the DAC checks pass.
  bool is_root() const { return uid == 0; }
  // A capability that is checked against the initial user namespace
  // (capable(), not ns_capable()).
  bool capable() const { return is_root() && !userns; }
  // Whether `uid` (`gid`) names an id of the caller's namespace; -1, which
  // chown reads as "unchanged", counts as one.
  bool maps_uid(uid_t id) const;
  bool maps_gid(gid_t id) const;
  bool in_group(gid_t g) const;
};

// One object in one layer.
struct LayerRef {
  std::size_t layer = 0;
  InodeNumber ino = 0;

  bool operator==(const LayerRef&) const = default;
};

// The layers that make up one name of the merged view (the kernel's dentry
// with its struct ovl_entry).
struct OvlDentry {
  std::string name;  // "" for the root

  // The object in the upper layer, if there is one.
  std::optional<InodeNumber> upper;

  // The lower objects below it, topmost first: for a merged directory every
  // lower directory it merges, for a non-directory at most one.
  std::vector<LayerRef> lower;

  // The upper directory is opaque (overlay.opaque=y): nothing merges below.
  bool opaque = false;

  // Some lower directory of this merge is marked overlay.opaque=x: it may
  // hold xwhiteouts, which readdir must then filter (WO-06).
  bool xwhiteouts = false;

  // With index=on, a lower non-directory whose inode an earlier copy-up of
  // another of its names put in the index: the name is that upper inode,
  // though the name itself is not in the upper layer yet.
  std::optional<InodeNumber> index;

  bool positive() const { return upper.has_value() || !lower.empty(); }
  bool has_lower() const { return !lower.empty(); }
};

// A resolved path: the dentries from the root to the last component.
struct OvlPath {
  std::vector<OvlDentry> chain;  // chain[0] is the root
  bool trailing_slash = false;   // the path ended in '/'

  OvlDentry& target() { return chain.back(); }
  const OvlDentry& target() const { return chain.back(); }
  // REQUIRES: the target is not the root.
  OvlDentry& parent() { return chain[chain.size() - 2]; }
  const OvlDentry& parent() const { return chain[chain.size() - 2]; }
  bool is_root() const { return chain.size() == 1; }

  // The canonical absolute path of the target ("/" for the root).
  std::string path() const;
  // The canonical path of chain[depth].
  std::string path(std::size_t depth) const;
};

class OvlFs {
 public:
  // REQUIRES: at least one lower layer; options already resolved.
  OvlFs(std::optional<Layer> upper, std::vector<Layer> lowers,
        std::vector<Layer> data_lowers, const MountOptions& opts,
        KernelVersion kernel);

  bool has_upper() const { return has_upper_; }
  std::size_t layer_count() const { return layers_.size(); }
  // The index of the lowest layer that lookup sees; data-only layers come
  // after it, up to layer_count() - 1.
  std::size_t lowest() const { return layers_.size() - 1 - data_only_; }
  std::size_t data_only_count() const { return data_only_; }
  const Layer& layer(std::size_t i) const { return layers_.at(i); }
  Layer& upper_layer() { return layers_.at(0); }
  const MountOptions& options() const { return opts_; }
  const OverlayXattrs& xattrs() const { return xattrs_; }
  KernelVersion kernel() const { return kernel_; }

  const Inode& real(LayerRef ref) const {
    return layers_.at(ref.layer).inode(ref.ino);
  }
  Inode& upper_inode(InodeNumber ino) { return layers_.at(0).inode(ino); }

  // The topmost real object of a positive dentry: the upper one if any.
  LayerRef top(const OvlDentry& dentry) const;
  const Inode& top_inode(const OvlDentry& dentry) const {
    return real(top(dentry));
  }

  // The value of the private xattr `suffix` (kOpaque, ...) on a real
  // inode, or null when it has none. The pointer is valid until the
  // inode's xattrs change.
  const std::string* get_private(const Inode& inode,
                                 std::string_view suffix) const;
  void set_private(Inode& inode, std::string_view suffix,
                   std::string_view value);
  void remove_private(Inode& inode, std::string_view suffix);

  // The logical clock. tick() advances it and returns the new time.
  Timespec now() const { return now_; }
  Timespec tick();

  const Cred& cred() const { return cred_; }
  void set_cred(const Cred& cred) { cred_ = cred; }

  // Where events go; none by default.
  void set_log(EventLog* log) { log_ = log; }
  EventLog* log_sink() const { return log_; }
  bool logging() const { return log_ != nullptr; }
  void log(EventKind kind, std::string path, std::size_t layer,
           std::string detail);
  void log(Event event);

  // Records why an operation fails and returns its errno.
  Errno fail(int err, std::string_view why);

  // Whether a lookup has met a directory marked overlay.opaque=x in lower
  // layer `i`: only such layers have their xwhiteouts filtered by readdir
  // (WO-06).
  bool layer_has_xwhiteouts(std::size_t i) const {
    return layer_has_xwhiteouts_.at(i);
  }
  void set_layer_has_xwhiteouts(std::size_t i) {
    layer_has_xwhiteouts_.at(i) = true;
  }

  // Whether a lower layer's root is marked overlay.opaque=x, which the
  // kernel checks when it mounts: the root is never looked up.
  bool root_xwhiteouts() const { return root_xwhiteouts_; }
  void set_root_xwhiteouts() { root_xwhiteouts_ = true; }

  // Places the layers on backing filesystems (Stack::filesystems): fsid 0
  // is the upper layer's filesystem, even on a read-only mount, where no
  // layer has it; the other filesystems get 1, 2, ... in layer order.
  // `null_uuid` lists the filesystems (by the same numbers) that have a
  // null UUID.
  // REQUIRES: `filesystems` is empty or has one number per layer.
  void set_filesystems(const std::vector<unsigned>& filesystems,
                       const std::vector<unsigned>& null_uuid = {});
  // What set_filesystems() was given.
  const std::vector<unsigned>& filesystems() const { return filesystems_; }
  const std::vector<unsigned>& null_uuid() const { return null_uuid_; }
  // The fsid of layer `i`'s filesystem.
  unsigned fsid(std::size_t i) const { return fsid_.at(i); }
  // All layers on one filesystem: real inode numbers and the overlay's
  // st_dev for everything (INO-01).
  bool samefs() const { return samefs_; }
  // xino is in force: layers on several filesystems, and xino=on or auto
  // (INO-05).
  bool xino() const { return !samefs_ && opts_.xino != Xino::kOff; }
  // Whether origins that name inodes of layer `i` are followed: not on a
  // lower filesystem with a null UUID where offline changes are allowed
  // (ovl_lower_uuid_ok()); such copies keep their lower identity only in
  // memory (INO-03, INO-04).
  bool origin_followed(std::size_t i) const {
    return file_handles_ && !bad_uuid_.at(i);
  }
  // Whether the mounter can encode and decode file handles, which takes
  // CAP_DAC_READ_SEARCH over the initial namespace (ovl_can_decode_fh()).
  // Without, copy-up writes an empty origin, which says only "copied up",
  // and no origin is ever followed.
  bool file_handles() const { return file_handles_; }
  // A mounter without file handles (ovl_make_workdir(),
  // ovl_get_lower_layers()): index and nfs_export fall back to off, and
  // xino=auto too when there is an upper layer, whose 32-bit inode numbers
  // can no longer be checked.
  // REQUIRES: called before set_filesystems(), which reads the options.
  void set_no_file_handles();

  // The options in force; mount may still change them (uuid=auto becomes
  // uuid=on for a fresh upper layer).
  MountOptions& mutable_options() { return opts_; }

  // The inodes index of index=on (workdir/index): a lower inode to its
  // upper copy, which the index entry holds one link of (HL-03).
  std::optional<InodeNumber> indexed(LayerRef lower) const {
    auto it = index_.find({lower.layer, lower.ino});
    if (it == index_.end())
      return std::nullopt;
    return it->second;
  }
  void add_index(LayerRef lower, InodeNumber upper) {
    index_[{lower.layer, lower.ino}] = upper;
  }

  // A copy made without an origin that can be followed (userxattr cannot
  // put one on a symlink, fifo, socket or device; a null UUID or a mounter
  // without file handles makes it unusable) keeps the identity of its lower
  // inode in the overlay inode of the name it was copied up through, for as
  // long as the kernel keeps that inode cached, which in the model is until the
  // name goes. Other names of the copy are looked up afresh and report the
  // copy's own identity (INO-03).
  void keep_identity(InodeNumber upper, const std::string& path,
                     LayerRef lower) {
    kept_[{upper, path}] = lower;
  }
  std::optional<LayerRef> kept_identity(InodeNumber upper,
                                        const std::string& path) const {
    auto it = kept_.find({upper, path});
    if (it == kept_.end())
      return std::nullopt;
    return it->second;
  }

  // The impure cache of a pure upper directory (ovl_cache_get_impure()):
  // the d_ino of its entries that a lookup gave another number, as the
  // readdir that built it found them; null when there is none. The kernel
  // keeps it until the directory changes "with impurity": a name with an
  // origin moved or removed (ovl_dir_modified()); creating or linking a
  // name leaves it as it was.
  const std::map<std::string, InodeNumber, std::less<>>* impure_cache(
      InodeNumber dir) const {
    auto it = impure_cache_.find(dir);
    return it == impure_cache_.end() ? nullptr : &it->second;
  }
  void set_impure_cache(
      InodeNumber dir, std::map<std::string, InodeNumber, std::less<>> d_inos) {
    impure_cache_[dir] = std::move(d_inos);
  }
  void dir_modified(InodeNumber dir, bool impurity) {
    if (impurity)
      impure_cache_.erase(dir);
  }

  // Kept identities follow their names: a rename moves `from` and
  // everything below it to `to`, an exchange swaps the two, and a removal
  // forgets `path` and everything below it.
  void rename_names(const std::string& from, const std::string& to,
                    bool exchange);
  void forget_names(const std::string& path);

  // The in-memory record of copy-ups, as the kernel's overlay inode keeps
  // it: files opened on a lower object before its copy-up read and write
  // the upper copy after it (RD-03). A copy that broke a lower hard link
  // (HL-02) belongs to the overlay inode of the one name it was copied up
  // through: record it with that `path`, and only files opened through the
  // same path follow it.
  void record_copy_up(LayerRef lower, InodeNumber upper,
                      const std::string& path = "") {
    if (path.empty())
      copied_up_[{lower.layer, lower.ino}] = upper;
    else
      broken_copies_[{lower.layer, lower.ino, path}] = upper;
  }
  std::optional<InodeNumber> copied_up(LayerRef lower,
                                       const std::string& path = "") const {
    auto it = copied_up_.find({lower.layer, lower.ino});
    if (it != copied_up_.end())
      return it->second;
    auto broken = broken_copies_.find({lower.layer, lower.ino, path});
    if (path.empty() || broken == broken_copies_.end())
      return std::nullopt;
    return broken->second;
  }

 private:
  std::vector<Layer> layers_;
  std::size_t data_only_;
  bool has_upper_;
  MountOptions opts_;
  OverlayXattrs xattrs_;
  KernelVersion kernel_;
  Timespec now_{1, 0};
  Cred cred_;
  EventLog* log_ = nullptr;
  std::vector<bool> layer_has_xwhiteouts_;
  bool root_xwhiteouts_ = false;
  std::vector<unsigned> filesystems_;
  std::vector<unsigned> null_uuid_;
  std::vector<unsigned> fsid_;
  std::vector<bool> bad_uuid_;
  bool file_handles_ = true;
  bool samefs_ = true;
  std::map<std::pair<std::size_t, InodeNumber>, InodeNumber> copied_up_;
  std::map<std::pair<std::size_t, InodeNumber>, InodeNumber> index_;
  std::map<std::tuple<std::size_t, InodeNumber, std::string>, InodeNumber>
      broken_copies_;
  std::map<std::pair<InodeNumber, std::string>, LayerRef> kept_;
  std::map<InodeNumber, std::map<std::string, InodeNumber, std::less<>>>
      impure_cache_;
};

}  // namespace ovlsim::model

#endif  // OVLSIM_MODEL_SUPER_H_
