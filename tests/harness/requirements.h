// What the tests that mount for real need, and how they skip without it.
#ifndef OVLSIM_TESTS_HARNESS_REQUIREMENTS_H_
#define OVLSIM_TESTS_HARNESS_REQUIREMENTS_H_

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "harness/sandbox.h"

namespace ovlsim::harness::testing {

// Ends the test program with OVLSIM_SKIP_CODE, which CTest reports as
// skipped, after saying what is missing.
[[noreturn]] inline void skip(const std::string& why) {
  std::fprintf(stderr, "SKIP: %s\n", why.c_str());
  std::fflush(stderr);
  std::_Exit(OVLSIM_SKIP_CODE);
}

inline void require_kernel_overlay() {
  std::string missing = probe_capabilities().kernel_missing();
  if (!missing.empty())
    skip("kernel overlayfs cannot be tested: " + missing);
}

inline void require_fuse_overlayfs() {
  std::string missing = probe_capabilities().fuse_missing();
  if (!missing.empty())
    skip("fuse-overlayfs cannot be tested: " + missing);
}

// The sandbox of a test program that mounts through harness targets,
// entered once, while the process has one thread; skips the program when
// the kernel's overlayfs cannot be tested or the sandbox cannot be made.
inline const Sandbox& sandbox() {
  static std::optional<Sandbox> box;
  if (!box) {
    require_kernel_overlay();
    std::string error;
    auto entered = Sandbox::enter({}, &error);
    if (!entered.ok())
      skip("cannot enter the sandbox: " + error);
    box.emplace(std::move(entered.value()));
  }
  return *box;
}

}  // namespace ovlsim::harness::testing

#endif  // OVLSIM_TESTS_HARNESS_REQUIREMENTS_H_
