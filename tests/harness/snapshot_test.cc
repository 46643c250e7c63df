#include "harness/snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "harness/sandbox.h"

namespace ovlsim::harness {
namespace {

// A directory of the real filesystem, removed when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string templ = "/tmp/ovlsim-test-XXXXXX";
    REQUIRE(mkdtemp(templ.data()) != nullptr);
    path_ = templ;
  }
  ~TempDir() {
    auto slash = path_.rfind('/');
    int fd = open(path_.substr(0, slash).c_str(), O_RDONLY | O_DIRECTORY);
    remove_tree(fd, path_.substr(slash + 1));
    close(fd);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const {
    return path_ + "/" + name;
  }

 private:
  std::string path_;
};

void write(const std::string& path, const std::string& data) {
  std::ofstream(path) << data;
}

TEST_CASE("read_tree reads what lstat, readlink and read show", "[snapshot]") {
  TempDir dir;
  REQUIRE(mkdir((dir / "d").c_str(), 0750) == 0);
  write(dir / "d/f", "hello");
  REQUIRE(chmod((dir / "d/f").c_str(), 0600) == 0);
  REQUIRE(symlink("/etc/passwd", (dir / "s").c_str()) == 0);
  REQUIRE(symlink("d", (dir / "sd").c_str()) == 0);

  auto tree = read_tree(dir.path());
  REQUIRE(tree.ok());
  const Tree& t = tree.value();

  SECTION("every path is keyed from the root") {
    std::vector<std::string> paths;
    for (const auto& [path, entry] : t.entries)
      paths.push_back(path);
    CHECK(paths == std::vector<std::string>{"/", "/d", "/d/f", "/s", "/sd"});
  }

  SECTION("files keep mode, size and content") {
    const Entry* f = t.find("/d/f");
    REQUIRE(f != nullptr);
    CHECK(f->mode == (S_IFREG | 0600));
    CHECK(f->size == 5);
    CHECK(f->data == "hello");
    CHECK(t.find("/d")->mode == (S_IFDIR | 0750));
  }

  SECTION("symlinks are read, never followed") {
    CHECK(S_ISLNK(t.find("/s")->mode));
    CHECK(t.find("/s")->data == "/etc/passwd");
    CHECK(S_ISLNK(t.find("/sd")->mode));
    CHECK(t.find("/sd/f") == nullptr);
  }
}

TEST_CASE("read_tree records which paths share an inode", "[snapshot]") {
  TempDir dir;
  write(dir / "a", "x");
  REQUIRE(link((dir / "a").c_str(), (dir / "b").c_str()) == 0);
  write(dir / "c", "x");

  auto tree = read_tree(dir.path());
  REQUIRE(tree.ok());
  CHECK(tree->find("/a")->same_inode_as.empty());
  CHECK(tree->find("/b")->same_inode_as == "/a");
  CHECK(tree->find("/c")->same_inode_as.empty());
  CHECK(tree->find("/b")->nlink == 2);
}

TEST_CASE("long contents are kept as a digest", "[snapshot]") {
  std::string big(kMaxKeptContent + 1, 'z');
  std::string digest = content_digest(big);
  CHECK(digest != big);
  CHECK(digest.find(std::to_string(big.size()) + " bytes") !=
        std::string::npos);
  CHECK(content_digest(big) == digest);
  CHECK(content_digest(big + "y") != digest);
  CHECK(content_digest("short") == "short");
}

TEST_CASE("tree_of_layer reads a model layer as read_tree reads a disk",
          "[snapshot]") {
  model::Layer layer;
  model::InodeAttrs d;
  d.mode = S_IFDIR | 0755;
  auto dir = layer.create(layer.root(), "d", d);
  model::InodeAttrs f;
  f.mode = S_IFREG | 0644;
  f.data = "data";
  f.xattrs["user.k"] = "v";
  auto file = layer.create(dir, "f", f);
  layer.link(layer.root(), "g", file);
  model::InodeAttrs w;
  w.mode = S_IFCHR;
  layer.create(layer.root(), "w1", w);
  layer.create(layer.root(), "w2", w);

  Tree t = tree_of_layer(layer);
  REQUIRE(t.find("/d/f") != nullptr);
  CHECK(t.find("/d/f")->data == "data");
  CHECK(t.find("/d/f")->xattrs.at("user.k") == "v");
  CHECK(t.find("/d/f")->size == 4);

  SECTION("hard links point at the first path in sorted order") {
    CHECK(t.find("/d/f")->same_inode_as.empty());
    CHECK(t.find("/g")->same_inode_as == "/d/f");
  }

  SECTION("whiteouts are whiteouts and never share an inode") {
    CHECK(t.find("/w1")->is_whiteout());
    CHECK(t.find("/w2")->same_inode_as.empty());
  }
}

}  // namespace
}  // namespace ovlsim::harness
