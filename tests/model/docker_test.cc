// The walkthrough of Docker's overlay2 storage driver: three image layers,
// the container's -init layer and its writable layer (diff/), then a file
// created and two deleted. The expected diff/ was checked on a 6.18
// kernel with the same layers on tmpfs.
#include <catch2/catch.hpp>

#include "model/overlay.h"
#include "tests/model/stack_builder.h"

namespace ovlsim::model {
namespace {

using testing::at;
using testing::content;
using testing::describe;
using testing::LayerBuilder;
using testing::mount_ok;
using testing::name_set;

using Lines = std::vector<std::string>;

// The bottom image layer: a whole root filesystem.
Layer base_layer() {
  return LayerBuilder()
      .file("/bin/bash", "bash", 0755)
      .file("/bin/ls", "ls", 0755)
      .file("/bin/sleep", "sleep", 0755)
      .file("/bin/sync", "sync", 0755)
      .dir("/boot")
      .dir("/dev")
      .file("/etc/passwd", "root:x:0:0::/root:/bin/bash\n")
      .dir("/home")
      .file("/lib/x86_64-linux-gnu/libc.so.6", "libc", 0755)
      .dir("/root", 0700)
      .dir("/tmp", 01777)
      .file("/usr/bin/env", "env", 0755)
      .dir("/var/lib");
}

Layer middle_layer() {
  return LayerBuilder()
      .file("/etc/apt/sources.list", "deb http://archive.ubuntu.com/\n")
      .file("/usr/sbin/policy-rc.d", "exit 101\n", 0755);
}

Layer top_layer() {
  return LayerBuilder().file("/run/systemd/container", "docker\n");
}

// What Docker writes to set up a container, above the image.
Layer init_layer() {
  return LayerBuilder()
      .file("/.dockerenv")
      .file("/etc/hostname")
      .file("/etc/hosts")
      .file("/etc/resolv.conf")
      .symlink("/etc/mtab", "/proc/mounts")
      .file("/dev/console")
      .dir("/dev/pts")
      .dir("/dev/shm")
      .dir("/proc")
      .dir("/sys");
}

// The container: diff/ is the upper layer; lowerdir lists init first.
Stack container_stack() {
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {init_layer(), top_layer(), middle_layer(), base_layer()};
  return stack;
}

TEST_CASE("the Docker overlay2 walkthrough", "[docker]") {
  Overlay ovl = mount_ok(container_stack());

  SECTION("the container sees the union of its layers") {
    CHECK(name_set(ovl, "/") == Lines{".dockerenv", "bin", "boot", "dev", "etc",
                                      "home", "lib", "proc", "root", "run",
                                      "sys", "tmp", "usr", "var"});
    CHECK(name_set(ovl, "/etc") ==
          Lines{"apt", "hostname", "hosts", "mtab", "passwd", "resolv.conf"});
    CHECK(content(ovl, "/run/systemd/container") == "docker\n");
    CHECK(*ovl.readlink("/etc/mtab") == "/proc/mounts");
    CHECK(ovl.stat("/usr/sbin/policy-rc.d")->layer == 3);
    CHECK(ovl.stat("/bin/sleep")->layer == 4);
  }

  SECTION("creating /home/aaa.test and deleting /bin/sleep and /bin/sync") {
    Result<int> fd = ovl.open("/home/aaa.test", O_CREAT | O_WRONLY, 0644);
    REQUIRE(fd.ok());
    REQUIRE(ovl.close(*fd).ok());
    REQUIRE(ovl.unlink("/bin/sleep").ok());
    REQUIRE(ovl.unlink("/bin/sync").ok());

    // diff/ holds the new file, the copied-up /home and /bin, and two
    // whiteouts (c--------- 0, 0); origin and uuid are compared by
    // presence only.
    CHECK(describe(*ovl.upper()) ==
          Lines{
              "/ dir 0755 trusted.overlay.impure=y trusted.overlay.uuid",
              "/bin dir 0755 trusted.overlay.origin",
              "/bin/sleep chardev 0/0 0000",
              "/bin/sync chardev 0/0 0000",
              "/home dir 0755 trusted.overlay.origin",
              "/home/aaa.test file 0644 \"\"",
          });

    SECTION("the image layers are untouched") {
      CHECK(ovl.lower(0).same_tree(init_layer()));
      CHECK(ovl.lower(1).same_tree(top_layer()));
      CHECK(ovl.lower(2).same_tree(middle_layer()));
      CHECK(ovl.lower(3).same_tree(base_layer()));
    }

    SECTION("the merged view shows the change") {
      CHECK(name_set(ovl, "/bin") == Lines{"bash", "ls"});
      CHECK(ovl.stat("/bin/sleep").err() == ENOENT);
      CHECK(ovl.stat("/bin/sync").err() == ENOENT);
      CHECK(name_set(ovl, "/home") == Lines{"aaa.test"});
      CHECK(ovl.stat("/home/aaa.test")->layer == 0);
    }

    SECTION("the same view after a remount of the same layers") {
      Overlay again = mount_ok(std::move(ovl).unmount());
      CHECK(name_set(again, "/bin") == Lines{"bash", "ls"});
      CHECK(again.stat("/bin/sync").err() == ENOENT);
      CHECK(again.stat("/home/aaa.test").ok());
    }
  }

  SECTION("a first write copies the whole file up") {
    Result<int> fd = ovl.open("/etc/passwd", O_WRONLY | O_APPEND);
    REQUIRE(fd.ok());
    REQUIRE(ovl.write(*fd, "u:x:1000:1000::/home/u:/bin/sh\n").ok());
    CHECK(at(*ovl.upper(), "/etc/passwd").data ==
          "root:x:0:0::/root:/bin/bash\nu:x:1000:1000::/home/u:/bin/sh\n");
    CHECK(at(ovl.lower(3), "/etc/passwd").data ==
          "root:x:0:0::/root:/bin/bash\n");
  }

  SECTION(
      "deleting a directory leaves a whiteout, not an opaque "
      "directory") {
    REQUIRE(ovl.rmdir("/boot").ok());
    const Inode& boot = at(*ovl.upper(), "/boot");
    CHECK(S_ISCHR(boot.mode));
    CHECK(boot.rdev == makedev(0, 0));

    SECTION("a directory created over it later is opaque") {
      REQUIRE(ovl.mkdir("/boot", 0755).ok());
      CHECK(at(*ovl.upper(), "/boot").xattr(testing::kOpaqueXattr) == "y");
    }
  }
}

}  // namespace
}  // namespace ovlsim::model
