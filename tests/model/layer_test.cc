#include "model/layer.h"

#include <catch2/catch.hpp>

#include "tests/model/stack_builder.h"

namespace ovlsim::model {
namespace {

using testing::at;
using testing::LayerBuilder;
using testing::paths;

InodeAttrs attrs_of(mode_t mode, std::string data = "") {
  InodeAttrs attrs;
  attrs.mode = mode;
  attrs.data = std::move(data);
  return attrs;
}

TEST_CASE("Layer starts as an empty root directory", "[layer]") {
  Layer layer;
  const Inode& root = layer.inode(layer.root());
  CHECK(root.is_dir());
  CHECK((root.mode & 07777) == 0755);
  CHECK(root.uid == 0);
  CHECK(root.nlink == 2);
  CHECK(root.entries.empty());
  CHECK(layer.find("/") == layer.root());
  CHECK(layer.find("") == layer.root());
}

TEST_CASE("Layer keeps link counts", "[layer]") {
  Layer layer;
  InodeNumber root = layer.root();

  SECTION("a directory has two links plus one per subdirectory") {
    InodeNumber d = layer.create(root, "d", attrs_of(S_IFDIR | 0755));
    layer.create(d, "sub", attrs_of(S_IFDIR | 0755));
    layer.create(d, "f", attrs_of(S_IFREG | 0644));
    CHECK(layer.inode(root).nlink == 3);
    CHECK(layer.inode(d).nlink == 3);
    layer.unlink(d, "sub");
    CHECK(layer.inode(d).nlink == 2);
  }

  SECTION("a file has one link per name and goes with its last name") {
    InodeNumber f = layer.create(root, "f", attrs_of(S_IFREG | 0644, "x"));
    layer.link(root, "g", f);
    CHECK(layer.inode(f).nlink == 2);
    CHECK(layer.find("/g") == f);
    layer.unlink(root, "f");
    CHECK(layer.inode(f).nlink == 1);
    layer.unlink(root, "g");
    CHECK_FALSE(layer.contains(f));
  }

  SECTION("an open file keeps an unlinked inode until it is unpinned") {
    InodeNumber f = layer.create(root, "f", attrs_of(S_IFREG | 0644, "x"));
    layer.pin(f);
    layer.unlink(root, "f");
    REQUIRE(layer.contains(f));
    CHECK(layer.inode(f).nlink == 0);
    CHECK(layer.inode(f).data == "x");
    layer.unpin(f);
    CHECK_FALSE(layer.contains(f));
  }

  SECTION("inode numbers are never reused") {
    InodeNumber f = layer.create(root, "f", attrs_of(S_IFREG | 0644));
    layer.unlink(root, "f");
    InodeNumber g = layer.create(root, "f", attrs_of(S_IFREG | 0644));
    CHECK(g != f);
  }
}

TEST_CASE("Layer finds paths without following symlinks", "[layer]") {
  Layer layer = LayerBuilder()
                    .file("/a/b/c", "data")
                    .symlink("/a/l", "b")
                    .file("/top", "t");
  CHECK(layer.find("/a/b/c").has_value());
  CHECK(layer.find("a/b/c") == layer.find("/a/b/c"));
  CHECK(layer.find("/a/./b//c") == layer.find("/a/b/c"));
  CHECK_FALSE(layer.find("/a/l/c").has_value());
  CHECK_FALSE(layer.find("/top/x").has_value());
  CHECK_FALSE(layer.find("/missing").has_value());
  CHECK(layer.inode(*layer.find("/a/l")).is_symlink());
}

TEST_CASE("Layer removes whole trees", "[layer]") {
  Layer layer = LayerBuilder().file("/d/e/f").file("/d/g").file("/keep");
  layer.remove_tree(layer.root(), "d");
  CHECK(paths(layer) == std::vector<std::string>{"/", "/keep"});
  CHECK(layer.inode(layer.root()).nlink == 2);
  CHECK(layer.inodes().size() == 2);
}

TEST_CASE("Layer renames and exchanges as rename(2) does", "[layer]") {
  Layer layer =
      LayerBuilder().file("/a", "A").file("/b", "B").dir("/d1/sub").dir("/d2");
  InodeNumber root = layer.root();

  SECTION("rename replaces the target") {
    InodeNumber a = *layer.find("/a");
    layer.rename(root, "a", root, "b");
    CHECK(layer.find("/b") == a);
    CHECK_FALSE(layer.find("/a"));
    CHECK(at(layer, "/b").data == "A");
    CHECK(layer.inodes().size() == 5);
  }

  SECTION("moving a directory moves its parent's link") {
    InodeNumber d1 = *layer.find("/d1");
    InodeNumber d2 = *layer.find("/d2");
    layer.rename(d1, "sub", d2, "sub");
    CHECK(layer.inode(d1).nlink == 2);
    CHECK(layer.inode(d2).nlink == 3);
  }

  SECTION(
      "rename of a name onto another name of the same inode does "
      "nothing") {
    InodeNumber a = *layer.find("/a");
    layer.link(root, "a2", a);
    layer.rename(root, "a", root, "a2");
    CHECK(layer.find("/a") == a);
    CHECK(layer.find("/a2") == a);
  }

  SECTION("exchange swaps the entries and the directories' links") {
    InodeNumber a = *layer.find("/a");
    InodeNumber d1 = *layer.find("/d1");
    InodeNumber d2 = *layer.find("/d2");
    layer.exchange(d1, "sub", root, "a");
    CHECK(layer.find("/a") != a);
    CHECK(layer.inode(*layer.find("/a")).is_dir());
    CHECK(layer.find("/d1/sub") == a);
    CHECK(layer.inode(d1).nlink == 2);
    CHECK(layer.inode(root).nlink == 5);
    CHECK(layer.inode(d2).nlink == 2);
  }
}

TEST_CASE("Layer walks in sorted path order", "[layer]") {
  Layer layer = LayerBuilder().file("/b").file("/a/z").file("/a/c");
  CHECK(paths(layer) ==
        std::vector<std::string>{"/", "/a", "/a/c", "/a/z", "/b"});
}

TEST_CASE("Layer compares trees without inode numbers", "[layer]") {
  Layer x = LayerBuilder().file("/f", "1").dir("/d").hardlink("/d/h", "/f");
  Layer y = LayerBuilder().dir("/pad").file("/f", "1").dir("/d").hardlink(
      "/d/h", "/f");
  y.unlink(y.root(), "pad");
  CHECK(x.same_tree(y));

  SECTION("a difference in data, mode, xattrs or links is a difference") {
    Layer data =
        LayerBuilder().file("/f", "2").dir("/d").hardlink("/d/h", "/f");
    CHECK_FALSE(x.same_tree(data));
    Layer xattr = y;
    xattr.inode(*xattr.find("/f")).xattrs.emplace("user.a", "1");
    CHECK_FALSE(x.same_tree(xattr));
    Layer unlinked = LayerBuilder().file("/f", "1").file("/d/h", "1");
    CHECK_FALSE(x.same_tree(unlinked));
  }
}

TEST_CASE("type_name names every file type", "[layer]") {
  CHECK(std::string(type_name(S_IFREG)) == "file");
  CHECK(std::string(type_name(S_IFDIR)) == "dir");
  CHECK(std::string(type_name(S_IFLNK)) == "symlink");
  CHECK(std::string(type_name(S_IFCHR)) == "chardev");
  CHECK(std::string(type_name(S_IFBLK)) == "blockdev");
  CHECK(std::string(type_name(S_IFIFO)) == "fifo");
  CHECK(std::string(type_name(S_IFSOCK)) == "socket");
}

}  // namespace
}  // namespace ovlsim::model
