#include "trace/expect.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>

namespace ovlsim::trace {
namespace {

model::Stat file_stat() {
  model::Stat st;
  st.mode = S_IFREG | 0644;
  st.nlink = 1;
  st.size = 3;
  return st;
}

TEST_CASE("matches compares errnos and values", "[expect]") {
  Outcome ok_stat{0, file_stat()};
  Outcome enoent{ENOENT, {}};

  SECTION("an errno matches only the same errno") {
    CHECK(matches(Expected{ENOENT, {}}, OpKind::kStat, enoent));
    CHECK_FALSE(matches(Expected{EACCES, {}}, OpKind::kStat, enoent));
    CHECK_FALSE(matches(Expected{ENOENT, {}}, OpKind::kStat, ok_stat));
  }
  SECTION("ok accepts any value but no errno") {
    CHECK(matches(Expected{}, OpKind::kStat, ok_stat));
    CHECK_FALSE(matches(Expected{}, OpKind::kStat, enoent));
  }
  SECTION("a stat compares only the fields it gives") {
    ExpectedStat e;
    e.mode = S_IFREG | 0644;
    e.size = 3;
    CHECK(matches(Expected{0, e}, OpKind::kStat, ok_stat));
    e.nlink = 2;
    CHECK_FALSE(matches(Expected{0, e}, OpKind::kStat, ok_stat));
    e.nlink.reset();
    e.mode = S_IFREG | 0600;
    CHECK_FALSE(matches(Expected{0, e}, OpKind::kStat, ok_stat));
  }
  SECTION("listings compare as sets and need . and ..") {
    std::vector<model::Dirent> got = {{"b", 2, DT_DIR},
                                      {".", 1, DT_DIR},
                                      {"a", 3, DT_REG},
                                      {"..", 1, DT_DIR}};
    Expected e{0, std::vector<ExpectedDirent>{{"a", DT_REG}, {"b", DT_DIR}}};
    CHECK(matches(e, OpKind::kReaddir, Outcome{0, got}));
    got.erase(got.begin() + 1);
    CHECK_FALSE(matches(e, OpKind::kReaddir, Outcome{0, got}));
  }
  SECTION("strings and counts compare exactly") {
    CHECK(matches(Expected{0, std::string("ab")}, OpKind::kRead,
                  Outcome{0, std::string("ab")}));
    CHECK_FALSE(matches(Expected{0, std::string("ab")}, OpKind::kRead,
                        Outcome{0, std::string("abc")}));
    CHECK(matches(Expected{0, std::size_t{2}}, OpKind::kWrite,
                  Outcome{0, std::size_t{2}}));
  }
}

TEST_CASE("format_outcome writes trace syntax", "[expect]") {
  CHECK(format_outcome(OpKind::kUnlink, Outcome{EXDEV, {}}) == "EXDEV");
  CHECK(format_outcome(OpKind::kUnlink, Outcome{}) == "ok");
  CHECK(format_outcome(OpKind::kStat, Outcome{0, file_stat()}) ==
        "file 0644 uid=0 gid=0 size=3 nlink=1");
  CHECK(format_outcome(OpKind::kRead, Outcome{0, std::string("a\n")}) ==
        "\"a\\n\"");
  CHECK(format_outcome(OpKind::kListxattr,
                       Outcome{0, std::vector<std::string>{"u.b", "u.a"}}) ==
        "[u.a u.b]");
  std::vector<model::Dirent> d = {{".", 1, DT_DIR}, {"x y", 2, DT_LNK}};
  CHECK(format_outcome(OpKind::kReaddir, Outcome{0, d}) == "[\"x y:symlink\"]");
}

TEST_CASE("expected_from gives an expectation its outcome matches",
          "[expect]") {
  Outcome got{0, file_stat()};
  CHECK(matches(expected_from(OpKind::kStat, got), OpKind::kStat, got));
  Outcome err{ENOTEMPTY, {}};
  CHECK(expected_from(OpKind::kRmdir, err).err == ENOTEMPTY);
}

TEST_CASE("diff_trees names the first difference", "[expect]") {
  model::Layer a, b;
  model::InodeAttrs file;
  file.mode = S_IFREG | 0644;
  file.data = "x";
  a.create(a.root(), "f", file);
  b.create(b.root(), "f", file);
  TreeCompare how;

  SECTION("equal trees have no difference") {
    CHECK_FALSE(diff_trees(a, b, how));
  }
  SECTION("a missing entry") {
    b.create(b.root(), "g", file);
    CHECK(diff_trees(a, b, how) == "/g: expected nothing, found file");
    CHECK(diff_trees(b, a, how) == "/g: expected file, found nothing");
  }
  SECTION("content, mode and xattrs") {
    b.inode(*b.find("/f")).data = "y";
    CHECK(diff_trees(a, b, how) == "/f: expected content \"x\", found \"y\"");
    b.inode(*b.find("/f")).data = "x";
    b.inode(*b.find("/f")).mode = S_IFREG | 0600;
    CHECK(diff_trees(a, b, how) == "/f: expected mode 0644, found 0600");
  }
  SECTION("a whiteout is told apart from a device") {
    model::InodeAttrs wh;
    wh.mode = S_IFCHR;
    model::InodeAttrs dev = wh;
    dev.mode = S_IFCHR | 0644;
    a.create(a.root(), "w", wh);
    b.create(b.root(), "w", dev);
    CHECK(diff_trees(a, b, how) == "/w: expected whiteout, found chardev");
  }
  SECTION("origin values are compared by presence only") {
    a.inode(*a.find("/f")).xattrs["trusted.overlay.origin"] = "";
    b.inode(*b.find("/f")).xattrs["trusted.overlay.origin"] = "lower1:7";
    CHECK_FALSE(diff_trees(a, b, how));
    b.inode(*b.find("/f")).xattrs.clear();
    CHECK(diff_trees(a, b, how));
  }
  SECTION("hard links are compared when asked") {
    b.link(b.root(), "h", *b.find("/f"));
    a.create(a.root(), "h", file);
    CHECK(diff_trees(a, b, how) ==
          "/h: expected an inode of its own, found a hard link of /f");
    how.links = false;
    CHECK_FALSE(diff_trees(a, b, how));
  }
  SECTION("links from outside the layer do not count") {
    // An inode in the index (HL-03) has one more link, in the workdir.
    b.inode(*b.find("/f")).nlink++;
    CHECK_FALSE(diff_trees(a, b, how));
  }
}

}  // namespace
}  // namespace ovlsim::trace
