// ovlsim run: run traces against the model and check their expectations.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/terminal.h"
#include "trace/expect.h"
#include "trace/model_runner.h"
#include "trace/parser.h"
#include "trace/writer.h"

namespace ovlsim::cli {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kHelp =
    "usage: ovlsim run [--record] [--json] TRACE|DIR...\n"
    "\n"
    "Runs each trace against the model and checks every expectation it\n"
    "states. A directory stands for every *.trace file below it, in path\n"
    "order. Prints one line per trace and, for a failure, the step with the\n"
    "expected and the actual result.\n"
    "\n"
    "options:\n"
    "  --record  write the model's results into the trace for every step\n"
    "            that has no expectation yet ('-> ...' is appended to the\n"
    "            step's line; comments and layout are kept)\n"
    "  --json    print the results as one JSON object instead\n"
    "\n"
    "exit status: 0 when every trace passes, 1 when one fails, 2 for a\n"
    "malformed trace (reported as FILE:LINE:COL: message) or bad usage.\n";

struct Result {
  std::string file;
  std::string title;
  enum class Status { kPass, kFail, kError } status = Status::kPass;
  trace::RunReport report;
  std::string error;  // kError: the parse error
  int recorded = 0;   // --record: expectations written
};

// The trace files named by the arguments: files as given, directories
// searched for *.trace in path order.
bool collect(Args paths, std::vector<std::string>& files) {
  bool ok = true;
  for (std::string_view arg : paths) {
    fs::path path(arg);
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(path, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file() && it->path().extension() == ".trace")
          found.push_back(it->path().string());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(path, ec)) {
      files.push_back(path.string());
    } else {
      fmt::print(stderr, "{}: no such file or directory\n", arg);
      ok = false;
    }
  }
  return ok;
}

// Where a comment starts on a trace line, or npos: the first '#' that
// begins a token outside a string.
size_t comment_start(std::string_view line) {
  bool in_string = false;
  bool token_start = true;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    if (c == '#' && token_start)
      return i;
    token_start = c == ' ' || c == '\t' || c == '[' || c == ']';
  }
  return std::string_view::npos;
}

// Appends " -> EXPECTED" to the line of `step` when the recording gave
// it an expectation, keeping any comment at the end of the line.
bool record_step(const trace::Step& before, const trace::Step& after,
                 std::vector<std::string>& lines) {
  if (before.expect || !after.expect)
    return false;
  std::string& line = lines.at(before.line - 1);
  std::string arrow = " -> " + format_expected(*after.expect);
  size_t hash = comment_start(line);
  std::string code = hash == std::string::npos ? line : line.substr(0, hash);
  std::string comment = hash == std::string::npos ? "" : line.substr(hash);
  while (!code.empty() && (code.back() == ' ' || code.back() == '\t'))
    code.pop_back();
  line = code + arrow + (comment.empty() ? "" : "  " + comment);
  return true;
}

struct BlockEdit {
  int line;      // the "expect" line, 1-based
  int end_line;  // its "end"
  std::vector<std::string> replacement;
};

// The new text of the state blocks that the recording filled in.
void record_blocks(const std::vector<trace::ExpectedState>& states,
                   bool userxattr, const std::vector<std::string>& lines,
                   std::vector<BlockEdit>& edits) {
  for (const trace::ExpectedState& state : states) {
    if (!state.to_record)
      continue;
    const std::string& head = lines.at(state.line - 1);
    std::string indent = head.substr(0, head.find_first_not_of(" \t"));
    BlockEdit edit{state.line, state.end_line, {head}};
    std::istringstream body(
        trace::write_layer(state.tree, userxattr, indent + "  "));
    for (std::string entry; std::getline(body, entry);)
      edit.replacement.push_back(entry);
    if (edit.replacement.size() == 1)
      edit.replacement.push_back(indent + "  dir /");
    edit.replacement.push_back(indent + "end");
    edits.push_back(std::move(edit));
  }
}

// Writes what the recording filled in back into the trace file, keeping
// its comments and layout. Returns how many expectations were written.
int write_recording(const std::string& file, const trace::Scenario& before,
                    const trace::Scenario& after) {
  std::ifstream in(file, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);

  int count = 0;
  bool userxattr = after.mount_options.userxattr;
  std::vector<BlockEdit> edits;
  record_blocks(after.mount_states, userxattr, lines, edits);
  for (size_t i = 0; i < before.steps.size(); ++i) {
    count += record_step(before.steps[i], after.steps[i], lines);
    record_blocks(after.steps[i].states, userxattr, lines, edits);
  }

  // Bottom up, so that earlier line numbers stay valid.
  std::sort(edits.begin(), edits.end(),
            [](const auto& a, const auto& b) { return a.line > b.line; });
  for (const BlockEdit& edit : edits) {
    auto first = lines.begin() + (edit.line - 1);
    auto last = lines.begin() + edit.end_line;
    lines.erase(first, last);
    lines.insert(lines.begin() + (edit.line - 1), edit.replacement.begin(),
                 edit.replacement.end());
    ++count;
  }

  if (!before.mount_expect && after.mount_expect) {
    // The result goes on the trace's own "mount" line when it has one,
    // else on a new one right after "steps".
    std::string arrow = " -> " + format_expected(*after.mount_expect);
    for (size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].rfind("steps", 0) != 0)
        continue;
      size_t next = i + 1;
      while (next < lines.size() &&
             lines[next].find_first_not_of(" \t") == std::string::npos)
        ++next;
      std::string code = next < lines.size() ? lines[next] : "";
      size_t hash = comment_start(code);
      std::string comment = hash == std::string::npos ? "" : code.substr(hash);
      code = code.substr(0, hash);
      while (!code.empty() && (code.back() == ' ' || code.back() == '\t'))
        code.pop_back();
      if (code == "mount")
        lines[next] = "mount" + arrow + (comment.empty() ? "" : "  " + comment);
      else
        lines.insert(lines.begin() + static_cast<long>(i) + 1, "mount" + arrow);
      ++count;
      break;
    }
  }

  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  for (const std::string& line : lines)
    out << line << '\n';
  return count;
}

Result run_one(const std::string& file, bool record) {
  Result result;
  result.file = file;
  auto parsed = trace::parse_trace_file(file);
  if (auto* err = std::get_if<trace::ParseError>(&parsed)) {
    result.status = Result::Status::kError;
    result.error = err->str();
    return result;
  }
  const trace::Scenario& scenario = std::get<trace::Scenario>(parsed);
  result.title = scenario.title;
  result.report = trace::run_on_model(scenario, record);
  result.status =
      result.report.passed ? Result::Status::kPass : Result::Status::kFail;
  if (record && result.report.passed)
    result.recorded = write_recording(file, scenario, result.report.recorded);
  return result;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\')
      out += fmt::format("\\{}", static_cast<char>(c));
    else if (c < 0x20)
      out += fmt::format("\\u{:04x}", c);
    else
      out += static_cast<char>(c);
  }
  return out + "\"";
}

void print_text(const Result& r, const Palette& p, bool record) {
  switch (r.status) {
    case Result::Status::kPass:
      fmt::print("{} {}  {}", p.green("PASS"), r.file, p.dim(r.title));
      if (record)
        fmt::print("  ({} recorded)", r.recorded);
      fmt::print("\n");
      break;
    case Result::Status::kFail: {
      const trace::RunReport& f = r.report;
      fmt::print("{} {}  {}\n", p.red("FAIL"), r.file, p.dim(r.title));
      fmt::print("  {}:{}: {}\n", r.file, f.line, p.bold(f.step));
      fmt::print("    expected: {}\n", f.expected);
      fmt::print("    actual:   {}\n", f.actual);
      break;
    }
    case Result::Status::kError:
      fmt::print("{} {}\n", p.red("ERROR"), r.file);
      fmt::print(stderr, "{}\n", r.error);
      break;
  }
}

void print_json(const std::vector<Result>& results) {
  int passed = 0, failed = 0, errors = 0;
  std::vector<std::string> items;
  for (const Result& r : results) {
    std::string item = fmt::format("{{\"file\": {}, \"title\": {}",
                                   json_string(r.file), json_string(r.title));
    switch (r.status) {
      case Result::Status::kPass:
        ++passed;
        item += ", \"status\": \"pass\"";
        break;
      case Result::Status::kFail:
        ++failed;
        item += fmt::format(
            ", \"status\": \"fail\", \"line\": {}, \"step\": {}, "
            "\"expected\": {}, \"actual\": {}",
            r.report.line, json_string(r.report.step),
            json_string(r.report.expected), json_string(r.report.actual));
        break;
      case Result::Status::kError:
        ++errors;
        item += fmt::format(", \"status\": \"error\", \"error\": {}",
                            json_string(r.error));
        break;
    }
    items.push_back(item + "}");
  }
  fmt::print("{{\"passed\": {}, \"failed\": {}, \"errors\": {}, \"traces\": [",
             passed, failed, errors);
  for (size_t i = 0; i < items.size(); ++i)
    fmt::print("{}\n  {}", i == 0 ? "" : ",", items[i]);
  fmt::print("\n]}}\n");
}

}  // namespace

int run_command(Args args) {
  bool record = false, json = false;
  std::vector<std::string_view> paths;
  for (std::string_view arg : args) {
    if (arg == "--help" || arg == "-h") {
      fmt::print("{}", kHelp);
      return 0;
    }
    if (arg == "--record") {
      record = true;
    } else if (arg == "--json") {
      json = true;
    } else if (arg.starts_with("-")) {
      fmt::print(stderr, "ovlsim run: unknown option '{}'\n\n{}", arg, kHelp);
      return 2;
    } else {
      paths.push_back(arg);
    }
  }
  if (paths.empty()) {
    fmt::print(stderr, "ovlsim run: no trace given\n\n{}", kHelp);
    return 2;
  }

  std::vector<std::string> files;
  bool found_all = collect(paths, files);
  std::vector<Result> results;
  Palette palette;
  for (const std::string& file : files) {
    results.push_back(run_one(file, record));
    if (!json)
      print_text(results.back(), palette, record);
  }
  if (json)
    print_json(results);

  auto count = [&](Result::Status s) {
    return std::count_if(results.begin(), results.end(),
                         [s](const Result& r) { return r.status == s; });
  };
  long failed = count(Result::Status::kFail);
  long errors = count(Result::Status::kError);
  if (!json)
    fmt::print("{} passed, {} failed, {} malformed\n",
               count(Result::Status::kPass), failed, errors);
  if (errors > 0 || !found_all)
    return 2;
  return failed > 0 ? 1 : 0;
}

}  // namespace ovlsim::cli
