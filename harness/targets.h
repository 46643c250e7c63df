// Making targets by name, as the command line names them.
#ifndef OVLSIM_HARNESS_TARGETS_H_
#define OVLSIM_HARNESS_TARGETS_H_

#include <chrono>
#include <memory>
#include <string>

#include "harness/kernel_target.h"
#include "harness/sandbox.h"
#include "harness/target.h"

namespace ovlsim::harness {

struct TargetConfig {
  // "kernel", "fuse-overlayfs", "model", or "model-mutant:<mutation>".
  std::string name;
  MountApi api = MountApi::kAuto;
  std::chrono::milliseconds op_timeout{5000};
};

// True for the names of targets that mount for real and so need a
// Sandbox.
bool needs_sandbox(const std::string& name);

// Makes the target `config.name`. A real target keeps its layers in a new
// directory `dir` of the sandbox's scratch directory. Returns null and
// sets `error` for an unknown name or when the directory cannot be made.
std::unique_ptr<Target> make_target(const TargetConfig& config,
                                    const Sandbox* sandbox,
                                    const std::string& dir, std::string* error);

}  // namespace ovlsim::harness

#endif  // OVLSIM_HARNESS_TARGETS_H_
