// What a layer needs of the initial user namespace to be written.
#include "harness/populate.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <catch2/catch.hpp>

#include "tests/model/stack_builder.h"

namespace ovlsim::harness {
namespace {

using model::testing::LayerBuilder;

TEST_CASE("needs_initial_namespace names what a user namespace cannot write",
          "[populate][userns]") {
  SECTION("files, directories, symlinks, fifos and whiteouts owned by 0") {
    model::Layer layer = LayerBuilder()
                             .file("/f", "data", 04755)
                             .dir("/d")
                             .symlink("/l", "f")
                             .node("/p", S_IFIFO | 0644, 0)
                             .whiteout("/w")
                             .xattr("/f", "user.k", "v")
                             .xattr("/d", "user.overlay.opaque", "y");
    CHECK(needs_initial_namespace(layer).empty());
  }
  SECTION("another owner") {
    model::Layer layer = LayerBuilder().file("/f").owner("/f", 0, 100);
    CHECK(needs_initial_namespace(layer) == "/f: owned by 0:100");
  }
  SECTION("a device node") {
    model::Layer layer =
        LayerBuilder().node("/null", S_IFCHR | 0666, makedev(1, 3));
    CHECK(needs_initial_namespace(layer) == "/null: a device node");
  }
  SECTION("trusted, security and system xattrs") {
    for (const char* name : {"trusted.overlay.opaque", "security.capability",
                             "system.posix_acl_access"}) {
      model::Layer layer = LayerBuilder().dir("/d").xattr("/d", name, "y");
      CHECK(needs_initial_namespace(layer) == std::string("/d: xattr ") + name);
    }
  }
}

}  // namespace
}  // namespace ovlsim::harness
