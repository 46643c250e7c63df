// fuse-overlayfs through the harness: the differences that
// doc/implementations/fuse-overlayfs.md records must still show, and a
// fixed-seed campaign must run to its end without the daemon breaking.
#include "harness/fuse_target.h"

#include <filesystem>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "harness/compare.h"
#include "harness/model_target.h"
#include "harness/runner.h"
#include "harness/targets.h"
#include "tests/harness/requirements.h"
#include "trace/parser.h"

namespace ovlsim::harness {
namespace {

namespace fs = std::filesystem;

// The sandbox, once the machine is known to run fuse-overlayfs.
const Sandbox& fuse_sandbox() {
  testing::require_fuse_overlayfs();
  return testing::sandbox();
}

// What fuse-overlayfs is compared under: what users of the mount see,
// without link counts, which differ on every directory and are a finding
// of their own (and, for campaigns, without mtimes, for the same reason).
RunOptions findings_options(bool times) {
  RunOptions run;
  run.compare.scope = Scope::kMerged;
  run.compare.dialect = Dialect::kFuseOverlayfs;
  run.compare.links = false;
  run.compare.times = times;
  return run;
}

std::unique_ptr<Target> fuse_target(const std::string& dir) {
  std::string error;
  auto target = make_target({"fuse-overlayfs"}, &fuse_sandbox(), dir, &error);
  INFO(error);
  REQUIRE(target != nullptr);
  return target;
}

TEST_CASE("the recorded fuse-overlayfs differences still show", "[fuse]") {
  fs::path dir = fs::path(OVLSIM_SOURCE_DIR) / "traces" / "fuse_overlayfs";
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".trace")
      files.push_back(entry.path());
  REQUIRE(files.size() >= 8);

  for (const fs::path& file : files) {
    CAPTURE(file.string());
    auto parsed = trace::parse_trace_file(file.string());
    REQUIRE(std::holds_alternative<trace::Scenario>(parsed));
    const auto& scenario = std::get<trace::Scenario>(parsed);
    auto target = fuse_target("finding");
    ModelTarget model;
    RunResult r =
        run_scenario(scenario, model, *target, findings_options(true));
    // If fuse-overlayfs agrees now, the findings page is out of date.
    CHECK_FALSE(r.passed());
  }
}

TEST_CASE("fuse-overlayfs runs the whole corpus without breaking", "[fuse]") {
  // It differs from the kernel in many traces, but its daemon must neither
  // die nor hang, except on the long name that kills it (see the page).
  fs::path root = fs::path(OVLSIM_SOURCE_DIR) / "traces";
  int traces = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.path().extension() != ".trace" ||
        entry.path().filename() == "long_name_unlink.trace")
      continue;
    CAPTURE(entry.path().string());
    auto parsed = trace::parse_trace_file(entry.path().string());
    REQUIRE(std::holds_alternative<trace::Scenario>(parsed));
    auto target = fuse_target("corpus");
    ModelTarget model;
    RunResult r = run_scenario(std::get<trace::Scenario>(parsed), model,
                               *target, findings_options(false));
    for (const Difference& d : r.differences) {
      INFO(d.field << ": " << d.actual);
      CHECK(d.area != Area::kFailure);
    }
    traces++;
  }
  CHECK(traces >= 190);
}

}  // namespace
}  // namespace ovlsim::harness
