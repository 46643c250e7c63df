#include "model/result.h"

#include <cstring>
#include <string_view>

#include <fmt/format.h>

namespace ovlsim::model {

namespace {

// glibc names errnos 1 to 133 on Linux; nothing above that is in use.
constexpr int kMaxErrno = 200;

}  // namespace

std::string errno_name(int err) {
  const char* name = strerrorname_np(err);
  if (name != nullptr)
    return name;
  return fmt::format("E{}", err);
}

int errno_from_name(std::string_view name) {
  for (int err = 1; err < kMaxErrno; ++err) {
    const char* known = strerrorname_np(err);
    if (known != nullptr && name == known)
      return err;
  }
  return 0;
}

}  // namespace ovlsim::model
