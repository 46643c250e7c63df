// ovlsim explain: teaching mode (being written).
#include <fmt/format.h>

#include "cli/commands.h"

namespace ovlsim::cli {

int explain_command(Args args) {
  (void)args;
  fmt::print(stderr, "ovlsim explain: not built yet\n");
  return 2;
}

}  // namespace ovlsim::cli
