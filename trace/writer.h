// Writing traces: a Scenario back to the text of doc/trace-format.md.
//
// The writer is the parser's inverse: parse_trace(write_trace(s)) equals s
// for every Scenario the parser can produce, and for every Scenario built
// by a program whose layers hold only what the format can say. Times are
// not written, and overlay.origin and overlay.uuid are written without
// their values (the format compares them by presence). Fuzzers use it to emit
// counterexamples, and `ovlsim run
// --record` to fill in expectations.
#ifndef OVLSIM_TRACE_WRITER_H_
#define OVLSIM_TRACE_WRITER_H_

#include <string>

#include "model/layer.h"
#include "trace/scenario.h"

namespace ovlsim::trace {

// The whole trace, ending in a newline.
std::string write_trace(const Scenario& scenario);

// One step's line ("unlink /a -> ENOENT"), without a newline and without
// its expected states.
std::string write_step(const Step& step);

// The entry lines of a layer, one per line, as they appear under "upper"
// or "lower" and in "expect upper" blocks. `userxattr` picks the overlay
// xattr prefix that the shorthand attributes (opaque, origin...) stand for.
std::string write_layer(const model::Layer& layer, bool userxattr,
                        std::string_view indent = "  ");

// A string as the format quotes it: "a\nb".
std::string quote(std::string_view bytes);

}  // namespace ovlsim::trace

#endif  // OVLSIM_TRACE_WRITER_H_
