// The harness must catch a wrong implementation: deliberately broken
// variants of the model, checked against the kernel, must be found and
// shrunk to a short counterexample.
#include "harness/fuzz.h"

#include <optional>

#include <catch2/catch.hpp>

#include "harness/model_target.h"
#include "harness/targets.h"
#include "tests/harness/requirements.h"

namespace ovlsim::harness {
namespace {

using testing::sandbox;

FuzzResult fuzz_mutant(Mutation mutation, std::uint64_t seed) {
  std::string error;
  auto kernel = make_target({"kernel"}, &sandbox(), "mutant", &error);
  REQUIRE(kernel != nullptr);
  ModelTarget mutant(mutation);
  FuzzOptions options;
  options.seed = seed;
  options.count = 500;
  return fuzz(mutant, *kernel, options);
}

// The real model agrees with the kernel on a counterexample: what differed
// was the mutation.
bool model_agrees(const trace::Scenario& scenario) {
  std::string error;
  auto kernel = make_target({"kernel"}, &sandbox(), "recheck", &error);
  REQUIRE(kernel != nullptr);
  ModelTarget model;
  return run_scenario(scenario, model, *kernel, {}).passed();
}

TEST_CASE("the fuzzer finds and shrinks a broken model", "[fuzz]") {
  Mutation mutation =
      GENERATE(Mutation::kUnlinkLeavesNoWhiteout, Mutation::kCopyUpDropsXattrs);
  std::uint64_t seed = GENERATE(1, 2, 3);
  CAPTURE(mutation_name(mutation), seed);

  FuzzResult r = fuzz_mutant(mutation, seed);
  INFO(r.error);
  REQUIRE(r.failure.has_value());
  INFO(r.failure->report);
  CHECK(r.failure->scenario.steps.size() <= 4);
  CHECK(model_agrees(r.failure->scenario));
}

TEST_CASE("the fuzzer is deterministic", "[fuzz]") {
  FuzzResult a = fuzz_mutant(Mutation::kUnlinkLeavesNoWhiteout, 7);
  FuzzResult b = fuzz_mutant(Mutation::kUnlinkLeavesNoWhiteout, 7);
  REQUIRE(a.failure.has_value());
  REQUIRE(b.failure.has_value());
  CHECK(a.cases == b.cases);
  CHECK(a.failure->report == b.failure->report);
}

}  // namespace
}  // namespace ovlsim::harness
