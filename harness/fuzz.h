// Random operation sequences on random stacks, checked step by step.
//
// A campaign runs rapidcheck's stateful testing: each test case is a random
// stack (up to `layers` lower layers, an upper layer, names drawn from a
// small set so that layers collide) and a random sequence of commands, one
// rapidcheck command per operation kind. Each command applies its
// operation to the reference and to the target and compares them
// (Lockstep). On the first difference rapidcheck shrinks the case, both
// the stack and the sequence, and the campaign returns the smallest case
// that still differs, as a scenario that `ovlsim check` replays.
//
// A campaign is deterministic: the same options and seed give the same
// cases in the same order.
#ifndef OVLSIM_HARNESS_FUZZ_H_
#define OVLSIM_HARNESS_FUZZ_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "harness/runner.h"
#include "harness/target.h"
#include "trace/scenario.h"

namespace ovlsim::harness {

struct FuzzOptions {
  std::uint64_t seed = 1;
  int count = 100;   // test cases
  int max_ops = 10;  // operations per case: 1 to max_ops
  int layers = 2;    // lower layers: 1 to layers
  // Backing filesystems the layers are spread over at random: 1 puts all
  // layers on one (samefs); more gives each layer one of N (INO-02).
  int filesystems = 1;
  // Mount options, as the kernel spells them; every case uses them.
  std::vector<std::string> options;
  // Mount as root of a user namespace (mounter userns), as a run without
  // root does. Generated layers hold nothing such a mounter cannot write.
  bool userns = false;
  RunOptions run;
};

struct FuzzFailure {
  trace::Scenario scenario;  // the shrunk counterexample
  RunResult result;
  std::string report;  // format_report() of the counterexample
};

struct FuzzResult {
  int cases = 0;  // cases that passed before the failure, or all
  long operations = 0;
  std::optional<FuzzFailure> failure;
  // Set when rapidcheck itself could not run the campaign.
  std::string error;
};

// Runs a campaign in this process. `progress`, when given, is called after
// each case with the number of cases run so far.
FuzzResult fuzz(Target& reference, Target& target, const FuzzOptions& options,
                const std::function<void(int)>& progress = nullptr);

// The seed of job `job` of a campaign split into jobs: the campaign's seed
// itself for job 0, a mix of both for the others.
std::uint64_t job_seed(std::uint64_t seed, int job);

}  // namespace ovlsim::harness

#endif  // OVLSIM_HARNESS_FUZZ_H_
