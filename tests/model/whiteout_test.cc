#include "model/whiteout.h"

#include <cstdio>

#include <catch2/catch.hpp>

#include "model/overlay.h"
#include "tests/model/stack_builder.h"

namespace ovlsim::model {
namespace {

using testing::at;
using testing::has;
using testing::kOpaqueXattr;
using testing::LayerBuilder;
using testing::mount_ok;
using testing::name_set;

using Names = std::vector<std::string>;

bool is_kernel_whiteout(const Layer& layer, std::string_view path) {
  std::optional<InodeNumber> ino = layer.find(path);
  return ino && is_whiteout(layer.inode(*ino));
}

TEST_CASE(
    "whiteouts the model writes are char 0/0, mode 0000, owned by "
    "root (WO-01)",
    "[whiteout]") {
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder().file("/f").file("/d/g"), Layer()};
  Overlay ovl = mount_ok(std::move(stack));
  Cred user;
  user.uid = 1000;
  user.gid = 1000;
  REQUIRE(ovl.chmod("/d", 0777).ok());
  ovl.set_cred(user);
  REQUIRE(ovl.unlink("/d/g").ok());

  const Inode& wh = at(*ovl.upper(), "/d/g");
  CHECK(wh.mode == S_IFCHR);
  CHECK(wh.rdev == makedev(0, 0));
  CHECK(wh.uid == 0);
  CHECK(wh.gid == 0);

  SECTION("a whiteout is never listed or looked up") {
    CHECK(ovl.lstat("/d/g").err() == ENOENT);
    CHECK(name_set(ovl, "/d").empty());
  }
}

TEST_CASE("mknod of a whiteout through the overlay is refused (WO-04)",
          "[whiteout]") {
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder().file("/f"), Layer()};
  Overlay ovl = mount_ok(std::move(stack));

  SECTION("char 0/0 fails with EPERM") {
    CHECK(ovl.mknod("/w", S_IFCHR | 0600, makedev(0, 0)).err() == EPERM);
    CHECK(ovl.mknod("/w", S_IFCHR, makedev(0, 0)).err() == EPERM);
    CHECK_FALSE(has(*ovl.upper(), "/w"));
  }

  SECTION("other device numbers are allowed") {
    REQUIRE(ovl.mknod("/c01", S_IFCHR | 0600, makedev(0, 1)).ok());
    REQUIRE(ovl.mknod("/c10", S_IFCHR | 0600, makedev(1, 0)).ok());
    REQUIRE(ovl.mknod("/b00", S_IFBLK | 0600, makedev(0, 0)).ok());
    CHECK(ovl.lstat("/c01")->rdev == makedev(0, 1));
    CHECK(S_ISBLK(ovl.lstat("/b00")->mode));
    CHECK(name_set(ovl, "/") == Names{"b00", "c01", "c10", "f"});
  }
}

// The stack of the WO-06 checks on 6.18: three lower layers and an upper.
Stack xwhiteout_stack() {
  Stack stack;
  stack.upper = LayerBuilder().xwhiteout("/f/xw");
  stack.lowers = {LayerBuilder().dir("/d"),
                  LayerBuilder()
                      .opaque_dir("/", "x")
                      .xwhiteout("/rootxw")
                      .opaque_dir("/d", "x")
                      .xwhiteout("/d/xw")
                      .xwhiteout("/e/xw")
                      .file("/e/big", "12345678\n")
                      .xattr("/e/big", testing::kWhiteoutXattr, "")
                      .dir("/g"),
                  LayerBuilder()
                      .file("/rootxw", "data")
                      .file("/d/xw", "data")
                      .file("/e/xw", "data")
                      .file("/f/xw", "data")
                      .opaque_dir("/g", "x")
                      .xwhiteout("/g/xw")};
  return stack;
}

TEST_CASE("lookup and readdir treat xwhiteouts differently (WO-05, WO-06)",
          "[whiteout][readdir]") {
  Overlay ovl = mount_ok(xwhiteout_stack());

  SECTION("lookup treats an xwhiteout as a whiteout in any layer") {
    CHECK(ovl.stat("/d/xw").err() == ENOENT);
    CHECK(ovl.stat("/e/xw").err() == ENOENT);
    CHECK(ovl.stat("/f/xw").err() == ENOENT);
    CHECK(ovl.stat("/g/xw").err() == ENOENT);
    CHECK(ovl.stat("/rootxw").err() == ENOENT);
  }

  SECTION("readdir hides one in a middle layer of an x-marked merge") {
    CHECK(name_set(ovl, "/d").empty());
  }

  SECTION("readdir lists one whose directory is not marked") {
    CHECK(name_set(ovl, "/e") == Names{"big", "xw"});
  }

  SECTION("readdir lists one in the upper layer") {
    CHECK(name_set(ovl, "/f") == Names{"xw"});
  }

  SECTION("readdir lists one in the lowest layer, where x is ignored") {
    CHECK(name_set(ovl, "/g") == Names{"xw"});
  }

  SECTION("a non-empty file with the xattr is an ordinary file") {
    Result<Stat> st = ovl.stat("/e/big");
    REQUIRE(st.ok());
    CHECK(S_ISREG(st->mode));
    CHECK(st->size == 9);
  }

  SECTION("before 6.7 an xwhiteout is an ordinary empty file") {
    Overlay old = mount_ok(xwhiteout_stack(), {}, KernelVersion{6, 6});
    Result<Stat> st = old.stat("/e/xw");
    REQUIRE(st.ok());
    CHECK(st->size == 0);
    CHECK(old.stat("/f/xw").ok());
  }
}

TEST_CASE("readdir hides xwhiteouts of an x-marked root (WO-06)",
          "[whiteout][readdir]") {
  // Kernel 6.18, tmpfs layers: with trusted.overlay.opaque=x on the root of
  // the middle of three lower layers and an xwhiteout "rootxw" in it,
  // `ls -A` of the mount root did not list rootxw (stat: ENOENT). The root
  // is never looked up, so the model must learn of the marking another way
  // (the kernel checks the root when it mounts).
  Overlay ovl = mount_ok(xwhiteout_stack());
  CHECK(name_set(ovl, "/") == Names{"d", "e", "f", "g"});
}

TEST_CASE("opaque directories hide same-named lower directories (WO-07)",
          "[whiteout]") {
  Stack stack;
  stack.upper = LayerBuilder().opaque_dir("/op").file("/op/mine");
  stack.lowers = {LayerBuilder()
                      .file("/op/hidden")
                      .file("/gone/a")
                      .file("/merged/lower_file"),
                  Layer()};

  SECTION("overlay.opaque=y ends the merge") {
    Overlay ovl = mount_ok(std::move(stack));
    CHECK(name_set(ovl, "/op") == Names{"mine"});
    CHECK(ovl.stat("/op/hidden").err() == ENOENT);
  }

  SECTION("mkdir over a whiteout makes the new directory opaque") {
    Overlay ovl = mount_ok(std::move(stack));
    REQUIRE(ovl.unlink("/gone/a").ok());
    REQUIRE(ovl.rmdir("/gone").ok());
    REQUIRE(is_kernel_whiteout(*ovl.upper(), "/gone"));
    REQUIRE(ovl.mkdir("/gone", 0755).ok());
    CHECK(at(*ovl.upper(), "/gone").xattr(kOpaqueXattr) == "y");
    CHECK(name_set(ovl, "/gone").empty());
  }

  SECTION(
      "a pure upper directory renamed into a merged parent becomes "
      "opaque") {
    Overlay ovl = mount_ok(std::move(stack));
    REQUIRE(ovl.mkdir("/fresh", 0755).ok());
    REQUIRE(ovl.rename("/fresh", "/merged/fresh").ok());
    CHECK(at(*ovl.upper(), "/merged/fresh").xattr(kOpaqueXattr) == "y");
  }

  SECTION("mkdir in a merged parent is not opaque with default options") {
    Overlay ovl = mount_ok(std::move(stack));
    REQUIRE(ovl.mkdir("/merged/new", 0755).ok());
    CHECK_FALSE(at(*ovl.upper(), "/merged/new").xattr(kOpaqueXattr));
  }

  SECTION(
      "mkdir in a merged parent is opaque on mounts that forbid "
      "offline changes") {
    const char* option =
        GENERATE("index=on", "metacopy=on", "redirect_dir=on", "xino=on");
    CAPTURE(option);
    MountOptions opts;
    REQUIRE(apply_option(opts, option).ok());
    Overlay ovl = mount_ok(std::move(stack), opts);
    REQUIRE(ovl.mkdir("/merged/new", 0755).ok());
    CHECK(at(*ovl.upper(), "/merged/new").xattr(kOpaqueXattr) == "y");
    REQUIRE(ovl.mkdir("/new_in_root", 0755).ok());
    CHECK(at(*ovl.upper(), "/new_in_root").xattr(kOpaqueXattr) == "y");
  }
}

TEST_CASE("opaque values other than y (WO-08)", "[whiteout]") {
  Stack stack;
  stack.upper = LayerBuilder()
                    .opaque_dir("/upper_x", "x")
                    .opaque_dir("/yy", "yy")
                    .opaque_dir("/n", "n")
                    .opaque_dir("/empty", "");
  stack.lowers = {LayerBuilder().opaque_dir("/mid_x", "x").file("/mid_x/m"),
                  LayerBuilder()
                      .file("/upper_x/below")
                      .file("/yy/below")
                      .file("/n/below")
                      .file("/empty/below")
                      .file("/mid_x/below")};
  Overlay ovl = mount_ok(std::move(stack));

  SECTION("x on upper neither makes the directory opaque nor filters") {
    CHECK(name_set(ovl, "/upper_x") == Names{"below"});
  }

  SECTION("x in a middle layer is not opaque") {
    CHECK(name_set(ovl, "/mid_x") == Names{"below", "m"});
  }

  SECTION("values other than a single y or x are not opaque") {
    CHECK(name_set(ovl, "/yy") == Names{"below"});
    CHECK(name_set(ovl, "/n") == Names{"below"});
    CHECK(name_set(ovl, "/empty") == Names{"below"});
  }
}

TEST_CASE("userxattr mounts use the user.overlay. namespace (WO-09)",
          "[whiteout][xattr]") {
  Stack stack;
  stack.upper = LayerBuilder()
                    .opaque_dir("/trusted_opaque", "y")
                    .dir("/user_opaque")
                    .xattr("/user_opaque", "user.overlay.opaque", "y")
                    .file("/user_xwo")
                    .xattr("/user_xwo", "user.overlay.whiteout", "");
  stack.lowers = {LayerBuilder()
                      .file("/trusted_opaque/below")
                      .file("/user_opaque/below")
                      .file("/user_xwo", "data"),
                  Layer()};
  MountOptions userxattr;
  REQUIRE(apply_option(userxattr, "userxattr").ok());

  SECTION("with userxattr, trusted.overlay.opaque means nothing") {
    Overlay ovl = mount_ok(std::move(stack), userxattr);
    CHECK(name_set(ovl, "/trusted_opaque") == Names{"below"});
    CHECK(*ovl.listxattr("/trusted_opaque") ==
          std::vector<std::string>{kOpaqueXattr});
  }

  SECTION("with userxattr, user.overlay.opaque and .whiteout work") {
    Overlay ovl = mount_ok(std::move(stack), userxattr);
    CHECK(name_set(ovl, "/user_opaque").empty());
    CHECK(ovl.stat("/user_xwo").err() == ENOENT);
  }

  SECTION("with userxattr, whiteouts are still char 0/0") {
    Overlay ovl = mount_ok(std::move(stack), userxattr);
    REQUIRE(ovl.unlink("/trusted_opaque/below").ok());
    CHECK(is_kernel_whiteout(*ovl.upper(), "/trusted_opaque/below"));
  }

  SECTION("without userxattr, user.overlay.* are ordinary xattrs") {
    Overlay ovl = mount_ok(std::move(stack));
    CHECK(name_set(ovl, "/user_opaque") == Names{"below"});
    CHECK(*ovl.getxattr("/user_opaque", "user.overlay.opaque") == "y");
    CHECK(ovl.stat("/user_xwo").ok());
  }
}

TEST_CASE("whiteout helpers classify inodes", "[whiteout]") {
  Inode chr;
  chr.mode = S_IFCHR;
  chr.rdev = makedev(0, 0);
  CHECK(is_whiteout(chr));
  chr.rdev = makedev(0, 1);
  CHECK_FALSE(is_whiteout(chr));
  Inode blk;
  blk.mode = S_IFBLK;
  CHECK_FALSE(is_whiteout(blk));

  InodeAttrs attrs = whiteout_attrs({42, 7});
  CHECK(attrs.mode == S_IFCHR);
  CHECK(attrs.rdev == makedev(0, 0));
  CHECK(attrs.uid == 0);
  CHECK(attrs.mtime == Timespec{42, 7});
}

TEST_CASE("a lower xwhiteout makes the name not lower positive (WO-06, RM-01)",
          "[whiteout]") {
  // Kernel 6.18: unlink of an upper file over a lower xwhiteout (in a
  // directory not marked x) left no whiteout, so readdir lists the lower
  // xwhiteout again while stat of the name fails with ENOENT.
  Stack stack;
  stack.upper = LayerBuilder().file("/c", "data");
  stack.lowers = {LayerBuilder().xwhiteout("/c").file("/d", "data")};
  Overlay ovl = mount_ok(std::move(stack));
  REQUIRE(ovl.unlink("/c").ok());
  CHECK(!has(*ovl.upper(), "/c"));
  CHECK(ovl.lstat("/c").err() == ENOENT);
  CHECK(name_set(ovl, "/") == Names{"c", "d"});
}

}  // namespace
}  // namespace ovlsim::model
