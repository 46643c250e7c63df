#include "model/xattr.h"

#include <cassert>

namespace ovlsim::model {

OverlayXattrs::OverlayXattrs(bool userxattr)
    : prefix_(userxattr ? "user.overlay." : "trusted.overlay."),
      escape_prefix_(prefix_ + "overlay.") {
  for (std::string_view suffix :
       {kOpaque, kWhiteout, kRedirect, kOrigin, kImpure, kNlink, kUpper,
        kMetacopy, kProtattr, kUuid})
    known_.emplace_back(suffix, prefix_ + std::string(suffix));
}

const std::string& OverlayXattrs::name(std::string_view suffix) const {
  for (const auto& [known, full] : known_)
    if (known == suffix)
      return full;
  assert(false && "not an overlay-private xattr name");
  return prefix_;
}

}  // namespace ovlsim::model
