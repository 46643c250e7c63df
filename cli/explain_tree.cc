// The stack table of `ovlsim explain` (cli/explain.h): rows are paths in
// tree order, columns are the layers and then the merged view.
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "cli/explain.h"
#include "model/event.h"
#include "model/xattr.h"

namespace ovlsim::cli {

namespace {

// A path as its components, so that a std::map sorts paths in tree order
// ("/a/b" right after "/a", before "/a-b").
using Key = std::vector<std::string>;

Key key_of(const std::string& path) {
  Key key;
  std::size_t pos = 0;
  while (pos < path.size()) {
    std::size_t end = path.find('/', pos);
    if (end == std::string::npos)
      end = path.size();
    if (end > pos)
      key.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return key;
}

// How a cell is coloured.
enum class Mark { kAbsent, kPlain, kWhiteout, kOpaque, kSpecial, kSource };

struct Cell {
  std::string text = "-";
  Mark mark = Mark::kAbsent;
};

struct Row {
  std::vector<Cell> layers;  // one per layer column
  Cell merged;
  bool visible = false;  // the merged view has the path
  bool merged_dir = false;
};

// The words for one object of a raw layer: its type, and the overlay
// marker it carries when it has one.
Cell layer_cell(const model::Inode& node, const std::string& prefix) {
  auto has = [&](std::string_view suffix) {
    return node.xattrs.count(prefix + std::string(suffix)) != 0;
  };
  auto value = [&](std::string_view suffix) {
    return node.xattr(prefix + std::string(suffix)).value_or("");
  };

  if (S_ISCHR(node.mode) && node.rdev == makedev(0, 0))
    return {"whiteout", Mark::kWhiteout};
  if (node.is_reg() && node.data.empty() && has(model::kWhiteout))
    return {"xwhiteout", Mark::kWhiteout};
  if (node.is_dir() && value(model::kOpaque) == "y")
    return {"opaque dir", Mark::kOpaque};
  if (node.is_dir() && value(model::kOpaque) == "x")
    return {"dir opaque=x", Mark::kSpecial};
  if (node.is_dir() && has(model::kRedirect))
    return {"redirect dir", Mark::kSpecial};
  if (node.is_reg() && has(model::kMetacopy))
    return {"metacopy", Mark::kSpecial};
  return {model::type_name(node.mode), Mark::kPlain};
}

std::string column_name(std::size_t layer, std::size_t lowest) {
  if (layer == 0)
    return "upper";
  if (layer <= lowest)
    return fmt::format("L{}", layer);
  return fmt::format("D{}", layer - lowest);
}

// The label under a column's name: the trace's label for the layer.
std::string column_label(const trace::Scenario& scenario, std::size_t layer) {
  if (layer == 0)
    return scenario.upper_label;
  if (layer <= scenario.lower_labels.size())
    return scenario.lower_labels[layer - 1];
  return "";
}

// The layers of a mounted overlay as a new stack, to mount a copy.
model::Stack copy_stack(const model::Overlay& ovl) {
  model::Stack stack;
  if (ovl.upper() != nullptr)
    stack.upper = *ovl.upper();
  for (std::size_t i = 0; i < ovl.lower_count(); ++i)
    stack.lowers.push_back(ovl.lower(i));
  for (std::size_t i = 0; i < ovl.data_lower_count(); ++i)
    stack.data_lowers.push_back(ovl.data_lower(i));
  return stack;
}

// What the merged view holds at one path, and which layers make it up.
struct MergedEntry {
  mode_t mode = 0;
  std::vector<std::size_t> layers;
};

// Reads the merged view below `path` as a process would (readdir, then
// lstat of each entry), taking from the model's lookup events the layers
// that answered for each name.
void read_merged(model::Overlay& ovl, model::EventLog& log,
                 const std::string& path, std::map<Key, MergedEntry>& out) {
  model::Result<std::vector<model::Dirent>> entries = ovl.readdir(path);
  if (!entries.ok())
    return;
  for (const model::Dirent& d : *entries) {
    if (d.name == "." || d.name == "..")
      continue;
    std::string child = path == "/" ? "/" + d.name : path + "/" + d.name;
    log.clear();
    model::Result<model::Stat> st = ovl.lstat(child);
    if (!st.ok())
      continue;  // readdir may list what lookup refuses (WO-06)
    MergedEntry entry;
    entry.mode = st->mode;
    for (const model::Event& e : log)
      if (e.kind == model::EventKind::kLookup && e.path == child &&
          !e.layers.empty())
        entry.layers = e.layers;
    out[key_of(child)] = entry;
    if (S_ISDIR(st->mode))
      read_merged(ovl, log, child, out);
  }
}

// The merged view of a copy of `ovl`'s layers.
std::optional<std::map<Key, MergedEntry>> merged_view(
    const model::Overlay& ovl, const trace::Scenario& scenario) {
  model::Result<model::Overlay> copy = model::Overlay::mount(
      copy_stack(ovl), scenario.mount_options, trace::kernel_of(scenario),
      trace::mounter_of(scenario));
  if (!copy.ok())
    return std::nullopt;
  model::EventLog log;
  copy->set_log(&log);

  std::map<Key, MergedEntry> view;
  model::Result<model::Stat> root = copy->lstat("/");
  if (!root.ok())
    return view;
  MergedEntry& top = view[Key{}];
  top.mode = root->mode;
  if (ovl.upper() != nullptr)
    top.layers.push_back(0);
  for (std::size_t i = 1; i <= ovl.lower_count(); ++i)
    top.layers.push_back(i);
  read_merged(*copy, log, "/", view);
  return view;
}

std::string paint(const Palette& p, Mark mark, const std::string& text) {
  switch (mark) {
    case Mark::kAbsent:
      return p.dim(text);
    case Mark::kPlain:
      return text;
    case Mark::kWhiteout:
      return p.red(text);
    case Mark::kOpaque:
      return p.yellow(text);
    case Mark::kSpecial:
      return p.magenta(text);
    case Mark::kSource:
      return p.cyan(text);
  }
  return text;
}

std::string pad(const std::string& text, std::size_t width) {
  return text + std::string(width > text.size() ? width - text.size() : 0, ' ');
}

// Fills in the merged column of each row.
void merged_cells(std::map<Key, Row>& rows,
                  const std::map<Key, MergedEntry>& view,
                  const std::vector<std::string>& names) {
  for (auto& [key, row] : rows) {
    auto it = view.find(key);
    if (it != view.end()) {
      std::string from;
      for (std::size_t layer : it->second.layers)
        from += (from.empty() ? "" : "+") + names.at(layer);
      row.visible = true;
      row.merged_dir = S_ISDIR(it->second.mode);
      row.merged = {fmt::format("{:<8} {}", model::type_name(it->second.mode),
                                from.empty() ? "?" : from),
                    Mark::kSource};
      continue;
    }

    // Not visible: say what hides it, where the hiding happens.
    bool whiteout =
        std::any_of(row.layers.begin(), row.layers.end(),
                    [](const Cell& c) { return c.mark == Mark::kWhiteout; });
    row.merged = {"-", Mark::kAbsent};
    if (whiteout) {
      row.merged.text = "- hidden by the whiteout";
      continue;
    }
    if (key.empty())
      continue;
    Key parent(key.begin(), key.end() - 1);
    auto up = rows.find(parent);
    if (up == rows.end() || !up->second.visible)
      continue;
    if (!up->second.merged_dir) {
      row.merged.text = "- hidden: the parent is not a dir";
      continue;
    }
    for (const Cell& c : up->second.layers) {
      if (c.mark == Mark::kAbsent)
        continue;
      if (c.mark == Mark::kOpaque)
        row.merged.text = "- hidden by the opaque dir";
      break;
    }
  }
}

std::string render(const std::vector<std::string>& names,
                   const std::vector<std::string>& labels,
                   const std::map<Key, Row>& rows, bool with_merged,
                   const Palette& p) {
  // Column widths: the tree of names, then each layer.
  std::size_t name_width = 4;
  for (const auto& [key, row] : rows) {
    std::size_t len = key.empty() ? 1 : 2 * key.size() + key.back().size();
    name_width = std::max(name_width, len);
  }
  std::vector<std::size_t> widths;
  for (std::size_t c = 0; c < names.size(); ++c) {
    std::size_t w = std::max(names[c].size(), labels[c].size() + 2);
    for (const auto& [key, row] : rows)
      w = std::max(w, row.layers[c].text.size());
    widths.push_back(w);
  }

  std::string out;
  bool any_label = std::any_of(labels.begin(), labels.end(),
                               [](const std::string& l) { return !l.empty(); });
  std::string head = "  " + pad("", name_width);
  std::string under = head;
  for (std::size_t c = 0; c < names.size(); ++c) {
    head += "  " + p.bold(pad(names[c], widths[c]));
    std::string label = labels[c].empty() ? "" : "(" + labels[c] + ")";
    under += "  " + pad(label, widths[c]);
  }
  if (with_merged)
    head += "  " + p.bold("merged view");
  while (!head.empty() && head.back() == ' ')
    head.pop_back();
  out += head + "\n";
  if (any_label) {
    while (!under.empty() && under.back() == ' ')
      under.pop_back();
    out += p.dim(under) + "\n";
  }

  for (const auto& [key, row] : rows) {
    std::string name =
        key.empty() ? "/" : std::string(2 * key.size(), ' ') + key.back();
    std::string line = "  " + pad(name, name_width);
    for (std::size_t c = 0; c < names.size(); ++c) {
      const Cell& cell = row.layers[c];
      line += "  " + paint(p, cell.mark, pad(cell.text, widths[c]));
    }
    if (with_merged)
      line += "  " + paint(p, row.merged.mark, row.merged.text);
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    out += line + "\n";
  }
  return out;
}

// The rows of every raw layer: upper (when present) and lower columns.
struct Table {
  std::vector<std::size_t> layers;  // the layer index of each column
  std::vector<std::string> names;   // by layer index
  std::vector<std::string> column_names;
  std::vector<std::string> labels;
  std::map<Key, Row> rows;
};

Table layer_rows(const trace::Scenario& scenario,
                 const std::vector<const model::Layer*>& layers,
                 std::size_t lowest, const std::string& prefix) {
  Table table;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    table.names.push_back(column_name(i, lowest));
    if (layers[i] == nullptr)
      continue;
    table.layers.push_back(i);
    table.column_names.push_back(table.names.back());
    table.labels.push_back(column_label(scenario, i));
  }
  std::size_t columns = table.layers.size();
  for (std::size_t c = 0; c < columns; ++c) {
    layers[table.layers[c]]->walk(
        [&](const std::string& path, const model::Inode& node) {
          Row& row = table.rows[key_of(path)];
          row.layers.resize(columns);
          row.layers[c] = layer_cell(node, prefix);
        });
  }
  return table;
}

const char kLegend[] =
    "  -: not in this layer; merged view: the type and the layers it comes "
    "from\n"
    "  whiteout: a char device 0/0 that hides the name in the layers "
    "below\n"
    "  opaque dir: overlay.opaque=y, the lower dirs of its name are not "
    "merged\n";

}  // namespace

std::string draw_stack(const model::Overlay& ovl,
                       const trace::Scenario& scenario,
                       const Palette& palette) {
  std::vector<const model::Layer*> layers{ovl.upper()};
  for (std::size_t i = 0; i < ovl.lower_count(); ++i)
    layers.push_back(&ovl.lower(i));
  for (std::size_t i = 0; i < ovl.data_lower_count(); ++i)
    layers.push_back(&ovl.data_lower(i));
  std::string prefix = model::OverlayXattrs(ovl.options().userxattr).prefix();
  Table table = layer_rows(scenario, layers, ovl.lower_count(), prefix);

  std::optional<std::map<Key, MergedEntry>> view = merged_view(ovl, scenario);
  for (const auto& [key, entry] : view.value_or(std::map<Key, MergedEntry>{}))
    table.rows[key].layers.resize(table.layers.size());
  merged_cells(table.rows, view.value_or(std::map<Key, MergedEntry>{}),
               table.names);
  return render(table.column_names, table.labels, table.rows, true, palette);
}

std::string stack_legend(const Palette& palette) {
  return palette.dim(kLegend);
}

std::string draw_layers(const trace::Scenario& scenario,
                        const Palette& palette) {
  const model::Stack& stack = scenario.stack;
  std::vector<const model::Layer*> layers{stack.upper ? &*stack.upper
                                                      : nullptr};
  for (const model::Layer& lower : stack.lowers)
    layers.push_back(&lower);
  std::string prefix =
      scenario.mount_options.userxattr ? "user.overlay." : "trusted.overlay.";
  Table table = layer_rows(scenario, layers, stack.lowers.size(), prefix);
  return render(table.column_names, table.labels, table.rows, false, palette);
}

}  // namespace ovlsim::cli
