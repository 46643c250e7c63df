#include "model/overlay.h"

#include <cstdio>

#include <catch2/catch.hpp>

#include "tests/model/stack_builder.h"

namespace ovlsim::model {
namespace {

using testing::at;
using testing::content;
using testing::has;
using testing::kImpureXattr;
using testing::kOpaqueXattr;
using testing::kOriginXattr;
using testing::LayerBuilder;
using testing::mount_ok;
using testing::name_set;
using testing::paths;

using Names = std::vector<std::string>;

Cred user(uid_t uid = 1000, gid_t gid = 1000) {
  Cred cred;
  cred.uid = uid;
  cred.gid = gid;
  return cred;
}

bool is_kernel_whiteout(const Layer& layer, std::string_view path) {
  std::optional<InodeNumber> ino = layer.find(path);
  if (!ino)
    return false;
  const Inode& node = layer.inode(*ino);
  return S_ISCHR(node.mode) && node.rdev == makedev(0, 0);
}

// The stack most tests start from: an empty upper over two lower layers.
Stack basic_stack() {
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder()
                      .file("/f", "lower f")
                      .file("/d/a", "a")
                      .file("/d/b", "b")
                      .symlink("/abs", "/d/a")
                      .symlink("/rel", "d/a")
                      .symlink("/dangling", "/nowhere")
                      .symlink("/loop1", "loop2")
                      .symlink("/loop2", "loop1")
                      .symlink("/dirlink", "d")
                      .file("/root_only", "secret", 0600)
                      .file("/readable", "public", 0644)
                      .dir("/closed", 0700)
                      .file("/closed/inside")
                      .dir("/open", 0777),
                  LayerBuilder().file("/d/c", "c").file("/empty_dir/x")};
  return stack;
}

TEST_CASE("paths resolve as in a process rooted at the merged directory",
          "[overlay][path]") {
  Overlay ovl = mount_ok(basic_stack());

  SECTION("relative and absolute paths name the same object") {
    CHECK(ovl.stat("d/a")->ino == ovl.stat("/d/a")->ino);
    CHECK(ovl.stat("//d///a")->ino == ovl.stat("/d/a")->ino);
    CHECK(ovl.stat("/d/./a")->ino == ovl.stat("/d/a")->ino);
  }

  SECTION(".. goes up, and stays at the root") {
    CHECK(ovl.stat("/d/../f")->ino == ovl.stat("/f")->ino);
    CHECK(ovl.stat("/../../f")->ino == ovl.stat("/f")->ino);
    CHECK(ovl.stat("..")->ino == ovl.stat("/")->ino);
  }

  SECTION("symlinks are followed, absolute ones from the overlay root") {
    CHECK(content(ovl, "/abs") == "a");
    CHECK(content(ovl, "/rel") == "a");
    CHECK(content(ovl, "/dirlink/b") == "b");
    CHECK(ovl.stat("/abs")->ino == ovl.stat("/d/a")->ino);
    CHECK(S_ISLNK(ovl.lstat("/abs")->mode));
  }

  SECTION("a dangling symlink: stat ENOENT, lstat succeeds") {
    CHECK(ovl.stat("/dangling").err() == ENOENT);
    CHECK(ovl.lstat("/dangling").ok());
  }

  SECTION("a symlink loop fails with ELOOP") {
    CHECK(ovl.stat("/loop1").err() == ELOOP);
    CHECK(ovl.lstat("/loop1").ok());
  }

  SECTION("a trailing slash follows a symlink and needs a directory") {
    CHECK(S_ISDIR(ovl.lstat("/dirlink/")->mode));
    CHECK(ovl.stat("/f/").err() == ENOTDIR);
    CHECK(ovl.lstat("/rel/").err() == ENOTDIR);
  }

  SECTION("path errors") {
    CHECK(ovl.stat("").err() == ENOENT);
    CHECK(ovl.stat("/missing/x").err() == ENOENT);
    CHECK(ovl.stat("/f/x").err() == ENOTDIR);
    CHECK(ovl.stat("/" + std::string(4096, 'a')).err() == ENAMETOOLONG);
  }

  SECTION("search permission is needed on every parent (EACCES)") {
    ovl.set_cred(user());
    CHECK(ovl.stat("/closed").ok());
    CHECK(ovl.stat("/closed/inside").err() == EACCES);
  }
}

TEST_CASE("reads through the overlay (RD-01, RD-03, RD-05)",
          "[overlay][read]") {
  Stack stack = basic_stack();
  Overlay ovl = mount_ok(std::move(stack));

  SECTION("an fd opened before copy-up reads the new data (RD-03)") {
    Result<int> fd1 = ovl.open("/f", O_RDONLY);
    REQUIRE(fd1.ok());
    Result<int> fd2 = ovl.open("/f", O_WRONLY | O_TRUNC);
    REQUIRE(fd2.ok());
    REQUIRE(*ovl.write(*fd2, "new data") == 8u);
    CHECK(*ovl.pread(*fd1, 100, 0) == "new data");
    Result<Stat> via_fd = ovl.fstat(*fd1);
    Result<Stat> via_path = ovl.stat("/f");
    REQUIRE(via_fd.ok());
    REQUIRE(via_path.ok());
    CHECK(via_fd->ino == via_path->ino);
    CHECK(via_fd->size == 8);
    CHECK(via_fd->layer == 0);
    CHECK(ovl.close(*fd1).ok());
    CHECK(ovl.close(*fd2).ok());
  }

  SECTION("reading a lower file leaves its atime alone (RD-05)") {
    Timespec before = ovl.stat("/f")->atime;
    CHECK(content(ovl, "/f") == "lower f");
    CHECK(ovl.stat("/f")->atime == before);
  }

  SECTION("read advances the position; pread does not") {
    Result<int> fd = ovl.open("/f", O_RDONLY);
    REQUIRE(fd.ok());
    CHECK(*ovl.read(*fd, 5) == "lower");
    CHECK(*ovl.pread(*fd, 3, 0) == "low");
    CHECK(*ovl.read(*fd, 100) == " f");
    CHECK(*ovl.read(*fd, 100) == "");
    CHECK(ovl.pread(*fd, 1, -1).err() == EINVAL);
  }

  SECTION("size and times come from the real object (MD-08)") {
    Result<Stat> st = ovl.stat("/f");
    REQUIRE(st.ok());
    CHECK(st->size == 7);
    CHECK(st->layer == 1);
    CHECK(ovl.lstat("/abs")->size == 4);
  }
}

TEST_CASE("open, read, write and close", "[overlay][open]") {
  Overlay ovl = mount_ok(basic_stack());

  SECTION("O_CREAT creates in upper with the mode less the umask") {
    Result<int> fd = ovl.open("/new", O_CREAT | O_WRONLY, 0666);
    REQUIRE(fd.ok());
    REQUIRE(*ovl.write(*fd, "hello") == 5u);
    REQUIRE(ovl.close(*fd).ok());
    CHECK(at(*ovl.upper(), "/new").mode == (S_IFREG | 0644));
    CHECK(content(ovl, "/new") == "hello");
  }

  SECTION("writes and truncates land in the upper copy only") {
    Result<int> fd = ovl.open("/d/a", O_RDWR);
    REQUIRE(fd.ok());
    REQUIRE(*ovl.pwrite(*fd, "XY", 3) == 2u);
    CHECK(at(*ovl.upper(), "/d/a").data == std::string("a\0\0XY", 5));
    REQUIRE(ovl.ftruncate(*fd, 1).ok());
    CHECK(content(ovl, "/d/a") == "a");
    CHECK(at(ovl.lower(0), "/d/a").data == "a");
  }

  SECTION("O_APPEND writes at the end") {
    Result<int> fd = ovl.open("/f", O_WRONLY | O_APPEND);
    REQUIRE(fd.ok());
    REQUIRE(ovl.write(*fd, "!").ok());
    CHECK(content(ovl, "/f") == "lower f!");
  }

  SECTION("creat truncates") {
    Result<int> fd = ovl.creat("/f", 0600);
    REQUIRE(fd.ok());
    CHECK(content(ovl, "/f").empty());
    CHECK((ovl.stat("/f")->mode & 07777) == 0644);
  }

  SECTION("open errors") {
    CHECK(ovl.open("/f", O_CREAT | O_EXCL | O_WRONLY).err() == EEXIST);
    CHECK(ovl.open("/d/c", O_CREAT | O_EXCL | O_WRONLY).err() == EEXIST);
    CHECK(ovl.open("/abs", O_CREAT | O_EXCL | O_WRONLY).err() == EEXIST);
    CHECK(ovl.open("/missing", O_RDONLY).err() == ENOENT);
    CHECK(ovl.open("/missing/x", O_CREAT | O_WRONLY).err() == ENOENT);
    CHECK(ovl.open("/f", O_RDONLY | O_DIRECTORY).err() == ENOTDIR);
    CHECK(ovl.open("/d", O_WRONLY).err() == EISDIR);
    CHECK(ovl.open("/d", O_RDONLY | O_CREAT).err() == EISDIR);
    CHECK(ovl.open("/newdir/", O_CREAT | O_WRONLY).err() == EISDIR);
    CHECK(ovl.open("/abs", O_RDONLY | O_NOFOLLOW).err() == ELOOP);
    CHECK(paths(*ovl.upper()) == Names{"/"});
  }

  SECTION("descriptor errors") {
    Result<int> ro = ovl.open("/f", O_RDONLY);
    Result<int> wo = ovl.open("/d/a", O_WRONLY);
    Result<int> dir = ovl.open("/d", O_RDONLY | O_DIRECTORY);
    REQUIRE(ro.ok());
    REQUIRE(wo.ok());
    REQUIRE(dir.ok());
    CHECK(ovl.write(*ro, "x").err() == EBADF);
    CHECK(ovl.read(*wo, 1).err() == EBADF);
    CHECK(ovl.read(*dir, 1).err() == EISDIR);
    CHECK(ovl.ftruncate(*ro, 0).err() == EINVAL);
    CHECK(ovl.pwrite(*wo, "x", -1).err() == EINVAL);
    CHECK(ovl.close(99).err() == EBADF);
    CHECK(ovl.fstat(99).err() == EBADF);
    REQUIRE(ovl.close(*ro).ok());
    CHECK(ovl.close(*ro).err() == EBADF);
    CHECK(ovl.read(*ro, 1).err() == EBADF);
  }

  SECTION("an unlinked file stays readable through an open fd") {
    Result<int> fd = ovl.open("/new", O_CREAT | O_RDWR, 0644);
    REQUIRE(fd.ok());
    REQUIRE(ovl.write(*fd, "kept").ok());
    REQUIRE(ovl.unlink("/new").ok());
    CHECK(ovl.stat("/new").err() == ENOENT);
    CHECK(*ovl.pread(*fd, 10, 0) == "kept");
    CHECK(ovl.close(*fd).ok());
  }
}

TEST_CASE("truncate", "[overlay]") {
  Overlay ovl = mount_ok(basic_stack());
  REQUIRE(ovl.truncate("/f", 3).ok());
  CHECK(content(ovl, "/f") == "low");
  REQUIRE(ovl.truncate("/f", 5).ok());
  CHECK(content(ovl, "/f") == std::string("low\0\0", 5));
  CHECK(ovl.truncate("/d", 0).err() == EISDIR);
  CHECK(ovl.truncate("/f", -1).err() == EINVAL);
  CHECK(ovl.truncate("/missing", 0).err() == ENOENT);
}

TEST_CASE("new objects go to the upper layer (CR-01)", "[overlay][create]") {
  Stack stack = basic_stack();
  stack.lowers[0] =
      LayerBuilder().dir("/sg", 02777).owner("/sg", 0, 50).dir("/world", 0777);
  Overlay ovl = mount_ok(std::move(stack));

  SECTION("owned by the caller, with the parent chain copied up") {
    ovl.set_cred(user());
    Result<int> fd = ovl.open("/world/mine", O_CREAT | O_WRONLY, 0644);
    REQUIRE(fd.ok());
    const Inode& node = at(*ovl.upper(), "/world/mine");
    CHECK(node.uid == 1000);
    CHECK(node.gid == 1000);
    CHECK(at(*ovl.upper(), "/world").xattr(kOriginXattr));
  }

  SECTION("an sgid parent passes on its group, and its bit to directories") {
    Cred cred = user();
    cred.umask = 027;
    ovl.set_cred(cred);
    REQUIRE(ovl.open("/sg/f", O_CREAT | O_WRONLY, 0666).ok());
    REQUIRE(ovl.mkdir("/sg/d", 0777).ok());
    CHECK(ovl.stat("/sg/f")->gid == 50);
    CHECK((ovl.stat("/sg/f")->mode & 07777) == 0640);
    CHECK(ovl.stat("/sg/d")->gid == 50);
    CHECK((ovl.stat("/sg/d")->mode & 07777) == 02750);
  }

  SECTION("mkdir, mknod and symlink create the right objects") {
    REQUIRE(ovl.mkdir("/world/dir", 0750).ok());
    REQUIRE(ovl.mknod("/world/fifo", S_IFIFO | 0600, 0).ok());
    REQUIRE(ovl.mknod("/world/plain", 0600, 0).ok());
    REQUIRE(ovl.symlink("target", "/world/sym").ok());
    CHECK(at(*ovl.upper(), "/world/dir").mode == (S_IFDIR | 0750));
    CHECK(at(*ovl.upper(), "/world/fifo").mode == (S_IFIFO | 0600));
    CHECK(at(*ovl.upper(), "/world/plain").mode == (S_IFREG | 0600));
    CHECK(*ovl.readlink("/world/sym") == "target");
    CHECK(name_set(ovl, "/world") == Names{"dir", "fifo", "plain", "sym"});
  }

  SECTION("creation errors") {
    CHECK(ovl.mknod("/world/d", S_IFDIR | 0755, 0).err() == EPERM);
    CHECK(ovl.mknod("/world/bad", 0170000 | 0644, 0).err() == EINVAL);
    CHECK(ovl.symlink("", "/world/empty").err() == ENOENT);
    ovl.set_cred(user());
    CHECK(ovl.mknod("/world/chr", S_IFCHR | 0600, makedev(1, 3)).err() ==
          EPERM);
    CHECK(ovl.mkdir("/sg_no/x", 0755).err() == ENOENT);
    REQUIRE(ovl.chmod("/world", 0755).err() == EPERM);
  }

  SECTION("without write permission on the parent, EACCES") {
    ovl.set_cred(user());
    CHECK(ovl.mkdir("/newdir", 0755).err() == EACCES);
    CHECK(ovl.mkdir("/d", 0755).err() == EEXIST);
    CHECK(ovl.open("/nope", O_CREAT | O_WRONLY).err() == EACCES);
    CHECK(ovl.symlink("x", "/nope").err() == EACCES);
  }
}

TEST_CASE("creating over a whiteout (CR-02)", "[overlay][create][whiteout]") {
  Overlay ovl = mount_ok(basic_stack());
  REQUIRE(ovl.unlink("/f").ok());
  REQUIRE(ovl.unlink("/d/a").ok());
  REQUIRE(ovl.unlink("/d/b").ok());
  REQUIRE(ovl.unlink("/d/c").ok());
  REQUIRE(ovl.rmdir("/d").ok());
  REQUIRE(is_kernel_whiteout(*ovl.upper(), "/f"));
  REQUIRE(is_kernel_whiteout(*ovl.upper(), "/d"));

  SECTION("a file replaces the whiteout") {
    Result<int> fd = ovl.open("/f", O_CREAT | O_EXCL | O_WRONLY, 0644);
    REQUIRE(fd.ok());
    CHECK(at(*ovl.upper(), "/f").is_reg());
    CHECK(content(ovl, "/f").empty());
  }

  SECTION("a directory replaces the whiteout and is opaque") {
    REQUIRE(ovl.mkdir("/d", 0755).ok());
    CHECK(at(*ovl.upper(), "/d").xattr(kOpaqueXattr) == "y");
    CHECK(name_set(ovl, "/d").empty());
  }

  SECTION("mknod, symlink and link replace it too") {
    REQUIRE(ovl.symlink("x", "/f").ok());
    CHECK(at(*ovl.upper(), "/f").is_symlink());
    REQUIRE(ovl.mknod("/d", S_IFIFO | 0644, 0).ok());
    CHECK(S_ISFIFO(at(*ovl.upper(), "/d").mode));
    REQUIRE(ovl.unlink("/d").ok());
    REQUIRE(ovl.link("/readable", "/d").ok());
    CHECK(content(ovl, "/d") == "public");
  }

  SECTION("creating inside a whited-out directory fails with ENOENT") {
    CHECK(ovl.open("/d/new", O_CREAT | O_WRONLY).err() == ENOENT);
    CHECK(ovl.mkdir("/d/new", 0755).err() == ENOENT);
  }
}

TEST_CASE("creating a visible name fails with EEXIST (CR-03)",
          "[overlay][create]") {
  Overlay ovl = mount_ok(basic_stack());
  for (const char* name : {"/f", "/d", "/d/c", "/dangling", "/empty_dir"}) {
    CAPTURE(name);
    CHECK(ovl.open(name, O_CREAT | O_EXCL | O_WRONLY).err() == EEXIST);
    CHECK(ovl.mkdir(name, 0755).err() == EEXIST);
    CHECK(ovl.mknod(name, S_IFIFO | 0644, 0).err() == EEXIST);
    CHECK(ovl.symlink("x", name).err() == EEXIST);
    CHECK(ovl.link("/readable", name).err() == EEXIST);
    CHECK(ovl.rename("/readable", name, RENAME_NOREPLACE).err() == EEXIST);
  }
  CHECK(ovl.mkdir("/", 0755).err() == EEXIST);
  CHECK(ovl.mkdir("/d/..", 0755).err() == EEXIST);
  CHECK(paths(*ovl.upper()) == Names{"/"});
}

TEST_CASE("symlink copies up only the parent chain (CR-04)",
          "[overlay][create]") {
  Overlay ovl = mount_ok(basic_stack());
  REQUIRE(ovl.symlink("/f", "/d/link").ok());
  CHECK(paths(*ovl.upper()) == Names{"/", "/d", "/d/link"});
  CHECK(content(ovl, "/d/link") == "lower f");
}

TEST_CASE("link copies the source up and links in upper (CR-05)",
          "[overlay][create]") {
  Overlay ovl = mount_ok(basic_stack());
  REQUIRE(ovl.link("/d/a", "/open/a2").ok());
  const Layer& upper = *ovl.upper();

  SECTION("both names are one upper inode with two links") {
    CHECK(upper.find("/d/a") == upper.find("/open/a2"));
    CHECK(at(upper, "/d/a").nlink == 2);
    CHECK(ovl.stat("/open/a2")->nlink == 2);
    CHECK(ovl.stat("/d/a")->ino == ovl.stat("/open/a2")->ino);
  }

  SECTION("the new name's parent is impure, since the source has origin") {
    CHECK(at(upper, "/d/a").xattr(kOriginXattr));
    CHECK(at(upper, "/open").xattr(kImpureXattr) == "y");
  }

  SECTION("a write through one name shows through the other") {
    Result<int> fd = ovl.open("/open/a2", O_WRONLY | O_TRUNC);
    REQUIRE(fd.ok());
    REQUIRE(ovl.write(*fd, "shared").ok());
    CHECK(content(ovl, "/d/a") == "shared");
  }

  SECTION("link errors") {
    CHECK(ovl.link("/d", "/d2").err() == EPERM);
    CHECK(ovl.link("/missing", "/x").err() == ENOENT);
    CHECK(ovl.link("/f", "/missing/x").err() == ENOENT);
  }
}

TEST_CASE("unlink leaves a whiteout only when lower has the name (RM-01)",
          "[overlay][remove]") {
  Overlay ovl = mount_ok(basic_stack());
  const Layer& upper = *ovl.upper();

  SECTION("a lower file becomes a whiteout") {
    REQUIRE(ovl.unlink("/d/a").ok());
    CHECK(is_kernel_whiteout(upper, "/d/a"));
    CHECK(ovl.stat("/d/a").err() == ENOENT);
    CHECK(name_set(ovl, "/d") == Names{"b", "c"});
  }

  SECTION("a copied-up file becomes a whiteout") {
    REQUIRE(ovl.chmod("/f", 0600).ok());
    REQUIRE(ovl.unlink("/f").ok());
    CHECK(is_kernel_whiteout(upper, "/f"));
  }

  SECTION("a pure upper file just goes") {
    REQUIRE(ovl.open("/d/new", O_CREAT | O_WRONLY).ok());
    REQUIRE(ovl.unlink("/d/new").ok());
    CHECK_FALSE(has(upper, "/d/new"));
    CHECK(has(upper, "/d"));
  }

  SECTION("a symlink is removed, not its target") {
    REQUIRE(ovl.unlink("/abs").ok());
    CHECK(content(ovl, "/d/a") == "a");
    CHECK(ovl.lstat("/abs").err() == ENOENT);
  }

  SECTION("the name stays gone and can be created again") {
    REQUIRE(ovl.unlink("/f").ok());
    CHECK(ovl.unlink("/f").err() == ENOENT);
    CHECK(ovl.open("/f", O_RDONLY).err() == ENOENT);
    REQUIRE(ovl.mkdir("/f", 0700).ok());
    CHECK(S_ISDIR(ovl.stat("/f")->mode));
  }
}

TEST_CASE("rmdir of merged and lower directories (RM-02, RM-03)",
          "[overlay][remove]") {
  Overlay ovl = mount_ok(basic_stack());
  const Layer& upper = *ovl.upper();

  SECTION("a merged directory with visible entries fails with ENOTEMPTY") {
    CHECK(ovl.rmdir("/d").err() == ENOTEMPTY);
    REQUIRE(ovl.unlink("/d/a").ok());
    REQUIRE(ovl.unlink("/d/b").ok());
    CHECK(ovl.rmdir("/d").err() == ENOTEMPTY);
  }

  SECTION("one holding only whiteouts is removed and becomes a whiteout") {
    for (const char* name : {"/d/a", "/d/b", "/d/c"})
      REQUIRE(ovl.unlink(name).ok());
    REQUIRE(ovl.rmdir("/d").ok());
    CHECK(is_kernel_whiteout(upper, "/d"));
    CHECK(paths(upper) == Names{"/", "/d"});
    CHECK(ovl.stat("/d").err() == ENOENT);
  }

  SECTION("an empty lower directory is removed") {
    REQUIRE(ovl.unlink("/empty_dir/x").ok());
    REQUIRE(ovl.rmdir("/empty_dir").ok());
    CHECK(is_kernel_whiteout(upper, "/empty_dir"));
  }

  SECTION("a directory made over a whiteout turns back into one") {
    REQUIRE(ovl.unlink("/empty_dir/x").ok());
    REQUIRE(ovl.rmdir("/empty_dir").ok());
    REQUIRE(ovl.mkdir("/empty_dir", 0755).ok());
    REQUIRE(ovl.rmdir("/empty_dir").ok());
    CHECK(is_kernel_whiteout(upper, "/empty_dir"));
  }

  SECTION("an upper directory created in place of nothing just goes") {
    REQUIRE(ovl.mkdir("/d/sub", 0755).ok());
    REQUIRE(ovl.rmdir("/d/sub").ok());
    CHECK_FALSE(has(upper, "/d/sub"));
  }
}

TEST_CASE("rmdir of pure upper directories (RM-05)", "[overlay][remove]") {
  Overlay ovl = mount_ok(basic_stack());
  REQUIRE(ovl.mkdir("/pure", 0755).ok());
  REQUIRE(ovl.mkdir("/pure/sub", 0755).ok());
  CHECK(ovl.rmdir("/pure").err() == ENOTEMPTY);
  REQUIRE(ovl.rmdir("/pure/sub").ok());
  REQUIRE(ovl.rmdir("/pure").ok());
  CHECK_FALSE(has(*ovl.upper(), "/pure"));
}

TEST_CASE("remove type errors (RM-06)", "[overlay][remove]") {
  Overlay ovl = mount_ok(basic_stack());
  CHECK(ovl.unlink("/d").err() == EISDIR);
  CHECK(ovl.unlink("/dirlink/").err() == EISDIR);
  CHECK(ovl.unlink("/").err() == EISDIR);
  CHECK(ovl.rmdir("/f").err() == ENOTDIR);
  CHECK(ovl.rmdir("/dirlink").err() == ENOTDIR);
  CHECK(ovl.rmdir("/").err() == EBUSY);
  CHECK(ovl.rmdir("/d/.").err() == EINVAL);
  CHECK(ovl.rmdir("/d/..").err() == ENOTEMPTY);
  CHECK(ovl.unlink("/missing").err() == ENOENT);
  CHECK(ovl.rmdir("/missing").err() == ENOENT);
  CHECK(ovl.unlink("/f/").err() == ENOTDIR);
  REQUIRE(ovl.unlink("/f").ok());
  CHECK(ovl.unlink("/f").err() == ENOENT);
  CHECK(paths(*ovl.upper()) == Names{"/", "/f"});
}

TEST_CASE("setattr copies up and works on every type (MD-01)",
          "[overlay][setattr]") {
  Stack stack = basic_stack();
  stack.lowers[1] = LayerBuilder()
                        .node("/chr", S_IFCHR | 0644, makedev(1, 3))
                        .node("/fifo", S_IFIFO | 0644, 0)
                        .file("/suid", "x", 06755);
  Overlay ovl = mount_ok(std::move(stack));
  const Layer& upper = *ovl.upper();

  SECTION("chmod follows symlinks") {
    REQUIRE(ovl.chmod("/rel", 0600).ok());
    CHECK((at(upper, "/d/a").mode & 07777) == 0600);
    CHECK_FALSE(has(upper, "/rel"));
  }

  SECTION("chown and utimens on a symlink itself, without following") {
    REQUIRE(ovl.chown("/rel", 5, 6, Follow::kNo).ok());
    REQUIRE(ovl.utimens("/abs", {1, 2}, {3, 4}, Follow::kNo).ok());
    CHECK(at(upper, "/rel").uid == 5);
    CHECK(at(upper, "/abs").mtime == Timespec{3, 4});
    CHECK(at(upper, "/abs").atime == Timespec{1, 2});
    CHECK_FALSE(has(upper, "/d/a"));
  }

  SECTION("device nodes and fifos") {
    REQUIRE(ovl.chmod("/chr", 0600).ok());
    REQUIRE(ovl.chown("/fifo", 7, 7).ok());
    CHECK(at(upper, "/chr").mode == (S_IFCHR | 0600));
    CHECK(at(upper, "/chr").rdev == makedev(1, 3));
    CHECK(at(upper, "/fifo").uid == 7);
  }

  SECTION("utimens: UTIME_OMIT keeps a time, UTIME_NOW sets it") {
    Timespec atime = ovl.stat("/f")->atime;
    REQUIRE(ovl.utimens("/f", {0, UTIME_OMIT}, {0, UTIME_NOW}).ok());
    CHECK(ovl.stat("/f")->atime == atime);
    CHECK(ovl.stat("/f")->mtime > atime);
  }

  SECTION("chown drops suid and sgid, even for root") {
    REQUIRE(ovl.chown("/suid", 5, 6).ok());
    CHECK((ovl.stat("/suid")->mode & 07777) == 0755);
    CHECK(ovl.stat("/suid")->uid == 5);
  }

  SECTION("chmod changes only the permission bits") {
    REQUIRE(ovl.chmod("/d", 01750).ok());
    CHECK(ovl.stat("/d")->mode == (S_IFDIR | 01750));
  }

  SECTION("a non-owner may not chmod, chown or set explicit times") {
    ovl.set_cred(user());
    CHECK(ovl.chmod("/f", 0777).err() == EPERM);
    CHECK(ovl.chown("/f", 1000, 1000).err() == EPERM);
    CHECK(ovl.utimens("/f", {1, 0}, {1, 0}).err() == EPERM);
    CHECK(ovl.utimens("/f", {0, UTIME_NOW}, {0, UTIME_NOW}).err() == EACCES);
    CHECK(paths(upper) == Names{"/"});
  }
}

TEST_CASE(
    "permissions give the same answers before and after copy-up "
    "(MD-06)",
    "[overlay][permission]") {
  Overlay ovl = mount_ok(basic_stack());
  ovl.set_cred(user());

  SECTION("a user cannot write a root-owned 0644 lower file") {
    CHECK(ovl.open("/readable", O_WRONLY).err() == EACCES);
    CHECK(ovl.truncate("/readable", 0).err() == EACCES);
    CHECK(content(ovl, "/readable") == "public");
  }

  SECTION("nor read a 0600 one") {
    CHECK(ovl.open("/root_only", O_RDONLY).err() == EACCES);
  }

  SECTION("the same after root copied them up") {
    ovl.set_cred(Cred());
    REQUIRE(ovl.chmod("/readable", 0644).ok());
    REQUIRE(ovl.chmod("/root_only", 0600).ok());
    ovl.set_cred(user());
    CHECK(ovl.open("/readable", O_WRONLY).err() == EACCES);
    CHECK(ovl.open("/root_only", O_RDONLY).err() == EACCES);
  }

  SECTION("unlink needs write permission on the parent") {
    CHECK(ovl.unlink("/f").err() == EACCES);
    CHECK(ovl.rmdir("/empty_dir").err() == EACCES);
  }
}

TEST_CASE("the errno table (§13)", "[overlay][errno]") {
  Overlay ovl = mount_ok(basic_stack());

  SECTION("EROFS: every write on an overlay without upper") {
    Stack ro = std::move(ovl).unmount();
    ro.upper.reset();
    Overlay r = mount_ok(std::move(ro));
    CHECK(r.open("/new", O_CREAT | O_WRONLY).err() == EROFS);
    CHECK(r.open("/f", O_WRONLY).err() == EROFS);
    CHECK(r.open("/f", O_RDONLY | O_TRUNC).err() == EROFS);
    CHECK(r.chmod("/f", 0600).err() == EROFS);
    CHECK(r.chown("/f", 1, 1).err() == EROFS);
    CHECK(r.unlink("/f").err() == EROFS);
    CHECK(r.rmdir("/empty_dir").err() == EROFS);
    CHECK(r.mkdir("/newdir", 0755).err() == EROFS);
    CHECK(r.mknod("/fifo", S_IFIFO | 0644, 0).err() == EROFS);
    CHECK(r.symlink("x", "/sym").err() == EROFS);
    CHECK(r.link("/f", "/f2").err() == EROFS);
    CHECK(r.rename("/f", "/g").err() == EROFS);
    CHECK(r.setxattr("/f", "user.a", "1").err() == EROFS);
    CHECK(r.utimens("/f", {1, 0}, {1, 0}).err() == EROFS);
    CHECK(r.truncate("/f", 0).err() == EROFS);
    CHECK(content(r, "/f") == "lower f");
  }

  SECTION(
      "ENOENT: a whited-out name, and creating inside a whited-out "
      "directory") {
    REQUIRE(ovl.unlink("/f").ok());
    REQUIRE(ovl.unlink("/empty_dir/x").ok());
    REQUIRE(ovl.rmdir("/empty_dir").ok());
    CHECK(ovl.stat("/f").err() == ENOENT);
    CHECK(ovl.open("/f", O_RDONLY).err() == ENOENT);
    CHECK(ovl.rename("/f", "/g").err() == ENOENT);
    CHECK(ovl.unlink("/f").err() == ENOENT);
    CHECK(ovl.open("/empty_dir/x", O_CREAT | O_WRONLY).err() == ENOENT);
  }

  SECTION("EEXIST: creating onto a name visible from a lower layer") {
    CHECK(ovl.mkdir("/d/c", 0755).err() == EEXIST);
    CHECK(ovl.rename("/f", "/d/c", RENAME_NOREPLACE).err() == EEXIST);
  }

  SECTION("ENOTDIR: a walk through a file, rmdir of a file, O_DIRECTORY") {
    CHECK(ovl.stat("/f/x").err() == ENOTDIR);
    CHECK(ovl.rmdir("/f").err() == ENOTDIR);
    CHECK(ovl.open("/f", O_RDONLY | O_DIRECTORY).err() == ENOTDIR);
  }

  SECTION("EISDIR: unlink of a directory, a file renamed over one") {
    CHECK(ovl.unlink("/d").err() == EISDIR);
    CHECK(ovl.rename("/f", "/empty_dir").err() == EISDIR);
  }

  SECTION(
      "ENOTEMPTY: rmdir or rename over a merged directory with "
      "entries") {
    CHECK(ovl.rmdir("/d").err() == ENOTEMPTY);
    REQUIRE(ovl.mkdir("/pure", 0755).ok());
    CHECK(ovl.rename("/pure", "/d").err() == ENOTEMPTY);
  }

  SECTION("EXDEV: moving a lower directory without redirect_dir=on") {
    CHECK(ovl.rename("/d", "/d2").err() == EXDEV);
  }

  SECTION("EINVAL: RENAME_WHITEOUT, and a directory into its own subtree") {
    CHECK(ovl.rename("/f", "/g", RENAME_WHITEOUT).err() == EINVAL);
    REQUIRE(ovl.mkdir("/pure", 0755).ok());
    CHECK(ovl.rename("/pure", "/pure/sub").err() == EINVAL);
  }

  SECTION("EPERM: mknod of char 0/0, link of a directory") {
    CHECK(ovl.mknod("/w", S_IFCHR, makedev(0, 0)).err() == EPERM);
    CHECK(ovl.link("/d", "/d2").err() == EPERM);
  }

  SECTION("ENAMETOOLONG: a name over 255 bytes") {
    CHECK(ovl.open(std::string(256, 'x'), O_CREAT | O_WRONLY).err() ==
          ENAMETOOLONG);
  }

  SECTION("EBUSY: rmdir of the overlay root") {
    CHECK(ovl.rmdir("/").err() == EBUSY);
  }

  SECTION("ENODATA: a real private xattr read through the overlay") {
    CHECK(ovl.getxattr("/", "trusted.overlay.uuid").err() == ENODATA);
  }
}

TEST_CASE("the event log records what the model did", "[overlay][event]") {
  Overlay ovl = mount_ok(basic_stack());
  EventLog log;
  ovl.set_log(&log);
  REQUIRE(ovl.unlink("/d/a").ok());
  ovl.set_log(nullptr);

  auto count = [&](EventKind kind) {
    return std::count_if(log.begin(), log.end(),
                         [&](const Event& e) { return e.kind == kind; });
  };
  CHECK(count(EventKind::kCopyUp) == 1);
  CHECK(count(EventKind::kWhiteout) == 1);
  REQUIRE(ovl.unlink("/d/b").ok());
  CHECK(count(EventKind::kWhiteout) == 1);
}

TEST_CASE("the event log records which layers answered each lookup",
          "[overlay][event][lookup]") {
  Overlay ovl = mount_ok(basic_stack());
  EventLog log;
  ovl.set_log(&log);
  auto lookup = [&](const std::string& path) -> const Event* {
    for (const Event& e : log)
      if (e.kind == EventKind::kLookup && e.path == path)
        return &e;
    return nullptr;
  };

  SECTION("a merged directory names every layer, topmost first") {
    REQUIRE(ovl.stat("/d/c").ok());
    const Event* d = lookup("/d");
    REQUIRE(d != nullptr);
    CHECK(d->layers == std::vector<std::size_t>{1, 2});
    CHECK(d->detail == "a merged directory");
    const Event* c = lookup("/d/c");
    REQUIRE(c != nullptr);
    CHECK(c->layers == std::vector<std::size_t>{2});
    CHECK(c->layer == 2);
  }
  SECTION("an upper file says what it hides") {
    REQUIRE(ovl.truncate("/f", 0).ok());
    log.clear();
    REQUIRE(ovl.stat("/f").ok());
    const Event* f = lookup("/f");
    REQUIRE(f != nullptr);
    CHECK(f->layers == std::vector<std::size_t>{0});
    CHECK(f->detail == "it hides the one in lower layer 1");
  }
  SECTION("a negative lookup says what hid the name") {
    REQUIRE(ovl.unlink("/d/a").ok());
    log.clear();
    CHECK(ovl.stat("/d/a").err() == ENOENT);
    const Event* a = lookup("/d/a");
    REQUIRE(a != nullptr);
    CHECK(a->layers.empty());
    CHECK(a->layer == 0);
    CHECK(a->detail == "a whiteout in the upper layer hides the name");
    CHECK(ovl.stat("/none").err() == ENOENT);
    REQUIRE(lookup("/none") != nullptr);
    CHECK(lookup("/none")->detail == "no layer has the name");
  }
}

// Found by `ovlsim fuzz --target kernel`, checked on 6.18 (tmpfs layers).
TEST_CASE("open, truncate and mkdir corner cases from the kernel",
          "[overlay][open]") {
  Stack stack;
  stack.upper = LayerBuilder().file("/c", "data");
  stack.lowers = {LayerBuilder().dir("/a").node("/f", S_IFIFO | 0644, 0)};
  Overlay ovl = mount_ok(std::move(stack));

  // O_TRUNC asks for write access, so a directory refuses it.
  CHECK(ovl.open("/a", O_RDONLY | O_TRUNC).err() == EISDIR);

  // ftruncate wants a regular file open for writing.
  Result<int> fifo = ovl.open("/f", O_WRONLY);
  REQUIRE(fifo.ok());
  CHECK(ovl.ftruncate(*fifo, 2).err() == EINVAL);

  // Under O_APPEND, pwrite appends whatever offset it names.
  Result<int> fd = ovl.open("/c", O_WRONLY | O_APPEND);
  REQUIRE(fd.ok());
  CHECK(*ovl.pwrite(*fd, "X", 0) == 1);
  CHECK(content(ovl, "/c") == "dataX");

  // mkdir keeps only the permission and sticky bits.
  REQUIRE(ovl.mkdir("/e", 07777).ok());
  CHECK((ovl.stat("/e")->mode & 07777) == (01777 & ~022));
}

TEST_CASE("fstat of a merged directory reports what stat does (HL-05)",
          "[overlay]") {
  Stack stack;
  stack.upper = LayerBuilder().file("/b", "data");
  stack.lowers = {LayerBuilder().file("/a", "data")};
  Overlay ovl = mount_ok(std::move(stack));
  Result<int> fd = ovl.open("/", O_RDONLY);
  REQUIRE(fd.ok());
  CHECK(ovl.fstat(*fd)->nlink == 1);
  CHECK(ovl.fstat(*fd)->ino == ovl.stat("/")->ino);
}

TEST_CASE("fifos share a pipe; memory devices read and write", "[overlay]") {
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder()
                      .node("/fifo", S_IFIFO | 0644, 0)
                      .node("/null", S_IFCHR | 0666, makedev(1, 3))
                      .node("/zero", S_IFCHR | 0666, makedev(1, 5))
                      .node("/full", S_IFCHR | 0666, makedev(1, 7))
                      .node("/tty", S_IFCHR | 0666, makedev(4, 1))
                      .node("/sock", S_IFSOCK | 0644, 0)};
  Overlay ovl = mount_ok(std::move(stack));

  Result<int> w = ovl.open("/fifo", O_WRONLY);
  Result<int> r = ovl.open("/fifo", O_RDONLY);
  REQUIRE((w.ok() && r.ok()));
  CHECK(*ovl.write(*w, "abc") == 3);
  CHECK(*ovl.read(*r, 2) == "ab");
  CHECK(*ovl.read(*r, 9) == "c");
  CHECK(ovl.read(*r, 9).err() == EAGAIN);  // empty, with a writer
  CHECK(*ovl.read(*r, 0) == "");
  CHECK(ovl.pread(*r, 1, 0).err() == ESPIPE);
  REQUIRE(ovl.close(*w).ok());
  CHECK(*ovl.read(*r, 9) == "");       // no writer: end of file
  CHECK(!has(*ovl.upper(), "/fifo"));  // no copy-up for fifo I/O

  Result<int> null = ovl.open("/null", O_RDWR);
  Result<int> zero = ovl.open("/zero", O_RDONLY);
  Result<int> full = ovl.open("/full", O_WRONLY);
  REQUIRE((null.ok() && zero.ok() && full.ok()));
  CHECK(*ovl.write(*null, "gone") == 4);
  CHECK(*ovl.read(*null, 4) == "");
  CHECK(*ovl.read(*zero, 2) == std::string(2, '\0'));
  CHECK(ovl.write(*full, "x").err() == ENOSPC);

  CHECK(ovl.open("/tty", O_RDONLY).err() == ENXIO);
  CHECK(ovl.open("/sock", O_RDONLY).err() == ENXIO);
}

TEST_CASE("a file open across a copy-up keeps its copy when unlinked",
          "[overlay][copy_up]") {
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder().file("/a", "data")};
  Overlay ovl = mount_ok(std::move(stack));
  Result<int> fd = ovl.open("/a", O_RDONLY);
  REQUIRE(fd.ok());
  REQUIRE(ovl.chmod("/a", 0600).ok());
  REQUIRE(ovl.unlink("/a").ok());
  CHECK(*ovl.read(*fd, 9) == "data");
  CHECK((ovl.fstat(*fd)->mode & 0777) == 0600);
}

// Root of a user namespace that maps only itself, as in a rootless
// container: capabilities over its own files, none over the initial
// namespace, and no file handles.
TEST_CASE("a mounter in a user namespace (CR-01, MD-01, MD-02, INO-03)",
          "[overlay][userns]") {
  Cred userns;
  userns.userns = true;
  MountOptions opts;
  opts.userxattr = true;
  auto mount = [&](Stack stack, MountOptions o) {
    Result<Overlay> mounted =
        Overlay::mount(std::move(stack), o, KernelVersion{}, userns);
    REQUIRE(mounted.ok());
    return std::move(mounted).value();
  };
  auto stack = [] {
    Stack s;
    s.upper = Layer();
    s.lowers = {LayerBuilder().file("/f", "data").dir("/d").file("/d/g")};
    return s;
  };

  SECTION("devices cannot be made, fifos and whiteout checks as for root") {
    Overlay ovl = mount(stack(), opts);
    CHECK(ovl.mknod("/null", S_IFCHR | 0666, makedev(1, 3)).err() == EPERM);
    CHECK(ovl.mknod("/blk", S_IFBLK | 0600, makedev(7, 0)).err() == EPERM);
    CHECK(ovl.mknod("/wh", S_IFCHR, makedev(0, 0)).err() == EPERM);
    CHECK(ovl.mknod("/p", S_IFIFO | 0644, 0).ok());
  }

  SECTION("only the mapped ids can be given to a file") {
    Overlay ovl = mount(stack(), opts);
    CHECK(ovl.chown("/f", 1000, static_cast<gid_t>(-1)).err() == EINVAL);
    CHECK(ovl.chown("/f", static_cast<uid_t>(-1), 5).err() == EINVAL);
    CHECK_FALSE(has(*ovl.upper(), "/f"));
    CHECK(ovl.chown("/f", 0, 0).ok());
    CHECK(ovl.chown("/missing", 1000, 0).err() == ENOENT);
  }

  SECTION("trusted.* xattrs are out of reach") {
    Overlay ovl = mount(stack(), opts);
    CHECK(ovl.setxattr("/f", "trusted.t", "v").err() == EPERM);
    CHECK(ovl.getxattr("/f", "trusted.t").err() == ENODATA);
    CHECK(ovl.removexattr("/f", "trusted.t").err() == EPERM);
    CHECK(ovl.setxattr("/f", "user.k", "v").ok());
    CHECK(*ovl.listxattr("/f") == Names{"user.k"});
  }

  SECTION("a write or truncate drops suid, as for an unprivileged caller") {
    Overlay ovl = mount(stack(), opts);
    REQUIRE(ovl.chmod("/f", 04755).ok());
    REQUIRE(ovl.truncate("/f", 2).ok());
    CHECK((ovl.stat("/f")->mode & 07777) == 0755);
  }

  SECTION(
      "copies carry an empty origin and keep their lower inode number "
      "only under the name they were copied up through") {
    Overlay ovl = mount(stack(), opts);
    InodeNumber lower_ino = ovl.stat("/f")->ino;
    REQUIRE(ovl.chmod("/f", 0600).ok());
    CHECK(at(*ovl.upper(), "/f").xattr("user.overlay.origin") == "");
    CHECK(ovl.stat("/f")->ino == lower_ino);
    REQUIRE(ovl.link("/f", "/f2").ok());
    CHECK(ovl.stat("/f2")->ino != lower_ino);
    CHECK(ovl.stat("/f2")->ino == *ovl.upper()->find("/f2"));

    Overlay again = mount(std::move(ovl).unmount(), opts);
    CHECK(again.stat("/f")->ino == again.stat("/f2")->ino);
  }

  SECTION(
      "index and nfs_export fall back to off, xino=auto with an upper "
      "layer too") {
    MountOptions o = opts;
    o.index = true;
    o.nfs_export = true;
    o.xino = Xino::kAuto;
    Overlay ovl = mount(stack(), o);
    CHECK_FALSE(ovl.options().index);
    CHECK_FALSE(ovl.options().nfs_export);
    CHECK(ovl.options().xino == Xino::kOff);

    Stack ro;
    ro.lowers = {LayerBuilder().file("/a"), LayerBuilder().file("/b")};
    o.index = false;
    o.nfs_export = false;
    CHECK(mount(std::move(ro), o).options().xino == Xino::kAuto);
  }

  SECTION("root of the initial namespace keeps what the namespace lacks") {
    Cred root;
    CHECK(root.capable());
    CHECK(root.maps_uid(1000));
    CHECK_FALSE(userns.capable());
    CHECK(userns.is_root());
    CHECK(userns.maps_uid(0));
    CHECK(userns.maps_uid(static_cast<uid_t>(-1)));
    CHECK_FALSE(userns.maps_gid(100));
  }
}

}  // namespace
}  // namespace ovlsim::model
