#include "trace/scenario.h"

#include <map>

#include <fmt/format.h>

namespace ovlsim::trace {

namespace {

bool same_layer(const std::optional<model::Layer>& a,
                const std::optional<model::Layer>& b) {
  if (a.has_value() != b.has_value())
    return false;
  return !a || a->same_tree(*b);
}

bool same_attrs(const model::InodeAttrs& a, const model::InodeAttrs& b) {
  return a.mode == b.mode && a.uid == b.uid && a.gid == b.gid &&
         a.rdev == b.rdev && a.data == b.data && a.xattrs == b.xattrs &&
         a.atime == b.atime && a.mtime == b.mtime && a.ctime == b.ctime;
}

}  // namespace

bool ExpectedState::operator==(const ExpectedState& other) const {
  if (kind != other.kind || line != other.line || path != other.path ||
      end_line != other.end_line || to_record != other.to_record)
    return false;
  if (object.has_value() != other.object.has_value())
    return false;
  if (object && !same_attrs(*object, *other.object))
    return false;
  return tree.same_tree(other.tree);
}

bool Scenario::operator==(const Scenario& other) const {
  if (stack.lowers.size() != other.stack.lowers.size())
    return false;
  for (size_t i = 0; i < stack.lowers.size(); ++i)
    if (!stack.lowers[i].same_tree(other.stack.lowers[i]))
      return false;
  return title == other.title && description == other.description &&
         same_layer(stack.upper, other.stack.upper) &&
         upper_label == other.upper_label &&
         lower_labels == other.lower_labels && upper_fs == other.upper_fs &&
         lower_fs == other.lower_fs && null_uuid_fs == other.null_uuid_fs &&
         stack.filesystems == other.stack.filesystems &&
         options == other.options && mount_options == other.mount_options &&
         options_error == other.options_error && kernel == other.kernel &&
         userns == other.userns && mount_expect == other.mount_expect &&
         mount_states == other.mount_states && steps == other.steps;
}

std::vector<std::string> layer_filesystems(const Scenario& scenario) {
  std::vector<std::string> names;
  if (scenario.stack.upper)
    names.push_back(scenario.upper_fs);
  for (std::size_t i = 0; i < scenario.stack.lowers.size(); ++i)
    names.push_back(i < scenario.lower_fs.size() ? scenario.lower_fs[i] : "");
  return names;
}

void place_layers(Scenario& scenario) {
  std::vector<std::string> names = layer_filesystems(scenario);
  std::map<std::string, unsigned> ids;
  std::vector<unsigned> filesystems;
  for (const std::string& name : names)
    filesystems.push_back(
        ids.try_emplace(name, static_cast<unsigned>(ids.size())).first->second);
  scenario.stack.null_uuid.clear();
  for (const std::string& name : scenario.null_uuid_fs)
    if (auto it = ids.find(name); it != ids.end())
      scenario.stack.null_uuid.push_back(it->second);
  if (ids.size() <= 1) {
    filesystems.clear();
    scenario.stack.null_uuid.clear();
  }
  scenario.stack.filesystems = std::move(filesystems);
}

std::string layer_label(const Scenario& scenario, std::size_t layer) {
  if (layer == 0)
    return scenario.upper_label.empty() ? "upper" : scenario.upper_label;
  if (layer <= scenario.lower_labels.size() &&
      !scenario.lower_labels[layer - 1].empty())
    return scenario.lower_labels[layer - 1];
  return fmt::format("lower {}", layer);
}

}  // namespace ovlsim::trace
