// overlay.* xattrs: the private namespace, and escaping of user copies.
//
// overlayfs keeps its own state in xattrs of the layers' objects:
// "trusted.overlay.<name>", or "user.overlay.<name>" on a userxattr mount
// (WO-09). These private xattrs are never shown through the overlay and
// cannot be set through it. Instead, a name in the private namespace given
// through the overlay is escaped: "trusted.overlay.X" is stored as
// "trusted.overlay.overlay.X", and such an escaped xattr in a layer is shown
// as "trusted.overlay.X", one "overlay." removed per level of nesting
// (WO-10, since 6.7: "ovl: Add support for escaped overlay.* xattrs").
//
// With userxattr the other namespace is ordinary: "trusted.overlay.opaque"
// then means nothing and is shown like any other xattr.
#ifndef OVLSIM_MODEL_XATTR_H_
#define OVLSIM_MODEL_XATTR_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ovlsim::model {

// The overlay-private xattrs, by their name after the prefix.
inline constexpr std::string_view kOpaque = "opaque";
inline constexpr std::string_view kWhiteout = "whiteout";
inline constexpr std::string_view kRedirect = "redirect";
inline constexpr std::string_view kOrigin = "origin";
inline constexpr std::string_view kImpure = "impure";
inline constexpr std::string_view kNlink = "nlink";
inline constexpr std::string_view kUpper = "upper";
inline constexpr std::string_view kMetacopy = "metacopy";
inline constexpr std::string_view kProtattr = "protattr";
inline constexpr std::string_view kUuid = "uuid";

class OverlayXattrs {
 public:
  explicit OverlayXattrs(bool userxattr);

  // "trusted.overlay." or "user.overlay.".
  const std::string& prefix() const { return prefix_; }

  // The full name of a private xattr: name(kOpaque) is
  // "trusted.overlay.opaque".
  // REQUIRES: `suffix` is one of the k* names above.
  const std::string& name(std::string_view suffix) const;

  // True for a name in the private namespace that is not an escaped copy
  // (ovl_is_private_xattr).
  bool is_private(std::string_view name) const {
    return name.starts_with(prefix_) && !name.starts_with(escape_prefix_);
  }

  // The name under which a layer stores an xattr set through the overlay as
  // `name`: private names are escaped, others stored as they are.
  std::string to_layer(std::string_view name) const {
    if (name.starts_with(prefix_))
      return escape_prefix_ + std::string(name.substr(prefix_.size()));
    return std::string(name);
  }

  // The name under which the overlay shows a layer's xattr `name`, or
  // nullopt for a private xattr, which the overlay hides.
  std::optional<std::string> from_layer(std::string_view name) const {
    if (name.starts_with(escape_prefix_))
      return prefix_ + std::string(name.substr(escape_prefix_.size()));
    if (name.starts_with(prefix_))
      return std::nullopt;
    return std::string(name);
  }

 private:
  std::string prefix_;
  std::string escape_prefix_;
  // The full names of the private xattrs above, built once: lookups of
  // them are on every path walk.
  std::vector<std::pair<std::string_view, std::string>> known_;
};

}  // namespace ovlsim::model

#endif  // OVLSIM_MODEL_XATTR_H_
