#include "model/lookup.h"

#include <fmt/format.h>

#include <catch2/catch.hpp>

#include "model/overlay.h"
#include "tests/model/stack_builder.h"

namespace ovlsim::model {
namespace {

using testing::at;
using testing::content;
using testing::kImpureXattr;
using testing::kMetacopyXattr;
using testing::kOpaqueXattr;
using testing::kOriginXattr;
using testing::kRedirectXattr;
using testing::LayerBuilder;
using testing::mount_ok;
using testing::name_set;
using testing::names;

using Names = std::vector<std::string>;

TEST_CASE("lookup searches upper, then the lower layers top to bottom",
          "[lookup]") {
  Stack stack;
  stack.upper = LayerBuilder().file("/all", "upper");
  stack.lowers = {LayerBuilder().file("/all", "l1").file("/l1l2l3", "l1"),
                  LayerBuilder()
                      .file("/all", "l2")
                      .file("/l1l2l3", "l2")
                      .file("/l2l3", "l2"),
                  LayerBuilder()
                      .file("/all", "l3")
                      .file("/l1l2l3", "l3")
                      .file("/l2l3", "l3")
                      .file("/l3", "l3")};
  Overlay ovl = mount_ok(std::move(stack));

  SECTION("the topmost layer holding a name supplies it (LK-01, RD-01)") {
    CHECK(content(ovl, "/all") == "upper");
    CHECK(content(ovl, "/l1l2l3") == "l1");
    CHECK(content(ovl, "/l2l3") == "l2");
    CHECK(content(ovl, "/l3") == "l3");
  }

  SECTION("stat reports the layer that answered (LK-01)") {
    CHECK(ovl.stat("/all")->layer == 0);
    CHECK(ovl.stat("/l1l2l3")->layer == 1);
    CHECK(ovl.stat("/l2l3")->layer == 2);
    CHECK(ovl.stat("/l3")->layer == 3);
  }
}

TEST_CASE("lookup stops at a non-directory (LK-02)", "[lookup]") {
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder().file("/top/t", "l1"),
                  LayerBuilder().file("/b", "file in l2").file("/top/m"),
                  LayerBuilder().file("/b/below", "hidden").file("/top/b")};
  Overlay ovl = mount_ok(std::move(stack));

  SECTION("a middle-layer file hides a directory below it") {
    Result<Stat> st = ovl.stat("/b");
    REQUIRE(st.ok());
    CHECK(S_ISREG(st->mode));
    CHECK(st->layer == 2);
    CHECK(content(ovl, "/b") == "file in l2");
  }

  SECTION("a path through the file fails with ENOTDIR") {
    Result<Stat> st = ovl.stat("/b/below");
    REQUIRE_FALSE(st.ok());
    CHECK(st.err() == ENOTDIR);
  }

  SECTION("directories above the stop still merge (LK-03)") {
    CHECK(name_set(ovl, "/top") == Names{"b", "m", "t"});
  }
}

TEST_CASE("lookup merges directories down to an opaque one (LK-03)",
          "[lookup]") {
  Stack stack;
  stack.upper = LayerBuilder().file("/d/u");
  stack.lowers = {LayerBuilder().file("/d/a"),
                  LayerBuilder().file("/d/b").opaque_dir("/d"),
                  LayerBuilder().file("/d/c")};
  Overlay ovl = mount_ok(std::move(stack));

  SECTION("the opaque middle directory is the last layer merged") {
    CHECK(name_set(ovl, "/d") == Names{"a", "b", "u"});
    Result<Stat> st = ovl.stat("/d/c");
    REQUIRE_FALSE(st.ok());
    CHECK(st.err() == ENOENT);
  }

  SECTION("the opaque xattr itself is not shown (WO-10)") {
    Result<std::vector<std::string>> xattrs = ovl.listxattr("/d");
    REQUIRE(xattrs.ok());
    CHECK(xattrs->empty());
  }
}

TEST_CASE("an upper directory over a lower non-directory (LK-04)", "[lookup]") {
  Stack stack;
  stack.upper = LayerBuilder().dir("/x").dir("/x/sub");
  stack.lowers = {LayerBuilder().file("/x", "lower file"),
                  LayerBuilder().file("/other")};
  Overlay ovl = mount_ok(std::move(stack));

  SECTION("the upper directory wins and is not merged") {
    Result<Stat> st = ovl.stat("/x");
    REQUIRE(st.ok());
    CHECK(S_ISDIR(st->mode));
    CHECK(st->layer == 0);
    CHECK(names(ovl, "/x") == Names{"sub"});
  }

  SECTION("its link count is the upper directory's, not 1") {
    CHECK(ovl.stat("/x")->nlink == 3);
  }

  SECTION("rmdir of it, once empty, leaves a whiteout") {
    REQUIRE(ovl.rmdir("/x/sub").ok());
    REQUIRE(ovl.rmdir("/x").ok());
    const Inode& node = at(*ovl.upper(), "/x");
    CHECK(S_ISCHR(node.mode));
    CHECK(node.rdev == makedev(0, 0));
    CHECK(ovl.stat("/x").err() == ENOENT);
  }
}

TEST_CASE("an upper non-directory over a lower directory (LK-05)", "[lookup]") {
  Stack stack;
  stack.upper = LayerBuilder().file("/x", "upper");
  stack.lowers = {LayerBuilder().file("/x/inside"), Layer()};
  Overlay ovl = mount_ok(std::move(stack));

  CHECK(S_ISREG(ovl.stat("/x")->mode));
  CHECK(content(ovl, "/x") == "upper");
  CHECK(ovl.stat("/x/inside").err() == ENOTDIR);
}

TEST_CASE(
    "a merged directory takes its attributes from the topmost "
    "directory (LK-06)",
    "[lookup]") {
  Stack stack;
  stack.upper = LayerBuilder().dir("/d", 0700).xattr("/d", "user.top", "u");
  stack.lowers = {LayerBuilder()
                      .dir("/d", 0755)
                      .owner("/d", 5, 6)
                      .xattr("/d", "user.low", "l")
                      .dir("/only_lower", 0711)
                      .owner("/only_lower", 7, 8),
                  LayerBuilder().dir("/only_lower", 0777).file("/d/f")};
  Overlay ovl = mount_ok(std::move(stack));

  SECTION("mode, owner and xattrs come from upper") {
    Result<Stat> st = ovl.stat("/d");
    REQUIRE(st.ok());
    CHECK((st->mode & 07777) == 0700);
    CHECK(st->uid == 0);
    CHECK(st->layer == 0);
    CHECK(*ovl.listxattr("/d") == std::vector<std::string>{"user.top"});
    CHECK(ovl.getxattr("/d", "user.low").err() == ENODATA);
  }

  SECTION("without upper, from the topmost lower directory") {
    Result<Stat> st = ovl.stat("/only_lower");
    REQUIRE(st.ok());
    CHECK((st->mode & 07777) == 0711);
    CHECK(st->uid == 7);
    CHECK(st->gid == 8);
  }

  SECTION("merged directories report one link (HL-05)") {
    CHECK(ovl.stat("/d")->nlink == 1);
    CHECK(ovl.stat("/only_lower")->nlink == 1);
    CHECK(ovl.stat("/")->nlink == 1);
  }

  SECTION("chmod changes only the upper directory") {
    REQUIRE(ovl.chmod("/only_lower", 0750).ok());
    CHECK((ovl.stat("/only_lower")->mode & 07777) == 0750);
    CHECK((at(*ovl.upper(), "/only_lower").mode & 07777) == 0750);
    CHECK((at(ovl.lower(0), "/only_lower").mode & 07777) == 0711);
    CHECK((at(ovl.lower(1), "/only_lower").mode & 07777) == 0777);
  }
}

TEST_CASE("a whiteout in any layer makes the name negative (LK-07)",
          "[lookup][whiteout]") {
  Stack stack;
  stack.upper = LayerBuilder().whiteout("/in_upper");
  stack.lowers = {LayerBuilder().file("/in_upper").whiteout("/in_middle"),
                  LayerBuilder().file("/in_middle").whiteout("/in_lowest"),
                  LayerBuilder().whiteout("/lowest_dir/w")};
  Overlay ovl = mount_ok(std::move(stack));

  SECTION("a whiteout in upper hides the lower file") {
    CHECK(ovl.stat("/in_upper").err() == ENOENT);
    CHECK(ovl.lstat("/in_upper").err() == ENOENT);
  }

  SECTION("a whiteout in a middle layer hides the layers below") {
    CHECK(ovl.stat("/in_middle").err() == ENOENT);
  }

  SECTION("a whiteout in the lowest layer hides nothing but the name") {
    CHECK(ovl.stat("/in_lowest").err() == ENOENT);
    CHECK(ovl.stat("/lowest_dir/w").err() == ENOENT);
    CHECK(ovl.open("/in_lowest", O_RDONLY).err() == ENOENT);
  }

  SECTION("whited-out names are not listed by a merged directory") {
    CHECK(names(ovl, "/") == Names{"lowest_dir"});
  }
}

TEST_CASE("lookup follows redirects of upper directories (LK-09)",
          "[lookup][redirect]") {
  Stack stack;
  stack.upper = LayerBuilder()
                    .dir("/renamed")
                    .xattr("/renamed", kRedirectXattr, "orig")
                    .whiteout("/orig")
                    .dir("/moved/deep")
                    .xattr("/moved/deep", kRedirectXattr, "/a/b");
  stack.lowers = {LayerBuilder().file("/orig/from_lower").file("/a/b/from_ab"),
                  Layer()};
  Overlay ovl = mount_ok(std::move(stack));

  SECTION("a relative redirect names a sibling in the lower layers") {
    CHECK(names(ovl, "/renamed") == Names{"from_lower"});
    CHECK(ovl.stat("/orig").err() == ENOENT);
  }

  SECTION("an absolute redirect is resolved from each lower root") {
    CHECK(names(ovl, "/moved/deep") == Names{"from_ab"});
  }

  SECTION("under redirect_dir=nofollow it fails with EPERM (LK-10)") {
    Stack again = std::move(ovl).unmount();
    MountOptions opts;
    REQUIRE(apply_option(opts, "redirect_dir=nofollow").ok());
    Overlay nofollow = mount_ok(std::move(again), opts);
    CHECK(nofollow.stat("/renamed").err() == EPERM);
    CHECK(nofollow.readdir("/moved/deep").err() == EPERM);
  }
}

// A lower layer with a metacopy file whose data lies in a data-only layer,
// as image tools ship them.
Stack data_only_stack() {
  Stack stack;
  stack.lowers = {LayerBuilder()
                      .file("/f", std::string(18, '\0'))
                      .xattr("/f", kMetacopyXattr, "")
                      .xattr("/f", kRedirectXattr, "/data/f"),
                  LayerBuilder().file("/x", "l2")};
  stack.data_lowers = {
      LayerBuilder().file("/data/f", "data only content").file("/doonly", "x")};
  return stack;
}

TEST_CASE("data-only layers are seen only as file data (LK-08)",
          "[lookup][metacopy]") {
  MountOptions opts;
  REQUIRE(apply_option(opts, "metacopy=on").ok());
  Overlay ovl = mount_ok(data_only_stack(), opts);

  SECTION("their names are absent from lookup and readdir") {
    CHECK(ovl.stat("/doonly").err() == ENOENT);
    CHECK(ovl.stat("/data").err() == ENOENT);
    CHECK(name_set(ovl, "/") == Names{"f", "x"});
  }

  SECTION("a metacopy file reads its data through its redirect") {
    CHECK(content(ovl, "/f") == "data only content");
    CHECK(ovl.stat("/f")->size == 18);
  }

  SECTION("the layers come back from unmount") {
    CHECK(ovl.lower_count() == 2);
    CHECK(ovl.data_lower_count() == 1);
    Stack back = std::move(ovl).unmount();
    CHECK(back.data_lowers.size() == 1);
  }
}

TEST_CASE("data-only layers mount without metacopy=on (LK-08)",
          "[lookup][metacopy]") {
  // Kernel 6.18 (tmpfs layers): "lowerdir=l1:l2::do" mounted without any
  // metacopy option, with and without an upper layer.
  CHECK(Overlay::mount(data_only_stack()).ok());
}

TEST_CASE("a metacopy upper file with metacopy off fails with EPERM (LK-11)",
          "[lookup]") {
  Stack stack;
  stack.upper = LayerBuilder().file("/big").xattr("/big", kMetacopyXattr, "");
  stack.lowers = {LayerBuilder().file("/big", "lower data"), Layer()};
  Overlay ovl = mount_ok(std::move(stack));
  CHECK(ovl.stat("/big").err() == EPERM);
  CHECK(ovl.open("/big", O_RDONLY).err() == EPERM);
}

TEST_CASE("names longer than 255 bytes fail with ENAMETOOLONG (LK-12)",
          "[lookup]") {
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder().file("/d/" + std::string(255, 'n'), "max")};
  Overlay ovl = mount_ok(std::move(stack));

  CHECK(content(ovl, "/d/" + std::string(255, 'n')) == "max");
  CHECK(ovl.stat("/d/" + std::string(256, 'n')).err() == ENAMETOOLONG);
  CHECK(ovl.stat(std::string(256, 'n') + "/x").err() == ENAMETOOLONG);
  CHECK(ovl.mkdir("/" + std::string(256, 'n'), 0755).err() == ENAMETOOLONG);
  CHECK(ovl.open("/" + std::string(256, 'n'), O_CREAT | O_WRONLY).err() ==
        ENAMETOOLONG);
}

TEST_CASE("lower layers change only offline (LK-13, LK-14)", "[lookup]") {
  Layer lower = LayerBuilder().file("/f", "old").dir("/d");
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {lower};
  Overlay ovl = mount_ok(std::move(stack));

  SECTION("writes through the overlay leave the lower layer as it was") {
    Result<int> fd = ovl.open("/f", O_WRONLY | O_APPEND);
    REQUIRE(fd.ok());
    REQUIRE(ovl.write(*fd, "new").ok());
    REQUIRE(ovl.close(*fd).ok());
    REQUIRE(ovl.unlink("/f").ok());
    REQUIRE(ovl.rmdir("/d").ok());
    CHECK(ovl.lower(0).same_tree(lower));
  }

  SECTION("a file added to a lower layer offline is seen after mount") {
    Stack offline = std::move(ovl).unmount();
    REQUIRE(offline.lowers.size() == 1);
    CHECK(offline.lowers[0].same_tree(lower));
    Layer& l = offline.lowers[0];
    InodeAttrs attrs;
    attrs.data = "added";
    l.create(*l.find("/d"), "added", attrs);
    Overlay again = mount_ok(std::move(offline));
    CHECK(content(again, "/d/added") == "added");
  }
}

TEST_CASE("lookup adds origin to a merged directory that lacks it (LK-15)",
          "[lookup]") {
  Stack stack;
  stack.upper = LayerBuilder().dir("/d/e");
  stack.lowers = {LayerBuilder().file("/d/e/f"), Layer()};
  Overlay ovl = mount_ok(std::move(stack));
  REQUIRE_FALSE(at(*ovl.upper(), "/d").xattr(kOriginXattr));

  SECTION(
      "stat of the directory writes origin and marks the parent "
      "impure") {
    REQUIRE(ovl.stat("/d").ok());
    CHECK(at(*ovl.upper(), "/d").xattr(kOriginXattr).has_value());
    CHECK(at(*ovl.upper(), "/").xattr(kImpureXattr) == "y");
    CHECK_FALSE(at(*ovl.upper(), "/d/e").xattr(kOriginXattr).has_value());
  }

  SECTION("a deeper path fixes every merged directory it passes") {
    REQUIRE(ovl.stat("/d/e/f").ok());
    CHECK(at(*ovl.upper(), "/d").xattr(kOriginXattr).has_value());
    CHECK(at(*ovl.upper(), "/d/e").xattr(kOriginXattr).has_value());
    CHECK(at(*ovl.upper(), "/d").xattr(kImpureXattr) == "y");
  }

  SECTION("the written xattrs stay hidden from the overlay") {
    REQUIRE(ovl.stat("/d").ok());
    CHECK(ovl.listxattr("/d")->empty());
    CHECK(ovl.getxattr("/d", kOriginXattr).err() == ENODATA);
    CHECK(ovl.listxattr("/")->empty());
  }

  SECTION("a pure upper directory gets nothing") {
    Stack again = std::move(ovl).unmount();
    again.upper->create(again.upper->root(), "pure",
                        InodeAttrs{.mode = S_IFDIR | 0755});
    Overlay remounted = mount_ok(std::move(again));
    REQUIRE(remounted.stat("/pure").ok());
    CHECK(at(*remounted.upper(), "/pure").xattrs.empty());
  }
}

TEST_CASE("origin markers name the lower object they came from", "[lookup]") {
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder().file("/f"), Layer()};
  Overlay ovl = mount_ok(std::move(stack));
  REQUIRE(ovl.chmod("/f", 0600).ok());
  std::optional<std::string> origin =
      at(*ovl.upper(), "/f").xattr(kOriginXattr);
  REQUIRE(origin);
  CHECK(*origin == fmt::format("lower1:{}", *ovl.lower(0).find("/f")));
}

}  // namespace
}  // namespace ovlsim::model
