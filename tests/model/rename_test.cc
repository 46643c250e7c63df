#include "model/rename.h"

#include <cstdio>

#include <catch2/catch.hpp>

#include "model/overlay.h"
#include "tests/model/stack_builder.h"

namespace ovlsim::model {
namespace {

using testing::at;
using testing::content;
using testing::has;
using testing::kImpureXattr;
using testing::kOpaqueXattr;
using testing::kOriginXattr;
using testing::kRedirectXattr;
using testing::LayerBuilder;
using testing::mount_ok;
using testing::name_set;
using testing::paths;

using Names = std::vector<std::string>;

bool is_kernel_whiteout(const Layer& layer, std::string_view path) {
  std::optional<InodeNumber> ino = layer.find(path);
  if (!ino)
    return false;
  const Inode& node = layer.inode(*ino);
  return S_ISCHR(node.mode) && node.rdev == makedev(0, 0);
}

Stack rename_stack() {
  Stack stack;
  stack.upper = LayerBuilder().file("/up", "upper file").dir("/pure");
  stack.lowers = {LayerBuilder()
                      .file("/file", "lower file")
                      .file("/other", "other file")
                      .file("/dir/a", "a")
                      .dir("/empty")
                      .file("/wo_only/x")
                      .dir("/sub/dir"),
                  Layer()};
  return stack;
}

MountOptions redirect_on() {
  MountOptions opts;
  REQUIRE(apply_option(opts, "redirect_dir=on").ok());
  return opts;
}

TEST_CASE("rename accepts only RENAME_NOREPLACE and RENAME_EXCHANGE (RN-01)",
          "[rename]") {
  Overlay ovl = mount_ok(rename_stack());
  CHECK(ovl.rename("/file", "/new", RENAME_WHITEOUT).err() == EINVAL);
  CHECK(ovl.rename("/file", "/new", 1u << 7).err() == EINVAL);
  CHECK(
      ovl.rename("/file", "/other", RENAME_EXCHANGE | RENAME_NOREPLACE).err() ==
      EINVAL);
  CHECK(paths(*ovl.upper()) == Names{"/", "/pure", "/up"});
}

TEST_CASE("rename resolves both parents before either last name (RN-01)",
          "[rename]") {
  Stack stack;
  stack.upper = LayerBuilder().file("/a").dir("/c").symlink("/dangling", "n");
  stack.lowers = {LayerBuilder().file("/c/x")};
  Overlay ovl = mount_ok(std::move(stack));

  SECTION("a bad new parent fails before the old name is looked up") {
    CHECK(ovl.rename("/c", "/a/x/z").err() == ENOTDIR);
    CHECK_FALSE(at(*ovl.upper(), "/c").xattr(kOriginXattr));
    CHECK_FALSE(at(*ovl.upper(), "/").xattr(kImpureXattr));
  }
  SECTION("the old parent's error comes first") {
    CHECK(ovl.rename("/dangling/y", "/a/x").err() == ENOENT);
    CHECK(ovl.rename("/missing/y", "/a/x").err() == ENOENT);
    CHECK(ovl.rename("/a/y", "/missing/x").err() == ENOTDIR);
  }
  SECTION("a missing old name, or the root, fails before the new name") {
    CHECK(ovl.rename("/nothing", "/c").err() == ENOENT);
    CHECK(ovl.rename("/", "/c", RENAME_EXCHANGE).err() == EBUSY);
    CHECK(ovl.rename("/a", "/.", RENAME_NOREPLACE).err() == EEXIST);
    CHECK_FALSE(at(*ovl.upper(), "/c").xattr(kOriginXattr));
  }
}

TEST_CASE("renaming a non-directory copies it up (RN-02)", "[rename]") {
  Overlay ovl = mount_ok(rename_stack());
  const Layer& upper = *ovl.upper();

  SECTION("a lower file leaves a whiteout; the new name has origin") {
    REQUIRE(ovl.rename("/file", "/file.new").ok());
    CHECK(is_kernel_whiteout(upper, "/file"));
    CHECK(at(upper, "/file.new").xattr(kOriginXattr));
    CHECK(content(ovl, "/file.new") == "lower file");
    CHECK(ovl.stat("/file").err() == ENOENT);
  }

  SECTION("an upper file over a lower one leaves one upper file") {
    REQUIRE(ovl.rename("/up", "/other").ok());
    CHECK_FALSE(has(upper, "/up"));
    CHECK(at(upper, "/other").data == "upper file");
    CHECK(content(ovl, "/other") == "upper file");
  }

  SECTION("the destination is never copied up") {
    REQUIRE(ovl.rename("/file", "/other").ok());
    CHECK_FALSE(at(upper, "/other").xattr(kImpureXattr));
    CHECK(at(upper, "/other").data == "lower file");
    CHECK(paths(upper) == Names{"/", "/file", "/other", "/pure", "/up"});
  }

  SECTION("a move into another directory marks it impure (CU-07)") {
    REQUIRE(ovl.rename("/file", "/pure/file").ok());
    CHECK(at(upper, "/pure").xattr(kImpureXattr) == "y");
    CHECK(name_set(ovl, "/pure") == Names{"file"});
  }
}

TEST_CASE(
    "lower and merged directories move only with redirect_dir=on "
    "(RN-03)",
    "[rename]") {
  Overlay ovl = mount_ok(rename_stack());

  SECTION("a lower directory: EXDEV") {
    CHECK(ovl.rename("/dir", "/dir2").err() == EXDEV);
  }

  SECTION(
      "a merged directory whose lower entries are all whited out: "
      "EXDEV") {
    REQUIRE(ovl.unlink("/wo_only/x").ok());
    CHECK(ovl.rename("/wo_only", "/moved").err() == EXDEV);
  }

  SECTION("an empty lower directory in an exchange: EXDEV") {
    CHECK(ovl.rename("/pure", "/empty", RENAME_EXCHANGE).err() == EXDEV);
  }

  SECTION("a pure upper directory moves freely") {
    REQUIRE(ovl.rename("/pure", "/pure2").ok());
    CHECK(ovl.stat("/pure2").ok());
    CHECK(ovl.stat("/pure").err() == ENOENT);
    CHECK_FALSE(has(*ovl.upper(), "/pure"));
  }

  SECTION("redirect_dir=follow does not create redirects either") {
    MountOptions follow;
    REQUIRE(apply_option(follow, "redirect_dir=follow").ok());
    Overlay f = mount_ok(rename_stack(), follow);
    CHECK(f.rename("/dir", "/dir2").err() == EXDEV);
  }
}

TEST_CASE("with redirect_dir=on, moved directories get redirects (RN-04)",
          "[rename][redirect]") {
  Overlay ovl = mount_ok(rename_stack(), redirect_on());
  const Layer& upper = *ovl.upper();

  SECTION("within one parent: the relative old name") {
    REQUIRE(ovl.rename("/dir", "/dir2").ok());
    CHECK(at(upper, "/dir2").xattr(kRedirectXattr) == "dir");
    CHECK(is_kernel_whiteout(upper, "/dir"));
    CHECK(name_set(ovl, "/dir2") == Names{"a"});
  }

  SECTION("to another parent: the absolute lower path") {
    REQUIRE(ovl.rename("/sub/dir", "/pure/moved").ok());
    CHECK(at(upper, "/pure/moved").xattr(kRedirectXattr) == "/sub/dir");
    CHECK(at(upper, "/pure").xattr(kImpureXattr) == "y");
    CHECK(is_kernel_whiteout(upper, "/sub/dir"));
  }

  SECTION("an existing absolute redirect is kept on the way back") {
    REQUIRE(ovl.rename("/dir", "/pure/dir").ok());
    REQUIRE(ovl.rename("/pure/dir", "/dir").ok());
    CHECK(at(upper, "/dir").xattr(kRedirectXattr) == "/dir");
    CHECK(name_set(ovl, "/dir") == Names{"a"});
  }
}

TEST_CASE(
    "an absolute redirect longer than redirect_max fails with EXDEV "
    "(RN-05)",
    "[rename][redirect]") {
  std::string long_name(200, 'p');
  std::string deep = "/" + long_name + "/" + std::string(63, 'q');
  Stack stack;
  stack.upper = LayerBuilder().dir("/pure");
  stack.lowers = {LayerBuilder().dir(deep), Layer()};
  REQUIRE(deep.size() == 265);
  Overlay ovl = mount_ok(std::move(stack), redirect_on());

  CHECK(ovl.rename(deep, "/pure/x").err() == EXDEV);
  REQUIRE(ovl.rename(deep, deep + "2").ok());
}

TEST_CASE(
    "renaming onto a directory needs it empty in the merged sense "
    "(RN-06)",
    "[rename]") {
  Overlay ovl = mount_ok(rename_stack());
  const Layer& upper = *ovl.upper();

  SECTION("onto an empty lower directory: the result is opaque") {
    REQUIRE(ovl.rename("/pure", "/empty").ok());
    CHECK(at(upper, "/empty").xattr(kOpaqueXattr) == "y");
  }

  SECTION("onto a non-empty one: ENOTEMPTY") {
    CHECK(ovl.rename("/pure", "/dir").err() == ENOTEMPTY);
  }
}

TEST_CASE(
    "a directory renamed onto a whiteout-only merged directory "
    "(RN-06)",
    "[rename]") {
  // Kernel 6.18 (tmpfs layers): with lower wo_only/x unlinked through the
  // overlay, renameat2("pure", "wo_only") succeeded; upper wo_only was the
  // moved directory with trusted.overlay.opaque=y and no entries.
  Overlay ovl = mount_ok(rename_stack());
  REQUIRE(ovl.unlink("/wo_only/x").ok());
  REQUIRE(ovl.rename("/pure", "/wo_only").ok());
  CHECK(at(*ovl.upper(), "/wo_only").xattr(kOpaqueXattr) == "y");
  CHECK(paths(*ovl.upper()) == Names{"/", "/up", "/wo_only"});
  CHECK(name_set(ovl, "/wo_only").empty());
}

TEST_CASE("RENAME_EXCHANGE copies both sides up (RN-07)", "[rename]") {
  Overlay ovl = mount_ok(rename_stack());

  SECTION("two lower files swap, both with origins") {
    REQUIRE(ovl.rename("/file", "/other", RENAME_EXCHANGE).ok());
    CHECK(content(ovl, "/file") == "other file");
    CHECK(content(ovl, "/other") == "lower file");
    CHECK(at(*ovl.upper(), "/file").xattr(kOriginXattr));
    CHECK(at(*ovl.upper(), "/other").xattr(kOriginXattr));
  }

  SECTION("an upper directory with a lower one: EXDEV") {
    CHECK(ovl.rename("/pure", "/dir", RENAME_EXCHANGE).err() == EXDEV);
  }

  SECTION("a missing side: ENOENT") {
    CHECK(ovl.rename("/file", "/none", RENAME_EXCHANGE).err() == ENOENT);
  }
}

TEST_CASE("RENAME_NOREPLACE onto a visible name fails with EEXIST (RN-08)",
          "[rename]") {
  Overlay ovl = mount_ok(rename_stack());
  CHECK(ovl.rename("/up", "/file", RENAME_NOREPLACE).err() == EEXIST);
  CHECK(ovl.rename("/up", "/up", RENAME_NOREPLACE).err() == EEXIST);
  REQUIRE(ovl.rename("/up", "/fresh", RENAME_NOREPLACE).ok());
}

TEST_CASE("VFS-level rename errors (RN-09)", "[rename]") {
  Overlay ovl = mount_ok(rename_stack());

  SECTION("each error with its errno") {
    CHECK(ovl.rename("/file", "/dir").err() == EISDIR);
    CHECK(ovl.rename("/pure", "/file").err() == ENOTDIR);
    CHECK(ovl.rename("/pure", "/pure/inside").err() == EINVAL);
    CHECK(ovl.rename("/missing", "/x").err() == ENOENT);
    REQUIRE(ovl.unlink("/other").ok());
    CHECK(ovl.rename("/other", "/x").err() == ENOENT);
    CHECK(ovl.rename("/file", "/missing/x").err() == ENOENT);
    CHECK(ovl.rename("/", "/x").err() == EBUSY);
  }

  SECTION("rename onto itself succeeds and changes nothing") {
    REQUIRE(ovl.rename("/file", "/file").ok());
    CHECK_FALSE(has(*ovl.upper(), "/file"));
    CHECK(content(ovl, "/file") == "lower file");
  }
}

// The cases below were found by `ovlsim fuzz --target kernel` and checked
// on 6.18 (tmpfs layers); each names what the kernel returned.

TEST_CASE("rename checks ancestry before types (RN-09)", "[rename]") {
  Stack stack;
  stack.upper = LayerBuilder().dir("/d/sub").symlink("/d/link", "x");
  stack.lowers = {LayerBuilder().file("/c/x", "data")};
  Overlay ovl = mount_ok(std::move(stack));
  // A file moved onto its own parent: ENOTEMPTY, not EISDIR.
  CHECK(ovl.rename("/c/x", "/c", 0).err() == ENOTEMPTY);
  // A directory moved onto a symlink below it: EINVAL, not ENOTDIR.
  CHECK(ovl.rename("/d", "/d/link", 0).err() == EINVAL);
  // Exchanged with an ancestor: EINVAL.
  CHECK(ovl.rename("/d/sub", "/d", RENAME_EXCHANGE).err() == EINVAL);
}

TEST_CASE("rename refuses RENAME_WHITEOUT only after the VFS checks (RN-01)",
          "[rename]") {
  Overlay ovl = mount_ok(rename_stack());
  CHECK(ovl.rename("/missing", "/new", RENAME_WHITEOUT).err() == ENOENT);
  CHECK(ovl.rename("/file", "/new", RENAME_WHITEOUT).err() == EINVAL);
  CHECK(ovl.rename("/file", "/new", RENAME_WHITEOUT | RENAME_EXCHANGE).err() ==
        EINVAL);
}

TEST_CASE("EXDEV comes before ENOTEMPTY (RN-03, RN-06)", "[rename]") {
  Stack stack;
  stack.upper = LayerBuilder().dir("/d/x");
  stack.lowers = {LayerBuilder().dir("/a/x").file("/d/y", "data")};
  Overlay ovl = mount_ok(std::move(stack));
  CHECK(ovl.rename("/a/x", "/d", 0).err() == EXDEV);
}

TEST_CASE("a pure upper target that is not empty fails after the marking",
          "[rename]") {
  // Kernel 6.18: rename("/b", "/c") with /b a pure upper directory in the
  // merged root and /c a non-empty pure upper directory returned ENOTEMPTY
  // from the upper filesystem, after overlayfs had already marked /b
  // opaque.
  Stack stack;
  stack.upper = LayerBuilder().dir("/b/y").file("/c/x", "data");
  stack.lowers = {LayerBuilder().file("/a", "data")};
  Overlay ovl = mount_ok(std::move(stack));
  CHECK(ovl.rename("/b", "/c", 0).err() == ENOTEMPTY);
  CHECK(at(*ovl.upper(), "/b").xattrs.count(kOpaqueXattr) == 1);
}

TEST_CASE("an exchanged pure upper directory is marked opaque too",
          "[rename]") {
  Stack stack;
  stack.upper = LayerBuilder().file("/a/x", "data");
  stack.lowers = {LayerBuilder().file("/c/x", "data").file("/c/y", "data")};
  Overlay ovl = mount_ok(std::move(stack));
  REQUIRE(ovl.rename("/c/x", "/a", RENAME_EXCHANGE).ok());
  CHECK(at(*ovl.upper(), "/c/x").xattrs.count(kOpaqueXattr) == 1);
  CHECK(S_ISREG(at(*ovl.upper(), "/a").mode));
}

TEST_CASE("a source renamed onto a whiteout takes that whiteout (RN-02)",
          "[rename][whiteout]") {
  // Kernel 6.18: with an xwhiteout at the target in upper, the source's
  // name was left holding that xwhiteout, not a new char 0/0 whiteout.
  Stack stack;
  stack.upper = LayerBuilder().xwhiteout("/c");
  stack.lowers = {LayerBuilder().file("/a/y", "data").file("/c", "data")};
  Overlay ovl = mount_ok(std::move(stack));
  REQUIRE(ovl.rename("/a/y", "/c", RENAME_NOREPLACE).ok());
  const Inode& left = at(*ovl.upper(), "/a/y");
  CHECK(S_ISREG(left.mode));
  CHECK(left.xattrs.count(testing::kWhiteoutXattr) == 1);
  CHECK(content(ovl, "/c") == "data");
}

TEST_CASE("names of one lower inode are two overlay inodes without index",
          "[rename][links]") {
  // Kernel 6.18: exchanging two names of one lower inode (index=off)
  // copied up both and swapped them; with the names of one upper inode it
  // is a no-op.
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder().file("/a", "data").hardlink("/c", "/a")};
  Overlay ovl = mount_ok(std::move(stack));
  REQUIRE(ovl.rename("/a", "/c", RENAME_EXCHANGE).ok());
  CHECK(has(*ovl.upper(), "/a"));
  CHECK(has(*ovl.upper(), "/c"));
}

TEST_CASE("a move makes the new parent impure only for an origin",
          "[rename][links]") {
  // Kernel 6.18: a lower file with two names, copied up by a move into
  // another directory, has no origin (HL-02) and leaves the parent pure.
  Stack stack;
  stack.upper = LayerBuilder().dir("/c/y");
  stack.lowers = {LayerBuilder().file("/a", "data").hardlink("/d", "/a")};
  Overlay ovl = mount_ok(std::move(stack));
  REQUIRE(ovl.rename("/a", "/c/x", RENAME_NOREPLACE).ok());
  CHECK(at(*ovl.upper(), "/c").xattrs.count(kImpureXattr) == 0);
  CHECK(at(*ovl.upper(), "/c/x").xattrs.count(kOriginXattr) == 0);
}

}  // namespace
}  // namespace ovlsim::model
