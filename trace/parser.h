// Reading traces: text in the format of doc/trace-format.md to a Scenario.
//
// The parser never throws and never asserts on its input: every malformed
// trace gives a ParseError naming the first problem, its line and column,
// in the compiler's "FILE:LINE:COL: message" shape.
#ifndef OVLSIM_TRACE_PARSER_H_
#define OVLSIM_TRACE_PARSER_H_

#include <string>
#include <string_view>
#include <variant>

#include "trace/scenario.h"

namespace ovlsim::trace {

struct ParseError {
  std::string file;
  int line = 0;         // 1-based
  int col = 0;          // 1-based, in bytes
  std::string message;  // lower-case, names the offending token

  // "FILE:LINE:COL: message".
  std::string str() const;
};

// Parses a whole trace. `file` is only used in errors.
// Errors (a ParseError, the first one met): an unknown keyword, operation,
// flag or attribute; a missing or extra argument; a bad path (a layer path
// that is not absolute and normal, a path holding a NUL byte); a bad errno
// name; a bad octal mode, number, device or time; an unterminated or badly
// escaped string; a duplicate entry, title, kernel or section; an entry
// whose parent is not a directory; an unterminated "expect" block; an
// expectation that does not fit its operation.
std::variant<Scenario, ParseError> parse_trace(std::string_view text,
                                               std::string_view file);

// Reads and parses a file. Errors as parse_trace, plus a ParseError at
// line 0 when the file cannot be read.
std::variant<Scenario, ParseError> parse_trace_file(const std::string& path);

}  // namespace ovlsim::trace

#endif  // OVLSIM_TRACE_PARSER_H_
