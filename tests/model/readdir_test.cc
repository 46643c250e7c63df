#include "model/readdir.h"

#include <dirent.h>

#include <catch2/catch.hpp>

#include "model/overlay.h"
#include "tests/model/stack_builder.h"

namespace ovlsim::model {
namespace {

using testing::at;
using testing::kImpureXattr;
using testing::LayerBuilder;
using testing::mount_ok;
using testing::name_set;
using testing::names;

using Names = std::vector<std::string>;

std::optional<Dirent> entry(Overlay& ovl, std::string_view dir,
                            std::string_view name) {
  Result<std::vector<Dirent>> entries = ovl.readdir(dir);
  REQUIRE(entries.ok());
  for (const Dirent& e : *entries)
    if (e.name == name)
      return e;
  return std::nullopt;
}

TEST_CASE("which directories are listed as merges (DIR-01)", "[readdir]") {
  Stack stack;
  stack.upper = LayerBuilder().dir("/pure_upper").whiteout("/pure_upper/w");
  stack.lowers = {
      LayerBuilder().file("/pure_lower/f").whiteout("/pure_lower/w"),
      LayerBuilder().file("/other")};
  Overlay ovl = mount_ok(std::move(stack));

  SECTION(
      "a pure lower directory is listed as its real directory, "
      "whiteouts included") {
    CHECK(name_set(ovl, "/pure_lower") == Names{"f", "w"});
    std::optional<Dirent> w = entry(ovl, "/pure_lower", "w");
    REQUIRE(w);
    CHECK(w->type == DT_CHR);
    CHECK(ovl.lstat("/pure_lower/w").err() == ENOENT);
  }

  SECTION("the root is always merged: whiteouts are not listed") {
    CHECK(name_set(ovl, "/") == Names{"other", "pure_lower", "pure_upper"});
  }

  SECTION("a pure upper directory without origin is listed as it is") {
    CHECK(name_set(ovl, "/pure_upper") == Names{"w"});
  }
}

TEST_CASE("merged listings hold each visible name once (DIR-02)", "[readdir]") {
  Stack stack;
  stack.upper = LayerBuilder()
                    .file("/d/both", "upper")
                    .whiteout("/d/deleted")
                    .dir("/d/typechange");
  stack.lowers = {
      LayerBuilder().file("/d/both").file("/d/mid").symlink("/d/deleted", "x"),
      LayerBuilder()
          .file("/d/both")
          .file("/d/typechange")
          .whiteout("/d/lowest_whiteout")
          .file("/d/low")};
  Overlay ovl = mount_ok(std::move(stack));

  Result<std::vector<Dirent>> entries = ovl.readdir("/d");
  REQUIRE(entries.ok());
  Names all;
  for (const Dirent& e : *entries)
    all.push_back(e.name);
  std::sort(all.begin(), all.end());

  SECTION("names, with . and .. once, whiteouts in any layer left out") {
    CHECK(all == Names{".", "..", "both", "low", "mid", "typechange"});
  }

  SECTION("the type is the highest layer's") {
    CHECK(entry(ovl, "/d", "typechange")->type == DT_DIR);
    CHECK(entry(ovl, "/d", "both")->type == DT_REG);
    CHECK(entry(ovl, "/d", ".")->type == DT_DIR);
  }
}

TEST_CASE("merged listings put the lowest layer's names first (DIR-03)",
          "[readdir]") {
  SECTION("upper over one lower: the 6.18 example with sorted layers") {
    Stack stack;
    stack.upper = LayerBuilder()
                      .whiteout("/wh")
                      .file("/u3")
                      .file("/both1")
                      .file("/u2")
                      .file("/both2")
                      .file("/u1");
    stack.lowers = {LayerBuilder()
                        .file("/wh")
                        .file("/l3")
                        .file("/both2")
                        .file("/l2")
                        .file("/both1")
                        .file("/l1")};
    Overlay ovl = mount_ok(std::move(stack));
    CHECK(names(ovl, "/") ==
          Names{"both1", "both2", "l1", "l2", "l3", "u1", "u2", "u3"});
  }

  SECTION(
      "three layers: lowest-only names, then upper's, then each lower "
      "layer's") {
    Stack stack;
    stack.upper = LayerBuilder().file("/d/u").file("/d/shared_up");
    stack.lowers = {
        LayerBuilder().file("/d/a1").file("/d/z1").file("/d/shared_up"),
        LayerBuilder().file("/d/a2").file("/d/shared_low"),
        LayerBuilder().file("/d/shared_low").file("/d/b3").file("/d/a3")};
    Overlay ovl = mount_ok(std::move(stack));
    CHECK(names(ovl, "/d") ==
          Names{"a3", "b3", "shared_low", "shared_up", "u", "a1", "z1", "a2"});
  }

  SECTION(". and .. come first") {
    Stack stack;
    stack.upper = Layer();
    stack.lowers = {LayerBuilder().file("/a"), Layer()};
    Overlay ovl = mount_ok(std::move(stack));
    Result<std::vector<Dirent>> entries = ovl.readdir("/");
    REQUIRE(entries.ok());
    REQUIRE(entries->size() == 3);
    CHECK((*entries)[0].name == ".");
    CHECK((*entries)[1].name == "..");
  }
}

TEST_CASE("d_ino matches st_ino on samefs (DIR-07)", "[readdir]") {
  Stack stack;
  stack.upper = LayerBuilder().file("/d/up");
  stack.lowers = {LayerBuilder().file("/d/copied").file("/d/low").dir("/d/sub"),
                  LayerBuilder().file("/d/deep")};
  Overlay ovl = mount_ok(std::move(stack));
  REQUIRE(ovl.chmod("/d/copied", 0600).ok());
  REQUIRE(ovl.mkdir("/pure", 0755).ok());
  REQUIRE(ovl.rename("/d/copied", "/pure/moved").ok());

  for (const char* dir : {"/d", "/pure"}) {
    Result<std::vector<Dirent>> entries = ovl.readdir(dir);
    REQUIRE(entries.ok());
    for (const Dirent& e : *entries) {
      if (e.name == "." || e.name == "..")
        continue;
      std::string path = std::string(dir) + "/" + e.name;
      CAPTURE(path);
      CHECK(e.ino == ovl.lstat(path)->ino);
    }
  }
  CHECK(entry(ovl, "/d", ".")->ino == ovl.stat("/d")->ino);
}

TEST_CASE(
    "an impure directory's d_ino cache outlives a new hard link "
    "(DIR-07)",
    "[readdir][links]") {
  // Kernel 6.18: readdir of a pure upper, impure directory keeps the
  // d_ino it looked up in a cache, which only a change "with impurity"
  // (a name with an origin moved or removed) drops. A hard link made
  // after the first readdir keeps its real d_ino until then.
  Stack stack;
  stack.upper = LayerBuilder().dir("/a");
  stack.lowers = {LayerBuilder().file("/d/y", "data")};
  Overlay ovl = mount_ok(std::move(stack));
  REQUIRE(ovl.rename("/d/y", "/a/z", 0).ok());
  InodeNumber origin = ovl.lstat("/a/z")->ino;
  CHECK(entry(ovl, "/a", "z")->ino == origin);

  REQUIRE(ovl.link("/a/z", "/a/x").ok());
  CHECK(ovl.lstat("/a/x")->ino == origin);
  CHECK(entry(ovl, "/a", "x")->ino != origin);
  CHECK(entry(ovl, "/a", "z")->ino == origin);

  SECTION("moving a name with an origin drops the cache") {
    REQUIRE(ovl.rename("/a/z", "/a/w", 0).ok());
    CHECK(entry(ovl, "/a", "x")->ino == origin);
    CHECK(entry(ovl, "/a", "w")->ino == origin);
  }
  SECTION("without a readdir before the link there is no cache to keep") {
    Stack again;
    again.upper = LayerBuilder().dir("/a");
    again.lowers = {LayerBuilder().file("/d/y", "data")};
    Overlay fresh = mount_ok(std::move(again));
    REQUIRE(fresh.rename("/d/y", "/a/z", 0).ok());
    REQUIRE(fresh.link("/a/z", "/a/x").ok());
    CHECK(entry(fresh, "/a", "x")->ino == fresh.lstat("/a/x")->ino);
  }
}

TEST_CASE("an impure merge hides its upper xwhiteouts (WO-06, DIR-07)",
          "[readdir][whiteout]") {
  // Kernel 6.18, tmpfs layers: an upper xwhiteout "a" over a lower
  // whiteout, and a lower file "c". `ls` listed a (stat: ENOENT); after a
  // setxattr copied c up, which marks the upper root overlay.impure=y,
  // `ls` no longer listed a, also after a remount. In an impure merge the
  // kernel looks up each upper entry to compute its d_ino
  // (ovl_cache_update()) and drops those that turn out negative.
  Stack stack;
  stack.upper = LayerBuilder().xwhiteout("/a");
  stack.lowers = {LayerBuilder().whiteout("/a").file("/c", "data")};
  Overlay ovl = mount_ok(std::move(stack));

  SECTION("a pure merge lists an upper xwhiteout") {
    CHECK(name_set(ovl, "/") == Names{"a", "c"});
    CHECK(ovl.lstat("/a").err() == ENOENT);
  }

  SECTION("after a copy-up into it, the merge is impure and hides it") {
    REQUIRE(ovl.setxattr("/c", "user.x", "w2", 0).ok());
    CHECK(name_set(ovl, "/") == Names{"c"});
  }
}

TEST_CASE("readdir errors", "[readdir]") {
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder().file("/f").dir("/closed", 0700), Layer()};
  Overlay ovl = mount_ok(std::move(stack));

  SECTION("a file fails with ENOTDIR") {
    CHECK(ovl.readdir("/f").err() == ENOTDIR);
  }

  SECTION("a missing or whited-out name fails with ENOENT") {
    CHECK(ovl.readdir("/missing").err() == ENOENT);
    REQUIRE(ovl.rmdir("/closed").ok());
    CHECK(ovl.readdir("/closed").err() == ENOENT);
  }

  SECTION("a directory the caller may not read fails with EACCES") {
    Cred user;
    user.uid = 1000;
    user.gid = 1000;
    ovl.set_cred(user);
    CHECK(ovl.readdir("/closed").err() == EACCES);
  }
}

TEST_CASE("readdir drops an impure mark that no entry needs (DIR-07)",
          "[readdir]") {
  // Kernel 6.18: after the only copied-up entry left an impure pure-upper
  // directory, listing the directory removed overlay.impure.
  Stack stack;
  stack.upper = LayerBuilder().opaque_dir("/a").file("/a/keep", "x");
  stack.lowers = {LayerBuilder().file("/b", "data")};
  Overlay ovl = mount_ok(std::move(stack));
  REQUIRE(ovl.rename("/b", "/a/x", 0).ok());
  CHECK(at(*ovl.upper(), "/a").xattrs.count(kImpureXattr) == 1);
  REQUIRE(ovl.readdir("/a").ok());
  CHECK(at(*ovl.upper(), "/a").xattrs.count(kImpureXattr) == 1);  // x has one

  REQUIRE(ovl.unlink("/a/x").ok());
  REQUIRE(ovl.readdir("/a").ok());
  CHECK(at(*ovl.upper(), "/a").xattrs.count(kImpureXattr) == 0);
}

}  // namespace
}  // namespace ovlsim::model
