#include "trace/writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "model/xattr.h"
#include "trace/expect.h"
#include "trace/syntax.h"

namespace ovlsim::trace {

namespace {

std::string prefix_for(bool userxattr) {
  return userxattr ? "user.overlay." : "trusted.overlay.";
}

std::string octal(mode_t mode) {
  return fmt::format("{:04o}", mode & 07777);
}

std::string device(dev_t dev) {
  return fmt::format("{}:{}", major(dev), minor(dev));
}

mode_t default_perm(mode_t type) {
  if (type == S_IFDIR)
    return 0755;
  if (type == S_IFLNK)
    return 0777;
  return 0644;
}

bool is_whiteout(const model::Inode& node) {
  return S_ISCHR(node.mode) && node.rdev == makedev(0, 0) &&
         (node.mode & 07777) == 0 && node.uid == 0 && node.gid == 0 &&
         node.xattrs.empty();
}

bool is_xwhiteout(const model::Inode& node, const std::string& prefix) {
  auto it = node.xattrs.find(prefix + std::string(model::kWhiteout));
  return node.is_reg() && node.data.empty() && it != node.xattrs.end() &&
         it->second.empty();
}

// The attributes after an entry's kind, path and positional arguments.
std::string attrs(const model::Inode& node, mode_t default_mode,
                  const std::string& prefix, bool skip_whiteout_xattr) {
  std::string out;
  if ((node.mode & 07777) != default_mode)
    out += " mode=" + octal(node.mode);
  if (node.uid != 0)
    out += fmt::format(" uid={}", node.uid);
  if (node.gid != 0)
    out += fmt::format(" gid={}", node.gid);
  for (const auto& [name, value] : node.xattrs) {
    if (name.starts_with(prefix)) {
      std::string suffix = name.substr(prefix.size());
      if (skip_whiteout_xattr && suffix == model::kWhiteout)
        continue;
      auto* end = std::end(syntax::kShorthands);
      if (std::find(std::begin(syntax::kShorthands), end, suffix) != end) {
        // origin and uuid are compared by presence (expect.h): their values
        // are file handles and UUIDs that no two targets share.
        if (value == syntax::shorthand_default(suffix) ||
            suffix == model::kOrigin || suffix == model::kUuid)
          out += " " + suffix;
        else
          out += " " + suffix + "=" + syntax::quote(value);
        continue;
      }
    }
    out += " " + name + "=" + syntax::quote(value);
  }
  return out;
}

// True for a directory that the parser would create by itself: a parent
// with default attributes, so its children imply it.
bool implied(const model::Inode& node) {
  return node.is_dir() && (node.mode & 07777) == 0755 && node.uid == 0 &&
         node.gid == 0 && node.xattrs.empty() && !node.entries.empty();
}

// The entry that states `node` at `path` (any kind but "link").
std::string entry_line(const model::Inode& node, const std::string& path,
                       const std::string& prefix) {
  std::string p = syntax::word(path);
  if (is_whiteout(node))
    return "whiteout " + p;
  if (is_xwhiteout(node, prefix))
    return "xwhiteout " + p + attrs(node, 0644, prefix, true);

  mode_t type = node.type();
  std::string rest = attrs(node, default_perm(type), prefix, false);
  // An empty file's content may be left out, except before a bare
  // shorthand ("origin"), which the parser would take for the content.
  std::string_view first = std::string_view(rest).substr(0, rest.find(' ', 1));
  bool bare_next = !first.empty() && first.find('=') == std::string::npos;
  std::string line = fmt::format("{} {}", model::type_name(node.mode), p);
  if (type == S_IFREG && (!node.data.empty() || bare_next))
    line += " " + syntax::quote(node.data);
  if (type == S_IFLNK)
    line += " " + syntax::word(node.data);
  if (type == S_IFCHR || type == S_IFBLK)
    line += " " + device(node.rdev);
  return line + rest;
}

void write_entries(const model::Layer& layer, const model::Inode& dir,
                   const std::string& dir_path, const std::string& prefix,
                   std::string_view indent,
                   std::map<model::InodeNumber, std::string>& seen,
                   std::string& out) {
  for (const auto& [name, ino] : dir.entries) {
    const model::Inode& node = layer.inode(ino);
    std::string path = dir_path == "/" ? "/" + name : dir_path + "/" + name;
    std::string p = syntax::word(path);
    std::string line;

    auto first = seen.find(ino);
    if (!node.is_dir() && first != seen.end())
      line = fmt::format("link {} {}", p, syntax::word(first->second));
    else
      line = entry_line(node, path, prefix);
    if (!node.is_dir())
      seen.emplace(ino, path);

    if (!implied(node))
      out += fmt::format("{}{}\n", indent, line);
    if (node.is_dir())
      write_entries(layer, node, path, prefix, indent, seen, out);
  }
}

std::string times(const model::Timespec& t) {
  if (t.nsec == UTIME_NOW)
    return "now";
  if (t.nsec == UTIME_OMIT)
    return "omit";
  if (t.nsec == 0)
    return fmt::format("{}", t.sec);
  return fmt::format("{}.{:09}", t.sec, t.nsec);
}

std::string op_args(const Op& op) {
  auto w = [](const std::string& s) { return syntax::word(s); };
  auto mode = [&] { return octal(op.mode); };
  auto id = [](auto v) {
    return fmt::format("{}",
                       static_cast<std::int64_t>(
                           static_cast<std::make_signed_t<decltype(v)>>(v)));
  };
  switch (op.kind) {
    case OpKind::kStat:
    case OpKind::kLstat:
    case OpKind::kReadlink:
    case OpKind::kUnlink:
    case OpKind::kRmdir:
    case OpKind::kListxattr:
    case OpKind::kLlistxattr:
    case OpKind::kReaddir:
      return w(op.path);
    case OpKind::kOpen: {
      std::string s =
          fmt::format("{} {} {}", op.fd, w(op.path),
                      syntax::format_flags(static_cast<unsigned>(op.flags),
                                           syntax::open_flags(), true));
      if (op.mode != 0666)
        s += " " + mode();
      return s;
    }
    case OpKind::kClose:
    case OpKind::kFstat:
      return op.fd;
    case OpKind::kRead:
      return fmt::format("{} {}", op.fd, op.count);
    case OpKind::kPread:
      return fmt::format("{} {} {}", op.fd, op.count, op.offset);
    case OpKind::kWrite:
      return fmt::format("{} {}", op.fd, syntax::quote(op.data));
    case OpKind::kPwrite:
      return fmt::format("{} {} {}", op.fd, syntax::quote(op.data), op.offset);
    case OpKind::kTruncate:
      return fmt::format("{} {}", w(op.path), op.offset);
    case OpKind::kFtruncate:
      return fmt::format("{} {}", op.fd, op.offset);
    case OpKind::kMkdir:
    case OpKind::kChmod:
      return fmt::format("{} {}", w(op.path), mode());
    case OpKind::kMknod: {
      mode_t type = op.mode & S_IFMT;
      std::string s =
          fmt::format("{} {} {}", w(op.path),
                      type == 0 ? "0" : model::type_name(type), mode());
      if (op.dev != 0)
        s += " " + device(op.dev);
      return s;
    }
    case OpKind::kSymlink:
      return fmt::format("{} {}", w(op.data), w(op.path));
    case OpKind::kChown:
    case OpKind::kLchown:
      return fmt::format("{} {} {}", w(op.path), id(op.uid), id(op.gid));
    case OpKind::kUtimens:
    case OpKind::kLutimens:
      return fmt::format("{} {} {}", w(op.path), times(op.atime),
                         times(op.mtime));
    case OpKind::kSetxattr:
    case OpKind::kLsetxattr: {
      std::string s = fmt::format("{} {} {}", w(op.path), w(op.name),
                                  syntax::quote(op.data));
      if (op.flags != 0)
        s += " " + syntax::format_flags(static_cast<unsigned>(op.flags),
                                        syntax::xattr_flags());
      return s;
    }
    case OpKind::kGetxattr:
    case OpKind::kLgetxattr:
    case OpKind::kRemovexattr:
    case OpKind::kLremovexattr:
      return fmt::format("{} {}", w(op.path), w(op.name));
    case OpKind::kRename: {
      std::string s = fmt::format("{} {}", w(op.path), w(op.path2));
      if (op.flags != 0)
        s += " " + syntax::format_flags(static_cast<unsigned>(op.flags),
                                        syntax::rename_flags());
      return s;
    }
    case OpKind::kLink:
      return fmt::format("{} {}", w(op.path), w(op.path2));
  }
  return "";
}

void write_states(const std::vector<ExpectedState>& states,
                  const std::string& prefix, bool userxattr, std::string& out) {
  for (const ExpectedState& state : states) {
    switch (state.kind) {
      case ExpectedState::Kind::kUpper:
      case ExpectedState::Kind::kMerged:
        out += state.kind == ExpectedState::Kind::kUpper ? "expect upper\n"
                                                         : "expect merged\n";
        out += write_layer(state.tree, userxattr, "  ");
        out += "end\n";
        break;
      case ExpectedState::Kind::kPath: {
        if (!state.object) {
          out += "expect absent " + syntax::word(state.path) + "\n";
          break;
        }
        model::Inode node;
        node.mode = state.object->mode;
        node.uid = state.object->uid;
        node.gid = state.object->gid;
        node.rdev = state.object->rdev;
        node.data = state.object->data;
        node.xattrs = state.object->xattrs;
        std::string text = entry_line(node, state.path, prefix);
        out += "expect " + text + "\n";
        break;
      }
    }
  }
}

}  // namespace

std::string quote(std::string_view bytes) {
  return syntax::quote(bytes);
}

std::string write_layer(const model::Layer& layer, bool userxattr,
                        std::string_view indent) {
  std::string out;
  std::string prefix = prefix_for(userxattr);
  const model::Inode& root = layer.inode(layer.root());
  if ((root.mode & 07777) != 0755 || root.uid != 0 || root.gid != 0 ||
      !root.xattrs.empty())
    out += fmt::format("{}dir /{}\n", indent, attrs(root, 0755, prefix, false));
  std::map<model::InodeNumber, std::string> seen;
  write_entries(layer, root, "/", prefix, indent, seen, out);
  return out;
}

std::string write_step(const Step& step) {
  std::string line = std::string(op_name(step.op.kind));
  std::string args = op_args(step.op);
  if (!args.empty())
    line += " " + args;
  if (step.expect)
    line += " -> " + format_expected(*step.expect);
  return line;
}

std::string write_trace(const Scenario& s) {
  bool userxattr = s.mount_options.userxattr;
  std::string prefix = prefix_for(userxattr);
  std::string out = fmt::format("title {}\n", s.title);
  if (!s.description.empty()) {
    size_t pos = 0;
    while (pos <= s.description.size()) {
      size_t end = s.description.find('\n', pos);
      if (end == std::string::npos)
        end = s.description.size();
      std::string_view line(s.description.data() + pos, end - pos);
      out += line.empty() ? "description\n"
                          : fmt::format("description {}\n", line);
      pos = end + 1;
    }
  }
  if (s.kernel)
    out += fmt::format("kernel {}.{}\n", s.kernel->major, s.kernel->minor);
  if (!s.options.empty())
    out += fmt::format("options {}\n", fmt::join(s.options, ","));
  for (const std::string& name : s.null_uuid_fs)
    out += fmt::format("filesystem {} uuid=null\n", name);
  if (s.userns)
    out += "mounter userns\n";

  if (s.stack.upper) {
    out += "\nupper";
    if (!s.upper_label.empty())
      out += " " + syntax::word(s.upper_label);
    if (!s.upper_fs.empty())
      out += " fs=" + s.upper_fs;
    out += "\n" + write_layer(*s.stack.upper, userxattr);
  }
  for (size_t i = 0; i < s.stack.lowers.size(); ++i) {
    out += "\nlower";
    if (i < s.lower_labels.size() && !s.lower_labels[i].empty())
      out += " " + syntax::word(s.lower_labels[i]);
    if (i < s.lower_fs.size() && !s.lower_fs[i].empty())
      out += " fs=" + s.lower_fs[i];
    out += "\n" + write_layer(s.stack.lowers[i], userxattr);
  }

  out += "\nsteps\n";
  if (s.mount_expect || !s.mount_states.empty()) {
    out += "mount";
    if (s.mount_expect)
      out += " -> " + format_expected(*s.mount_expect);
    out += "\n";
    write_states(s.mount_states, prefix, userxattr, out);
  }
  for (const Step& step : s.steps) {
    out += write_step(step) + "\n";
    write_states(step.states, prefix, userxattr, out);
  }
  return out;
}

}  // namespace ovlsim::trace
