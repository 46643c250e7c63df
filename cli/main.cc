// ovlsim: a simulator of Linux overlayfs, and the tools built on it.
//
// main() only dispatches: each subcommand is one function in its own file
// (commands.h).
#include <cstdio>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"

namespace {

struct Command {
  std::string_view name;
  std::string_view summary;
  int (*run)(ovlsim::cli::Args);
};

constexpr Command kCommands[] = {
    {"run", "run traces against the model and check their expectations",
     ovlsim::cli::run_command},
    {"explain", "show step by step what overlayfs does in a trace",
     ovlsim::cli::explain_command},
    {"check", "compare the model with a real overlay mount",
     ovlsim::cli::check_command},
    {"fuzz", "generate random traces and compare targets",
     ovlsim::cli::fuzz_command},
};

void usage(std::FILE* out) {
  fmt::print(out,
             "usage: ovlsim COMMAND [ARGS...]\n"
             "\n"
             "A simulator of Linux overlayfs semantics (kernel 6.18).\n"
             "\n"
             "commands:\n");
  for (const Command& c : kCommands)
    fmt::print(out, "  {:<9} {}\n", c.name, c.summary);
  fmt::print(out,
             "\n"
             "Run 'ovlsim COMMAND --help' for a command's options.\n"
             "Traces are described in doc/trace-format.md.\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) {
    usage(stderr);
    return 2;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    usage(stdout);
    return 0;
  }
  for (const Command& c : kCommands)
    if (c.name == args[0])
      return c.run(ovlsim::cli::Args(args).subspan(1));
  fmt::print(stderr, "ovlsim: unknown command '{}'\n\n", args[0]);
  usage(stderr);
  return 2;
}
