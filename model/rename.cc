#include "model/rename.h"

#include <vector>

#include "model/xattr.h"

namespace ovlsim::model {

bool ovl_type_merge_or_lower(const OvlFs& fs, const OvlDentry& dentry) {
  if (!dentry.upper)
    return true;
  const Inode& upper = fs.real({0, *dentry.upper});
  if (upper.is_dir())
    return !dentry.lower.empty();
  return fs.get_private(upper, kMetacopy) != nullptr;
}

bool ovl_can_move(const OvlFs& fs, const OvlDentry& dentry) {
  if (fs.options().redirect_dir == RedirectDir::kOn)
    return true;
  if (!dentry.positive() || !fs.top_inode(dentry).is_dir())
    return true;
  return !ovl_type_merge_or_lower(fs, dentry);
}

Result<std::optional<std::string>> ovl_redirect_for_move(OvlFs& fs,
                                                         const OvlPath& path,
                                                         bool samedir) {
  const OvlDentry& dentry = path.target();
  auto redirect_of = [&](const OvlDentry& d) -> std::optional<std::string> {
    if (!d.upper)
      return std::nullopt;
    const std::string* value =
        fs.get_private(fs.real({0, *d.upper}), kRedirect);
    if (!value)
      return std::nullopt;
    return *value;
  };

  // A redirect the directory already has stays valid when it is absolute,
  // or when the directory stays in its parent.
  std::optional<std::string> current = redirect_of(dentry);
  if (current && (samedir || current->starts_with('/')))
    return std::optional<std::string>();
  bool hard_linked = !dentry.lower.empty() &&
                     !fs.real(dentry.lower.front()).is_dir() &&
                     fs.real(dentry.lower.front()).nlink > 1;
  if (samedir && !hard_linked)
    return std::optional<std::string>(dentry.name);

  // The absolute lower path: each ancestor contributes its own redirect if
  // it has one, else its name, up to an absolute redirect or the root.
  std::vector<std::string> parts;
  std::string prefix;
  for (std::size_t depth = path.chain.size() - 1; depth > 0; --depth) {
    const OvlDentry& d = path.chain[depth];
    std::optional<std::string> own = redirect_of(d);
    if (own && own->starts_with('/')) {
      prefix = *own;
      break;
    }
    parts.push_back(own ? *own : d.name);
  }
  std::string absolute = prefix;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it)
    absolute += "/" + *it;
  if (absolute.size() > kRedirectMax)
    return fs.fail(EXDEV, "the absolute redirect exceeds redirect_max");
  return std::optional<std::string>(absolute);
}

}  // namespace ovlsim::model
