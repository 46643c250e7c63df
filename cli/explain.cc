// ovlsim explain: teaching mode (cli/explain.h).
#include "cli/explain.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "model/event.h"
#include "model/result.h"
#include "trace/expect.h"
#include "trace/model_runner.h"
#include "trace/parser.h"
#include "trace/writer.h"

namespace ovlsim::cli {

namespace {

constexpr std::string_view kHelp =
    "usage: ovlsim explain [--every-step] [--no-trees] TRACE\n"
    "\n"
    "Tells step by step what overlayfs does in a trace, for people learning\n"
    "it: which layer answered each lookup, what was copied up (parents\n"
    "first), which whiteout or opaque marker was written, and why a call\n"
    "failed. The layer stack is drawn at mount and after the last step:\n"
    "one row per path, one column per layer (upper, L1 the top lower\n"
    "layer, L2...) and a last column for the merged view, naming the\n"
    "layers each visible path comes from.\n"
    "\n"
    "options:\n"
    "  --every-step  also draw the stack after each step that wrote to\n"
    "                the upper layer\n"
    "  --no-trees    do not draw the stack at all\n"
    "\n"
    "Colour is used only on a terminal, and never when NO_COLOR is set.\n"
    "exit status: 0 when every result the trace expects is what the model\n"
    "returns, 1 when one differs, 2 for a malformed trace or bad usage.\n";

// The overlayfs ideas a newcomer meets, each explained once, the first
// time a step shows it.
enum class Note {
  kMerged,
  kHides,
  kCopyUp,
  kWhiteout,
  kOpaque,
  kRedirect,
  kOrigin,
  kExdev,
  kReadOnly,
  kRmdir,
};

std::string_view note_text(Note note) {
  switch (note) {
    case Note::kMerged:
      return "A directory that several layers have is merged: the merged "
             "view lists the union of their entries, and a lookup inside it "
             "searches the layers from the top down.";
    case Note::kHides:
      return "A name that several layers have is taken from the topmost "
             "one: a file in an upper layer hides the lower file of the "
             "same name entirely.";
    case Note::kCopyUp:
      return "Lower layers are never written. Before an object that lives "
             "only in a lower layer can change, overlayfs copies it to the "
             "upper layer (copy-up), its parent directories first, since "
             "the copy needs a directory to live in. The lower original "
             "stays as it was, hidden by the copy. The copy records where "
             "it came from in overlay.origin, and its parent directory is "
             "marked overlay.impure.";
    case Note::kWhiteout:
      return "A name cannot be deleted from a lower layer, so overlayfs "
             "records the removal in the upper layer: a whiteout, a "
             "character device 0/0 under the same name. Lookup stops at a "
             "whiteout, and readdir leaves the name out.";
    case Note::kOpaque:
      return "An opaque directory (xattr overlay.opaque=y) ends the merge: "
             "lookup and readdir do not look into the lower directories of "
             "its name. A directory made where a whiteout was gets this "
             "mark, or the old lower entries would show through again.";
    case Note::kRedirect:
      return "A renamed directory keeps its lower entries through "
             "overlay.redirect, which tells lookup where its lower half "
             "lies (redirect_dir=on).";
    case Note::kOrigin:
      return "overlay.origin on an upper object names the lower object it "
             "stands for (it keeps inode numbers stable); overlay.impure on "
             "a directory says some entries in it have such an origin.";
    case Note::kExdev:
      return "Without redirect_dir=on, overlayfs cannot move a directory "
             "that has a lower half: rename(2) fails with EXDEV, and tools "
             "like mv fall back to copying and deleting.";
    case Note::kReadOnly:
      return "Without an upper layer the overlay is read-only: every call "
             "that would write fails with EROFS.";
    case Note::kRmdir:
      return "Removing a directory leaves a whiteout, just as removing a "
             "file does, not an opaque directory (as some Docker "
             "documentation says). A directory becomes opaque only when a "
             "new one is made over the whiteout.";
  }
  return "";
}

// Words of at most `width` columns per line, each line after the first
// starting with `indent`.
std::string wrap(std::string_view text, std::size_t width,
                 std::string_view indent) {
  std::string out;
  std::size_t column = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find(' ', pos);
    if (end == std::string_view::npos)
      end = text.size();
    std::string_view word = text.substr(pos, end - pos);
    if (column > 0 && column + 1 + word.size() > width) {
      out += "\n";
      out += indent;
      column = 0;
    } else if (column > 0) {
      out += ' ';
      ++column;
    }
    out += word;
    column += word.size();
    pos = end + 1;
  }
  return out;
}

// The events in the order a reader follows them. An event that lookup
// records while it finds a name (LK-15: a merged directory gets an
// origin) knows only the name, not its path: it moves after the lookup
// of that name and takes its path.
model::EventLog in_walk_order(const model::EventLog& log) {
  model::EventLog out;
  std::vector<model::Event> waiting;
  for (const model::Event& e : log) {
    if (!e.path.empty() && e.path[0] != '/') {
      waiting.push_back(e);
      continue;
    }
    out.push_back(e);
    if (e.kind != model::EventKind::kLookup)
      continue;
    for (auto it = waiting.begin(); it != waiting.end();) {
      if (e.path.ends_with("/" + it->path)) {
        it->path = e.path;
        out.push_back(std::move(*it));
        it = waiting.erase(it);
      } else {
        ++it;
      }
    }
  }
  out.insert(out.end(), waiting.begin(), waiting.end());
  return out;
}

// Whether a successful `op` changes an object (as opposed to reading).
bool changes_objects(const trace::Op& op) {
  using trace::OpKind;
  switch (op.kind) {
    case OpKind::kStat:
    case OpKind::kLstat:
    case OpKind::kFstat:
    case OpKind::kRead:
    case OpKind::kPread:
    case OpKind::kReadlink:
    case OpKind::kGetxattr:
    case OpKind::kLgetxattr:
    case OpKind::kListxattr:
    case OpKind::kLlistxattr:
    case OpKind::kReaddir:
    case OpKind::kClose:
      return false;
    case OpKind::kOpen:
      return (op.flags & O_ACCMODE) != O_RDONLY ||
             (op.flags & (O_CREAT | O_TRUNC)) != 0;
    default:
      return true;
  }
}

class Explainer {
 public:
  Explainer(const trace::Scenario& scenario, const ExplainOptions& options,
            const Palette& palette)
      : scenario_(scenario), options_(options), p_(palette) {}

  // The whole explanation; all_expected() tells afterwards whether every
  // stated expectation held.
  std::string run();
  bool all_expected() const { return all_expected_; }

 private:
  // What stat's device and inode number are, on a stack whose layers are
  // on several filesystems (INO-02, INO-05).
  std::string device_line(const model::Stat& st) const {
    const model::Overlay& ovl = runner_.overlay();
    if (st.dev != model::kOverlayDev)
      return fmt::format(
          "device: the anonymous device of filesystem {}; without xino "
          "a non-directory reports the device of the filesystem its inode "
          "number comes from, and keeps both across copy-up",
          filesystem_name(st.dev));
    if (ovl.options().xino != model::Xino::kOff)
      return "device: the overlay's; xino puts the filesystem's number into "
             "the high bits of the inode number, so numbers stay unique";
    return "device: the overlay's, with an inode number of the overlay's "
           "own: directories always report the overlay's device";
  }

  // The name of the filesystem whose non-directories report `dev`.
  std::string filesystem_name(model::DeviceId dev) const {
    const model::Overlay& ovl = runner_.overlay();
    std::vector<std::string> names = trace::layer_filesystems(scenario_);
    std::size_t first = scenario_.stack.upper ? 0 : 1;
    for (std::size_t i = 0; i < names.size(); ++i)
      if (ovl.layer_device(first + i) == dev)
        return names[i].empty() ? "(default)" : names[i];
    return "?";
  }

  // "the upper layer", "L2 (base)": how prose names layer `i`.
  std::string layer_name(std::size_t i) const {
    if (i == 0)
      return "the upper layer";
    std::string label = trace::layer_label(scenario_, i);
    std::string name = fmt::format("L{}", i);
    return label == fmt::format("lower {}", i) ? name
                                               : name + " (" + label + ")";
  }

  // The model's phrases name layers "lower layer N"; prose says "L2 (base)".
  std::string prose(std::string_view detail) const {
    std::string out;
    constexpr std::string_view kWords = "lower layer ";
    std::size_t pos = 0;
    while (pos < detail.size()) {
      std::size_t at = detail.find(kWords, pos);
      if (at == std::string_view::npos) {
        out += detail.substr(pos);
        break;
      }
      std::size_t digits = at + kWords.size();
      std::size_t end = digits;
      while (end < detail.size() && detail[end] >= '0' && detail[end] <= '9')
        ++end;
      out += detail.substr(pos, at - pos);
      if (end == digits)
        out += kWords;
      else
        out += layer_name(
            std::stoul(std::string(detail.substr(digits, end - digits))));
      pos = end;
    }
    return out;
  }

  std::string layers_text(const std::vector<std::size_t>& layers) const {
    std::string out;
    for (std::size_t i = 0; i < layers.size(); ++i) {
      if (i > 0)
        out += i + 1 == layers.size() ? " and " : ", ";
      out += layer_name(layers[i]);
    }
    return out;
  }

  void header();
  void stack(std::string_view heading, const model::Overlay& ovl);
  void step(std::size_t index, const trace::Step& step);
  // The lines that tell one event; `step_notes` collects the notes due.
  std::string event_line(const model::Event& e, std::vector<Note>& notes);
  void note(Note n, std::vector<Note>& notes) {
    if (noted_.insert(n).second)
      notes.push_back(n);
  }

  const trace::Scenario& scenario_;
  const ExplainOptions& options_;
  const Palette& p_;
  std::string out_;
  std::set<Note> noted_;
  bool legend_shown_ = false;
  bool all_expected_ = true;
  trace::ModelRunner runner_;
  model::EventLog log_;
  // Totals for the summary.
  int copy_ups_ = 0, whiteouts_ = 0, opaques_ = 0, failures_ = 0;
};

void Explainer::header() {
  out_ += p_.bold(scenario_.title) + "\n";
  // Description lines form paragraphs; an empty one separates them.
  std::string paragraph;
  auto flush = [&] {
    if (!paragraph.empty())
      out_ += "  " + wrap(paragraph, 76, "  ") + "\n";
    paragraph.clear();
  };
  std::string_view text = scenario_.description;
  std::size_t pos = 0;
  while (!text.empty() && pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos)
      end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.empty()) {
      flush();
      out_ += "\n";
    } else {
      paragraph += (paragraph.empty() ? "" : " ") + std::string(line);
    }
    pos = end + 1;
  }
  flush();

  out_ += "\nThe stack, from the top down:\n";
  const model::Stack& stack = scenario_.stack;
  bool split = !stack.filesystems.empty();
  auto on_fs = [&](const std::string& name) {
    return split ? fmt::format(", on filesystem {}",
                               name.empty() ? "(default)" : name)
                 : "";
  };
  if (stack.upper)
    out_ += fmt::format(
        "  upper  {}writable: every change goes here{}\n",
        scenario_.upper_label.empty() ? "" : "(" + scenario_.upper_label + ") ",
        on_fs(scenario_.upper_fs));
  else
    out_ += "  no upper layer: the overlay is read-only\n";
  for (std::size_t i = 1; i <= stack.lowers.size(); ++i) {
    std::string label = trace::layer_label(scenario_, i);
    bool named = label != fmt::format("lower {}", i);
    out_ += fmt::format(
        "  L{:<5} {}read-only{}{}\n", i, named ? "(" + label + ") " : "",
        i == 1                     ? ", the top lower layer"
        : i == stack.lowers.size() ? ", the bottom layer"
                                   : "",
        on_fs(i - 1 < scenario_.lower_fs.size() ? scenario_.lower_fs[i - 1]
                                                : ""));
  }
  if (split)
    out_ += "  " +
            wrap(
                "the layers are on several filesystems: stat reports "
                "devices and inode numbers by the rules for that case "
                "(see the device line of each stat)",
                74, "  ") +
            "\n";
  std::string options;
  for (const std::string& o : scenario_.options)
    options += (options.empty() ? "" : ",") + o;
  model::KernelVersion k = trace::kernel_of(scenario_);
  out_ +=
      fmt::format("  mount options: {}; kernel {}.{}\n",
                  options.empty() ? "the defaults" : options, k.major, k.minor);
  if (scenario_.userns)
    out_ += "  " +
            wrap(
                "mounted by root of a user namespace (a rootless "
                "container): no capability over the initial namespace, "
                "so no device nodes, no trusted.* xattrs, no ids but 0, "
                "and no file handles: copies get an empty origin, and "
                "index=on falls back to off",
                74, "  ") +
            "\n";
}

void Explainer::stack(std::string_view heading, const model::Overlay& ovl) {
  if (!options_.trees)
    return;
  out_ += fmt::format("\n{}\n", p_.bold(heading));
  out_ += draw_stack(ovl, scenario_, p_);
  if (!legend_shown_)
    out_ += stack_legend(p_);
  legend_shown_ = true;
}

std::string Explainer::event_line(const model::Event& e,
                                  std::vector<Note>& notes) {
  std::string detail = prose(e.detail);
  switch (e.kind) {
    case model::EventKind::kLookup: {
      if (e.layers.empty()) {
        if (e.detail.find("whiteout") != std::string::npos)
          note(Note::kWhiteout, notes);
        if (e.detail.find("opaque") != std::string::npos)
          note(Note::kOpaque, notes);
        return fmt::format("lookup {}: not found: {}", e.path, detail);
      }
      if (e.detail.find("merged directory") != std::string::npos)
        note(Note::kMerged, notes);
      if (e.detail.find("hides") != std::string::npos)
        note(Note::kHides, notes);
      if (e.detail.find("opaque") != std::string::npos)
        note(Note::kOpaque, notes);
      return fmt::format("lookup {}: found in {}{}", e.path,
                         layers_text(e.layers),
                         detail.empty() ? "" : "; " + detail);
    }
    case model::EventKind::kCopyUp:
      ++copy_ups_;
      note(Note::kCopyUp, notes);
      return p_.green(fmt::format("copy-up {}: {}", e.path, detail));
    case model::EventKind::kCreate: {
      std::string_view verb = e.detail.starts_with("renamed")     ? "rename"
                              : e.detail.starts_with("hard link") ? "link"
                                                                  : "create";
      return p_.green(fmt::format("{} {}: {}", verb, e.path, detail));
    }
    case model::EventKind::kRemove:
      return p_.green(fmt::format("remove {}: {}", e.path, detail));
    case model::EventKind::kWhiteout:
      ++whiteouts_;
      note(Note::kWhiteout, notes);
      return p_.red(fmt::format(
          "whiteout {}: a character device 0/0 written in the upper layer "
          "hides the lower {}",
          e.path, e.path.substr(e.path.rfind('/') + 1)));
    case model::EventKind::kOpaque:
      ++opaques_;
      note(Note::kOpaque, notes);
      return p_.yellow(fmt::format("opaque {}: {}", e.path, detail));
    case model::EventKind::kXattr:
      if (e.detail.find("redirect") != std::string::npos)
        note(Note::kRedirect, notes);
      if (e.detail.find("origin") != std::string::npos)
        note(Note::kOrigin, notes);
      return fmt::format("xattr {}: {}", e.path, detail);
    case model::EventKind::kError:
      if (e.detail.find("redirect_dir") != std::string::npos)
        note(Note::kExdev, notes);
      if (e.detail.find("read-only") != std::string::npos ||
          e.detail.find("no upper layer") != std::string::npos)
        note(Note::kReadOnly, notes);
      return p_.red("why it fails: " + detail);
    case model::EventKind::kUndefined:
      return p_.magenta("undefined in the kernel: " + detail);
  }
  return detail;
}

void Explainer::step(std::size_t index, const trace::Step& step) {
  log_.clear();
  trace::Outcome got = runner_.apply(step.op);

  trace::Step bare = step;
  bare.expect.reset();
  std::string result = trace::format_outcome(step.op.kind, got);
  if (!got.ok())
    result += fmt::format(" ({})", std::strerror(got.err));
  out_ += fmt::format("\n{} {} = {}{}\n", p_.bold(fmt::format("{}.", index)),
                      p_.bold(trace::write_step(bare)),
                      got.ok() ? p_.green(result) : p_.red(result),
                      p_.dim(fmt::format("   (line {})", step.line)));

  // The events, each told once: a path is walked again by some calls.
  std::vector<Note> notes;
  std::set<std::pair<std::string, std::string>> told;
  bool wrote = false;
  bool why = false;
  for (const model::Event& e : in_walk_order(log_)) {
    // stat and lstat also log their target without the layers.
    if (e.kind == model::EventKind::kLookup && e.layers.empty() &&
        e.detail.empty())
      continue;
    std::string line = event_line(e, notes);
    if (!told.insert({e.path, line}).second)
      continue;
    wrote = wrote || (e.kind != model::EventKind::kLookup &&
                      e.kind != model::EventKind::kError);
    why = why || e.kind == model::EventKind::kError;
    if (e.kind == model::EventKind::kWhiteout &&
        step.op.kind == trace::OpKind::kRmdir)
      note(Note::kRmdir, notes);
    out_ += "   " + wrap(line, 74, "     ") + "\n";
  }
  if (got.ok() && step.op.kind == trace::OpKind::kReaddir) {
    note(Note::kMerged, notes);
    out_ += "   " +
            wrap(
                "readdir: the listing is the union of the names in every "
                "layer of the directory; whiteouts, and the lower names "
                "they or an opaque directory hide, are left out",
                74, "     ") +
            "\n";
  }
  if (!got.ok()) {
    ++failures_;
    if (!why)
      out_ += "   " +
              p_.red(fmt::format("why it fails: {}", std::strerror(got.err))) +
              "\n";
  }
  if (got.ok() && !wrote && changes_objects(step.op))
    out_ += "   " +
            p_.dim(
                "already in the upper layer: changed there, no copy-up "
                "needed") +
            "\n";
  else if (got.ok() && !wrote && step.op.kind != trace::OpKind::kClose)
    out_ += "   " + p_.dim("a read: nothing was written") + "\n";

  if (const auto* st = std::get_if<model::Stat>(&got.value);
      st && !scenario_.stack.filesystems.empty())
    out_ += "   " + wrap(device_line(*st), 74, "     ") + "\n";

  if (step.expect) {
    if (trace::matches(*step.expect, step.op.kind, got)) {
      out_ += "   " + p_.dim("as the trace expects") + "\n";
    } else {
      all_expected_ = false;
      out_ += "   " +
              p_.red(fmt::format(
                  "but the trace expects {}: the model disagrees with it",
                  trace::format_expected(*step.expect))) +
              "\n";
    }
  }
  for (Note n : notes)
    out_ +=
        "   " + p_.cyan("note: ") + wrap(note_text(n), 68, "         ") + "\n";

  if (options_.every_step && wrote)
    stack(fmt::format("The stack after step {}:", index), runner_.overlay());
}

std::string Explainer::run() {
  header();

  trace::Outcome mounted = runner_.mount(scenario_, &log_);
  if (!mounted.ok()) {
    out_ += p_.red(fmt::format("\nmount = {} ({})\n",
                               model::errno_name(mounted.err),
                               std::strerror(mounted.err)));
    if (scenario_.options_error != 0)
      out_ += "   an option is unknown or has a bad value\n";
    else
      out_ += "   " +
              wrap(
                  "the kernel refuses these layers or options: too few "
                  "layers, or options that contradict each other (see "
                  "doc/semantics.md)",
                  74, "     ") +
              "\n";
    trace::Expected want = scenario_.mount_expect.value_or(trace::Expected{});
    if (want.err != mounted.err) {
      all_expected_ = false;
      out_ += "   " +
              p_.red(fmt::format("but the trace expects {}",
                                 trace::format_expected(want))) +
              "\n";
    } else {
      out_ += "   " + p_.dim("as the trace expects") + "\n";
    }
    if (options_.trees)
      out_ += "\n" + p_.bold("The layers:") + "\n" + draw_layers(scenario_, p_);
    return out_;
  }
  if (scenario_.mount_expect && scenario_.mount_expect->err != 0)
    all_expected_ = false;
  stack("The stack at mount:", runner_.overlay());

  if (!scenario_.steps.empty())
    out_ += "\n" + p_.bold("The steps:") + "\n";
  for (std::size_t i = 0; i < scenario_.steps.size(); ++i)
    step(i + 1, scenario_.steps[i]);

  if (!scenario_.steps.empty())
    stack("The stack after the steps:", runner_.overlay());
  std::string summary = fmt::format(
      "In all: {} copy-up{}, {} whiteout{}, {} opaque director{}, {} "
      "failed call{}. The lower layers were never written.",
      copy_ups_, copy_ups_ == 1 ? "" : "s", whiteouts_,
      whiteouts_ == 1 ? "" : "s", opaques_, opaques_ == 1 ? "y" : "ies",
      failures_, failures_ == 1 ? "" : "s");
  out_ += "\n" + wrap(summary, 78, "") + "\n";
  return out_;
}

}  // namespace

std::string explain_trace(const trace::Scenario& scenario,
                          const ExplainOptions& options,
                          const Palette& palette) {
  Explainer explainer(scenario, options, palette);
  return explainer.run();
}

int explain_command(Args args) {
  ExplainOptions options;
  std::vector<std::string_view> files;
  for (std::string_view arg : args) {
    if (arg == "--help" || arg == "-h") {
      fmt::print("{}", kHelp);
      return 0;
    }
    if (arg == "--every-step") {
      options.every_step = true;
    } else if (arg == "--no-trees") {
      options.trees = false;
    } else if (arg.starts_with("-") && arg != "-") {
      fmt::print(stderr, "ovlsim explain: unknown option '{}'\n\n{}", arg,
                 kHelp);
      return 2;
    } else {
      files.push_back(arg);
    }
  }
  if (files.size() != 1) {
    fmt::print(stderr, "ovlsim explain: {}\n\n{}",
               files.empty() ? "no trace given" : "give exactly one trace",
               kHelp);
    return 2;
  }

  auto parsed = trace::parse_trace_file(std::string(files[0]));
  if (auto* err = std::get_if<trace::ParseError>(&parsed)) {
    fmt::print(stderr, "{}\n", err->str());
    return 2;
  }
  const trace::Scenario& scenario = std::get<trace::Scenario>(parsed);
  Palette palette;
  Explainer explainer(scenario, options, palette);
  fmt::print("{}", explainer.run());
  return explainer.all_expected() ? 0 : 1;
}

}  // namespace ovlsim::cli
