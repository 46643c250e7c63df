#include "model/options.h"

#include <catch2/catch.hpp>

#include "model/overlay.h"
#include "tests/model/stack_builder.h"

namespace ovlsim::model {
namespace {

using testing::LayerBuilder;
using testing::mount_ok;

// The options `text` ("a=b,c") resolve to, or the errno of the first step
// that refuses them.
Result<MountOptions> parse(std::string_view text, bool has_upper = true) {
  MountOptions opts;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos)
      comma = text.size();
    OVL_TRY(apply_option(opts, text.substr(pos, comma - pos)));
    pos = comma + 1;
  }
  OVL_TRY(resolve_options(opts, has_upper));
  return opts;
}

int parse_error(std::string_view text, bool has_upper = true) {
  Result<MountOptions> opts = parse(text, has_upper);
  return opts.ok() ? 0 : opts.err();
}

TEST_CASE("default options are those of a stock 6.18 kernel", "[options]") {
  MountOptions opts;
  CHECK(opts.redirect_dir == RedirectDir::kFollow);
  CHECK_FALSE(opts.index);
  CHECK_FALSE(opts.metacopy);
  CHECK_FALSE(opts.nfs_export);
  CHECK(opts.xino == Xino::kOff);
  CHECK(opts.uuid == Uuid::kAuto);
  CHECK(opts.verity == Verity::kOff);
  CHECK(opts.fsync == Fsync::kAuto);
  CHECK_FALSE(opts.userxattr);
  CHECK(format_options(opts).empty());
  CHECK_FALSE(no_offline_changes(opts));
}

TEST_CASE("apply_option parses each option", "[options]") {
  SECTION("redirect_dir: off means follow with redirect_always_follow") {
    CHECK(parse("redirect_dir=on")->redirect_dir == RedirectDir::kOn);
    CHECK(parse("redirect_dir=follow")->redirect_dir == RedirectDir::kFollow);
    CHECK(parse("redirect_dir=nofollow")->redirect_dir ==
          RedirectDir::kNoFollow);
    CHECK(parse("redirect_dir=off")->redirect_dir == RedirectDir::kFollow);
    CHECK(format_options(*parse("redirect_dir=off")).empty());
  }

  SECTION("booleans, enums and flags") {
    CHECK(parse("index=on")->index);
    CHECK_FALSE(parse("index=off")->index);
    CHECK(parse("xino=auto")->xino == Xino::kAuto);
    CHECK(parse("uuid=null")->uuid == Uuid::kNull);
    CHECK(parse("uuid=off")->uuid == Uuid::kOff);
    CHECK(parse("fsync=strict")->fsync == Fsync::kStrict);
    CHECK(parse("volatile")->fsync == Fsync::kVolatile);
    CHECK(parse("userxattr")->userxattr);
    CHECK(parse("default_permissions")->default_permissions);
  }

  SECTION("the last value of an option wins") {
    CHECK_FALSE(parse("index=on,index=off")->index);
  }

  SECTION("unknown options and values fail with EINVAL") {
    CHECK(parse_error("nosuch=1") == EINVAL);
    CHECK(parse_error("nosuch") == EINVAL);
    CHECK(parse_error("index=maybe") == EINVAL);
    CHECK(parse_error("redirect_dir=sometimes") == EINVAL);
    CHECK(parse_error("fsync=ordered") == EINVAL);
    CHECK(parse_error("index") == EINVAL);
  }
}

TEST_CASE("accepts override_creds (6.15)", "[options]") {
  // Kernel 6.18: mounting with "override_creds" in the legacy option string
  // succeeded (tmpfs layers); it is not shown in mountinfo.
  CHECK(parse_error("override_creds") == 0);
}

TEST_CASE("resolve_options turns on what options imply", "[options]") {
  SECTION("metacopy=on implies redirect_dir=on") {
    Result<MountOptions> opts = parse("metacopy=on");
    REQUIRE(opts.ok());
    CHECK(opts->redirect_dir == RedirectDir::kOn);
    CHECK(format_options(*opts) == "redirect_dir=on,metacopy=on");
  }

  SECTION("nfs_export=on implies index=on") {
    Result<MountOptions> opts = parse("nfs_export=on");
    REQUIRE(opts.ok());
    CHECK(opts->index);
    CHECK(format_options(*opts) == "index=on,nfs_export=on");
  }

  SECTION("userxattr forces redirect_dir=nofollow") {
    Result<MountOptions> opts = parse("userxattr");
    REQUIRE(opts.ok());
    CHECK(opts->redirect_dir == RedirectDir::kNoFollow);
    CHECK_FALSE(opts->metacopy);
    CHECK(format_options(*opts) == "redirect_dir=nofollow,userxattr");
  }

  SECTION("without upper, follow becomes on and index is dropped") {
    Result<MountOptions> opts = parse("index=on,volatile", false);
    REQUIRE(opts.ok());
    CHECK(opts->redirect_dir == RedirectDir::kOn);
    CHECK_FALSE(opts->index);
    CHECK(opts->fsync == Fsync::kAuto);
    CHECK(format_options(*opts) == "redirect_dir=on");
  }

  SECTION("index and metacopy together keep both") {
    CHECK(format_options(*parse("index=on,metacopy=on")) ==
          "redirect_dir=on,index=on,metacopy=on");
  }
}

TEST_CASE("verity=on does not turn on metacopy on 6.18", "[options]") {
  // Kernel 6.18 (tmpfs layers): "verity=on" mounted with mountinfo showing
  // only ",uuid=on,verity=on", and chmod of a lower file made a full copy
  // without overlay.metacopy. "verity=on,metacopy=off" mounted too.
  Result<MountOptions> opts = parse("verity=on");
  REQUIRE(opts.ok());
  CHECK_FALSE(opts->metacopy);
  CHECK(opts->redirect_dir == RedirectDir::kFollow);
  CHECK(parse_error("verity=on,metacopy=off") == 0);
}

TEST_CASE("resolve_options refuses contradictions with EINVAL", "[options]") {
  CHECK(parse_error("metacopy=on,redirect_dir=off") == EINVAL);
  CHECK(parse_error("redirect_dir=off,metacopy=on") == EINVAL);
  CHECK(parse_error("metacopy=on,redirect_dir=nofollow") == EINVAL);
  CHECK(parse_error("nfs_export=on,index=off") == EINVAL);
  CHECK(parse_error("nfs_export=on,metacopy=on") == EINVAL);
  CHECK(parse_error("userxattr,redirect_dir=on") == EINVAL);
  CHECK(parse_error("userxattr,metacopy=on") == EINVAL);
}

TEST_CASE("format_options shows what differs from the defaults", "[options]") {
  CHECK(format_options(*parse("default_permissions")) == "default_permissions");
  CHECK(format_options(*parse("fsync=strict")) == "fsync=strict");
  CHECK(format_options(*parse("uuid=null")) == "uuid=null");
  CHECK(format_options(*parse("redirect_dir=follow")).empty());
}

TEST_CASE("format_options shows volatile as fsync=volatile", "[options]") {
  // Kernel 6.18: a mount with "volatile" shows ",fsync=volatile" in
  // mountinfo.
  CHECK(format_options(*parse("volatile")) == "fsync=volatile");
}

TEST_CASE("no_offline_changes names the mounts that forbid them (LK-14)",
          "[options]") {
  CHECK(no_offline_changes(*parse("index=on")));
  CHECK(no_offline_changes(*parse("metacopy=on")));
  CHECK(no_offline_changes(*parse("redirect_dir=on")));
  CHECK(no_offline_changes(*parse("xino=on")));
  CHECK_FALSE(no_offline_changes(*parse("redirect_dir=nofollow")));
  CHECK_FALSE(no_offline_changes(*parse("xino=auto")));
}

TEST_CASE("mount checks the stack (§12)", "[options][overlay]") {
  SECTION("no lower layer fails with EINVAL") {
    Stack stack;
    stack.upper = Layer();
    CHECK(Overlay::mount(std::move(stack)).err() == EINVAL);
  }

  SECTION("no upper needs two lower layers") {
    Stack one;
    one.lowers = {Layer()};
    CHECK(Overlay::mount(std::move(one)).err() == EINVAL);
    Stack two;
    two.lowers = {Layer(), Layer()};
    Overlay ovl = mount_ok(std::move(two));
    CHECK(ovl.upper() == nullptr);
    CHECK(ovl.lower_count() == 2);
    CHECK(ovl.options().redirect_dir == RedirectDir::kOn);
  }

  SECTION("500 lower layers mount, 501 fail with EINVAL") {
    Stack ok;
    ok.upper = Layer();
    ok.lowers.assign(500, Layer());
    CHECK(Overlay::mount(std::move(ok)).ok());
    Stack too_many;
    too_many.upper = Layer();
    too_many.lowers.assign(501, Layer());
    CHECK(Overlay::mount(std::move(too_many)).err() == EINVAL);
  }

  SECTION("contradictory options fail with EINVAL") {
    Stack stack;
    stack.upper = Layer();
    stack.lowers = {Layer()};
    MountOptions opts;
    REQUIRE(apply_option(opts, "userxattr").ok());
    REQUIRE(apply_option(opts, "metacopy=on").ok());
    CHECK(Overlay::mount(std::move(stack), opts).err() == EINVAL);
  }

  SECTION("options() gives the resolved options") {
    Stack stack;
    stack.upper = Layer();
    stack.lowers = {Layer()};
    MountOptions opts;
    REQUIRE(apply_option(opts, "metacopy=on").ok());
    Overlay ovl = mount_ok(std::move(stack), opts);
    CHECK(ovl.options().redirect_dir == RedirectDir::kOn);
    CHECK(ovl.kernel() == KernelVersion{6, 18});
  }
}

TEST_CASE("a fresh upper layer gets a uuid at mount (INO-06)", "[options]") {
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {LayerBuilder().file("/f"), Layer()};

  SECTION("uuid=auto writes overlay.uuid on a fresh upper root") {
    Overlay ovl = mount_ok(std::move(stack));
    CHECK(testing::at(*ovl.upper(), "/").xattr(testing::kUuidXattr));
  }

  SECTION("uuid=null writes nothing") {
    MountOptions opts;
    REQUIRE(apply_option(opts, "uuid=null").ok());
    Overlay ovl = mount_ok(std::move(stack), opts);
    CHECK(testing::at(*ovl.upper(), "/").xattrs.empty());
  }

  SECTION("an older upper, already impure and without uuid, stays null") {
    stack.upper->inode(stack.upper->root())
        .xattrs.emplace(testing::kImpureXattr, "y");
    Overlay ovl = mount_ok(std::move(stack));
    CHECK_FALSE(testing::at(*ovl.upper(), "/").xattr(testing::kUuidXattr));
  }

  SECTION("kernels before 6.6 write no uuid") {
    Overlay ovl = mount_ok(std::move(stack), {}, KernelVersion{6, 5});
    CHECK(testing::at(*ovl.upper(), "/").xattrs.empty());
  }
}

TEST_CASE("the first mount of a fresh upper reports uuid=on (INO-06)",
          "[options]") {
  // Kernel 6.18: the first mount of an empty tmpfs upper showed ",uuid=on"
  // in mountinfo; a second mount of the same upper showed no uuid option.
  Stack stack;
  stack.upper = Layer();
  stack.lowers = {Layer()};
  Overlay first = mount_ok(std::move(stack));
  CHECK(first.options().uuid == Uuid::kOn);
  Overlay second = mount_ok(std::move(first).unmount());
  CHECK(second.options().uuid == Uuid::kAuto);
}

}  // namespace
}  // namespace ovlsim::model
