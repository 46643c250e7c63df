// libFuzzer target for the trace parser.
//
// Any input must give a Scenario or a ParseError, never a crash, a hang or
// an escaping exception. For input that parses, the writer must produce a
// trace that parses again and is a fixed point: writing it once more gives
// the same text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "trace/parser.h"
#include "trace/writer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = ovlsim::trace::parse_trace(text, "fuzz.trace");
  if (std::holds_alternative<ovlsim::trace::ParseError>(parsed))
    return 0;

  std::string written =
      ovlsim::trace::write_trace(std::get<ovlsim::trace::Scenario>(parsed));
  auto reparsed = ovlsim::trace::parse_trace(written, "written.trace");
  if (auto* err = std::get_if<ovlsim::trace::ParseError>(&reparsed)) {
    std::fprintf(stderr, "written trace does not parse: %s\n---\n%s---\n",
                 err->str().c_str(), written.c_str());
    std::abort();
  }
  std::string again =
      ovlsim::trace::write_trace(std::get<ovlsim::trace::Scenario>(reparsed));
  if (again != written) {
    std::fprintf(stderr, "writer is not a fixed point:\n---\n%s---\n%s---\n",
                 written.c_str(), again.c_str());
    std::abort();
  }
  return 0;
}
