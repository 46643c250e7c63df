// The devices and inode numbers stat reports (spec section 11), on one
// backing filesystem and on several, with and without xino.
#include "model/inode.h"

#include <sys/stat.h>

#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "model/overlay.h"
#include "tests/model/stack_builder.h"

namespace ovlsim::model {
namespace {

using testing::at;
using testing::LayerBuilder;
using testing::mount_ok;

// An upper layer with a file and a directory of its own, over two lower
// layers that merge /d. `filesystems` places the three layers.
Stack split_stack(std::vector<unsigned> filesystems) {
  Stack stack;
  stack.upper = LayerBuilder().file("/uf", "u").dir("/ud");
  stack.lowers = {LayerBuilder().file("/f", "f").file("/d/g", "g"),
                  LayerBuilder().file("/d/h", "h").file("/k", "k")};
  stack.filesystems = std::move(filesystems);
  return stack;
}

MountOptions xino(Xino mode) {
  MountOptions opts;
  opts.xino = mode;
  return opts;
}

TEST_CASE("on one filesystem everything has the overlay's device (INO-01)",
          "[inode]") {
  for (std::vector<unsigned> fs :
       {std::vector<unsigned>{}, std::vector<unsigned>{7, 7, 7}}) {
    Overlay ovl = mount_ok(split_stack(fs), xino(Xino::kOn));
    for (const char* path : {"/", "/uf", "/ud", "/f", "/d", "/d/g", "/k"})
      CHECK(ovl.lstat(path)->dev == kOverlayDev);

    // A copy-up keeps the number of its origin; the root has the upper
    // root's, a merged directory its top lower directory's.
    InodeNumber before = ovl.lstat("/f")->ino;
    REQUIRE(ovl.chmod("/f", 0600).ok());
    CHECK(ovl.lstat("/f")->ino == before);
    CHECK(ovl.lstat("/f")->layer == 0u);
    CHECK(ovl.lstat("/")->ino == layer_ino({0, ovl.upper()->root()}));
    CHECK(ovl.lstat("/d")->ino == layer_ino({1, *ovl.lower(0).find("/d")}));
  }
}

TEST_CASE(
    "without xino, non-directories get a device per filesystem "
    "(INO-02)",
    "[inode]") {
  // Upper on one filesystem, both lower layers on another.
  Overlay ovl = mount_ok(split_stack({1, 2, 2}), xino(Xino::kOff));

  SECTION("directories keep the overlay's device") {
    for (const char* path : {"/", "/ud", "/d"})
      CHECK(ovl.lstat(path)->dev == kOverlayDev);
  }

  SECTION("files of one filesystem share its pseudo device") {
    DeviceId upper = ovl.lstat("/uf")->dev;
    DeviceId lower = ovl.lstat("/f")->dev;
    CHECK(upper != kOverlayDev);
    CHECK(lower != kOverlayDev);
    CHECK(upper != lower);
    // /f and /d/g are in the first lower layer, /k in the second: one
    // filesystem holds both.
    CHECK(ovl.lstat("/d/g")->dev == lower);
    CHECK(ovl.lstat("/k")->dev == lower);
  }

  SECTION("a copy-up keeps the device and number of its origin") {
    Stat before = *ovl.lstat("/d/h");
    REQUIRE(ovl.chmod("/d/h", 0600).ok());
    Stat after = *ovl.lstat("/d/h");
    CHECK(after.layer == 0u);
    CHECK(after.dev == before.dev);
    CHECK(after.ino == before.ino);
  }

  SECTION("directory numbers are the overlay's own, unlike d_ino") {
    Stat d = *ovl.lstat("/d");
    REQUIRE(ovl.chmod("/d", 0700).ok());
    CHECK(ovl.lstat("/d")->ino == d.ino);
    Result<std::vector<Dirent>> root = ovl.readdir("/");
    REQUIRE(root.ok());
    for (const Dirent& e : *root)
      if (e.name == "d")
        CHECK(e.ino != d.ino);
  }

  SECTION("pairs of device and number stay unique") {
    std::set<std::pair<DeviceId, InodeNumber>> seen;
    for (const char* path :
         {"/", "/uf", "/ud", "/f", "/d", "/d/g", "/d/h", "/k"})
      CHECK(seen.insert({ovl.lstat(path)->dev, ovl.lstat(path)->ino}).second);
  }
}

TEST_CASE(
    "a lower layer on the upper's filesystem shares its device "
    "(INO-02)",
    "[inode]") {
  Overlay ovl = mount_ok(split_stack({1, 1, 2}), xino(Xino::kOff));
  CHECK(ovl.lstat("/f")->dev == ovl.lstat("/uf")->dev);
  CHECK(ovl.lstat("/k")->dev != ovl.lstat("/uf")->dev);
  CHECK(ovl.lstat("/k")->dev != kOverlayDev);
}

TEST_CASE(
    "a read-only overlay on two filesystems gives each its device "
    "(INO-02)",
    "[inode]") {
  Stack stack = split_stack({});
  stack.upper.reset();
  stack.filesystems = {3, 4};
  Overlay ovl = mount_ok(std::move(stack));
  CHECK(ovl.lstat("/d")->dev == kOverlayDev);
  CHECK(ovl.lstat("/f")->dev != ovl.lstat("/k")->dev);
  CHECK(ovl.lstat("/f")->dev != kOverlayDev);
}

TEST_CASE(
    "xino=on and xino=auto give the overlay's device to all "
    "(INO-05)",
    "[inode]") {
  for (Xino mode : {Xino::kOn, Xino::kAuto}) {
    Overlay ovl = mount_ok(split_stack({1, 2, 3}), xino(mode));
    std::set<InodeNumber> seen;
    for (const char* path : {"/", "/uf", "/ud", "/f", "/d", "/d/g", "/k"}) {
      CHECK(ovl.lstat(path)->dev == kOverlayDev);
      CHECK(seen.insert(ovl.lstat(path)->ino).second);
    }
    InodeNumber before = ovl.lstat("/k")->ino;
    REQUIRE(ovl.chmod("/k", 0600).ok());
    CHECK(ovl.lstat("/k")->ino == before);
  }
}

TEST_CASE(
    "a lower filesystem with a null UUID keeps origins in memory only "
    "(INO-03, INO-04)",
    "[inode]") {
  // Kernel 6.18, upper on tmpfs, lower on ext4 made with `mkfs.ext4 -U
  // clear`: a copy-up writes overlay.origin and keeps the lower device and
  // number while mounted; after a remount the copy reports its own. With
  // xino=auto the mount logs "null uuid detected in lower fs" and falls
  // back to xino=off. index=on or xino=on forbid offline changes, and then
  // the origin is followed as on any filesystem; so it is for a lower
  // layer on the upper's own null-UUID filesystem.
  auto stack = [] {
    Stack s = split_stack({1, 2, 2});
    s.null_uuid = {2};
    return s;
  };

  SECTION("the copy keeps its lower identity until the remount") {
    Overlay ovl = mount_ok(stack());
    Stat lower = *ovl.lstat("/f");
    REQUIRE(ovl.chmod("/f", 0600).ok());
    CHECK(at(*ovl.upper(), "/f").xattrs.count(testing::kOriginXattr) == 1);
    CHECK(ovl.lstat("/f")->dev == lower.dev);
    CHECK(ovl.lstat("/f")->ino == lower.ino);

    Overlay again = mount_ok(std::move(ovl).unmount());
    Stat after = *again.lstat("/f");
    CHECK(after.dev == again.lstat("/uf")->dev);
    CHECK(after.ino != lower.ino);
  }
  SECTION("xino=auto falls back to off") {
    Overlay ovl = mount_ok(stack(), xino(Xino::kAuto));
    CHECK(ovl.options().xino == Xino::kOff);
    CHECK(ovl.lstat("/f")->dev != kOverlayDev);
  }
  SECTION("xino=on or index=on follow the origin after a remount") {
    MountOptions index;
    index.index = true;
    for (MountOptions opts : {xino(Xino::kOn), index}) {
      Overlay ovl = mount_ok(stack(), opts);
      InodeNumber lower = ovl.lstat("/f")->ino;
      REQUIRE(ovl.chmod("/f", 0600).ok());
      Overlay again = mount_ok(std::move(ovl).unmount(), opts);
      CHECK(again.lstat("/f")->ino == lower);
    }
  }
  SECTION("a null UUID on the upper's own filesystem changes nothing") {
    Stack s = split_stack({1, 1, 2});
    s.null_uuid = {1};
    Overlay ovl = mount_ok(std::move(s));
    InodeNumber lower = ovl.lstat("/f")->ino;
    REQUIRE(ovl.chmod("/f", 0600).ok());
    Overlay again = mount_ok(std::move(ovl).unmount());
    CHECK(again.lstat("/f")->ino == lower);
  }
}

TEST_CASE("the layers go back with the filesystems they were on", "[inode]") {
  Overlay ovl = mount_ok(split_stack({1, 2, 2}));
  Stack back = std::move(ovl).unmount();
  CHECK(back.filesystems == std::vector<unsigned>{1, 2, 2});
}

}  // namespace
}  // namespace ovlsim::model
