#include "harness/targets.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "harness/fuse_target.h"
#include "harness/model_target.h"

namespace ovlsim::harness {

namespace {

constexpr std::string_view kMutantPrefix = "model-mutant:";

}  // namespace

bool needs_sandbox(const std::string& name) {
  return name == "kernel" || name == "fuse-overlayfs";
}

std::unique_ptr<Target> make_target(const TargetConfig& config,
                                    const Sandbox* sandbox,
                                    const std::string& dir,
                                    std::string* error) {
  const std::string& name = config.name;
  if (name == "model")
    return std::make_unique<ModelTarget>();
  if (name.starts_with(kMutantPrefix)) {
    auto mutation = mutation_from_name(name.substr(kMutantPrefix.size()));
    if (mutation)
      return std::make_unique<ModelTarget>(*mutation);
    *error = fmt::format(
        "unknown mutation in '{}' (known: unlink-no-whiteout, "
        "copy-up-drops-xattrs)",
        name);
    return nullptr;
  }
  if (!needs_sandbox(name)) {
    *error = fmt::format(
        "unknown target '{}' (known: kernel, fuse-overlayfs, model)", name);
    return nullptr;
  }

  std::string path = sandbox->scratch() + "/" + dir;
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    *error = fmt::format("cannot create {}: {}", path, std::strerror(errno));
    return nullptr;
  }
  bool tmpfs = !sandbox->on_backing();
  if (name == "kernel")
    return std::make_unique<KernelTarget>(path, tmpfs, config.api);
  return std::make_unique<FuseTarget>(path, tmpfs, config.op_timeout);
}

}  // namespace ovlsim::harness
