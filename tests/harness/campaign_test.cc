// A campaign splits its cases over worker processes, stops at the first
// counterexample (or goes on and groups them by cause) and writes each
// counterexample as a trace that replays the divergence.
#include "harness/campaign.h"

#include <filesystem>
#include <optional>
#include <variant>

#include <unistd.h>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "harness/model_target.h"
#include "harness/runner.h"
#include "harness/targets.h"
#include "tests/harness/requirements.h"
#include "trace/parser.h"

namespace ovlsim::harness {
namespace {

namespace fs = std::filesystem;

using testing::sandbox;

// A fresh, empty directory for one test's counterexamples.
std::string out_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() /
                 fmt::format("ovlsim-campaign-test-{}-{}", getpid(), name);
  fs::remove_all(dir);
  return dir.string();
}

CampaignOptions mutant_campaign(const std::string& name) {
  CampaignOptions c;
  c.target = {"kernel"};
  c.reference = {"model-mutant:unlink-no-whiteout"};
  c.fuzz.seed = 11;
  c.fuzz.count = 400;
  c.jobs = 2;
  c.out_dir = out_dir(name);
  return c;
}

TEST_CASE("the model and the kernel agree over a campaign", "[campaign]") {
  CampaignOptions c;
  c.target = {"kernel"};
  c.fuzz.seed = 5;
  c.fuzz.count = 60;
  c.jobs = 2;
  c.out_dir = out_dir("agree");
  long last_progress = -1;
  CampaignResult r =
      run_campaign(c, &sandbox(), [&](long cases) { last_progress = cases; });
  INFO(r.error);
  for (const auto& f : r.failures)
    INFO(f.report);
  CHECK(r.passed());
  CHECK(r.cases == 60);
  CHECK(r.operations >= 60);
  CHECK(last_progress <= 60);
  CHECK_FALSE(fs::exists(c.out_dir));
}

TEST_CASE("a campaign writes a counterexample that replays", "[campaign]") {
  CampaignOptions c = mutant_campaign("replay");
  CampaignResult r = run_campaign(c, &sandbox());
  INFO(r.error);
  REQUIRE(r.failures.size() >= 1);
  const CampaignFailure& f = r.failures.front();
  CHECK(r.cases < c.fuzz.count);  // the first counterexample stopped it
  CHECK_FALSE(f.signature.empty());
  REQUIRE_FALSE(f.trace_path.empty());
  REQUIRE(fs::exists(f.trace_path));

  // Replayed, the trace still tells the mutant from the kernel, and the
  // real model agrees with the kernel on it.
  auto parsed = trace::parse_trace_file(f.trace_path);
  REQUIRE(std::holds_alternative<trace::Scenario>(parsed));
  const auto& scenario = std::get<trace::Scenario>(parsed);
  std::string error;
  auto kernel = make_target({"kernel"}, &sandbox(), "replay", &error);
  REQUIRE(kernel != nullptr);
  ModelTarget mutant(Mutation::kUnlinkLeavesNoWhiteout);
  ModelTarget model;
  RunOptions check;
  check.check_expectations = false;
  CHECK_FALSE(run_scenario(scenario, mutant, *kernel, check).passed());
  CHECK(run_scenario(scenario, model, *kernel, check).passed());
  fs::remove_all(c.out_dir);
}

TEST_CASE("a campaign that keeps going groups counterexamples by cause",
          "[campaign]") {
  CampaignOptions c = mutant_campaign("keep-going");
  c.keep_going = true;
  c.fuzz.count = 600;
  CampaignResult r = run_campaign(c, &sandbox());
  INFO(r.error);
  CHECK(r.error.empty());
  CHECK(r.cases == c.fuzz.count);  // nothing stopped it early
  REQUIRE(r.failures.size() >= 2);
  for (const auto& f : r.failures) {
    CHECK_FALSE(f.signature.empty());
    CHECK(fs::exists(f.trace_path));
  }
  fs::remove_all(c.out_dir);
}

}  // namespace
}  // namespace ovlsim::harness
