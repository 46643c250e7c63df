// A fuzzing campaign, split over worker processes.
//
// Each job is a process forked from the caller after it entered the
// sandbox, so that all share one private mount namespace while each has its
// own root directory (targets chroot into their mounts) and its own scratch
// directory "jobN". Job j fuzzes with job_seed(seed, j) and its share of
// the cases, and reports progress, its time split and a shrunk
// counterexample (written as a trace to the output directory) through a
// pipe. The first counterexample stops the other jobs, unless the campaign
// keeps going.
#ifndef OVLSIM_HARNESS_CAMPAIGN_H_
#define OVLSIM_HARNESS_CAMPAIGN_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "harness/fuzz.h"
#include "harness/sandbox.h"
#include "harness/targets.h"

namespace ovlsim::harness {

struct CampaignOptions {
  TargetConfig target;
  TargetConfig reference{"model"};
  FuzzOptions fuzz;
  int jobs = 1;
  // Go on after a counterexample: the job that found it starts afresh
  // from a new seed with the cases it has left, and the others run on.
  // Otherwise the first counterexample ends the campaign.
  bool keep_going = false;
  std::string out_dir = "counterexamples";
  // The command that started the campaign minus its seed, count and jobs,
  // for the replay line ("ovlsim fuzz --target kernel").
  std::string command = "ovlsim fuzz";
  // The flags of that command that change what is compared (" --ignore
  // links"), which a replay with ovlsim check needs too.
  std::string compare_flags;
};

struct CampaignFailure {
  int job = 0;
  std::uint64_t seed = 0;  // the seed that found it: replays with -j 1
  std::string signature;   // divergence_signature() of the counterexample
  std::string trace_path;  // the counterexample, or "" if not written
  std::string report;      // format_report() of the counterexample
};

struct CampaignResult {
  long cases = 0;
  long operations = 0;
  double seconds = 0;
  PhaseTimes target_times;
  PhaseTimes reference_times;
  std::vector<CampaignFailure> failures;
  std::string error;  // a job could not run; empty otherwise

  bool passed() const { return failures.empty() && error.empty(); }
};

// Runs the campaign. `sandbox` is required for real targets. `progress`,
// when given, is called now and then with the cases run so far.
CampaignResult run_campaign(const CampaignOptions& options,
                            const Sandbox* sandbox,
                            const std::function<void(long)>& progress = {});

// The time split of a campaign, one line per phase, for --stats.
std::string format_stats(const CampaignResult& result);

}  // namespace ovlsim::harness

#endif  // OVLSIM_HARNESS_CAMPAIGN_H_
