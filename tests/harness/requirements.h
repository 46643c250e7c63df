// What the tests that mount for real need, and how they skip without it.
#ifndef OVLSIM_TESTS_HARNESS_REQUIREMENTS_H_
#define OVLSIM_TESTS_HARNESS_REQUIREMENTS_H_

#include <cstdio>
#include <cstdlib>
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

}  // namespace ovlsim::harness::testing

#endif  // OVLSIM_TESTS_HARNESS_REQUIREMENTS_H_
