// Helpers shared by the model's tests: layers built from paths, mounting,
// and the layer state written out as text so that a failed check shows it.
#ifndef OVLSIM_TESTS_MODEL_STACK_BUILDER_H_
#define OVLSIM_TESTS_MODEL_STACK_BUILDER_H_

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "model/layer.h"
#include "model/overlay.h"
#include "model/result.h"

namespace ovlsim::model::testing {

// The private xattr names of a default (trusted.*) mount.
inline constexpr const char* kOpaqueXattr = "trusted.overlay.opaque";
inline constexpr const char* kOriginXattr = "trusted.overlay.origin";
inline constexpr const char* kImpureXattr = "trusted.overlay.impure";
inline constexpr const char* kUuidXattr = "trusted.overlay.uuid";
inline constexpr const char* kWhiteoutXattr = "trusted.overlay.whiteout";
inline constexpr const char* kRedirectXattr = "trusted.overlay.redirect";
inline constexpr const char* kMetacopyXattr = "trusted.overlay.metacopy";

// Builds a layer from absolute paths. Missing parents are created as root
// directories with mode 0755, so tests name only what matters to them.
class LayerBuilder {
 public:
  LayerBuilder& dir(std::string_view path, mode_t mode = 0755) {
    add(path, S_IFDIR | mode);
    return *this;
  }
  LayerBuilder& file(std::string_view path, std::string_view data = "",
                     mode_t mode = 0644) {
    add(path, S_IFREG | mode, std::string(data));
    return *this;
  }
  LayerBuilder& symlink(std::string_view path, std::string_view target) {
    add(path, S_IFLNK | 0777, std::string(target));
    return *this;
  }
  // A kernel-format whiteout: char 0/0, mode 0000 (WO-01).
  LayerBuilder& whiteout(std::string_view path) {
    add(path, S_IFCHR, "", makedev(0, 0));
    return *this;
  }
  // A zero-size regular file carrying overlay.whiteout (WO-05).
  LayerBuilder& xwhiteout(std::string_view path) {
    add(path, S_IFREG | 0644);
    return xattr(path, kWhiteoutXattr, "");
  }
  // A directory marked overlay.opaque=<value> (WO-07, WO-08).
  LayerBuilder& opaque_dir(std::string_view path,
                           std::string_view value = "y") {
    if (!layer_.find(path))
      dir(path);
    return xattr(path, kOpaqueXattr, value);
  }
  LayerBuilder& node(std::string_view path, mode_t mode, dev_t rdev) {
    add(path, mode, "", rdev);
    return *this;
  }
  // A second name for the existing non-directory `existing`.
  LayerBuilder& hardlink(std::string_view path, std::string_view existing) {
    auto [dir, name] = parent_of(path);
    std::optional<InodeNumber> ino = layer_.find(existing);
    REQUIRE(ino);
    layer_.link(dir, name, *ino);
    return *this;
  }
  LayerBuilder& xattr(std::string_view path, std::string_view name,
                      std::string_view value) {
    std::optional<InodeNumber> ino = layer_.find(path);
    REQUIRE(ino);
    layer_.inode(*ino).xattrs[std::string(name)] = std::string(value);
    return *this;
  }
  LayerBuilder& owner(std::string_view path, uid_t uid, gid_t gid) {
    std::optional<InodeNumber> ino = layer_.find(path);
    REQUIRE(ino);
    layer_.inode(*ino).uid = uid;
    layer_.inode(*ino).gid = gid;
    return *this;
  }
  LayerBuilder& times(std::string_view path, Timespec atime, Timespec mtime) {
    std::optional<InodeNumber> ino = layer_.find(path);
    REQUIRE(ino);
    layer_.inode(*ino).atime = atime;
    layer_.inode(*ino).mtime = mtime;
    return *this;
  }

  Layer build() const { return layer_; }
  operator Layer() const { return layer_; }  // NOLINT: implicit by design

 private:
  // The directory that holds `path`, created if missing, and the last name.
  std::pair<InodeNumber, std::string> parent_of(std::string_view path) {
    std::string p(path);
    std::size_t slash = p.rfind('/');
    std::string parent = slash == std::string::npos ? "" : p.substr(0, slash);
    std::string name = slash == std::string::npos ? p : p.substr(slash + 1);
    REQUIRE(!name.empty());
    if (!layer_.find(parent))
      dir(parent);
    std::optional<InodeNumber> dir = layer_.find(parent);
    REQUIRE(dir);
    REQUIRE(layer_.inode(*dir).is_dir());
    return {*dir, name};
  }

  void add(std::string_view path, mode_t mode, std::string data = "",
           dev_t rdev = 0) {
    auto [dir, name] = parent_of(path);
    REQUIRE_FALSE(layer_.lookup(dir, name));
    InodeAttrs attrs;
    attrs.mode = mode;
    attrs.rdev = rdev;
    attrs.data = std::move(data);
    layer_.create(dir, name, attrs);
  }

  Layer layer_;
};

// Mounts a stack that must mount.
inline Overlay mount_ok(Stack stack, MountOptions opts = {},
                        KernelVersion kernel = {}) {
  Result<Overlay> mounted = Overlay::mount(std::move(stack), opts, kernel);
  REQUIRE(mounted.ok());
  return std::move(mounted).value();
}

// The names readdir lists, "." and ".." left out, in the model's order.
inline std::vector<std::string> names(Overlay& ovl, std::string_view path) {
  Result<std::vector<Dirent>> entries = ovl.readdir(path);
  REQUIRE(entries.ok());
  std::vector<std::string> out;
  for (const Dirent& e : *entries)
    if (e.name != "." && e.name != "..")
      out.push_back(e.name);
  return out;
}

// The same names, sorted: for checks that do not depend on DIR-03's order.
inline std::vector<std::string> name_set(Overlay& ovl, std::string_view path) {
  std::vector<std::string> out = names(ovl, path);
  std::sort(out.begin(), out.end());
  return out;
}

// The content of a file read through the overlay.
inline std::string content(Overlay& ovl, std::string_view path) {
  Result<int> fd = ovl.open(path, O_RDONLY);
  REQUIRE(fd.ok());
  Result<std::string> data = ovl.read(*fd, 1 << 20);
  REQUIRE(data.ok());
  REQUIRE(ovl.close(*fd).ok());
  return *data;
}

// One line per object of a layer: path, type, mode and xattrs, with the
// value of overlay.origin and overlay.uuid left out (the model's markers
// are not the kernel's file handles) and whiteouts shown as "c 0/0".
inline std::vector<std::string> describe(const Layer& layer) {
  std::vector<std::string> out;
  layer.walk([&](const std::string& path, const Inode& node) {
    std::string line = fmt::format("{} {}", path, type_name(node.mode));
    if (S_ISCHR(node.mode) || S_ISBLK(node.mode))
      line += fmt::format(" {}/{}", major(node.rdev), minor(node.rdev));
    line += fmt::format(" {:04o}", node.mode & 07777);
    if (node.is_reg() || node.is_symlink())
      line += fmt::format(" \"{}\"", node.data);
    for (const auto& [name, value] : node.xattrs) {
      if (name == kOriginXattr || name == kUuidXattr)
        line += " " + name;
      else
        line += fmt::format(" {}={}", name, value);
    }
    out.push_back(line);
  });
  return out;
}

// The path of every object of a layer.
inline std::vector<std::string> paths(const Layer& layer) {
  std::vector<std::string> out;
  layer.walk(
      [&](const std::string& path, const Inode&) { out.push_back(path); });
  return out;
}

// True when `path` names an object of the layer.
inline bool has(const Layer& layer, std::string_view path) {
  return layer.find(path).has_value();
}

inline const Inode& at(const Layer& layer, std::string_view path) {
  std::optional<InodeNumber> ino = layer.find(path);
  REQUIRE(ino);
  return layer.inode(*ino);
}

}  // namespace ovlsim::model::testing

#endif  // OVLSIM_TESTS_MODEL_STACK_BUILDER_H_
