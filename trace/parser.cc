#include "trace/parser.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "model/xattr.h"
#include "trace/syntax.h"

namespace ovlsim::trace {

std::string ParseError::str() const {
  if (line == 0)
    return fmt::format("{}: {}", file, message);
  return fmt::format("{}:{}:{}: {}", file, line, col, message);
}

namespace {

// The characters of a filesystem name ("lower fs=NAME").
constexpr std::string_view kNameChars =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";

// ---- Lexing: one line into tokens.

// A token: a run of non-blank bytes, where a double-quoted part may hold
// blanks and escapes. "[" and "]" outside quotes are tokens of their own.
struct Token {
  std::string text;     // the token with quotes removed and escapes applied
  int col = 0;          // 1-based column of its first byte
  bool quoted = false;  // the token is one quoted string, nothing else
  bool bare = true;     // the token holds no quoted part at all

  // For "key=value" tokens whose key is unquoted: the key, the value
  // (unescaped) and the value's column. Empty key otherwise.
  std::string key;
  std::string value;
  int value_col = 0;
  bool has_eq = false;
};

struct Line {
  int number = 0;
  std::string_view raw;  // without the newline
  std::vector<Token> tokens;
  bool free_text = false;  // a title or description line, lexed whole
};

// Where a word stands, for errors found after its line was read.
struct Place {
  int line = 0;
  int col = 0;
};

// The reason a parse stops; thrown only inside this file and always caught
// by parse_trace.
struct Failure {
  int line;
  int col;
  std::string message;
};

[[noreturn]] void fail(int line, int col, std::string message) {
  throw Failure{line, col, std::move(message)};
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// Reads a quoted part starting at raw[pos] == '"' and appends its bytes to
// `out`. Returns the position after the closing quote.
size_t read_quoted(const Line& line, size_t pos, std::string& out) {
  size_t start = pos;
  ++pos;
  while (pos < line.raw.size()) {
    char c = line.raw[pos];
    if (c == '"')
      return pos + 1;
    if (c != '\\') {
      out += c;
      ++pos;
      continue;
    }
    if (pos + 1 >= line.raw.size())
      break;
    char e = line.raw[pos + 1];
    int col = static_cast<int>(pos) + 1;
    switch (e) {
      case '\\':
        out += '\\';
        break;
      case '"':
        out += '"';
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case '0':
        out += '\0';
        break;
      case 'x': {
        int hi = pos + 2 < line.raw.size() ? hex_digit(line.raw[pos + 2]) : -1;
        int lo = pos + 3 < line.raw.size() ? hex_digit(line.raw[pos + 3]) : -1;
        if (hi < 0 || lo < 0)
          fail(line.number, col, "bad escape: \\x needs two hex digits");
        out += static_cast<char>(hi * 16 + lo);
        pos += 2;
        break;
      }
      default:
        fail(line.number, col, fmt::format("bad escape '\\{}' in string", e));
    }
    pos += 2;
  }
  fail(line.number, static_cast<int>(start) + 1, "unterminated string");
}

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

void lex(Line& line) {
  std::string_view raw = line.raw;
  size_t pos = 0;
  while (pos < raw.size()) {
    if (is_blank(raw[pos])) {
      ++pos;
      continue;
    }
    if (raw[pos] == '#')
      break;

    Token tok;
    tok.col = static_cast<int>(pos) + 1;
    if (raw[pos] == '[' || raw[pos] == ']') {
      tok.text = std::string(1, raw[pos]);
      line.tokens.push_back(std::move(tok));
      ++pos;
      continue;
    }

    tok.quoted = raw[pos] == '"';
    bool seen_quote = false;
    size_t eq = std::string::npos;
    while (pos < raw.size() && !is_blank(raw[pos]) && raw[pos] != '[' &&
           raw[pos] != ']') {
      char c = raw[pos];
      if (tok.quoted && seen_quote)
        fail(line.number, static_cast<int>(pos) + 1,
             "unexpected character after a string");
      if (c == '"') {
        seen_quote = true;
        tok.bare = false;
        pos = read_quoted(line, pos, tok.text);
        continue;
      }
      if (static_cast<unsigned char>(c) < ' ' || c == 0x7f)
        fail(line.number, static_cast<int>(pos) + 1,
             "control character outside a string");
      if (c == '=' && eq == std::string::npos && !seen_quote) {
        eq = tok.text.size();
        tok.value_col = static_cast<int>(pos) + 2;
      }
      tok.text += c;
      ++pos;
    }
    if (eq != std::string::npos) {
      tok.has_eq = true;
      tok.key = tok.text.substr(0, eq);
      tok.value = tok.text.substr(eq + 1);
    }
    line.tokens.push_back(std::move(tok));
  }
}

// ---- Small values.

const Token& token(const Line& line, size_t i, std::string_view what) {
  if (i >= line.tokens.size()) {
    int col = static_cast<int>(line.raw.size()) + 1;
    fail(line.number, col, fmt::format("missing {}", what));
  }
  return line.tokens[i];
}

template <typename T>
T number(const Line& line, const Token& tok, std::string_view what,
         int base = 10) {
  T value{};
  const char* begin = tok.text.data();
  const char* end = begin + tok.text.size();
  auto [ptr, ec] = std::from_chars(begin, end, value, base);
  if (tok.quoted || tok.text.empty() || ec != std::errc() || ptr != end)
    fail(line.number, tok.col, fmt::format("bad {} '{}'", what, tok.text));
  return value;
}

// The number of a "key=value" token's value.
template <typename T>
T attr_number(const Line& line, const Token& tok, std::string_view what,
              int base = 10) {
  Token value = tok;
  value.text = tok.value;
  value.col = tok.value_col;
  value.quoted = false;
  return number<T>(line, value, what, base);
}

mode_t octal_mode(const Line& line, const Token& tok) {
  const std::string& s = tok.text;
  bool digits = !s.empty() && !tok.quoted &&
                std::all_of(s.begin(), s.end(),
                            [](char c) { return c >= '0' && c <= '7'; });
  unsigned value = 0;
  if (digits && s.size() <= 6)
    value = std::stoul(s, nullptr, 8);
  if (!digits || s.size() > 6 || value > 07777)
    fail(line.number, tok.col, fmt::format("bad octal mode '{}'", s));
  return static_cast<mode_t>(value);
}

dev_t device(const Line& line, const Token& tok, int col) {
  size_t colon = tok.text.find(':');
  if (colon == std::string::npos)
    fail(line.number, col,
         fmt::format("bad device '{}': expected MAJOR:MINOR", tok.text));
  Token major = tok, minor = tok;
  major.text = tok.text.substr(0, colon);
  minor.text = tok.text.substr(colon + 1);
  major.col = minor.col = col;
  major.quoted = minor.quoted = false;
  return makedev(number<unsigned>(line, major, "device major"),
                 number<unsigned>(line, minor, "device minor"));
}

// A path in a layer or a state expectation: absolute, no empty, "." or
// ".." component, no NUL, components of at most 255 bytes.
std::string layer_path(const Line& line, const Token& tok) {
  const std::string& p = tok.text;
  auto bad = [&](std::string_view why) {
    fail(line.number, tok.col, fmt::format("bad path '{}': {}", p, why));
  };
  if (p.empty() || p[0] != '/')
    bad("must be absolute");
  if (p.find('\0') != std::string::npos)
    bad("holds a NUL byte");
  if (p == "/")
    return p;
  if (p.back() == '/')
    bad("ends in '/'");
  size_t pos = 1;
  while (pos <= p.size()) {
    size_t end = p.find('/', pos);
    if (end == std::string::npos)
      end = p.size();
    std::string_view name(p.data() + pos, end - pos);
    if (name.empty())
      bad("empty component");
    if (name == "." || name == "..")
      bad("'.' and '..' are not allowed");
    if (name.size() > 255)
      bad("component longer than 255 bytes");
    pos = end + 1;
  }
  return p;
}

// A path given to a syscall: anything without a NUL byte.
std::string op_path(const Line& line, const Token& tok) {
  if (tok.text.find('\0') != std::string::npos)
    fail(line.number, tok.col,
         fmt::format("bad path '{}': holds a NUL byte", tok.text));
  return tok.text;
}

unsigned flags(const Line& line, const Token& tok,
               std::span<const syntax::FlagName> names, bool open) {
  unsigned value = 0;
  size_t pos = 0;
  const std::string& s = tok.text;
  if (tok.quoted)
    fail(line.number, tok.col, "flags must not be quoted");
  while (pos <= s.size()) {
    size_t end = s.find('|', pos);
    if (end == std::string::npos)
      end = s.size();
    std::string part = s.substr(pos, end - pos);
    int col = tok.col + static_cast<int>(pos);
    bool known = false;
    if (open && (part == "O_RDONLY" || part == "O_WRONLY" || part == "O_RDWR" ||
                 part == "O_ACCMODE")) {
      value |= part == "O_RDONLY"   ? O_RDONLY
               : part == "O_WRONLY" ? O_WRONLY
               : part == "O_RDWR"   ? O_RDWR
                                    : O_ACCMODE;
      known = true;
    }
    for (const syntax::FlagName& flag : names) {
      if (!known && flag.name == part) {
        value |= flag.value;
        known = true;
      }
    }
    if (!known && !part.empty() && part[0] >= '0' && part[0] <= '9') {
      Token num = tok;
      num.col = col;
      bool hex = part.starts_with("0x");
      num.text = hex ? part.substr(2) : part;
      value |= number<unsigned>(line, num, "flag value", hex ? 16 : 10);
      known = true;
    }
    if (!known)
      fail(line.number, col, fmt::format("unknown flag '{}'", part));
    pos = end + 1;
  }
  return value;
}

model::Timespec time_arg(const Line& line, const Token& tok) {
  if (tok.text == "now")
    return {0, UTIME_NOW};
  if (tok.text == "omit")
    return {0, UTIME_OMIT};
  size_t dot = tok.text.find('.');
  Token sec = tok, nsec = tok;
  sec.text = tok.text.substr(0, dot);
  model::Timespec t;
  t.sec = number<std::int64_t>(line, sec, "time");
  if (dot != std::string::npos) {
    nsec.text = tok.text.substr(dot + 1);
    nsec.col = tok.col + static_cast<int>(dot) + 1;
    if (nsec.text.size() != 9)
      fail(line.number, nsec.col,
           fmt::format("bad time '{}': nanoseconds need 9 digits", tok.text));
    t.nsec = number<std::int64_t>(line, nsec, "nanoseconds");
  }
  return t;
}

// ---- Layer entries and the trees built from them.

struct Entry {
  int line = 0;
  int col = 0;
  std::string path;
  model::InodeAttrs attrs;
  std::optional<std::string> link_to;  // a hard link to this path
};

constexpr std::string_view kEntryKinds[] = {
    "file", "dir",    "symlink",  "chardev",   "blockdev",
    "fifo", "socket", "whiteout", "xwhiteout", "link"};

bool is_entry_kind(std::string_view word) {
  return std::find(std::begin(kEntryKinds), std::end(kEntryKinds), word) !=
         std::end(kEntryKinds);
}

mode_t default_perm(mode_t type) {
  switch (type) {
    case S_IFDIR:
      return 0755;
    case S_IFLNK:
      return 0777;
  }
  return 0644;
}

bool is_shorthand(std::string_view word) {
  return std::find(std::begin(syntax::kShorthands),
                   std::end(syntax::kShorthands),
                   word) != std::end(syntax::kShorthands);
}

// Applies the attributes tokens[i..] to an entry.
void entry_attrs(const Line& line, size_t i, const std::string& prefix,
                 Entry& entry) {
  std::set<std::string> seen;
  for (; i < line.tokens.size(); ++i) {
    const Token& tok = line.tokens[i];
    std::string key = tok.has_eq ? tok.key : tok.text;
    if (tok.quoted || key.empty())
      fail(line.number, tok.col,
           fmt::format("expected an attribute (key=value), found '{}'",
                       tok.text));
    if (!seen.insert(key).second)
      fail(line.number, tok.col, fmt::format("duplicate attribute '{}'", key));

    model::InodeAttrs& a = entry.attrs;
    bool shorthand = is_shorthand(key);
    if (key == "mode" && tok.has_eq) {
      Token value = tok;
      value.text = tok.value;
      value.col = tok.value_col;
      value.quoted = false;
      a.mode = (a.mode & S_IFMT) | octal_mode(line, value);
    } else if (key == "uid" && tok.has_eq) {
      a.uid = attr_number<uid_t>(line, tok, "uid");
    } else if (key == "gid" && tok.has_eq) {
      a.gid = attr_number<gid_t>(line, tok, "gid");
    } else if (shorthand) {
      std::string value =
          tok.has_eq ? tok.value : std::string(syntax::shorthand_default(key));
      std::string name = prefix + key;
      if (!a.xattrs.emplace(name, value).second)
        fail(line.number, tok.col, fmt::format("duplicate xattr '{}'", name));
    } else if (key.find('.') != std::string::npos && tok.has_eq) {
      if (!a.xattrs.emplace(key, tok.value).second)
        fail(line.number, tok.col, fmt::format("duplicate xattr '{}'", key));
    } else {
      fail(line.number, tok.col, fmt::format("unknown attribute '{}'", key));
    }
  }
}

// Parses an entry line whose kind is tokens[i].
Entry parse_entry(const Line& line, size_t i, const std::string& prefix) {
  const Token& kind_tok = line.tokens[i];
  const std::string& kind = kind_tok.text;
  if (!is_entry_kind(kind) || kind_tok.quoted)
    fail(line.number, kind_tok.col,
         fmt::format("unknown entry kind '{}'", kind));

  Entry entry;
  const Token& path_tok = token(line, i + 1, "path");
  entry.line = line.number;
  entry.col = path_tok.col;
  entry.path = layer_path(line, path_tok);
  size_t next = i + 2;
  model::InodeAttrs& a = entry.attrs;

  auto positional = [&](std::string_view what) -> const Token& {
    const Token& tok = token(line, next, what);
    if (tok.has_eq && !tok.quoted)
      fail(line.number, tok.col,
           fmt::format("missing {} before '{}'", what, tok.text));
    ++next;
    return tok;
  };

  if (kind == "link") {
    entry.link_to = layer_path(line, positional("link target"));
  } else if (kind == "whiteout") {
    a.mode = S_IFCHR;
    a.rdev = makedev(0, 0);
  } else if (kind == "xwhiteout") {
    a.mode = S_IFREG | 0644;
    a.xattrs.emplace(prefix + std::string(model::kWhiteout), "");
  } else {
    mode_t type = *syntax::type_from_name(kind);
    a.mode = type | default_perm(type);
    if (type == S_IFREG && next < line.tokens.size() &&
        line.tokens[next].quoted) {
      a.data = line.tokens[next++].text;
    } else if (type == S_IFREG && next < line.tokens.size() &&
               !line.tokens[next].has_eq &&
               !is_shorthand(line.tokens[next].text)) {
      // A bare shorthand ("file /a opaque") is an attribute, not content.
      const Token& tok = line.tokens[next];
      fail(line.number, tok.col,
           fmt::format("file content must be quoted: '{}'", tok.text));
    } else if (type == S_IFLNK) {
      a.data = positional("symlink target").text;
      if (a.data.empty())
        fail(line.number, line.tokens[next - 1].col, "empty symlink target");
    } else if (type == S_IFCHR || type == S_IFBLK) {
      const Token& tok = positional("device (MAJOR:MINOR)");
      a.rdev = device(line, tok, tok.col);
    }
  }

  if (kind == "whiteout" || kind == "link") {
    if (next < line.tokens.size())
      fail(line.number, line.tokens[next].col,
           fmt::format("unexpected '{}' after a {}", line.tokens[next].text,
                       kind));
    return entry;
  }
  entry_attrs(line, next, prefix, entry);
  return entry;
}

size_t depth(const std::string& path) {
  return path == "/" ? 0 : std::count(path.begin(), path.end(), '/');
}

// Builds a layer from its entries. Missing parents become directories with
// mode 0755 owned by root.
model::Layer build_tree(std::vector<Entry> entries) {
  model::Layer layer;
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) {
                     return depth(a.path) < depth(b.path);
                   });

  auto parent_of = [&](const Entry& e) {
    model::InodeNumber dir = layer.root();
    size_t pos = 1;
    for (;;) {
      size_t end = e.path.find('/', pos);
      if (end == std::string::npos)
        break;
      std::string name = e.path.substr(pos, end - pos);
      std::optional<model::InodeNumber> child = layer.lookup(dir, name);
      if (!child) {
        model::InodeAttrs attrs;
        attrs.mode = S_IFDIR | 0755;
        child = layer.create(dir, name, attrs);
      } else if (!layer.inode(*child).is_dir()) {
        fail(e.line, e.col,
             fmt::format("parent '{}' of '{}' is not a directory",
                         e.path.substr(0, end), e.path));
      }
      dir = *child;
      pos = end + 1;
    }
    return std::make_pair(dir, e.path.substr(pos));
  };

  for (const Entry& e : entries) {
    if (e.link_to)
      continue;
    if (e.path == "/") {
      if (!S_ISDIR(e.attrs.mode))
        fail(e.line, e.col, "the root must be a directory");
      model::Inode& root = layer.inode(layer.root());
      root.mode = e.attrs.mode;
      root.uid = e.attrs.uid;
      root.gid = e.attrs.gid;
      root.xattrs = e.attrs.xattrs;
      continue;
    }
    auto [dir, name] = parent_of(e);
    if (layer.lookup(dir, name))
      fail(e.line, e.col, fmt::format("duplicate entry '{}'", e.path));
    layer.create(dir, name, e.attrs);
  }

  for (const Entry& e : entries) {
    if (!e.link_to)
      continue;
    std::optional<model::InodeNumber> target = layer.find(*e.link_to);
    if (!target || layer.inode(*target).is_dir())
      fail(e.line, e.col,
           fmt::format("link target '{}' is not a non-directory of this layer",
                       *e.link_to));
    if (e.path == "/")
      fail(e.line, e.col, "the root cannot be a link");
    auto [dir, name] = parent_of(e);
    if (layer.lookup(dir, name))
      fail(e.line, e.col, fmt::format("duplicate entry '{}'", e.path));
    layer.link(dir, name, *target);
  }
  return layer;
}

// Rejects an entry whose path an earlier entry of the same tree used.
void add_entry(std::vector<Entry>& entries, Entry entry) {
  for (const Entry& e : entries)
    if (e.path == entry.path)
      fail(entry.line, entry.col,
           fmt::format("duplicate entry '{}' (first on line {})", entry.path,
                       e.line));
  entries.push_back(std::move(entry));
}

// ---- Operations.

// The arguments of each operation, in order. Upper-case letters are
// required, and a '?' makes the rest optional.
//   P path  Q second path  F file name  N xattr name  D data (a string)
//   M mode  O open flags   C count      X offset or length
//   U uid   G gid          A atime      T mtime
//   R rename flags  Z xattr flags  K mknod type  V device
struct OpSyntax {
  OpKind kind;
  std::string_view args;
};

constexpr OpSyntax kOpSyntax[] = {
    {OpKind::kStat, "P"},         {OpKind::kLstat, "P"},
    {OpKind::kOpen, "FPO?M"},     {OpKind::kClose, "F"},
    {OpKind::kRead, "FC"},        {OpKind::kPread, "FCX"},
    {OpKind::kWrite, "FD"},       {OpKind::kPwrite, "FDX"},
    {OpKind::kFstat, "F"},        {OpKind::kTruncate, "PX"},
    {OpKind::kFtruncate, "FX"},   {OpKind::kMkdir, "PM"},
    {OpKind::kMknod, "PKM?V"},    {OpKind::kSymlink, "DP"},
    {OpKind::kReadlink, "P"},     {OpKind::kUnlink, "P"},
    {OpKind::kRmdir, "P"},        {OpKind::kChmod, "PM"},
    {OpKind::kChown, "PUG"},      {OpKind::kLchown, "PUG"},
    {OpKind::kUtimens, "PAT"},    {OpKind::kLutimens, "PAT"},
    {OpKind::kSetxattr, "PND?Z"}, {OpKind::kLsetxattr, "PND?Z"},
    {OpKind::kGetxattr, "PN"},    {OpKind::kLgetxattr, "PN"},
    {OpKind::kListxattr, "P"},    {OpKind::kLlistxattr, "P"},
    {OpKind::kRemovexattr, "PN"}, {OpKind::kLremovexattr, "PN"},
    {OpKind::kReaddir, "P"},      {OpKind::kRename, "PQ?R"},
    {OpKind::kLink, "PQ"},
};

std::string_view op_args(OpKind kind) {
  for (const OpSyntax& s : kOpSyntax)
    if (s.kind == kind)
      return s.args;
  return "";
}

std::string_view arg_name(char arg) {
  switch (arg) {
    case 'P':
      return "path";
    case 'Q':
      return "second path";
    case 'F':
      return "file name";
    case 'N':
      return "xattr name";
    case 'D':
      return "data";
    case 'M':
      return "mode";
    case 'O':
      return "open flags";
    case 'C':
      return "count";
    case 'X':
      return "offset";
    case 'U':
      return "uid";
    case 'G':
      return "gid";
    case 'A':
      return "atime";
    case 'T':
      return "mtime";
    case 'R':
      return "rename flags";
    case 'Z':
      return "xattr flags";
    case 'K':
      return "file type";
    case 'V':
      return "device";
  }
  return "argument";
}

bool is_fd_name(std::string_view s) {
  if (s.empty() ||
      !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_'))
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

void op_arg(const Line& line, const Token& tok, char arg, Op& op) {
  switch (arg) {
    case 'P':
      op.path = op_path(line, tok);
      break;
    case 'Q':
      op.path2 = op_path(line, tok);
      break;
    case 'F':
      if (tok.quoted || !is_fd_name(tok.text))
        fail(line.number, tok.col,
             fmt::format("bad file name '{}': expected a name like f1",
                         tok.text));
      op.fd = tok.text;
      break;
    case 'N':
      if (tok.text.empty() || tok.text.find('\0') != std::string::npos)
        fail(line.number, tok.col,
             fmt::format("bad xattr name '{}'", tok.text));
      op.name = tok.text;
      break;
    case 'D':
      op.data = tok.text;
      break;
    case 'M':
      op.mode |= octal_mode(line, tok);
      break;
    case 'O':
      op.flags = static_cast<int>(flags(line, tok, syntax::open_flags(), true));
      break;
    case 'C':
      op.count = number<std::size_t>(line, tok, "count");
      break;
    case 'X':
      op.offset = number<off_t>(line, tok, "offset");
      break;
    case 'U':
      op.uid = static_cast<uid_t>(number<std::int64_t>(line, tok, "uid"));
      break;
    case 'G':
      op.gid = static_cast<gid_t>(number<std::int64_t>(line, tok, "gid"));
      break;
    case 'A':
      op.atime = time_arg(line, tok);
      break;
    case 'T':
      op.mtime = time_arg(line, tok);
      break;
    case 'R':
      op.flags =
          static_cast<int>(flags(line, tok, syntax::rename_flags(), false));
      break;
    case 'Z':
      op.flags =
          static_cast<int>(flags(line, tok, syntax::xattr_flags(), false));
      break;
    case 'K': {
      if (tok.text == "0")
        break;
      std::optional<mode_t> type = syntax::type_from_name(tok.text);
      if (!type || tok.quoted)
        fail(line.number, tok.col,
             fmt::format("unknown file type '{}'", tok.text));
      op.mode |= *type;
      break;
    }
    case 'V':
      op.dev = device(line, tok, tok.col);
      break;
  }
}

// ---- Expected outcomes, after "->".

ExpectedStat stat_value(const Line& line, size_t i) {
  ExpectedStat st;
  const Token& type_tok = line.tokens[i];
  std::optional<mode_t> type = syntax::type_from_name(type_tok.text);
  if (!type || type_tok.quoted)
    fail(line.number, type_tok.col,
         fmt::format("expected a file type or an errno, found '{}'",
                     type_tok.text));
  st.mode = *type | octal_mode(line, token(line, i + 1, "mode"));

  std::set<std::string> seen;
  for (i += 2; i < line.tokens.size(); ++i) {
    const Token& tok = line.tokens[i];
    if (!tok.has_eq || !seen.insert(tok.key).second)
      fail(line.number, tok.col,
           fmt::format("unexpected '{}' in a stat result", tok.text));
    if (tok.key == "uid")
      st.uid = attr_number<uid_t>(line, tok, "uid");
    else if (tok.key == "gid")
      st.gid = attr_number<gid_t>(line, tok, "gid");
    else if (tok.key == "size")
      st.size = attr_number<off_t>(line, tok, "size");
    else if (tok.key == "nlink")
      st.nlink = attr_number<nlink_t>(line, tok, "nlink");
    else if (tok.key == "rdev")
      st.rdev = device(line, Token{tok.value, tok.value_col}, tok.value_col);
    else
      fail(line.number, tok.col,
           fmt::format("unknown stat field '{}'", tok.key));
  }
  return st;
}

// The words between "[" at tokens[i] and the closing "]", which must end
// the line.
std::vector<const Token*> list_words(const Line& line, size_t i) {
  std::vector<const Token*> words;
  for (++i; i < line.tokens.size(); ++i) {
    const Token& tok = line.tokens[i];
    if (tok.text == "]" && !tok.quoted) {
      if (i + 1 < line.tokens.size())
        fail(line.number, line.tokens[i + 1].col,
             fmt::format("unexpected '{}' after ']'", line.tokens[i + 1].text));
      return words;
    }
    if (tok.text == "[" && !tok.quoted)
      fail(line.number, tok.col, "unexpected '[' inside a list");
    words.push_back(&tok);
  }
  fail(line.number, static_cast<int>(line.raw.size()) + 1,
       "unterminated list: missing ']'");
}

// What a value-less outcome may be checked against.
enum class ValueShape { kNone, kStat, kString, kNames, kDirents, kCount };

ValueShape value_shape(OpKind kind) {
  switch (kind) {
    case OpKind::kStat:
    case OpKind::kLstat:
    case OpKind::kFstat:
      return ValueShape::kStat;
    case OpKind::kRead:
    case OpKind::kPread:
    case OpKind::kReadlink:
    case OpKind::kGetxattr:
    case OpKind::kLgetxattr:
      return ValueShape::kString;
    case OpKind::kListxattr:
    case OpKind::kLlistxattr:
      return ValueShape::kNames;
    case OpKind::kReaddir:
      return ValueShape::kDirents;
    case OpKind::kWrite:
    case OpKind::kPwrite:
      return ValueShape::kCount;
    default:
      return ValueShape::kNone;
  }
}

// Parses the expectation that starts at tokens[i]. `shape` says which
// value the operation returns.
Expected parse_expected(const Line& line, size_t i, ValueShape shape,
                        std::string_view what) {
  Expected exp;
  const Token& first = token(line, i, "expectation after '->'");
  auto only = [&](size_t count) {
    if (i + count < line.tokens.size())
      fail(line.number, line.tokens[i + count].col,
           fmt::format("unexpected '{}' after the expectation",
                       line.tokens[i + count].text));
  };

  if (!first.quoted && first.text == "ok") {
    only(1);
    return exp;
  }
  if (!first.quoted && first.text.size() > 1 && first.text[0] == 'E' &&
      std::all_of(first.text.begin(), first.text.end(), [](char c) {
        return std::isupper(static_cast<unsigned char>(c)) ||
               std::isdigit(static_cast<unsigned char>(c));
      })) {
    exp.err = syntax::errno_from_name(first.text);
    if (exp.err == 0)
      fail(line.number, first.col,
           fmt::format("unknown errno name '{}'", first.text));
    only(1);
    return exp;
  }

  switch (shape) {
    case ValueShape::kStat:
      exp.value = stat_value(line, i);
      return exp;
    case ValueShape::kString:
      if (!first.quoted)
        fail(line.number, first.col,
             fmt::format("expected a quoted string, ok or an errno, found '{}'",
                         first.text));
      exp.value = first.text;
      only(1);
      return exp;
    case ValueShape::kNames:
    case ValueShape::kDirents: {
      if (first.text != "[" || first.quoted)
        fail(line.number, first.col,
             fmt::format("expected a list in [ ], ok or an errno, found '{}'",
                         first.text));
      std::vector<const Token*> words = list_words(line, i);
      if (shape == ValueShape::kNames) {
        std::vector<std::string> names;
        for (const Token* w : words)
          names.push_back(w->text);
        std::sort(names.begin(), names.end());
        exp.value = names;
        return exp;
      }
      std::vector<ExpectedDirent> dirents;
      for (const Token* w : words) {
        size_t colon = w->text.rfind(':');
        if (colon == std::string::npos || colon == 0)
          fail(line.number, w->col,
               fmt::format("bad directory entry '{}': expected NAME:TYPE",
                           w->text));
        std::optional<unsigned char> type =
            syntax::dtype_from_name(w->text.substr(colon + 1));
        if (!type)
          fail(line.number, w->col,
               fmt::format("unknown type in directory entry '{}'", w->text));
        std::string name = w->text.substr(0, colon);
        // A listing names each entry once.
        if (std::any_of(dirents.begin(), dirents.end(),
                        [&](const auto& d) { return d.name == name; }))
          fail(line.number, w->col,
               fmt::format("duplicate entry '{}' in a listing", name));
        dirents.push_back({std::move(name), *type});
      }
      std::sort(dirents.begin(), dirents.end(),
                [](const auto& a, const auto& b) { return a.name < b.name; });
      exp.value = dirents;
      return exp;
    }
    case ValueShape::kCount:
      exp.value = number<std::size_t>(line, first, "byte count");
      only(1);
      return exp;
    case ValueShape::kNone:
      break;
  }
  fail(line.number, first.col,
       fmt::format("{} returns no value: expected ok or an errno, found '{}'",
                   what, first.text));
}

// ---- The trace.

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Scenario parse() {
    split_lines();
    for (current_ = 0; current_ < lines_.size(); ++current_) {
      Line& line = lines_[current_];
      if (!lex_free_text(line))
        lex(line);
      if (line.tokens.empty())
        continue;
      if (!line.tokens[0].bare)
        fail(line.number, line.tokens[0].col,
             "expected a keyword, found a string");
      if (open_block_) {
        block_line(line);
        continue;
      }
      switch (section_) {
        case Section::kHeader:
          header_line(line);
          break;
        case Section::kLayer:
          layer_line(line);
          break;
        case Section::kSteps:
          step_line(line);
          break;
      }
    }
    if (open_block_)
      fail(open_block_->line, 1,
           fmt::format("unterminated 'expect {}' block: missing 'end'",
                       open_block_->kind == ExpectedState::Kind::kUpper
                           ? "upper"
                           : "merged"));
    finish_layer();
    finish();
    return std::move(scenario_);
  }

 private:
  enum class Section { kHeader, kLayer, kSteps };

  struct OpenBlock {
    ExpectedState::Kind kind;
    int line;
    std::vector<Entry> entries;
  };

  void split_lines() {
    size_t pos = 0;
    int number = 1;
    while (pos <= text_.size()) {
      size_t end = text_.find('\n', pos);
      if (end == std::string_view::npos)
        end = text_.size();
      std::string_view raw = text_.substr(pos, end - pos);
      if (!raw.empty() && raw.back() == '\r')
        raw.remove_suffix(1);
      lines_.push_back(Line{number++, raw, {}});
      if (end == text_.size())
        break;
      pos = end + 1;
    }
  }

  // Title and description lines hold free text, which is not split into
  // words: a lone '"' or a '#' in it is text. Gives such a line its
  // keyword as its only token and returns true; returns false for other
  // lines.
  static bool lex_free_text(Line& line) {
    size_t start = line.raw.find_first_not_of(" \t");
    if (start == std::string_view::npos)
      return false;
    std::string_view rest = line.raw.substr(start);
    for (std::string_view keyword : {"title", "description"}) {
      if (!rest.starts_with(keyword))
        continue;
      if (rest.size() > keyword.size() && !is_blank(rest[keyword.size()]))
        continue;
      for (size_t i = start; i < line.raw.size(); ++i) {
        unsigned char c = line.raw[i];
        if ((c < ' ' && c != '\t') || c == 0x7f)
          fail(line.number, static_cast<int>(i) + 1,
               fmt::format("control character in a {} line", keyword));
      }
      Token tok;
      tok.text = std::string(keyword);
      tok.col = static_cast<int>(start) + 1;
      line.tokens.push_back(std::move(tok));
      line.free_text = true;
      return true;
    }
    return false;
  }

  // The text after the keyword, for title and description lines: taken as
  // it is, without quoting or comments.
  static std::string rest_of_line(const Line& line, const Token& keyword) {
    size_t start = static_cast<size_t>(keyword.col - 1) + keyword.text.size();
    std::string_view rest = line.raw.substr(std::min(start, line.raw.size()));
    size_t first = rest.find_first_not_of(" \t");
    if (first == std::string_view::npos)
      return "";
    size_t last = rest.find_last_not_of(" \t");
    return std::string(rest.substr(first, last - first + 1));
  }

  void no_more(const Line& line, size_t i) {
    if (i < line.tokens.size())
      fail(line.number, line.tokens[i].col,
           fmt::format("unexpected '{}'", line.tokens[i].text));
  }

  std::string prefix() const {
    return scenario_.mount_options.userxattr ? "user.overlay."
                                             : "trusted.overlay.";
  }

  void header_line(const Line& line) {
    const Token& kw = line.tokens[0];
    // "title[x": the lexer split a word that free text would have kept.
    if ((kw.text == "title" || kw.text == "description") && !kw.quoted &&
        !line.free_text)
      fail(line.number, kw.col + static_cast<int>(kw.text.size()),
           fmt::format("expected a blank after '{}'", kw.text));
    if (kw.text == "title" && !kw.quoted) {
      if (seen_title_)
        fail(line.number, kw.col, "duplicate title");
      seen_title_ = true;
      scenario_.title = rest_of_line(line, kw);
      if (scenario_.title.empty())
        fail(line.number, kw.col, "empty title");
    } else if (kw.text == "description" && !kw.quoted) {
      if (!scenario_.description.empty() || seen_description_)
        scenario_.description += '\n';
      seen_description_ = true;
      scenario_.description += rest_of_line(line, kw);
    } else if (kw.text == "kernel" && !kw.quoted) {
      kernel_line(line);
    } else if (kw.text == "options" && !kw.quoted) {
      options_line(line);
    } else if (kw.text == "filesystem" && !kw.quoted) {
      filesystem_line(line);
    } else if (kw.text == "mounter" && !kw.quoted) {
      mounter_line(line);
    } else {
      section_line(line);
    }
  }

  // "filesystem NAME uuid=null": a backing filesystem with a null UUID.
  void filesystem_line(const Line& line) {
    const Token& name = token(line, 1, "filesystem name");
    if (name.quoted ||
        name.text.find_first_not_of(kNameChars) != std::string::npos)
      fail(line.number, name.col,
           fmt::format("bad filesystem name '{}': expected letters, digits, "
                       "'_' or '-'",
                       name.text));
    if (!declared_fs_.emplace(name.text, Place{line.number, name.col}).second)
      fail(line.number, name.col,
           fmt::format("duplicate filesystem '{}'", name.text));
    const Token& attr = token(line, 2, "'uuid=null'");
    if (attr.quoted || attr.text != "uuid=null")
      fail(line.number, attr.col,
           fmt::format("unknown filesystem attribute '{}': expected "
                       "'uuid=null'",
                       attr.text));
    no_more(line, 3);
    scenario_.null_uuid_fs.push_back(name.text);
  }

  // "mounter root|userns": who mounts the overlay and makes the calls.
  void mounter_line(const Line& line) {
    const Token& kw = line.tokens[0];
    if (mounter_.line != 0)
      fail(line.number, kw.col, "duplicate mounter line");
    const Token& who = token(line, 1, "'root' or 'userns'");
    if (who.quoted || (who.text != "root" && who.text != "userns"))
      fail(line.number, who.col,
           fmt::format("unknown mounter '{}': expected 'root' or 'userns'",
                       who.text));
    no_more(line, 2);
    scenario_.userns = who.text == "userns";
    mounter_ = {line.number, who.col};
  }

  void kernel_line(const Line& line) {
    const Token& kw = line.tokens[0];
    if (scenario_.kernel)
      fail(line.number, kw.col, "duplicate kernel line");
    const Token& tok = token(line, 1, "kernel version (MAJOR.MINOR)");
    size_t dot = tok.text.find('.');
    if (dot == std::string::npos)
      fail(line.number, tok.col,
           fmt::format("bad kernel version '{}': expected MAJOR.MINOR",
                       tok.text));
    Token major = tok, minor = tok;
    major.text = tok.text.substr(0, dot);
    minor.text = tok.text.substr(dot + 1);
    minor.col = tok.col + static_cast<int>(dot) + 1;
    model::KernelVersion version;
    version.major = number<int>(line, major, "kernel major version");
    version.minor = number<int>(line, minor, "kernel minor version");
    scenario_.kernel = version;
    no_more(line, 2);
  }

  void options_line(const Line& line) {
    const Token& kw = line.tokens[0];
    if (seen_options_)
      fail(line.number, kw.col, "duplicate options line");
    seen_options_ = true;
    for (size_t i = 1; i < line.tokens.size(); ++i) {
      const Token& tok = line.tokens[i];
      size_t pos = 0;
      while (pos <= tok.text.size()) {
        size_t end = tok.text.find(',', pos);
        if (end == std::string::npos)
          end = tok.text.size();
        std::string option = tok.text.substr(pos, end - pos);
        int col = tok.col + static_cast<int>(pos);
        bool good = !option.empty() && !tok.quoted &&
                    std::all_of(option.begin(), option.end(), [](char c) {
                      return std::isalnum(static_cast<unsigned char>(c)) ||
                             c == '_' || c == '=' || c == '+' || c == '-';
                    });
        if (!good)
          fail(line.number, col, fmt::format("bad option '{}'", option));
        scenario_.options.push_back(option);
        model::Status st = model::apply_option(scenario_.mount_options, option);
        if (!st.ok() && scenario_.options_error == 0)
          scenario_.options_error = st.err();
        pos = end + 1;
      }
    }
  }

  // "upper [LABEL]", "lower [LABEL]" or "steps": the start of a section.
  void section_line(const Line& line) {
    const Token& kw = line.tokens[0];
    if (kw.quoted)
      fail(line.number, kw.col, "expected a keyword");
    if (kw.text == "upper" || kw.text == "lower") {
      finish_layer();
      if (kw.text == "upper" && seen_upper_)
        fail(line.number, kw.col, "duplicate upper layer");
      std::string label, fs;
      std::size_t i = 1;
      if (i < line.tokens.size() && !line.tokens[i].text.starts_with("fs="))
        label = line.tokens[i++].text;
      if (i < line.tokens.size() && line.tokens[i].text.starts_with("fs=")) {
        const Token& tok = line.tokens[i++];
        fs = tok.text.substr(3);
        if (tok.quoted || fs.empty() ||
            fs.find_first_not_of(kNameChars) != std::string::npos)
          fail(line.number, tok.col,
               fmt::format("bad filesystem name '{}': expected letters, "
                           "digits, '_' or '-'",
                           fs));
      }
      no_more(line, i);
      section_ = Section::kLayer;
      layer_is_upper_ = kw.text == "upper";
      layer_label_ = label;
      layer_fs_ = fs;
      if (layer_is_upper_)
        seen_upper_ = true;
      layer_entries_.clear();
      return;
    }
    if (kw.text == "steps") {
      finish_layer();
      if (section_ == Section::kSteps)
        fail(line.number, kw.col, "duplicate steps section");
      no_more(line, 1);
      section_ = Section::kSteps;
      return;
    }
    if (kw.text == "title" || kw.text == "description" || kw.text == "kernel" ||
        kw.text == "options" || kw.text == "filesystem" || kw.text == "mounter")
      fail(line.number, kw.col,
           fmt::format("'{}' must come before the layers and steps", kw.text));
    if (kw.text == "end")
      fail(line.number, kw.col, "'end' without an 'expect' block");
    if (op_kind_from_name(kw.text) && !is_entry_kind(kw.text))
      fail(line.number, kw.col,
           fmt::format("operation '{}' before 'steps'", kw.text));
    if (section_ == Section::kHeader && (is_entry_kind(kw.text)))
      fail(line.number, kw.col,
           fmt::format("'{}' entry outside a layer: start one with 'upper' or "
                       "'lower'",
                       kw.text));
    fail(line.number, kw.col, fmt::format("unknown keyword '{}'", kw.text));
  }

  void layer_line(const Line& line) {
    const Token& kw = line.tokens[0];
    if (!kw.quoted && (kw.text == "upper" || kw.text == "lower" ||
                       kw.text == "steps" || !is_entry_kind(kw.text))) {
      section_line(line);
      return;
    }
    add_entry(layer_entries_, parse_entry(line, 0, prefix()));
  }

  void finish_layer() {
    if (section_ != Section::kLayer)
      return;
    model::Layer layer = build_tree(std::move(layer_entries_));
    layer_entries_.clear();
    if (layer_is_upper_) {
      scenario_.stack.upper = std::move(layer);
      scenario_.upper_label = layer_label_;
      scenario_.upper_fs = layer_fs_;
    } else {
      scenario_.stack.lowers.push_back(std::move(layer));
      scenario_.lower_labels.push_back(layer_label_);
      scenario_.lower_fs.push_back(layer_fs_);
    }
    section_ = Section::kHeader;
  }

  // The expectations of the step before, or of the mount.
  std::vector<ExpectedState>& states_target(const Line& line, int col) {
    if (!scenario_.steps.empty())
      return scenario_.steps.back().states;
    if (!seen_mount_)
      fail(line.number, col,
           "'expect' before any step: write 'mount' first to check the state "
           "after mount");
    return scenario_.mount_states;
  }

  void step_line(const Line& line) {
    const Token& kw = line.tokens[0];
    if (kw.quoted)
      fail(line.number, kw.col, "expected an operation");
    if (kw.text == "expect") {
      expect_line(line);
      return;
    }
    if (kw.text == "mount") {
      mount_line(line);
      return;
    }
    if (kw.text == "steps")
      fail(line.number, kw.col, "duplicate steps section");
    std::optional<OpKind> kind = op_kind_from_name(kw.text);
    if (!kind) {
      if (kw.text == "upper" || kw.text == "lower" || kw.text == "title" ||
          kw.text == "options" || kw.text == "kernel" ||
          kw.text == "description" || kw.text == "steps" ||
          kw.text == "filesystem" || kw.text == "mounter")
        fail(line.number, kw.col,
             fmt::format("'{}' must come before the steps", kw.text));
      if (kw.text == "end")
        fail(line.number, kw.col, "'end' without an 'expect' block");
      fail(line.number, kw.col, fmt::format("unknown operation '{}'", kw.text));
    }

    Step step;
    step.line = line.number;
    step.op.kind = *kind;
    if (*kind == OpKind::kOpen)
      step.op.mode = 0666;
    std::string_view args = op_args(*kind);
    size_t i = 1;
    bool optional = false;
    for (char arg : args) {
      if (arg == '?') {
        optional = true;
        continue;
      }
      bool at_end = i >= line.tokens.size() ||
                    (line.tokens[i].text == "->" && !line.tokens[i].quoted);
      if (at_end && optional)
        break;
      if (at_end)
        fail(line.number,
             i < line.tokens.size() ? line.tokens[i].col
                                    : static_cast<int>(line.raw.size()) + 1,
             fmt::format("{}: missing {}", kw.text, arg_name(arg)));
      if (arg == 'M' && *kind == OpKind::kOpen)
        step.op.mode = 0;
      op_arg(line, line.tokens[i], arg, step.op);
      ++i;
    }
    if (i < line.tokens.size()) {
      const Token& tok = line.tokens[i];
      if (tok.text != "->" || tok.quoted)
        fail(line.number, tok.col,
             fmt::format("{}: unexpected argument '{}'", kw.text, tok.text));
      step.expect = parse_expected(line, i + 1, value_shape(*kind), kw.text);
    }
    scenario_.steps.push_back(std::move(step));
  }

  void mount_line(const Line& line) {
    const Token& kw = line.tokens[0];
    if (seen_mount_ || !scenario_.steps.empty())
      fail(line.number, kw.col,
           "'mount' must be the first step, and only once");
    seen_mount_ = true;
    if (line.tokens.size() == 1)
      return;
    const Token& arrow = line.tokens[1];
    if (arrow.text != "->" || arrow.quoted)
      fail(line.number, arrow.col,
           fmt::format("mount: unexpected argument '{}'", arrow.text));
    scenario_.mount_expect =
        parse_expected(line, 2, ValueShape::kNone, "mount");
  }

  void expect_line(const Line& line) {
    const Token& kw = line.tokens[0];
    std::vector<ExpectedState>& target = states_target(line, kw.col);
    const Token& what =
        token(line, 1, "what to expect (upper, merged or an entry)");
    if (!what.quoted && (what.text == "upper" || what.text == "merged")) {
      no_more(line, 2);
      open_block_ =
          OpenBlock{what.text == "upper" ? ExpectedState::Kind::kUpper
                                         : ExpectedState::Kind::kMerged,
                    line.number,
                    {}};
      return;
    }

    ExpectedState state;
    state.kind = ExpectedState::Kind::kPath;
    state.line = line.number;
    if (!what.quoted && what.text == "absent") {
      state.path = layer_path(line, token(line, 2, "path"));
      no_more(line, 3);
    } else if (!what.quoted && is_entry_kind(what.text) &&
               what.text != "link") {
      Entry entry = parse_entry(line, 1, prefix());
      state.path = entry.path;
      state.object = entry.attrs;
    } else {
      fail(line.number, what.col,
           fmt::format("expected upper, merged, absent or an entry kind, "
                       "found '{}'",
                       what.text));
    }
    (void)target;
    states_target(line, kw.col).push_back(std::move(state));
  }

  void block_line(const Line& line) {
    const Token& kw = line.tokens[0];
    if (!kw.quoted && kw.text == "end") {
      no_more(line, 1);
      ExpectedState state;
      state.kind = open_block_->kind;
      state.line = open_block_->line;
      state.end_line = line.number;
      state.to_record = open_block_->entries.empty();
      state.tree = build_tree(std::move(open_block_->entries));
      open_block_.reset();
      states_target(line, kw.col).push_back(std::move(state));
      return;
    }
    if (!kw.quoted && kw.text == "expect")
      fail(line.number, kw.col,
           fmt::format("'expect' inside the 'expect' block of line {}: missing "
                       "'end'",
                       open_block_->line));
    if (!kw.quoted && !is_entry_kind(kw.text) && op_kind_from_name(kw.text))
      fail(line.number, kw.col,
           fmt::format("operation '{}' inside the 'expect' block of line {}: "
                       "missing 'end'",
                       kw.text, open_block_->line));
    add_entry(open_block_->entries, parse_entry(line, 0, prefix()));
  }

  void finish() {
    if (scenario_.title.empty())
      fail(1, 1, "missing title: a trace starts with 'title TEXT'");
    for (const auto& [name, where] : declared_fs_) {
      bool used =
          scenario_.upper_fs == name ||
          std::find(scenario_.lower_fs.begin(), scenario_.lower_fs.end(),
                    name) != scenario_.lower_fs.end();
      if (!used)
        fail(where.line, where.col,
             fmt::format("filesystem '{}' holds no layer: name it with "
                         "fs={} on a layer line",
                         name, name));
    }
    if (scenario_.userns && !scenario_.mount_options.userxattr)
      fail(mounter_.line, mounter_.col,
           "'mounter userns' needs the userxattr option: the model covers "
           "mounts in a user namespace with userxattr only");
    place_layers(scenario_);
  }

  std::string_view text_;
  std::vector<Line> lines_;
  size_t current_ = 0;
  Scenario scenario_;
  Section section_ = Section::kHeader;
  bool seen_title_ = false;
  bool seen_description_ = false;
  Place mounter_;  // line 0: no mounter line yet
  bool seen_options_ = false;
  bool seen_upper_ = false;
  bool seen_mount_ = false;
  bool layer_is_upper_ = false;
  std::string layer_fs_;
  std::map<std::string, Place> declared_fs_;  // where each was declared
  std::string layer_label_;
  std::vector<Entry> layer_entries_;
  std::optional<OpenBlock> open_block_;
};

}  // namespace

std::variant<Scenario, ParseError> parse_trace(std::string_view text,
                                               std::string_view file) {
  try {
    return Parser(text).parse();
  } catch (const Failure& f) {
    return ParseError{std::string(file), f.line, f.col, f.message};
  }
}

std::variant<Scenario, ParseError> parse_trace_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return ParseError{path, 0, 0, "cannot read the file"};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad())
    return ParseError{path, 0, 0, "cannot read the file"};
  return parse_trace(text.str(), path);
}

}  // namespace ovlsim::trace
