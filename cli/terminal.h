// Colour on the terminal: only when standard output is a terminal and
// NO_COLOR (https://no-color.org) is unset or empty.
#ifndef OVLSIM_CLI_TERMINAL_H_
#define OVLSIM_CLI_TERMINAL_H_

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <string_view>

namespace ovlsim::cli {

class Palette {
 public:
  // Decides once, from the environment and file descriptor `fd`.
  explicit Palette(int fd = STDOUT_FILENO) {
    const char* no_color = std::getenv("NO_COLOR");
    on_ = isatty(fd) && (no_color == nullptr || *no_color == '\0');
  }

  // A palette that never colours, whatever the terminal: for text that
  // goes to a file or a test.
  static Palette none() {
    Palette p(-1);
    p.on_ = false;
    return p;
  }

  bool on() const { return on_; }

  std::string red(std::string_view s) const { return paint("31", s); }
  std::string green(std::string_view s) const { return paint("32", s); }
  std::string yellow(std::string_view s) const { return paint("33", s); }
  std::string blue(std::string_view s) const { return paint("34", s); }
  std::string magenta(std::string_view s) const { return paint("35", s); }
  std::string cyan(std::string_view s) const { return paint("36", s); }
  std::string bold(std::string_view s) const { return paint("1", s); }
  std::string dim(std::string_view s) const { return paint("2", s); }

 private:
  std::string paint(std::string_view code, std::string_view s) const {
    if (!on_)
      return std::string(s);
    return "\033[" + std::string(code) + "m" + std::string(s) + "\033[0m";
  }

  bool on_ = false;
};

}  // namespace ovlsim::cli

#endif  // OVLSIM_CLI_TERMINAL_H_
