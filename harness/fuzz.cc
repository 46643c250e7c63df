#include "harness/fuzz.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <array>
#include <iostream>
#include <memory>
#include <ostream>
#include <set>
#include <sstream>
#include <utility>

#include <fmt/format.h>
#include <rapidcheck.h>
#include <rapidcheck/state.h>

#include "model/xattr.h"
#include "trace/writer.h"

namespace ovlsim::harness {

namespace {

using trace::Op;
using trace::OpKind;

// ---- Stacks. Every layer draws its names from the same small set, so
// that layers overlap and operations meet merged directories, whiteouts
// and copy-ups often.

constexpr std::array<const char*, 4> kTopNames = {"a", "b", "c", "d"};
constexpr std::array<const char*, 2> kChildNames = {"x", "y"};

enum Kind {
  kAbsent,
  kFile,
  kDir,
  kSymlink,
  kWhiteout,
  kFifo,
  kHardlink,
  kXwhiteout
};

// One name of a layer: what it is, and a few bits of variation.
struct Slot {
  int kind = kAbsent;
  int variant = 0;  // bit 0: a user xattr; bit 1: other mode; bit 2: other
                    // content, or opaque for a directory
};

// A layer: one slot per top-level name, then one per child name of each.
using LayerSpec = std::vector<Slot>;

constexpr std::size_t kSlots = kTopNames.size() * (1 + kChildNames.size());

rc::Gen<Slot> gen_slot(bool top, bool upper) {
  // The first choice is the one shrinking tends to: an absent name.
  auto kinds = top ? rc::gen::weightedElement<int>({{upper ? 12 : 6, kAbsent},
                                                    {5, kFile},
                                                    {6, kDir},
                                                    {1, kSymlink},
                                                    {2, kWhiteout},
                                                    {1, kFifo},
                                                    {1, kHardlink},
                                                    {1, kXwhiteout}})
                   : rc::gen::weightedElement<int>({{upper ? 10 : 5, kAbsent},
                                                    {4, kFile},
                                                    {1, kDir},
                                                    {1, kSymlink},
                                                    {1, kWhiteout}});
  return rc::gen::construct<Slot>(kinds, rc::gen::inRange(0, 8));
}

rc::Gen<LayerSpec> gen_layer_spec(bool upper) {
  return rc::gen::exec([upper] {
    LayerSpec spec;
    for (std::size_t i = 0; i < kSlots; i++)
      spec.push_back(*gen_slot(i < kTopNames.size(), upper));
    return spec;
  });
}

const std::array<const char*, 6> kSymlinkTargets = {"a",    "/a/x",     "x",
                                                    "../b", "/nowhere", "b/y"};

// Builds a layer from its spec. `prefix` is the overlay xattr namespace.
model::Layer build_layer(const LayerSpec& spec, const std::string& prefix) {
  model::Layer layer;
  auto add = [&](model::InodeNumber dir, const std::string& name,
                 const Slot& slot, std::size_t index) {
    model::InodeAttrs a;
    bool alt_mode = slot.variant & 2;
    bool alt = slot.variant & 4;
    switch (slot.kind) {
      case kFile:
        a.mode = S_IFREG | (alt_mode ? 0600 : 0644);
        a.data = alt ? "hello" : "data";
        break;
      case kDir:
        a.mode = S_IFDIR | (alt_mode ? 0700 : 0755);
        if (alt)
          a.xattrs[prefix + "opaque"] = "y";
        break;
      case kSymlink:
        a.mode = S_IFLNK | 0777;
        a.data =
            kSymlinkTargets[(index + slot.variant) % kSymlinkTargets.size()];
        return std::optional(layer.create(dir, name, a));
      case kWhiteout:
        a.mode = S_IFCHR;
        return std::optional(layer.create(dir, name, a));
      case kFifo:
        a.mode = S_IFIFO | 0644;
        break;
      case kHardlink:
        if (auto first = layer.lookup(dir, "a");
            first && layer.inode(*first).is_reg()) {
          layer.link(dir, name, *first);
          return std::optional<model::InodeNumber>();
        }
        a.mode = S_IFREG | 0644;
        a.data = "link";
        break;
      case kXwhiteout:
        a.mode = S_IFREG | 0644;
        a.xattrs[prefix + "whiteout"] = "";
        return std::optional(layer.create(dir, name, a));
      default:
        return std::optional<model::InodeNumber>();
    }
    // user.* xattrs exist only on regular files and directories.
    if ((slot.variant & 1) && slot.kind != kFifo)
      a.xattrs["user.k"] = "v";
    return std::optional(layer.create(dir, name, a));
  };

  for (std::size_t t = 0; t < kTopNames.size(); t++) {
    auto top = add(layer.root(), kTopNames[t], spec[t], t);
    if (!top || !layer.inode(*top).is_dir())
      continue;
    for (std::size_t c = 0; c < kChildNames.size(); c++) {
      std::size_t index = kTopNames.size() + t * kChildNames.size() + c;
      add(*top, kChildNames[c], spec[index], index);
    }
  }
  return layer;
}

struct StackSpec {
  std::vector<LayerSpec> lowers;
  std::optional<LayerSpec> upper;
  // The filesystem of each lower layer and of the upper one, 0 to N - 1.
  std::vector<int> lower_fs;
  int upper_fs = 0;
};

rc::Gen<StackSpec> gen_stack_spec(int max_layers, int filesystems) {
  return rc::gen::exec([max_layers, filesystems] {
    StackSpec spec;
    int n = *rc::gen::inRange(1, max_layers + 1);
    for (int i = 0; i < n; i++) {
      spec.lowers.push_back(*gen_layer_spec(false));
      spec.lower_fs.push_back(*rc::gen::inRange(0, filesystems));
    }
    // A read-only overlay needs two lower layers.
    bool read_only =
        n >= 2 && *rc::gen::weightedElement<bool>({{9, false}, {1, true}});
    if (!read_only) {
      spec.upper = *gen_layer_spec(true);
      spec.upper_fs = *rc::gen::inRange(0, filesystems);
    }
    return spec;
  });
}

trace::Scenario make_scenario(const StackSpec& spec,
                              const FuzzOptions& options) {
  trace::Scenario s;
  s.title = "fuzz counterexample";
  s.userns = options.userns;
  s.options = options.options;
  for (const auto& option : options.options)
    if (auto st = model::apply_option(s.mount_options, option); !st.ok())
      s.options_error = st.err();
  std::string prefix = model::OverlayXattrs(s.mount_options.userxattr).prefix();
  for (const auto& layer : spec.lowers)
    s.stack.lowers.push_back(build_layer(layer, prefix));
  if (spec.upper)
    s.stack.upper = build_layer(*spec.upper, prefix);
  s.lower_labels.resize(s.stack.lowers.size());
  if (options.filesystems > 1) {
    auto name = [](int fs) { return fmt::format("fs{}", fs); };
    if (spec.upper)
      s.upper_fs = name(spec.upper_fs);
    for (int fs : spec.lower_fs)
      s.lower_fs.push_back(name(fs));
    trace::place_layers(s);
  }
  return s;
}

// ---- Operations.

const std::vector<std::string> kPaths = {
    "/a",   "/b",   "/c",   "/d", "/a/x",   "/a/y", "/b/x",
    "/b/y", "/c/x", "/d/y", "/",  "/a/x/z", "/e",   "/a/z"};

rc::Gen<std::string> gen_path() {
  return rc::gen::elementOf(kPaths);
}

rc::Gen<std::string> gen_fd() {
  return rc::gen::element<std::string>("f1", "f2");
}

rc::Gen<mode_t> gen_mode() {
  return rc::gen::element<mode_t>(0644, 0755, 0600, 0700, 04755, 0);
}

rc::Gen<std::string> gen_xattr_name() {
  return rc::gen::element<std::string>("user.k", "user.m", "trusted.t",
                                       "trusted.overlay.x", "user.overlay.x");
}

rc::Gen<model::Timespec> gen_time() {
  using T = model::Timespec;
  return rc::gen::element(T{1500000000, 0}, T{1600000000, 123456789},
                          T{0, UTIME_OMIT}, T{1700000000, 5});
}

bool uses_fd(OpKind kind) {
  switch (kind) {
    case OpKind::kOpen:
    case OpKind::kClose:
    case OpKind::kRead:
    case OpKind::kPread:
    case OpKind::kWrite:
    case OpKind::kPwrite:
    case OpKind::kFstat:
    case OpKind::kFtruncate:
      return true;
    default:
      return false;
  }
}

Op generate_op(OpKind kind) {
  Op op;
  op.kind = kind;
  if (uses_fd(kind))
    op.fd = *gen_fd();
  switch (kind) {
    case OpKind::kOpen:
      op.path = *gen_path();
      op.flags = *rc::gen::element<int>(
          O_RDONLY, O_WRONLY, O_RDWR, O_RDWR | O_CREAT,
          O_WRONLY | O_CREAT | O_TRUNC, O_WRONLY | O_CREAT | O_EXCL,
          O_RDONLY | O_DIRECTORY, O_WRONLY | O_APPEND, O_RDONLY | O_TRUNC,
          O_RDONLY | O_NOFOLLOW);
      op.mode = 0644;
      break;
    case OpKind::kRead:
    case OpKind::kPread:
      op.count = *rc::gen::element<std::size_t>(0, 3, 100);
      if (kind == OpKind::kPread)
        op.offset = *rc::gen::element<off_t>(0, 2);
      break;
    case OpKind::kWrite:
    case OpKind::kPwrite:
      op.data = *rc::gen::element<std::string>("X", "new data");
      if (kind == OpKind::kPwrite)
        op.offset = *rc::gen::element<off_t>(0, 2);
      break;
    case OpKind::kTruncate:
    case OpKind::kFtruncate:
      if (kind == OpKind::kTruncate)
        op.path = *gen_path();
      op.offset = *rc::gen::element<off_t>(0, 2, 20);
      break;
    case OpKind::kMkdir:
    case OpKind::kChmod:
      op.path = *gen_path();
      op.mode = *gen_mode();
      break;
    case OpKind::kMknod:
      op.path = *gen_path();
      using Node = std::pair<mode_t, dev_t>;
      std::tie(op.mode, op.dev) = *rc::gen::element(
          Node{S_IFIFO | 0644, 0}, Node{S_IFCHR | 0644, makedev(1, 3)},
          Node{S_IFCHR | 0644, 0}, Node{S_IFREG | 0600, 0});
      break;
    case OpKind::kSymlink:
      op.path = *gen_path();
      op.data = *rc::gen::elementOf(kSymlinkTargets);
      break;
    case OpKind::kChown:
    case OpKind::kLchown:
      op.path = *gen_path();
      op.uid = *rc::gen::element<uid_t>(0, 1000, static_cast<uid_t>(-1));
      op.gid = *rc::gen::element<gid_t>(0, 1000, static_cast<gid_t>(-1));
      break;
    case OpKind::kUtimens:
    case OpKind::kLutimens:
      op.path = *gen_path();
      op.atime = *gen_time();
      op.mtime = *gen_time();
      break;
    case OpKind::kSetxattr:
    case OpKind::kLsetxattr:
      op.path = *gen_path();
      op.name = *gen_xattr_name();
      op.data = *rc::gen::element<std::string>("v", "w2");
      op.flags = *rc::gen::element(0, XATTR_CREATE, XATTR_REPLACE);
      break;
    case OpKind::kGetxattr:
    case OpKind::kLgetxattr:
    case OpKind::kRemovexattr:
    case OpKind::kLremovexattr:
      op.path = *gen_path();
      op.name = *gen_xattr_name();
      break;
    case OpKind::kRename:
      op.path = *gen_path();
      op.path2 = *gen_path();
      op.flags = *rc::gen::weightedElement<int>(
          {{4, 0}, {1, RENAME_NOREPLACE}, {1, RENAME_EXCHANGE}});
      break;
    case OpKind::kLink:
      op.path = *gen_path();
      op.path2 = *gen_path();
      break;
    case OpKind::kClose:
    case OpKind::kFstat:
      break;
    default:  // stat, lstat, readlink, unlink, rmdir, listxattr, readdir
      op.path = *gen_path();
      break;
  }
  return op;
}

// ---- rapidcheck's stateful commands: one per operation kind.

// What the generator needs to know of a sequence so far: which trace file
// names are open.
struct FuzzModel {
  std::set<std::string> open;
};

// The system under test: the reference and the target in lockstep, and
// the scenario that records every step run, to be written out on failure.
struct FuzzSut {
  Lockstep& lockstep;
  trace::Scenario& scenario;
  std::optional<FuzzFailure>& failure;
  long& operations;
  std::string target_name;

  void fail() {
    failure =
        FuzzFailure{scenario, lockstep.result(),
                    format_report(scenario, lockstep.result(), target_name)};
    RC_FAIL("the target differs from the reference");
  }

  void step(const Op& op) {
    trace::Step step;
    step.op = op;
    scenario.steps.push_back(step);
    operations++;
    if (!lockstep.step(step, static_cast<int>(scenario.steps.size()) - 1))
      fail();
  }
};

using FuzzCommand = rc::state::Command<FuzzModel, FuzzSut>;

template <OpKind K>
struct OpCommand : FuzzCommand {
  Op op = generate_op(K);

  void checkPreconditions(const FuzzModel& m) const override {
    if (K == OpKind::kOpen)
      RC_PRE(m.open.count(op.fd) == 0);
    else if (uses_fd(K))
      RC_PRE(m.open.count(op.fd) != 0);
  }

  void apply(FuzzModel& m) const override {
    if (K == OpKind::kOpen)
      m.open.insert(op.fd);
    if (K == OpKind::kClose)
      m.open.erase(op.fd);
  }

  void run(const FuzzModel&, FuzzSut& sut) const override { sut.step(op); }

  void show(std::ostream& os) const override {
    os << trace::write_step({op, std::nullopt, {}, 0});
  }
};

auto all_commands() {
  using K = OpKind;
  return rc::state::gen::execOneOfWithArgs<
      OpCommand<K::kStat>, OpCommand<K::kLstat>, OpCommand<K::kOpen>,
      OpCommand<K::kClose>, OpCommand<K::kRead>, OpCommand<K::kPread>,
      OpCommand<K::kWrite>, OpCommand<K::kPwrite>, OpCommand<K::kFstat>,
      OpCommand<K::kTruncate>, OpCommand<K::kFtruncate>, OpCommand<K::kMkdir>,
      OpCommand<K::kMknod>, OpCommand<K::kSymlink>, OpCommand<K::kReadlink>,
      OpCommand<K::kUnlink>, OpCommand<K::kRmdir>, OpCommand<K::kChmod>,
      OpCommand<K::kChown>, OpCommand<K::kLchown>, OpCommand<K::kUtimens>,
      OpCommand<K::kLutimens>, OpCommand<K::kSetxattr>,
      OpCommand<K::kLsetxattr>, OpCommand<K::kGetxattr>,
      OpCommand<K::kLgetxattr>, OpCommand<K::kListxattr>,
      OpCommand<K::kLlistxattr>, OpCommand<K::kRemovexattr>,
      OpCommand<K::kLremovexattr>, OpCommand<K::kReaddir>,
      OpCommand<K::kRename>, OpCommand<K::kLink>>();
}

// rapidcheck announces its configuration on stderr the first time it reads
// it; the campaign prints its own seed instead.
void read_rapidcheck_configuration_quietly() {
  static bool done = false;
  if (done)
    return;
  done = true;
  std::ostringstream sink;
  std::streambuf* old = std::cerr.rdbuf(sink.rdbuf());
  (void)rc::detail::configuration();
  std::cerr.rdbuf(old);
}

}  // namespace

std::uint64_t job_seed(std::uint64_t seed, int job) {
  if (job == 0)
    return seed;
  // splitmix64 of the pair.
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ull * (job + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

FuzzResult fuzz(Target& reference, Target& target, const FuzzOptions& options,
                const std::function<void(int)>& progress) {
  FuzzResult result;
  std::optional<FuzzFailure> failure;
  long operations = 0;
  int cases = 0;

  auto property = [&] {
    trace::Scenario scenario = make_scenario(
        *gen_stack_spec(options.layers, options.filesystems), options);
    Lockstep lockstep(reference, target, options.run);
    FuzzSut sut{lockstep, scenario, failure, operations, target.name()};
    if (!lockstep.mount(scenario)) {
      if (!lockstep.result().passed())
        sut.fail();
      return;
    }
    auto commands =
        *rc::gen::resize(options.max_ops - 1,
                         rc::state::gen::commands(FuzzModel{}, all_commands()));
    rc::state::runAll(commands, FuzzModel{}, sut);
    if (!lockstep.finish(static_cast<int>(scenario.steps.size())))
      sut.fail();
    if (!failure) {
      cases++;
      if (progress)
        progress(cases);
    }
  };

  read_rapidcheck_configuration_quietly();
  rc::detail::TestParams params;
  params.seed = options.seed;
  params.maxSuccess = options.count;
  params.maxSize = 100;
  params.maxDiscardRatio = 10;
  rc::detail::TestMetadata metadata;
  auto outcome = rc::detail::checkProperty(rc::detail::toProperty(property),
                                           metadata, params);

  result.operations = operations;
  if (outcome.template is<rc::detail::FailureResult>()) {
    result.cases = outcome.template get<rc::detail::FailureResult>().numSuccess;
    result.failure = std::move(failure);
    if (!result.failure)
      result.error =
          outcome.template get<rc::detail::FailureResult>().description;
  } else if (outcome.template is<rc::detail::SuccessResult>()) {
    result.cases = outcome.template get<rc::detail::SuccessResult>().numSuccess;
  } else if (outcome.template is<rc::detail::GaveUpResult>()) {
    result.cases = outcome.template get<rc::detail::GaveUpResult>().numSuccess;
    result.error = outcome.template get<rc::detail::GaveUpResult>().description;
  } else {
    result.error = outcome.template get<rc::detail::Error>().description;
  }
  return result;
}

}  // namespace ovlsim::harness
