// ovlsim explain: a trace told step by step, for people learning
// overlayfs.
//
// The explanation has three parts. First the stack as mounted, drawn as a
// table with one row per path and one column per layer (upper, L1, L2...)
// and a last column for the merged view, which names the layers each
// visible path comes from. Then each step: the call and its result, the
// lookups that resolved its paths (which layer answered), what the call
// wrote to the upper layer (copy-up, parents first; whiteouts; opaque
// markers; overlay.* xattrs) and, for a failure, why it failed. A short
// note explains each overlayfs mechanism the first time it appears.
// Last, the stack after the steps, in the same table.
//
// Everything comes from the model: its event log (model/event.h) and its
// layers. Nothing here decides what overlayfs does.
#ifndef OVLSIM_CLI_EXPLAIN_H_
#define OVLSIM_CLI_EXPLAIN_H_

#include <string>

#include "cli/terminal.h"
#include "model/overlay.h"
#include "trace/scenario.h"

namespace ovlsim::cli {

struct ExplainOptions {
  // Draw the stack table at mount and after the last step.
  bool trees = true;
  // Also draw it after every step that changed the upper layer.
  bool every_step = false;
};

// The whole explanation of `scenario`, ending in a newline. `palette`
// colours it (use Palette::none() for plain text).
std::string explain_trace(const trace::Scenario& scenario,
                          const ExplainOptions& options,
                          const Palette& palette);

// The stack table of a mounted overlay: one row per path of any layer or
// of the merged view, in tree order; one column per layer, then the merged
// view with the layers each visible path comes from. Whiteouts, opaque
// directories, redirects and metacopy files are marked in their layer's
// column. `scenario` supplies the layer labels and the mount options used
// to read the merged view (from a copy of the layers: reading it through
// `ovl` itself would change its upper layer, LK-15).
std::string draw_stack(const model::Overlay& ovl,
                       const trace::Scenario& scenario, const Palette& palette);

// What the marks of the table mean, a few lines to print under the first
// table.
std::string stack_legend(const Palette& palette);

// The same table for layers that are not mounted (a mount that failed):
// the layer columns only.
std::string draw_layers(const trace::Scenario& scenario,
                        const Palette& palette);

}  // namespace ovlsim::cli

#endif  // OVLSIM_CLI_EXPLAIN_H_
