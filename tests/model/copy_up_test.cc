#include "model/copy_up.h"

#include <sys/xattr.h>
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
using testing::kOriginXattr;
using testing::LayerBuilder;
using testing::mount_ok;
using testing::paths;

constexpr Timespec kLowerAtime{1000, 111111111};
constexpr Timespec kLowerMtime{2000, 222222222};

// One lower layer holding one object of each kind, and an empty upper.
Stack lower_objects() {
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder()
                      .file("/f", "lower data")
                      .file("/g", "other")
                      .symlink("/l", "f")
                      .dir("/d")
                      .xattr("/d", "user.gone", "1")
                      .file("/d/child")
                      .file("/e/deep/er/file", "deep")
                      .node("/chr", S_IFCHR | 0620, makedev(4, 1))
                      .node("/fifo", S_IFIFO | 0640, 0),
                  Layer()};
  return stack;
}

TEST_CASE("operations that copy up their target (CU-01)", "[copy_up]") {
  Overlay ovl = mount_ok(lower_objects());
  const Layer& upper = *ovl.upper();

  SECTION("open for writing, even with nothing written") {
    Result<int> wr = ovl.open("/f", O_WRONLY);
    REQUIRE(wr.ok());
    CHECK(at(upper, "/f").data == "lower data");
    Result<int> rdwr = ovl.open("/g", O_RDWR);
    REQUIRE(rdwr.ok());
    CHECK(at(upper, "/g").data == "other");
  }

  SECTION("O_TRUNC, even read-only, leaves an empty upper file") {
    Result<int> fd = ovl.open("/f", O_RDONLY | O_TRUNC);
    REQUIRE(fd.ok());
    CHECK(at(upper, "/f").data.empty());
    CHECK(content(ovl, "/f").empty());
  }

  SECTION("truncate") {
    REQUIRE(ovl.truncate("/f", 5).ok());
    CHECK(at(upper, "/f").data == "lower");
  }

  SECTION("chmod, chown and utimes") {
    REQUIRE(ovl.chmod("/f", 0600).ok());
    CHECK(has(upper, "/f"));
    REQUIRE(ovl.chown("/g", 1, 1).ok());
    CHECK(has(upper, "/g"));
    REQUIRE(ovl.utimens("/d", {5, 0}, {6, 0}).ok());
    CHECK(has(upper, "/d"));
  }

  SECTION("utimes on a symlink without following it (touch -h)") {
    REQUIRE(
        ovl.utimens("/l", {0, UTIME_NOW}, {0, UTIME_NOW}, Follow::kNo).ok());
    CHECK(at(upper, "/l").is_symlink());
    CHECK_FALSE(has(upper, "/f"));
  }

  SECTION("lchown of a symlink, even with nothing changed") {
    REQUIRE(ovl.chown("/l", -1, -1, Follow::kNo).ok());
    CHECK(at(upper, "/l").is_symlink());
    CHECK_FALSE(has(upper, "/f"));
  }

  SECTION("setxattr and removexattr") {
    REQUIRE(ovl.setxattr("/f", "user.k", "v").ok());
    CHECK(at(upper, "/f").xattr("user.k") == "v");
    REQUIRE(ovl.removexattr("/d", "user.gone").ok());
    CHECK(has(upper, "/d"));
    CHECK_FALSE(at(upper, "/d").xattr("user.gone"));
  }

  SECTION("the source of link(2)") {
    REQUIRE(ovl.link("/f", "/f2").ok());
    CHECK(has(upper, "/f"));
    CHECK(*upper.find("/f") == *upper.find("/f2"));
  }

  SECTION("the source of rename(2)") {
    REQUIRE(ovl.rename("/f", "/renamed").ok());
    CHECK(at(upper, "/renamed").data == "lower data");
  }

  SECTION("the destination of RENAME_EXCHANGE") {
    REQUIRE(ovl.rename("/f", "/g", RENAME_EXCHANGE).ok());
    CHECK(at(upper, "/f").data == "other");
    CHECK(at(upper, "/g").data == "lower data");
  }
}

TEST_CASE("read-only operations never copy up (RD-02)", "[copy_up]") {
  Overlay ovl = mount_ok(lower_objects());

  Result<int> fd = ovl.open("/f", O_RDONLY);
  REQUIRE(fd.ok());
  CHECK(*ovl.read(*fd, 100) == "lower data");
  CHECK(*ovl.pread(*fd, 5, 6) == "data");
  REQUIRE(ovl.fstat(*fd).ok());
  REQUIRE(ovl.close(*fd).ok());
  CHECK(ovl.readlink("/l").ok());
  CHECK(ovl.readdir("/d").ok());
  CHECK(ovl.readdir("/e/deep").ok());
  CHECK(ovl.stat("/l").ok());
  CHECK(ovl.lstat("/chr").ok());
  CHECK(ovl.listxattr("/f").ok());
  CHECK(ovl.getxattr("/f", "user.none").err() == ENODATA);
  Result<int> dir = ovl.open("/d", O_RDONLY | O_DIRECTORY);
  REQUIRE(dir.ok());
  REQUIRE(ovl.close(*dir).ok());

  CHECK(paths(*ovl.upper()) == std::vector<std::string>{"/"});
}

TEST_CASE("utimensat with both times UTIME_OMIT changes nothing (CU-01)",
          "[copy_up]") {
  // Kernel 6.18: utimensat(path, {UTIME_OMIT, UTIME_OMIT}) returns 0 in
  // do_utimes() before reaching overlayfs, so the lower file is not copied
  // up (checked on a tmpfs-backed overlay: the upper layer stayed empty).
  Overlay ovl = mount_ok(lower_objects());
  REQUIRE(ovl.utimens("/f", {0, UTIME_OMIT}, {0, UTIME_OMIT}).ok());
  CHECK_FALSE(has(*ovl.upper(), "/f"));
}

TEST_CASE("copy-up copies the parents first (CU-02)", "[copy_up]") {
  Overlay ovl = mount_ok(lower_objects());
  const Layer& upper = *ovl.upper();

  SECTION("chmod of a deep file copies up every missing ancestor") {
    REQUIRE(ovl.chmod("/e/deep/er/file", 0600).ok());
    CHECK(paths(upper) == std::vector<std::string>{"/", "/e", "/e/deep",
                                                   "/e/deep/er",
                                                   "/e/deep/er/file"});
    for (const char* dir : {"/e", "/e/deep", "/e/deep/er"}) {
      CHECK(at(upper, dir).is_dir());
      CHECK(at(upper, dir).xattr(kOriginXattr).has_value());
    }
  }

  SECTION("removing a name in a lower-only directory copies the chain") {
    REQUIRE(ovl.unlink("/e/deep/er/file").ok());
    CHECK(paths(upper) == std::vector<std::string>{"/", "/e", "/e/deep",
                                                   "/e/deep/er",
                                                   "/e/deep/er/file"});
    CHECK(S_ISCHR(at(upper, "/e/deep/er/file").mode));
  }

  SECTION("creating a name in a lower-only directory copies the chain") {
    REQUIRE(ovl.mkdir("/e/deep/new", 0755).ok());
    CHECK(paths(upper) ==
          std::vector<std::string>{"/", "/e", "/e/deep", "/e/deep/new"});
  }
}

TEST_CASE("a directory is copied up without its children (CU-03)",
          "[copy_up]") {
  Overlay ovl = mount_ok(lower_objects());
  REQUIRE(ovl.chmod("/d", 0700).ok());
  CHECK(paths(*ovl.upper()) == std::vector<std::string>{"/", "/d"});
  CHECK(testing::name_set(ovl, "/d") == std::vector<std::string>{"child"});
}

TEST_CASE("copy-up preserves what the kernel preserves (CU-04)", "[copy_up]") {
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder()
                      .file("/suid", "binary", 06755)
                      .owner("/suid", 1000, 1001)
                      .times("/suid", kLowerAtime, kLowerMtime)
                      .xattr("/suid", "user.u", "1")
                      .xattr("/suid", "trusted.t", "2")
                      .xattr("/suid", "security.capability", "cap")
                      .xattr("/suid", "security.selinux", "ctx")
                      .xattr("/suid", "trusted.overlay.overlay.esc", "escaped")
                      .dir("/sticky", 01777)
                      .owner("/sticky", 7, 8)
                      .times("/sticky", kLowerAtime, kLowerMtime)
                      .symlink("/link", "some/target")
                      .owner("/link", 3, 4)
                      .node("/blk", S_IFBLK | 0660, makedev(8, 3))
                      .node("/fifo", S_IFIFO | 0640, 0)
                      .owner("/fifo", 9, 9),
                  Layer()};
  Overlay ovl = mount_ok(std::move(stack));
  const Layer& upper = *ovl.upper();
  const Layer& lower = ovl.lower(0);

  SECTION(
      "a regular file keeps data, mode with suid and sgid, owner, "
      "times and xattrs") {
    REQUIRE(ovl.open("/suid", O_WRONLY).ok());
    const Inode& up = at(upper, "/suid");
    CHECK(up.mode == (S_IFREG | 06755));
    CHECK(up.uid == 1000);
    CHECK(up.gid == 1001);
    CHECK(up.data == "binary");
    CHECK(up.atime == kLowerAtime);
    CHECK(up.mtime == kLowerMtime);
    CHECK(up.xattr("user.u") == "1");
    CHECK(up.xattr("trusted.t") == "2");
    CHECK(up.xattr("security.capability") == "cap");
    CHECK(up.xattr("security.selinux") == "ctx");
    CHECK(up.xattr("trusted.overlay.overlay.esc") == "escaped");
    CHECK(*ovl.getxattr("/suid", "trusted.overlay.esc") == "escaped");
  }

  SECTION("ctime becomes the copy-up time") {
    const Inode& low = at(lower, "/suid");
    REQUIRE(ovl.open("/suid", O_WRONLY).ok());
    CHECK(at(upper, "/suid").ctime > low.ctime);
  }

  SECTION("a directory keeps its sticky mode, owner and times") {
    REQUIRE(ovl.chown("/sticky", -1, -1).ok());
    const Inode& up = at(upper, "/sticky");
    CHECK(up.mode == (S_IFDIR | 01777));
    CHECK(up.uid == 7);
    CHECK(up.gid == 8);
    CHECK(up.atime == kLowerAtime);
    CHECK(up.mtime == kLowerMtime);
  }

  SECTION("a symlink keeps its target and owner") {
    REQUIRE(ovl.chown("/link", -1, -1, Follow::kNo).ok());
    const Inode& up = at(upper, "/link");
    CHECK(up.is_symlink());
    CHECK(up.data == "some/target");
    CHECK(up.uid == 3);
    CHECK(up.gid == 4);
    CHECK(*ovl.readlink("/link") == "some/target");
  }

  SECTION("device nodes and fifos keep their type and device number") {
    REQUIRE(ovl.chmod("/blk", 0600).ok());
    REQUIRE(ovl.chmod("/fifo", 0600).ok());
    CHECK(at(upper, "/blk").mode == (S_IFBLK | 0600));
    CHECK(at(upper, "/blk").rdev == makedev(8, 3));
    CHECK(at(upper, "/fifo").mode == (S_IFIFO | 0600));
    CHECK(at(upper, "/fifo").uid == 9);
    CHECK(ovl.lstat("/blk")->rdev == makedev(8, 3));
  }
}

TEST_CASE("private lower xattrs are neither copied nor shown (CU-05)",
          "[copy_up][xattr]") {
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder()
                      .file("/f", "x")
                      .xattr("/f", "trusted.overlay.foo", "private")
                      .xattr("/f", "user.keep", "1"),
                  Layer()};
  Overlay ovl = mount_ok(std::move(stack));

  CHECK(*ovl.listxattr("/f") == std::vector<std::string>{"user.keep"});
  CHECK(ovl.getxattr("/f", "trusted.overlay.foo").err() == ENODATA);
  REQUIRE(ovl.chmod("/f", 0600).ok());
  CHECK_FALSE(at(*ovl.upper(), "/f").xattr("trusted.overlay.foo"));
  CHECK(at(*ovl.upper(), "/f").xattr("user.keep") == "1");
}

TEST_CASE(
    "copy-up records the origin (CU-06) and marks the parent impure "
    "(CU-07)",
    "[copy_up]") {
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder()
                      .file("/d/f", "x")
                      .file("/h1", "linked")
                      .hardlink("/h2", "/h1"),
                  Layer()};
  Overlay ovl = mount_ok(std::move(stack));
  const Layer& upper = *ovl.upper();

  SECTION("the copy and its copied-up parent get origin") {
    REQUIRE(ovl.chmod("/d/f", 0600).ok());
    CHECK(at(upper, "/d/f").xattr(kOriginXattr).has_value());
    CHECK(at(upper, "/d").xattr(kOriginXattr).has_value());
  }

  SECTION("every parent that receives a copy is impure") {
    REQUIRE(ovl.chmod("/d/f", 0600).ok());
    CHECK(at(upper, "/d").xattr(kImpureXattr) == "y");
    CHECK(at(upper, "/").xattr(kImpureXattr) == "y");
    CHECK_FALSE(at(upper, "/d/f").xattr(kImpureXattr));
  }

  SECTION("a lower file with several links gets no origin with index off") {
    REQUIRE(ovl.chmod("/h1", 0600).ok());
    CHECK_FALSE(at(upper, "/h1").xattr(kOriginXattr));
    CHECK(at(upper, "/h1").data == "linked");
  }
}

TEST_CASE("copy-up leaves the parent's times alone (CU-09)", "[copy_up]") {
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {
      LayerBuilder().file("/d/f", "x").times("/d", kLowerAtime, kLowerMtime),
      Layer()};
  Overlay ovl = mount_ok(std::move(stack));
  REQUIRE(ovl.chmod("/d/f", 0600).ok());
  Result<Stat> st = ovl.stat("/d");
  REQUIRE(st.ok());
  CHECK(st->layer == 0);
  CHECK(st->mtime == kLowerMtime);
  CHECK(st->atime == kLowerAtime);
}

TEST_CASE("metacopy=on copies metadata only until the first write (MD-09)",
          "[copy_up][metacopy]") {
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {
      LayerBuilder().file("/big", "big data\n").file("/other", "other"),
      Layer()};
  MountOptions opts;
  REQUIRE(apply_option(opts, "metacopy=on").ok());
  Overlay ovl = mount_ok(std::move(stack), opts);
  const Layer& upper = *ovl.upper();
  REQUIRE(ovl.chmod("/big", 0600).ok());

  SECTION("a metadata change makes a sparse upper file marked metacopy") {
    const Inode& up = at(upper, "/big");
    CHECK(up.mode == (S_IFREG | 0600));
    CHECK(up.xattr(testing::kMetacopyXattr) == "");
    CHECK(up.xattr(kOriginXattr));
    CHECK(up.data == std::string(9, '\0'));
    CHECK(ovl.stat("/big")->size == 9);
    CHECK(ovl.listxattr("/big")->empty());
  }

  SECTION("reads come from the lower data (RD-01)") {
    CHECK(content(ovl, "/big") == "big data\n");
  }

  SECTION(
      "the first open for writing copies the data and drops the "
      "marker") {
    Result<int> fd = ovl.open("/big", O_WRONLY | O_APPEND);
    REQUIRE(fd.ok());
    CHECK(at(upper, "/big").data == "big data\n");
    CHECK_FALSE(at(upper, "/big").xattr(testing::kMetacopyXattr));
    REQUIRE(ovl.write(*fd, "hi\n").ok());
    CHECK(content(ovl, "/big") == "big data\nhi\n");
  }

  SECTION("an open for reading does not copy the data") {
    Result<int> fd = ovl.open("/big", O_RDONLY);
    REQUIRE(fd.ok());
    CHECK(at(upper, "/big").xattr(testing::kMetacopyXattr));
  }

  SECTION("without metacopy the same change copies the data") {
    Stack again = std::move(ovl).unmount();
    again.upper = Layer();
    Overlay plain = mount_ok(std::move(again));
    REQUIRE(plain.chmod("/other", 0600).ok());
    CHECK(at(*plain.upper(), "/other").data == "other");
    CHECK_FALSE(at(*plain.upper(), "/other").xattr(testing::kMetacopyXattr));
  }
}

TEST_CASE("copying a metacopy file's data up sets its mtime (MD-09)",
          "[copy_up][metacopy]") {
  // Kernel 6.18 (tmpfs layers): under metacopy=on, chmod left the upper
  // file with the lower mtime; the first open for writing copied the data
  // and left the mtime at the time of that copy.
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder().file("/big", "big data\n"), Layer()};
  MountOptions opts;
  REQUIRE(apply_option(opts, "metacopy=on").ok());
  Overlay ovl = mount_ok(std::move(stack), opts);
  REQUIRE(ovl.chmod("/big", 0600).ok());
  Timespec lower_mtime = at(ovl.lower(0), "/big").mtime;
  CHECK(at(*ovl.upper(), "/big").mtime == lower_mtime);

  Result<int> fd = ovl.open("/big", O_WRONLY);
  REQUIRE(fd.ok());
  CHECK(at(*ovl.upper(), "/big").mtime != lower_mtime);
  CHECK(ovl.stat("/big")->mtime == at(*ovl.upper(), "/big").mtime);
}

TEST_CASE("copy-up needs an upper layer", "[copy_up]") {
  Stack stack = lower_objects();
  stack.upper.reset();
  Overlay ovl = mount_ok(std::move(stack));
  CHECK(ovl.open("/f", O_WRONLY).err() == EROFS);
  CHECK(ovl.chmod("/f", 0600).err() == EROFS);
}

TEST_CASE("files opened through a name follow the copy that breaks its link",
          "[copy_up][links]") {
  // Kernel 6.18 (tmpfs layers, index off): after a write through /h1, a
  // file opened on /h1 before it read the new data, one opened on /h2 the
  // old data (HL-02, RD-03).
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder().file("/h1", "old").hardlink("/h2", "/h1")};
  Overlay ovl = mount_ok(std::move(stack));
  Result<int> f1 = ovl.open("/h1", O_RDONLY);
  Result<int> f2 = ovl.open("/h2", O_RDONLY);
  Result<int> w = ovl.open("/h1", O_WRONLY | O_TRUNC);
  REQUIRE((f1.ok() && f2.ok() && w.ok()));
  REQUIRE(ovl.write(*w, "new").ok());
  CHECK(*ovl.read(*f1, 9) == "new");
  CHECK(*ovl.read(*f2, 9) == "old");
}

MountOptions index_on() {
  MountOptions opts;
  REQUIRE(apply_option(opts, "index=on").ok());
  return opts;
}

constexpr const char* kNlinkXattr = "trusted.overlay.nlink";

TEST_CASE("index=on keeps lower hard links together (HL-03, HL-04)",
          "[copy_up][links][index]") {
  // Kernel 6.18 (tmpfs layers): the sequence of the spec's HL-04 table.
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder()
                      .file("/h1", "old")
                      .hardlink("/h2", "/h1")
                      .hardlink("/h3", "/h1")};
  Overlay ovl = mount_ok(std::move(stack), index_on());
  Result<int> w = ovl.open("/h1", O_WRONLY | O_TRUNC);
  REQUIRE(w.ok());
  REQUIRE(ovl.write(*w, "new").ok());

  // The copy is in the index too: two upper links, three overlay names.
  const Inode& copy = at(*ovl.upper(), "/h1");
  CHECK(copy.nlink == 2);
  CHECK(copy.xattrs.at(kNlinkXattr) == "U+1");
  CHECK(content(ovl, "/h2") == "new");
  CHECK(ovl.stat("/h2")->ino == ovl.stat("/h1")->ino);
  CHECK(ovl.stat("/h2")->nlink == 3);
  CHECK(!has(*ovl.upper(), "/h2"));

  // Unlinking a lower name links it up first, then whites it out.
  REQUIRE(ovl.unlink("/h2").ok());
  CHECK(at(*ovl.upper(), "/h1").xattrs.at(kNlinkXattr) == "U+0");
  CHECK(ovl.stat("/h1")->nlink == 2);

  // A link from the lower /h3 links /h3 up and adds a name.
  REQUIRE(ovl.link("/h3", "/h4").ok());
  CHECK(at(*ovl.upper(), "/h1").nlink == 4);
  CHECK(at(*ovl.upper(), "/h1").xattrs.at(kNlinkXattr) == "U-1");
  CHECK(ovl.stat("/h4")->nlink == 3);
}

TEST_CASE("xattr calls change an indexed copy without linking it up (HL-03)",
          "[copy_up][links][index][xattr]") {
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder().file("/a", "data").hardlink("/b", "/a")};
  Overlay ovl = mount_ok(std::move(stack), index_on());
  REQUIRE(ovl.truncate("/a", 2).ok());
  REQUIRE(ovl.setxattr("/b", "user.k", "v", 0, Follow::kNo).ok());
  CHECK(!has(*ovl.upper(), "/b"));
  CHECK(*ovl.getxattr("/a", "user.k", Follow::kNo) == "v");
  REQUIRE(ovl.truncate("/b", 1).ok());
  CHECK(has(*ovl.upper(), "/b"));
  CHECK(at(*ovl.upper(), "/b").ino == at(*ovl.upper(), "/a").ino);
}

// Known differences (doc/known-differences.md): the model's answer is
// asserted so that a change to it is noticed; the comment says what 6.18
// does instead.

TEST_CASE(
    "a copy without origin keeps its lower identity under its name "
    "(INO-03, MD-02)",
    "[copy_up][links]") {
  // user.* xattrs cannot be set on a fifo, so under userxattr its copy has
  // no origin. The overlay inode of /b, cached, keeps the lower number; a
  // hard link made to it is looked up afresh and reports the copy's own.
  MountOptions opts;
  REQUIRE(apply_option(opts, "userxattr").ok());
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder().node("/b", S_IFIFO | 0644, 0).dir("/d")};
  Overlay ovl = mount_ok(std::move(stack), opts);
  InodeNumber lower = ovl.lstat("/b")->ino;
  REQUIRE(ovl.link("/b", "/e").ok());
  CHECK(!at(*ovl.upper(), "/b").xattrs.contains("user.overlay.origin"));
  CHECK(ovl.lstat("/b")->ino == lower);
  CHECK(ovl.lstat("/e")->ino != lower);

  SECTION("the identity moves with a rename, and makes the parent impure") {
    REQUIRE(ovl.rename("/b", "/d/b", 0).ok());
    CHECK(ovl.lstat("/d/b")->ino == lower);
    CHECK(at(*ovl.upper(), "/d").xattrs.count("user.overlay.impure") == 1);
  }
  SECTION("a name that goes takes the identity with it") {
    REQUIRE(ovl.unlink("/b").ok());
    REQUIRE(ovl.rename("/e", "/b", 0).ok());
    CHECK(ovl.lstat("/b")->ino != lower);
  }
  SECTION("a lower hard link keeps nothing: its copy is its own") {
    Stack linked;
    linked.upper = Layer();
    linked.lowers = {
        LayerBuilder().node("/p", S_IFIFO | 0644, 0).hardlink("/q", "/p")};
    Overlay ovl2 = mount_ok(std::move(linked), opts);
    InodeNumber before = ovl2.lstat("/p")->ino;
    REQUIRE(ovl2.chmod("/p", 0600).ok());
    CHECK(ovl2.lstat("/p")->ino != before);
  }
}

}  // namespace
}  // namespace ovlsim::model
