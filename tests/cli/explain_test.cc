#include "cli/explain.h"

#include <catch2/catch.hpp>
#include <string>
#include <variant>

#include "trace/parser.h"

namespace ovlsim::cli {
namespace {

using Catch::Contains;

trace::Scenario parse(const std::string& text) {
  auto r = trace::parse_trace(text, "t.trace");
  if (auto* err = std::get_if<trace::ParseError>(&r))
    FAIL(err->str());
  return std::get<trace::Scenario>(r);
}

std::string explain(const std::string& text, ExplainOptions options = {}) {
  return explain_trace(parse(text), options, Palette::none());
}

// The line of `out` that starts with `start` after its indentation, or ""
// when there is none.
std::string line_of(const std::string& out, const std::string& start) {
  std::size_t pos = 0;
  while (pos < out.size()) {
    std::size_t end = out.find('\n', pos);
    if (end == std::string::npos)
      end = out.size();
    std::string line = out.substr(pos, end - pos);
    std::size_t first = line.find_first_not_of(' ');
    if (first != std::string::npos &&
        line.compare(first, start.size(), start) == 0)
      return line;
    pos = end + 1;
  }
  return "";
}

std::size_t count(const std::string& out, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t pos = out.find(what); pos != std::string::npos;
       pos = out.find(what, pos + 1))
    ++n;
  return n;
}

// The Docker walkthrough in small: an image layer, a container layer.
const std::string kDocker =
    "title Docker in small\n"
    "upper container\n"
    "lower image\n"
    "  file /bin/sleep \"sleep\"\n"
    "  file /bin/sync \"sync\"\n"
    "  dir /boot\n"
    "  file /boot/vmlinuz\n"
    "steps\n"
    "unlink /bin/sleep -> ok\n"
    "unlink /bin/sync -> ok\n"
    "rmdir /boot -> ENOTEMPTY\n"
    "unlink /boot/vmlinuz -> ok\n"
    "rmdir /boot -> ok\n"
    "mkdir /boot 0755 -> ok\n";

TEST_CASE("explain tells which layer answered each lookup", "[explain]") {
  std::string out = explain(
      "title t\n"
      "upper\n"
      "  file /a \"up\"\n"
      "lower base\n"
      "  file /a \"low\"\n"
      "  dir /d\n"
      "  file /d/x\n"
      "lower\n"
      "  dir /d\n"
      "  whiteout /w\n"
      "steps\n"
      "stat /a\n"
      "stat /d/x\n"
      "stat /w\n"
      "stat /nothing\n");

  CHECK(line_of(out, "lookup /a:") ==
        "   lookup /a: found in the upper layer; it hides the one in L1 "
        "(base)");
  CHECK_THAT(line_of(out, "lookup /d:"),
             Contains("found in L1 (base) and L2; a merged directory"));
  CHECK(line_of(out, "lookup /d/x:") == "   lookup /d/x: found in L1 (base)");
  CHECK_THAT(line_of(out, "lookup /w:"),
             Contains("not found: a whiteout in L2 hides the name"));
  CHECK_THAT(line_of(out, "lookup /nothing:"),
             Contains("not found: no layer has the name"));
  CHECK_THAT(out, Contains("a read: nothing was written"));

  SECTION("a change to an upper object needs no copy-up") {
    std::string again =
        explain("title t\nupper\n  file /a\nlower\nsteps\nchmod /a 0600\n");
    CHECK_THAT(again, Contains("already in the upper layer: changed there"));
    CHECK(again.find("copy-up /a") == std::string::npos);
  }
}

TEST_CASE("explain tells copy-up, whiteouts and opaque directories",
          "[explain]") {
  std::string out = explain(kDocker);

  SECTION("unlink of a lower file copies the parent up, then whites out") {
    std::string step = out.substr(out.find("1. unlink /bin/sleep = ok"));
    std::size_t copy = step.find("copy-up /bin: copied up from L1 (image)");
    std::size_t whiteout = step.find(
        "whiteout /bin/sleep: a character "
        "device 0/0");
    CHECK(copy != std::string::npos);
    CHECK(whiteout != std::string::npos);
    CHECK(copy < whiteout);
    CHECK_THAT(out, Contains("2. unlink /bin/sync = ok"));
  }
  SECTION("a failed call says why") {
    CHECK_THAT(out, Contains("3. rmdir /boot = ENOTEMPTY"));
    CHECK_THAT(out, Contains("why it fails:"));
  }
  SECTION("rmdir leaves a whiteout, mkdir over it an opaque directory") {
    CHECK_THAT(line_of(out, "whiteout /boot:"),
               Contains("a character device 0/0 written in the upper layer"));
    CHECK_THAT(line_of(out, "create /boot:"),
               Contains("replacing the whiteout"));
    CHECK_THAT(line_of(out, "opaque /boot:"), Contains("marked opaque"));
  }
  SECTION("each idea is explained once") {
    CHECK(count(out, "note: Lower layers are never written") == 1);
    CHECK(count(out, "note: A name cannot be deleted") == 1);
    CHECK(count(out, "note: An opaque directory") == 1);
  }
  SECTION("every expectation held") {
    CHECK(count(out, "as the trace expects") == 6);
    CHECK_THAT(out, Contains("In all: 2 copy-ups, 4 whiteouts, 1 opaque "
                             "directory, 1 failed call."));
  }
  SECTION("a removed directory leaves a whiteout, and the note says so") {
    CHECK(count(out, "note: Removing a directory leaves a whiteout") == 1);
  }
}

TEST_CASE("explain draws the stack before and after", "[explain]") {
  std::string out = explain(kDocker);
  std::size_t after = out.find("The stack after the steps:");
  REQUIRE(out.find("The stack at mount:") != std::string::npos);
  REQUIRE(after != std::string::npos);
  std::string before_table = out.substr(0, after);
  std::string after_table = out.substr(after);

  SECTION("one column per layer, then the merged view, labels below") {
    CHECK_THAT(line_of(after_table, "upper"), Contains("L1"));
    CHECK_THAT(line_of(after_table, "upper"), Contains("merged view"));
    CHECK_THAT(line_of(after_table, "(container)"), Contains("(image)"));
  }
  SECTION("each path is marked by its layer in the merged view") {
    CHECK_THAT(line_of(before_table, "sleep"), Contains("file     L1"));
    CHECK_THAT(line_of(before_table, "/ "), Contains("dir      upper+L1"));
  }
  SECTION("whiteouts and opaque directories are marked") {
    std::string sleep = line_of(after_table, "sleep");
    CHECK_THAT(sleep, Contains("whiteout"));
    CHECK_THAT(sleep, Contains("- hidden by the whiteout"));
    std::string boot = line_of(after_table, "boot");
    CHECK_THAT(boot, Contains("opaque dir"));
    CHECK_THAT(boot, Contains("dir      upper"));
    CHECK_THAT(line_of(after_table, "vmlinuz"),
               Contains("- hidden by the opaque dir"));
  }
  SECTION("--no-trees leaves them out, --every-step adds some") {
    ExplainOptions none;
    none.trees = false;
    CHECK(explain(kDocker, none).find("The stack at mount") ==
          std::string::npos);
    ExplainOptions each;
    each.every_step = true;
    std::string all = explain(kDocker, each);
    CHECK_THAT(all, Contains("The stack after step 1:"));
    CHECK(all.find("The stack after step 3:") == std::string::npos);
  }
}

TEST_CASE("explain tells what a lookup wrote after that lookup", "[explain]") {
  // An upper directory without overlay.origin that merges with a lower one
  // gets an origin on lookup (LK-15).
  std::string out = explain(
      "title t\n"
      "upper\n"
      "  dir /d\n"
      "lower\n"
      "  file /d/x\n"
      "steps\n"
      "stat /d/x\n");
  std::size_t lookup = out.find("lookup /d: found in the upper layer and L1");
  std::size_t xattr = out.find("xattr /d: lookup added overlay.origin");
  CHECK(lookup != std::string::npos);
  CHECK(xattr != std::string::npos);
  CHECK(lookup < xattr);
}

TEST_CASE("explain tells devices when layers are on several filesystems",
          "[explain]") {
  const std::string split =
      "title split\n"
      "upper fs=u\n"
      "  file /uf\n"
      "lower fs=l\n"
      "  file /f\n"
      "  dir /d\n"
      "steps\n"
      "stat /f\n"
      "stat /uf\n"
      "stat /d\n";
  std::string out = explain(split);
  INFO(out);
  CHECK_THAT(line_of(out, "upper "), Contains("on filesystem u"));
  CHECK_THAT(line_of(out, "L1 "), Contains("on filesystem l"));
  CHECK(count(out, "device: the anonymous device of filesystem l;") == 1);
  CHECK(count(out, "device: the anonymous device of filesystem u;") == 1);
  CHECK(count(out, "device: the overlay's, with an inode number") == 1);

  SECTION("with xino everything has the overlay's device") {
    std::string xino = explain("title x\noptions xino=on\n" +
                               split.substr(split.find('\n') + 1));
    CHECK(count(xino, "device: the overlay's; xino") == 3);
  }
  SECTION("on one filesystem there is no device line") {
    CHECK(count(explain(kDocker), "device:") == 0);
  }
}

TEST_CASE("explain says when the mounter is root of a user namespace",
          "[explain][userns]") {
  std::string out = explain(
      "title u\noptions userxattr\nmounter userns\nupper\nlower\n"
      "  file /f\nsteps\nmknod /n chardev 0666 1:3\n");
  INFO(out);
  CHECK_THAT(line_of(out, "mounted by root of a user namespace"),
             Contains("no capability"));
  CHECK_THAT(out, Contains("mknod /n chardev 0666 1:3 = EPERM"));
  CHECK(line_of(explain(kDocker), "mounted by").empty());
}

TEST_CASE("explain reports a result the trace does not expect", "[explain]") {
  std::string out = explain(
      "title t\n"
      "upper\n"
      "lower\n"
      "  file /a\n"
      "steps\n"
      "unlink /a -> ENOENT\n");
  CHECK_THAT(out, Contains("1. unlink /a = ok"));
  CHECK_THAT(out, Contains("but the trace expects ENOENT"));
}

TEST_CASE("explain tells a failed mount", "[explain]") {
  std::string out = explain(
      "title t\n"
      "options no_such_option\n"
      "upper\n"
      "lower\n"
      "  file /a\n"
      "steps\n"
      "stat /a\n");
  CHECK_THAT(out, Contains("mount = EINVAL"));
  CHECK_THAT(out, Contains("an option is unknown"));
  CHECK_THAT(out, Contains("The layers:"));
}

TEST_CASE("explain without a palette writes no escape sequence", "[explain]") {
  CHECK(explain(kDocker).find('\033') == std::string::npos);
}

}  // namespace
}  // namespace ovlsim::cli
