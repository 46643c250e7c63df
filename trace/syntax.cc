#include "trace/syntax.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <array>

#include <fmt/format.h>

#include "model/result.h"

namespace ovlsim::trace::syntax {

namespace {

// O_RDONLY, O_WRONLY and O_RDWR are an access mode, not bits; they are
// handled apart from this table.
constexpr std::array<FlagName, 12> kOpenFlags = {{
    {"O_CREAT", O_CREAT},
    {"O_EXCL", O_EXCL},
    {"O_NOCTTY", O_NOCTTY},
    {"O_TRUNC", O_TRUNC},
    {"O_APPEND", O_APPEND},
    {"O_NONBLOCK", O_NONBLOCK},
    {"O_DIRECTORY", O_DIRECTORY},
    {"O_NOFOLLOW", O_NOFOLLOW},
    {"O_CLOEXEC", O_CLOEXEC},
    {"O_SYNC", O_SYNC},
    {"O_NOATIME", O_NOATIME},
    {"O_PATH", O_PATH},
}};

constexpr std::array<FlagName, 3> kRenameFlags = {{
    {"RENAME_NOREPLACE", RENAME_NOREPLACE},
    {"RENAME_EXCHANGE", RENAME_EXCHANGE},
    {"RENAME_WHITEOUT", RENAME_WHITEOUT},
}};

constexpr std::array<FlagName, 2> kXattrFlags = {{
    {"XATTR_CREATE", XATTR_CREATE},
    {"XATTR_REPLACE", XATTR_REPLACE},
}};

struct TypeName {
  std::string_view name;
  mode_t type;
  unsigned char dtype;
};

constexpr std::array<TypeName, 7> kTypes = {{
    {"file", S_IFREG, DT_REG},
    {"dir", S_IFDIR, DT_DIR},
    {"symlink", S_IFLNK, DT_LNK},
    {"chardev", S_IFCHR, DT_CHR},
    {"blockdev", S_IFBLK, DT_BLK},
    {"fifo", S_IFIFO, DT_FIFO},
    {"socket", S_IFSOCK, DT_SOCK},
}};

}  // namespace

std::span<const FlagName> open_flags() {
  return kOpenFlags;
}
std::span<const FlagName> rename_flags() {
  return kRenameFlags;
}
std::span<const FlagName> xattr_flags() {
  return kXattrFlags;
}

std::string format_flags(unsigned flags, std::span<const FlagName> names,
                         bool open_access_mode) {
  std::string out;
  auto add = [&](std::string_view part) {
    if (!out.empty())
      out += '|';
    out += part;
  };

  if (open_access_mode) {
    unsigned access = flags & O_ACCMODE;
    if (access == O_RDONLY)
      add("O_RDONLY");
    if (access == O_WRONLY)
      add("O_WRONLY");
    if (access == O_RDWR)
      add("O_RDWR");
    if (access == O_ACCMODE)
      add("O_ACCMODE");
    flags &= ~static_cast<unsigned>(O_ACCMODE);
  }

  for (const FlagName& flag : names) {
    if ((flags & flag.value) == flag.value) {
      add(flag.name);
      flags &= ~flag.value;
    }
  }
  if (flags != 0)
    add(fmt::format("{:#x}", flags));
  if (out.empty())
    return std::string(1, '0');
  return out;
}

std::optional<mode_t> type_from_name(std::string_view name) {
  for (const TypeName& t : kTypes)
    if (t.name == name)
      return t.type;
  return std::nullopt;
}

std::optional<unsigned char> dtype_from_name(std::string_view name) {
  if (name == "unknown")
    return DT_UNKNOWN;
  for (const TypeName& t : kTypes)
    if (t.name == name)
      return t.dtype;
  return std::nullopt;
}

std::string_view dtype_name(unsigned char type) {
  for (const TypeName& t : kTypes)
    if (t.dtype == type)
      return t.name;
  return "unknown";
}

int errno_from_name(std::string_view name) {
  if (name == "ENOTSUP")
    return ENOTSUP;
  if (name == "EWOULDBLOCK")
    return EWOULDBLOCK;
  if (name == "EDEADLOCK")
    return EDEADLOCK;
  return model::errno_from_name(name);
}

bool is_bare_word(std::string_view word) {
  if (word.empty() || word == "->")
    return false;
  for (unsigned char c : word) {
    // A bare word with '=' would read as KEY=VALUE.
    if (c <= ' ' || c >= 0x7f || c == '"' || c == '#' || c == '[' || c == ']' ||
        c == '=')
      return false;
  }
  return true;
}

std::string quote(std::string_view bytes) {
  std::string out = "\"";
  for (unsigned char c : bytes) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < ' ' || c >= 0x7f)
          out += fmt::format("\\x{:02x}", c);
        else
          out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

std::string word(std::string_view bytes) {
  if (is_bare_word(bytes))
    return std::string(bytes);
  return quote(bytes);
}

std::string_view shorthand_default(std::string_view shorthand) {
  if (shorthand == "opaque" || shorthand == "impure")
    return "y";
  return "";
}

}  // namespace ovlsim::trace::syntax
