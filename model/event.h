// What the model did inside one operation, for teaching and debugging.
//
// The model is silent: it never prints. When a caller hands it an EventLog,
// it records each internal step there: which layer answered a lookup, each
// copy-up (parents first), each whiteout or opaque marker written, and the
// reason behind an errno. `ovlsim explain` turns these into prose.
#ifndef OVLSIM_MODEL_EVENT_H_
#define OVLSIM_MODEL_EVENT_H_

#include <cstddef>
#include <string>
#include <vector>

namespace ovlsim::model {

enum class EventKind {
  kLookup,     // a name was looked up: see `layers`
  kCopyUp,     // an object was copied to the upper layer
  kCreate,     // a new object was created in the upper layer
  kRemove,     // an object was removed from the upper layer
  kWhiteout,   // a whiteout was created in the upper layer
  kOpaque,     // a directory was marked opaque
  kXattr,      // an overlay.* xattr was written (origin, impure, uuid...)
  kError,      // the operation failed: `detail` says why
  kUndefined,  // the kernel leaves this behaviour undefined
};

struct Event {
  EventKind kind;
  std::string path;    // the path in the merged view
  std::size_t layer;   // 0 for the upper layer, 1.. for lower layers
  std::string detail;  // a short phrase, e.g. "data and metadata"
  // kLookup: every layer that makes up the name, topmost first (`layer`
  // is the first). Empty when the name is negative: `detail` then says
  // what hid it, and `layer` is the layer of that whiteout or opaque
  // directory.
  std::vector<std::size_t> layers;
};

using EventLog = std::vector<Event>;

}  // namespace ovlsim::model

#endif  // OVLSIM_MODEL_EVENT_H_
