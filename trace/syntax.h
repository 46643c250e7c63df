// The vocabulary that the parser and the writer share: names of flags,
// file types and overlay xattr shorthands, and the quoting of words.
//
// Internal to the trace library; doc/trace-format.md is the user's view.
#ifndef OVLSIM_TRACE_SYNTAX_H_
#define OVLSIM_TRACE_SYNTAX_H_

#include <sys/types.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ovlsim::trace::syntax {

// A flag bit and its name, as in "O_CREAT|O_EXCL".
struct FlagName {
  std::string_view name;
  unsigned value;
};

std::span<const FlagName> open_flags();
std::span<const FlagName> rename_flags();
std::span<const FlagName> xattr_flags();

// Flags as "A|B|0x40": known names first, unknown bits as one hex number;
// "0" when no bit is set. For open flags the access mode comes first
// ("O_RDONLY" included, since it is 0).
std::string format_flags(unsigned flags, std::span<const FlagName> names,
                         bool open_access_mode = false);

// The S_IFMT bits for a type name ("file", "dir", "symlink", "chardev",
// "blockdev", "fifo", "socket"), or nullopt.
std::optional<mode_t> type_from_name(std::string_view name);

// The DT_* value for a type name, as readdir reports it ("unknown" is
// DT_UNKNOWN), and back.
std::optional<unsigned char> dtype_from_name(std::string_view name);
std::string_view dtype_name(unsigned char type);

// The errno of a symbolic name, accepting the C library's aliases
// (ENOTSUP, EWOULDBLOCK, EDEADLOCK), or 0 when unknown.
int errno_from_name(std::string_view name);

// True when `word` can be written without quotes: not empty, no spaces,
// no quote, '#', '[', ']', '=' or non-printable byte, and not the "->"
// arrow.
bool is_bare_word(std::string_view word);

// The string in quotes, with \\, \", \n, \t, \r and \xHH escapes.
std::string quote(std::string_view bytes);

// `word` as it is, if bare, else quoted.
std::string word(std::string_view bytes);

// The overlay xattr shorthands of layer entries: "opaque" stands for
// <prefix>opaque, and so on.
inline constexpr std::string_view kShorthands[] = {
    "opaque", "origin",   "impure", "redirect", "metacopy",
    "uuid",   "protattr", "nlink",  "upper"};

// The value a shorthand without "=VALUE" stands for: "y" for opaque and
// impure, "" for the others.
std::string_view shorthand_default(std::string_view shorthand);

}  // namespace ovlsim::trace::syntax

#endif  // OVLSIM_TRACE_SYNTAX_H_
