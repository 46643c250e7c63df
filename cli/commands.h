// The subcommands of the ovlsim binary.
//
// Each subcommand lives in its own file and is called by main() with the
// arguments that follow its name. It returns the process's exit status:
// 0 for success, 1 when a check fails, 2 for bad usage or malformed input.
#ifndef OVLSIM_CLI_COMMANDS_H_
#define OVLSIM_CLI_COMMANDS_H_

#include <span>
#include <string_view>

namespace ovlsim::cli {

using Args = std::span<const std::string_view>;

// ovlsim run TRACE|DIR... [--record] [--json]   (cli/run.cc)
int run_command(Args args);
// ovlsim explain [--every-step] [--no-trees] TRACE   (cli/explain.cc)
int explain_command(Args args);
// ovlsim check ...  and  ovlsim fuzz ...       (cli/check.cc, cli/fuzz.cc)
int check_command(Args args);
int fuzz_command(Args args);

}  // namespace ovlsim::cli

#endif  // OVLSIM_CLI_COMMANDS_H_
