#include "harness/compare.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <catch2/catch.hpp>

namespace ovlsim::harness {
namespace {

Entry file(std::string data, mode_t mode = 0644) {
  Entry e;
  e.mode = S_IFREG | mode;
  e.size = static_cast<off_t>(data.size());
  e.data = std::move(data);
  e.nlink = 1;
  return e;
}

Entry dir(off_t size = 4096) {
  Entry e;
  e.mode = S_IFDIR | 0755;
  e.size = size;
  e.nlink = 2;
  return e;
}

Entry whiteout(model::InodeNumber ino, nlink_t nlink) {
  Entry e;
  e.mode = S_IFCHR;
  e.rdev = makedev(0, 0);
  e.ino = ino;
  e.nlink = nlink;
  return e;
}

std::vector<std::string> fields(const std::vector<Difference>& diffs) {
  std::vector<std::string> out;
  for (const auto& d : diffs)
    out.push_back(d.path + " " + d.field);
  return out;
}

using Fields = std::vector<std::string>;

TEST_CASE("trees compare path by path", "[compare]") {
  Tree expected, actual;
  expected.entries["/"] = dir();
  actual.entries["/"] = dir();
  expected.entries["/a"] = file("data");
  actual.entries["/b"] = file("data");
  CHECK(fields(compare_trees(Area::kMerged, expected, actual, {})) ==
        Fields{"/a exists", "/b exists"});

  SECTION("a content difference names the data") {
    actual.entries.clear();
    actual.entries["/"] = dir();
    actual.entries["/a"] = file("other");
    CHECK(fields(compare_trees(Area::kMerged, expected, actual, {})) ==
          Fields{"/a size", "/a data"});
  }
  SECTION("a type difference is reported alone") {
    actual.entries.clear();
    actual.entries["/"] = dir();
    actual.entries["/a"] = dir();
    CHECK(fields(compare_trees(Area::kMerged, expected, actual, {})) ==
          Fields{"/a type"});
  }
}

TEST_CASE("normalisation ignores what no program may rely on", "[compare]") {
  Tree expected, actual;
  CompareOptions options;

  SECTION("whiteouts compare by type only, not inode or link count") {
    expected.entries["/w"] = whiteout(10, 1);
    actual.entries["/w"] = whiteout(99, 7);
    CHECK(compare_trees(Area::kUpper, expected, actual, options).empty());
  }

  SECTION("directory sizes belong to the filesystem below") {
    expected.entries["/d"] = dir(0);
    actual.entries["/d"] = dir(60);
    CHECK(compare_trees(Area::kMerged, expected, actual, options).empty());
  }

  SECTION("times of the model's logical clock are not compared") {
    Entry e = file("x"), a = file("x");
    e.mtime = {3, 0};
    a.mtime = {1764800000, 5};
    expected.entries["/f"] = e;
    actual.entries["/f"] = a;
    CHECK(compare_trees(Area::kMerged, expected, actual, options).empty());
  }

  SECTION("explicit times and the layers' time 0 are compared") {
    Entry e = file("x"), a = file("x");
    e.mtime = {1500000000, 0};
    a.mtime = {1500000001, 0};
    expected.entries["/f"] = e;
    actual.entries["/f"] = a;
    CHECK(fields(compare_trees(Area::kMerged, expected, actual, options)) ==
          Fields{"/f mtime"});
    expected.entries["/f"].mtime = {0, 0};
    CHECK(fields(compare_trees(Area::kMerged, expected, actual, options)) ==
          Fields{"/f mtime"});
  }
}

TEST_CASE("overlay xattrs of the upper layer compare by their rules",
          "[compare]") {
  Tree expected, actual;
  expected.entries["/"] = dir();
  actual.entries["/"] = dir();
  expected.entries["/d"] = dir();
  actual.entries["/d"] = dir();
  expected.entries["/f"] = file("x");
  actual.entries["/f"] = file("x");
  auto upper = [&] {
    return fields(compare_trees(Area::kUpper, expected, actual, {}));
  };

  SECTION("origin values are file handles: compared by presence") {
    expected.entries["/f"].xattrs["trusted.overlay.origin"] = "handle 1";
    actual.entries["/f"].xattrs["trusted.overlay.origin"] = "handle 2";
    CHECK(upper().empty());
    actual.entries["/f"].xattrs.clear();
    CHECK(upper() == Fields{"/f xattr trusted.overlay.origin"});
  }

  SECTION("origin on a directory and impure may be added lazily") {
    actual.entries["/d"].xattrs["trusted.overlay.origin"] = "h";
    actual.entries["/d"].xattrs["trusted.overlay.impure"] = "y";
    CHECK(upper().empty());
    expected.entries["/"].xattrs["trusted.overlay.impure"] = "y";
    CHECK(upper() == Fields{"/ xattr trusted.overlay.impure"});
  }

  SECTION("the root's uuid is not compared") {
    actual.entries["/"].xattrs["trusted.overlay.uuid"] = "random";
    CHECK(upper().empty());
  }

  SECTION("opaque and other markers compare by value") {
    expected.entries["/d"].xattrs["trusted.overlay.opaque"] = "y";
    CHECK(upper() == Fields{"/d xattr trusted.overlay.opaque"});
  }

  SECTION("with userxattr, trusted.overlay.* is an ordinary xattr") {
    CompareOptions options;
    options.userxattr = true;
    expected.entries["/f"].xattrs["trusted.overlay.origin"] = "1";
    actual.entries["/f"].xattrs["trusted.overlay.origin"] = "2";
    CHECK(compare_trees(Area::kUpper, expected, actual, options).size() == 1);
  }

  SECTION("in the merged view every xattr compares by value") {
    expected.entries["/f"].xattrs["trusted.overlay.origin"] = "1";
    actual.entries["/f"].xattrs["trusted.overlay.origin"] = "2";
    CHECK(compare_trees(Area::kMerged, expected, actual, {}).size() == 1);
  }
}

TEST_CASE("hard links compare as which paths share an inode", "[compare]") {
  Tree expected, actual;
  expected.entries["/a"] = file("x");
  expected.entries["/b"] = file("x");
  expected.entries["/b"].same_inode_as = "/a";
  actual = expected;
  actual.entries["/a"].ino = actual.entries["/a"].d_ino = 1234;
  actual.entries["/b"].ino = actual.entries["/b"].d_ino = 1234;
  CHECK(compare_trees(Area::kMerged, expected, actual, {}).empty());

  actual.entries["/b"].same_inode_as.clear();
  CHECK(fields(compare_trees(Area::kMerged, expected, actual, {})) ==
        Fields{"/b hard link of"});

  CompareOptions no_links;
  no_links.links = false;
  CHECK(compare_trees(Area::kMerged, expected, actual, no_links).empty());
}

TEST_CASE("devices compare as which paths share one (INO-02)", "[compare]") {
  Tree expected, actual;
  expected.entries["/"] = dir();
  expected.entries["/a"] = file("x");
  expected.entries["/b"] = file("y");
  expected.entries["/a"].dev = model::pseudo_dev(0);
  expected.entries["/b"].dev = model::pseudo_dev(1);
  actual = expected;
  actual.entries["/"].dev = makedev(0, 49);
  actual.entries["/a"].dev = makedev(0, 50);
  actual.entries["/b"].dev = makedev(0, 51);
  CHECK(compare_trees(Area::kMerged, expected, actual, {}).empty());

  // One device where the model has two filesystems'.
  actual.entries["/b"].dev = makedev(0, 50);
  CHECK(fields(compare_trees(Area::kMerged, expected, actual, {})) ==
        Fields{"/b device"});

  // Raw layers keep their real devices, and --ignore links skips it.
  CHECK(compare_trees(Area::kUpper, expected, actual, {}).empty());
  CompareOptions no_links;
  no_links.links = false;
  CHECK(compare_trees(Area::kMerged, expected, actual, no_links).empty());
}

TEST_CASE("a d_ino the model gives as st_ino must be st_ino (DIR-07)",
          "[compare]") {
  Tree expected, actual;
  expected.entries["/a"] = file("x");
  expected.entries["/a"].ino = expected.entries["/a"].d_ino = 7;
  expected.entries["/b"] = file("y");
  expected.entries["/b"].ino = 8;
  expected.entries["/b"].d_ino = 9;
  actual = expected;
  actual.entries["/a"].ino = actual.entries["/a"].d_ino = 70;
  actual.entries["/b"].ino = actual.entries["/b"].d_ino = 80;
  // Where the model's differ, numbers of two filesystems may coincide.
  CHECK(compare_trees(Area::kMerged, expected, actual, {}).empty());

  actual.entries["/a"].d_ino = 71;
  CHECK(fields(compare_trees(Area::kMerged, expected, actual, {})) ==
        Fields{"/a d_ino"});
  CompareOptions no_links;
  no_links.links = false;
  CHECK(compare_trees(Area::kMerged, expected, actual, no_links).empty());
}

TEST_CASE("snapshots compare as far as the scope looks", "[compare]") {
  Snapshot expected, actual;
  expected.upper = Tree{};
  actual.upper = Tree{};
  actual.upper->entries["/.wh.f"] = file("");
  expected.lowers.emplace_back();
  actual.lowers.emplace_back();
  actual.lowers[0].entries["/new"] = file("");

  CompareOptions all;
  auto diffs = compare_snapshots(expected, actual, all);
  REQUIRE(diffs.size() == 2);
  CHECK(diffs[0].area == Area::kUpper);
  CHECK(diffs[1].area == Area::kLower);
  CHECK(diffs[1].path == "lower 1:/new");

  SECTION("a target with its own format reports its upper as a dialect") {
    CompareOptions own = all;
    own.dialect = Dialect::kFuseOverlayfs;
    CHECK(compare_snapshots(expected, actual, own)[0].area == Area::kDialect);
  }

  SECTION("--compare merged looks at the merged view only") {
    CompareOptions merged;
    merged.scope = Scope::kMerged;
    CHECK(compare_snapshots(expected, actual, merged).empty());
  }
}

TEST_CASE("outcomes compare errno, values and inode pairing", "[compare]") {
  IdentityMatcher inodes;
  trace::Outcome ok{};
  trace::Outcome enoent{ENOENT, {}};
  auto diffs = compare_outcomes(trace::OpKind::kUnlink, ok, enoent, inodes);
  REQUIRE(diffs.size() == 1);
  CHECK(diffs[0].field == "errno");
  CHECK(diffs[0].expected == "ok");
  CHECK(diffs[0].actual == "ENOENT");

  SECTION("inode numbers pair one to one over a run") {
    model::Stat a, b;
    a.mode = b.mode = S_IFREG | 0644;
    a.ino = 5;
    b.ino = 900;
    trace::Outcome e{0, a}, t{0, b};
    CHECK(compare_outcomes(trace::OpKind::kStat, e, t, inodes).empty());
    model::Stat other = a;
    other.ino = 6;
    trace::Outcome e2{0, other};
    // Model inode 6 on the target's 900, already paired with 5.
    auto d = compare_outcomes(trace::OpKind::kStat, e2, t, inodes);
    REQUIRE(d.size() == 1);
    CHECK(d[0].field == "inode identity");
  }

  SECTION("devices pair one to one, and inodes within their device") {
    model::Stat dir_st, file_st, real_dir, real_file;
    dir_st.mode = real_dir.mode = S_IFDIR | 0755;
    file_st.mode = real_file.mode = S_IFREG | 0644;
    dir_st.ino = 1;
    file_st.ino = 2;
    file_st.dev = model::pseudo_dev(0);
    // The target reuses inode number 3 on two devices: no clash.
    real_dir.dev = makedev(0, 40);
    real_file.dev = makedev(0, 41);
    real_dir.ino = real_file.ino = 3;
    CHECK(compare_outcomes(trace::OpKind::kStat, {0, dir_st}, {0, real_dir},
                           inodes)
              .empty());
    CHECK(compare_outcomes(trace::OpKind::kStat, {0, file_st}, {0, real_file},
                           inodes)
              .empty());
    // The file on the directory's device.
    model::Stat moved = real_file;
    moved.dev = real_dir.dev;
    auto d = compare_outcomes(trace::OpKind::kStat, {0, file_st}, {0, moved},
                              inodes);
    REQUIRE(d.size() == 1);
    CHECK(d[0].field == "device");
  }

  SECTION("--ignore drops link counts and mtimes from stat results") {
    model::Stat a, b;
    a.mode = b.mode = S_IFDIR | 0755;
    a.nlink = 1;
    b.nlink = 3;
    a.mtime = {1700000000, 0};
    b.mtime = {1700000001, 0};
    trace::Outcome e{0, a}, t{0, b};
    CHECK(compare_outcomes(trace::OpKind::kStat, e, t, inodes).size() == 2);
    CompareOptions options;
    REQUIRE(apply_ignore("links,times", options).empty());
    CHECK(
        compare_outcomes(trace::OpKind::kStat, e, t, inodes, options).empty());
    CHECK_FALSE(apply_ignore("links,nothing", options).empty());
  }

  SECTION("readdir listings compare as sets") {
    std::vector<model::Dirent> x = {{"a", 1, DT_REG}, {"b", 2, DT_DIR}};
    std::vector<model::Dirent> y = {{"b", 7, DT_DIR}, {"a", 8, DT_REG}};
    trace::Outcome e{0, x}, t{0, y};
    CHECK(compare_outcomes(trace::OpKind::kReaddir, e, t, inodes).empty());
  }
}

}  // namespace
}  // namespace ovlsim::harness
