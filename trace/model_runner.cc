#include "trace/model_runner.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include "model/result.h"
#include "trace/expect.h"
#include "trace/writer.h"

namespace ovlsim::trace {

namespace {

// The descriptor a trace's unknown file name stands for: never open.
constexpr int kNotOpen = -1;

template <typename T>
Outcome outcome(const model::Result<T>& r) {
  Outcome out;
  if (!r.ok()) {
    out.err = r.err();
    return out;
  }
  if constexpr (std::is_same_v<T, model::Stat> ||
                std::is_same_v<T, std::string> ||
                std::is_same_v<T, std::vector<std::string>> ||
                std::is_same_v<T, std::vector<model::Dirent>> ||
                std::is_same_v<T, std::size_t>)
    out.value = r.value();
  return out;
}

model::Follow follow(OpKind kind) {
  switch (kind) {
    case OpKind::kLchown:
    case OpKind::kLutimens:
    case OpKind::kLsetxattr:
    case OpKind::kLgetxattr:
    case OpKind::kLlistxattr:
    case OpKind::kLremovexattr:
      return model::Follow::kNo;
    default:
      return model::Follow::kYes;
  }
}

std::string overlay_prefix(const model::Overlay& ovl) {
  return ovl.options().userxattr ? "user.overlay." : "trusted.overlay.";
}

}  // namespace

Outcome ModelRunner::mount(const Scenario& scenario, model::EventLog* log) {
  overlay_.reset();
  fds_.clear();
  log_ = log;
  if (scenario.options_error != 0)
    return Outcome{scenario.options_error, {}};

  model::Stack stack = scenario.stack;
  model::Result<model::Overlay> ovl =
      model::Overlay::mount(std::move(stack), scenario.mount_options,
                            kernel_of(scenario), mounter_of(scenario));
  if (!ovl.ok())
    return Outcome{ovl.err(), {}};
  overlay_.emplace(std::move(ovl).value());
  overlay_->set_log(log);
  return Outcome{};
}

Outcome ModelRunner::apply(const Op& op) {
  model::Overlay& ovl = *overlay_;
  auto it = fds_.find(op.fd);
  int fd = it == fds_.end() ? kNotOpen : it->second;
  model::Follow how = follow(op.kind);

  switch (op.kind) {
    case OpKind::kStat:
      return outcome(ovl.stat(op.path));
    case OpKind::kLstat:
      return outcome(ovl.lstat(op.path));
    case OpKind::kOpen: {
      model::Result<int> r = ovl.open(op.path, op.flags, op.mode);
      if (r.ok())
        fds_[op.fd] = r.value();
      return outcome(r);
    }
    case OpKind::kClose: {
      model::Status st = ovl.close(fd);
      if (st.ok())
        fds_.erase(op.fd);
      return outcome(st);
    }
    case OpKind::kRead:
      return outcome(ovl.read(fd, op.count));
    case OpKind::kPread:
      return outcome(ovl.pread(fd, op.count, op.offset));
    case OpKind::kWrite:
      return outcome(ovl.write(fd, op.data));
    case OpKind::kPwrite:
      return outcome(ovl.pwrite(fd, op.data, op.offset));
    case OpKind::kFstat:
      return outcome(ovl.fstat(fd));
    case OpKind::kTruncate:
      return outcome(ovl.truncate(op.path, op.offset));
    case OpKind::kFtruncate:
      return outcome(ovl.ftruncate(fd, op.offset));
    case OpKind::kMkdir:
      return outcome(ovl.mkdir(op.path, op.mode));
    case OpKind::kMknod:
      return outcome(ovl.mknod(op.path, op.mode, op.dev));
    case OpKind::kSymlink:
      return outcome(ovl.symlink(op.data, op.path));
    case OpKind::kReadlink:
      return outcome(ovl.readlink(op.path));
    case OpKind::kUnlink:
      return outcome(ovl.unlink(op.path));
    case OpKind::kRmdir:
      return outcome(ovl.rmdir(op.path));
    case OpKind::kChmod:
      return outcome(ovl.chmod(op.path, op.mode));
    case OpKind::kChown:
    case OpKind::kLchown:
      return outcome(ovl.chown(op.path, op.uid, op.gid, how));
    case OpKind::kUtimens:
    case OpKind::kLutimens:
      return outcome(ovl.utimens(op.path, op.atime, op.mtime, how));
    case OpKind::kSetxattr:
    case OpKind::kLsetxattr:
      return outcome(ovl.setxattr(op.path, op.name, op.data, op.flags, how));
    case OpKind::kGetxattr:
    case OpKind::kLgetxattr:
      return outcome(ovl.getxattr(op.path, op.name, how));
    case OpKind::kListxattr:
    case OpKind::kLlistxattr:
      return outcome(ovl.listxattr(op.path, how));
    case OpKind::kRemovexattr:
    case OpKind::kLremovexattr:
      return outcome(ovl.removexattr(op.path, op.name, how));
    case OpKind::kReaddir:
      return outcome(ovl.readdir(op.path));
    case OpKind::kRename:
      return outcome(
          ovl.rename(op.path, op.path2, static_cast<unsigned>(op.flags)));
    case OpKind::kLink:
      return outcome(ovl.link(op.path, op.path2));
  }
  assert(false && "an OpKind without a case in ModelRunner::apply");
  return Outcome{EINVAL, {}};
}

// ---- Reading the merged view.

namespace {

// Stops event recording for as long as it lives: reading the merged view
// for a check is not part of the trace.
class QuietLog {
 public:
  QuietLog(model::Overlay& ovl, model::EventLog* log) : ovl_(ovl), log_(log) {
    ovl_.set_log(nullptr);
  }
  ~QuietLog() { ovl_.set_log(log_); }

 private:
  model::Overlay& ovl_;
  model::EventLog* log_;
};

std::optional<model::InodeAttrs> read_object(model::Overlay& ovl,
                                             const std::string& path) {
  model::Result<model::Stat> st = ovl.lstat(path);
  if (!st.ok())
    return std::nullopt;

  model::InodeAttrs a;
  a.mode = st->mode;
  a.uid = st->uid;
  a.gid = st->gid;
  a.rdev = st->rdev;
  if (S_ISREG(st->mode)) {
    model::Result<int> fd = ovl.open(path, O_RDONLY | O_NOFOLLOW);
    if (fd.ok()) {
      model::Result<std::string> data =
          ovl.pread(*fd, static_cast<std::size_t>(st->size), 0);
      if (data.ok())
        a.data = *data;
      (void)ovl.close(*fd);
    }
  } else if (S_ISLNK(st->mode)) {
    model::Result<std::string> target = ovl.readlink(path);
    if (target.ok())
      a.data = *target;
  }

  model::Result<std::vector<std::string>> names =
      ovl.listxattr(path, model::Follow::kNo);
  if (names.ok()) {
    for (const std::string& name : *names) {
      model::Result<std::string> value =
          ovl.getxattr(path, name, model::Follow::kNo);
      if (value.ok())
        a.xattrs.emplace(name, *value);
    }
  }
  return a;
}

void read_dir(model::Overlay& ovl, const std::string& path,
              model::InodeNumber dir, model::Layer& tree) {
  model::Result<std::vector<model::Dirent>> entries = ovl.readdir(path);
  if (!entries.ok())
    return;
  for (const model::Dirent& d : *entries) {
    if (d.name == "." || d.name == "..")
      continue;
    std::string child = path == "/" ? "/" + d.name : path + "/" + d.name;
    // readdir may list a name that lookup refuses (an xwhiteout in the
    // upper layer, WO-06): a process sees no object there.
    std::optional<model::InodeAttrs> attrs = read_object(ovl, child);
    if (!attrs)
      continue;
    model::InodeNumber ino = tree.create(dir, d.name, *attrs);
    if (S_ISDIR(attrs->mode))
      read_dir(ovl, child, ino, tree);
  }
}

}  // namespace

model::Layer ModelRunner::merged_tree() {
  QuietLog quiet(*overlay_, log_);
  model::Layer tree;
  if (std::optional<model::InodeAttrs> root = read_object(*overlay_, "/")) {
    model::Inode& node = tree.inode(tree.root());
    node.mode = root->mode;
    node.uid = root->uid;
    node.gid = root->gid;
    node.xattrs = root->xattrs;
  }
  read_dir(*overlay_, "/", tree.root(), tree);
  return tree;
}

std::optional<model::InodeAttrs> ModelRunner::merged_object(
    const std::string& path) {
  QuietLog quiet(*overlay_, log_);
  return read_object(*overlay_, path);
}

std::optional<std::string> ModelRunner::check_states(
    std::vector<ExpectedState>& states, bool record) {
  TreeCompare how;
  how.overlay_prefix = overlay_prefix(*overlay_);

  for (ExpectedState& state : states) {
    if (state.kind != ExpectedState::Kind::kUpper)
      continue;
    const model::Layer* upper = overlay_->upper();
    if (upper == nullptr)
      return "upper: the overlay has no upper layer";
    if (record && state.to_record) {
      state.tree = *upper;
      continue;
    }
    if (auto diff = diff_trees(state.tree, *upper, how))
      return "upper " + *diff;
  }

  TreeCompare merged = how;
  merged.links = false;
  for (ExpectedState& state : states) {
    if (state.kind == ExpectedState::Kind::kMerged && record &&
        state.to_record) {
      state.tree = merged_tree();
    } else if (state.kind == ExpectedState::Kind::kMerged) {
      if (auto diff = diff_trees(state.tree, merged_tree(), merged))
        return "merged " + *diff;
    } else if (state.kind == ExpectedState::Kind::kPath) {
      if (auto diff = diff_object(state.path, state.object,
                                  merged_object(state.path), merged))
        return "merged " + *diff;
    }
  }
  return std::nullopt;
}

// ---- Running a whole scenario.

namespace {

RunReport failure(RunReport report, int line, std::string step,
                  std::string expected, std::string actual) {
  report.passed = false;
  report.line = line;
  report.step = std::move(step);
  report.expected = std::move(expected);
  report.actual = std::move(actual);
  return report;
}

}  // namespace

RunReport run_on_model(const Scenario& scenario, bool record) {
  RunReport report;
  report.recorded = scenario;
  ModelRunner runner;

  Outcome mounted = runner.mount(scenario);
  Expected mount_expect = scenario.mount_expect.value_or(Expected{});
  if (record && !scenario.mount_expect && !mounted.ok()) {
    report.recorded.mount_expect = expected_from(OpKind::kStat, mounted);
  } else if (mounted.err != mount_expect.err) {
    return failure(std::move(report), 0, "mount", format_expected(mount_expect),
                   mounted.ok() ? "ok" : model::errno_name(mounted.err));
  }
  if (!runner.mounted())
    return report;
  if (auto diff = runner.check_states(report.recorded.mount_states, record))
    return failure(std::move(report), scenario.mount_states.front().line,
                   "mount", "the states after it", *diff);

  for (std::size_t i = 0; i < scenario.steps.size(); ++i) {
    const Step& step = scenario.steps[i];
    Outcome got = runner.apply(step.op);
    Step bare = step;
    bare.expect.reset();
    if (step.expect && !matches(*step.expect, step.op.kind, got))
      return failure(std::move(report), step.line, write_step(bare),
                     format_expected(*step.expect),
                     format_outcome(step.op.kind, got));
    if (!step.expect && record)
      report.recorded.steps[i].expect = expected_from(step.op.kind, got);
    if (auto diff =
            runner.check_states(report.recorded.steps[i].states, record)) {
      int line = step.states.empty() ? step.line : step.states.front().line;
      return failure(std::move(report), line, write_step(bare),
                     "the states after it", *diff);
    }
  }
  return report;
}

}  // namespace ovlsim::trace
