#include "trace/parser.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <catch2/catch.hpp>
#include <string>
#include <variant>

namespace ovlsim::trace {
namespace {

Scenario parse_ok(const std::string& text) {
  auto r = parse_trace(text, "t.trace");
  if (auto* err = std::get_if<ParseError>(&r))
    FAIL(err->str());
  return std::get<Scenario>(r);
}

ParseError parse_bad(const std::string& text) {
  auto r = parse_trace(text, "t.trace");
  REQUIRE(std::holds_alternative<ParseError>(r));
  return std::get<ParseError>(r);
}

// The error of a trace made of a title line and `body`, with its line
// counted from the first line of the body.
void check_error(const std::string& body, int line, int col,
                 const std::string& message) {
  ParseError err = parse_bad("title t\n" + body);
  INFO(err.str());
  CHECK(err.file == "t.trace");
  CHECK(err.line == line + 1);
  CHECK(err.col == col);
  CHECK_THAT(err.message, Catch::Contains(message));
}

TEST_CASE("parse_trace reads the header and the layers", "[parser]") {
  Scenario s = parse_ok(
      "# a comment\n"
      "title  Upper hides lower (LK-02)  \n"
      "description first\n"
      "description second\n"
      "kernel 6.7\n"
      "options redirect_dir=on,index=on userxattr\n"
      "upper container\n"
      "  file /a \"up\\n\" mode=0600 uid=5 gid=6 user.x=\"1 2\"\n"
      "lower image\n"
      "  dir /d opaque\n"
      "  symlink /d/s ../a\n"
      "  chardev /c 1:3\n"
      "  whiteout /w\n"
      "  xwhiteout /d/xw\n"
      "  fifo /p\n"
      "  link /d/h /a\n"
      "  file /a\n"
      "lower\n"
      "steps\n");

  SECTION("the title is trimmed and descriptions join with newlines") {
    CHECK(s.title == "Upper hides lower (LK-02)");
    CHECK(s.description == "first\nsecond");
  }
  SECTION("kernel and options are parsed") {
    REQUIRE(s.kernel);
    CHECK(s.kernel->major == 6);
    CHECK(s.kernel->minor == 7);
    CHECK(s.options ==
          std::vector<std::string>{"redirect_dir=on", "index=on", "userxattr"});
    CHECK(s.mount_options.redirect_dir == model::RedirectDir::kOn);
    CHECK(s.mount_options.index);
    CHECK(s.mount_options.userxattr);
    CHECK(s.options_error == 0);
  }
  SECTION("layers are listed upper, then lowers top to bottom") {
    REQUIRE(s.stack.upper);
    REQUIRE(s.stack.lowers.size() == 2);
    CHECK(s.upper_label == "container");
    CHECK(s.lower_labels == std::vector<std::string>{"image", ""});
  }
  SECTION("file attributes and xattrs are applied") {
    const model::Layer& up = *s.stack.upper;
    const model::Inode& a = up.inode(*up.find("/a"));
    CHECK(a.mode == (S_IFREG | 0600));
    CHECK(a.uid == 5);
    CHECK(a.gid == 6);
    CHECK(a.data == "up\n");
    CHECK(a.xattrs.at("user.x") == "1 2");
  }
  SECTION("shorthands use the mount's xattr prefix") {
    const model::Layer& low = s.stack.lowers[0];
    CHECK(low.inode(*low.find("/d")).xattrs.at("user.overlay.opaque") == "y");
    const model::Inode& xw = low.inode(*low.find("/d/xw"));
    CHECK(xw.xattrs.count("user.overlay.whiteout") == 1);
    CHECK(xw.data.empty());
  }
  SECTION("special files, whiteouts and hard links are built") {
    const model::Layer& low = s.stack.lowers[0];
    const model::Inode& w = low.inode(*low.find("/w"));
    CHECK(w.mode == S_IFCHR);
    CHECK(w.rdev == makedev(0, 0));
    CHECK(low.inode(*low.find("/c")).rdev == makedev(1, 3));
    CHECK(S_ISFIFO(low.inode(*low.find("/p")).mode));
    CHECK(low.inode(*low.find("/d/s")).data == "../a");
    CHECK(*low.find("/d/h") == *low.find("/a"));
    CHECK(low.inode(*low.find("/a")).nlink == 2);
  }
}

TEST_CASE("parse_trace reads steps and expectations", "[parser]") {
  Scenario s = parse_ok(
      "title t\n"
      "upper\n"
      "lower\n"
      "  file /a\n"
      "steps\n"
      "mount -> ok\n"
      "expect merged\n"
      "  file /a\n"
      "end\n"
      "open f1 /a O_RDWR|O_CREAT 0600 -> ok\n"
      "write f1 \"hi\" -> 2\n"
      "stat /a -> file 0600 uid=0 size=2\n"
      "readdir / -> [a:file \"b c:dir\"]\n"
      "listxattr /a -> [user.b user.a]\n"
      "rename /a /b RENAME_NOREPLACE -> EEXIST\n"
      "utimens /a 5.000000001 omit\n"
      "mknod /n chardev 0644 1:3\n"
      "expect upper\n"
      "end\n"
      "expect absent /x\n"
      "expect file /a \"hi\" mode=0600\n");

  REQUIRE(s.steps.size() == 8);
  SECTION("mount expectations attach to the mount") {
    REQUIRE(s.mount_expect);
    CHECK(s.mount_expect->err == 0);
    REQUIRE(s.mount_states.size() == 1);
    CHECK(s.mount_states[0].kind == ExpectedState::Kind::kMerged);
  }
  SECTION("arguments are parsed by operation") {
    const Op& open = s.steps[0].op;
    CHECK(open.kind == OpKind::kOpen);
    CHECK(open.fd == "f1");
    CHECK(open.flags == (O_RDWR | O_CREAT));
    CHECK(open.mode == 0600);
    CHECK(s.steps[5].op.flags == RENAME_NOREPLACE);
    CHECK(s.steps[6].op.atime.sec == 5);
    CHECK(s.steps[6].op.atime.nsec == 1);
    CHECK(s.steps[6].op.mtime.nsec == UTIME_OMIT);
    CHECK(s.steps[7].op.mode == (S_IFCHR | 0644));
    CHECK(s.steps[7].op.dev == makedev(1, 3));
    CHECK(s.steps[0].line == 10);
  }
  SECTION("values are parsed by what the operation returns") {
    CHECK(std::get<std::size_t>(s.steps[1].expect->value) == 2);
    auto st = std::get<ExpectedStat>(s.steps[2].expect->value);
    CHECK(st.mode == (S_IFREG | 0600));
    CHECK(st.uid == 0u);
    CHECK(st.size == 2);
    CHECK_FALSE(st.nlink);
    auto dirents =
        std::get<std::vector<ExpectedDirent>>(s.steps[3].expect->value);
    REQUIRE(dirents.size() == 2);
    CHECK(dirents[1].name == "b c");
    CHECK(s.steps[5].expect->err == EEXIST);
    CHECK_FALSE(s.steps[6].expect);
  }
  SECTION("listxattr names are sorted") {
    Scenario t = parse_ok("title t\nsteps\nlistxattr /a -> [user.b user.a]\n");
    CHECK(std::get<std::vector<std::string>>(t.steps[0].expect->value) ==
          std::vector<std::string>{"user.a", "user.b"});
  }
  SECTION("an empty state block asks to be recorded") {
    const ExpectedState& up = s.steps[7].states[0];
    CHECK(up.kind == ExpectedState::Kind::kUpper);
    CHECK(up.to_record);
    CHECK(up.line == 18);
    CHECK(up.end_line == 19);
    CHECK(s.steps[7].states[1].kind == ExpectedState::Kind::kPath);
    CHECK_FALSE(s.steps[7].states[1].object);
    REQUIRE(s.steps[7].states[2].object);
    CHECK(s.steps[7].states[2].object->data == "hi");
  }
  SECTION("an unknown mount option is kept for the mount to refuse") {
    Scenario t = parse_ok("title t\noptions bogus=1\n");
    CHECK(t.options_error == EINVAL);
  }
}

TEST_CASE("parse_trace rejects malformed traces with line and column",
          "[parser][errors]") {
  SECTION("a missing title") {
    ParseError err = parse_bad("upper\n");
    CHECK(err.line == 1);
    CHECK_THAT(err.message, Catch::Contains("missing title"));
  }
  SECTION("a duplicate title") {
    check_error("title u\n", 1, 1, "duplicate title");
  }
  SECTION("a name listed twice") {
    check_error("steps\nreaddir / -> [a:file b:dir a:dir]\n", 2, 28,
                "duplicate entry 'a' in a listing");
  }
  SECTION("a title keyword run into its text") {
    ParseError err = parse_bad("title[x\n");
    CHECK(err.col == 6);
    CHECK_THAT(err.message, Catch::Contains("expected a blank after 'title'"));
  }
  SECTION("an empty title") {
    ParseError err = parse_bad("title   \n");
    CHECK_THAT(err.message, Catch::Contains("empty title"));
  }
  SECTION("a keyword holding quotes") {
    check_error("t\"\"itle x\n", 1, 1, "expected a keyword, found a string");
  }
  SECTION("an unknown keyword") {
    check_error("frobnicate\n", 1, 1, "unknown keyword 'frobnicate'");
  }
  SECTION("an entry outside a layer") {
    check_error("file /a\n", 1, 1, "outside a layer");
  }
  SECTION("an operation before steps") {
    check_error("stat /a\n", 1, 1, "operation 'stat' before 'steps'");
  }
  SECTION("a header line after the layers") {
    check_error("upper\noptions index=on\n", 2, 1, "must come before");
  }
  SECTION("a duplicate kernel line") {
    check_error("kernel 6.1\nkernel 6.2\n", 2, 1, "duplicate kernel");
  }
  SECTION("a bad kernel version") {
    check_error("kernel six\n", 1, 8, "bad kernel version 'six'");
    check_error("kernel 6.x\n", 1, 10, "bad kernel minor version");
  }
  SECTION("a duplicate options line") {
    check_error("options index=on\noptions xino=on\n", 2, 1,
                "duplicate options");
  }
  SECTION("a malformed option") {
    check_error("options index=on,,xino=on\n", 1, 18, "bad option ''");
  }
  SECTION("a bad filesystem name") {
    check_error("lower fs=a/b\n", 1, 7, "bad filesystem name 'a/b'");
    check_error("upper fs=\n", 1, 7, "bad filesystem name ''");
  }
  SECTION("a bad filesystem line") {
    check_error("filesystem l uuid=none\nlower fs=l\n", 1, 14,
                "unknown filesystem attribute 'uuid=none'");
    check_error("filesystem\n", 1, 11, "filesystem name");
    check_error("filesystem l uuid=null\nfilesystem l uuid=null\n", 2, 12,
                "duplicate filesystem 'l'");
    check_error("filesystem l uuid=null\nlower\n", 1, 12,
                "filesystem 'l' holds no layer");
    check_error("lower fs=l\nfilesystem l uuid=null\n", 2, 1,
                "'filesystem' must come before the layers");
  }
  SECTION("words after a layer's filesystem") {
    check_error("lower l fs=a x\n", 1, 14, "unexpected 'x'");
  }
  SECTION("a duplicate upper layer") {
    check_error("upper\nupper\n", 2, 1, "duplicate upper");
  }
  SECTION("an unknown entry kind") {
    check_error("lower\n  filee /a\n", 2, 3, "unknown keyword 'filee'");
  }
  SECTION("a relative layer path") {
    check_error("lower\n  file a\n", 2, 8, "bad path 'a': must be absolute");
  }
  SECTION("a layer path with '..'") {
    check_error("lower\n  dir /a/../b\n", 2, 7, "'.' and '..'");
  }
  SECTION("a layer path with an empty component") {
    check_error("lower\n  dir /a//b\n", 2, 7, "empty component");
  }
  SECTION("a layer path ending in a slash") {
    check_error("lower\n  dir /a/\n", 2, 7, "ends in '/'");
  }
  SECTION("a layer path with a name over 255 bytes") {
    check_error("lower\n  file /" + std::string(256, 'n') + "\n", 2, 8,
                "longer than 255");
  }
  SECTION("a path with a NUL byte") {
    check_error("lower\n  file \"/a\\0b\"\n", 2, 8, "NUL");
    check_error("steps\nstat \"/a\\0\"\n", 2, 6, "NUL");
  }
  SECTION("a duplicate entry") {
    check_error("lower\n  file /a\n  dir /a\n", 3, 7,
                "duplicate entry '/a' (first on line 3)");
  }
  SECTION("an entry below a non-directory") {
    check_error("lower\n  file /a\n  file /a/b\n", 3, 8,
                "parent '/a' of '/a/b' is not a directory");
  }
  SECTION("a root that is not a directory") {
    check_error("lower\n  file /\n", 2, 8, "root must be a directory");
  }
  SECTION("a hard link to a missing file or a directory") {
    check_error("lower\n  link /b /a\n", 2, 8, "link target '/a'");
    check_error("lower\n  dir /a\n  link /b /a\n", 3, 8, "link target '/a'");
  }
  SECTION("unquoted file content") {
    check_error("lower\n  file /a hello\n", 2, 11,
                "file content must be quoted");
  }
  SECTION("an unterminated string") {
    check_error("lower\n  file /a \"hello\n", 2, 11, "unterminated string");
  }
  SECTION("a bad escape") {
    check_error("lower\n  file /a \"a\\qb\"\n", 2, 13, "bad escape '\\q'");
    check_error("lower\n  file /a \"\\x4\"\n", 2, 12, "two hex digits");
  }
  SECTION("text glued to a string") {
    check_error("lower\n  file /a \"x\"y\n", 2, 14,
                "unexpected character after a string");
  }
  SECTION("a control character outside a string") {
    check_error("lower\n  file /a\x01\n", 2, 10, "control character");
  }
  SECTION("a bad octal mode") {
    check_error("lower\n  file /a mode=0648\n", 2, 16, "bad octal mode '0648'");
    check_error("lower\n  file /a mode=17777\n", 2, 16, "bad octal mode");
    check_error("steps\nmkdir /a rwx\n", 2, 10, "bad octal mode 'rwx'");
  }
  SECTION("a bad number") {
    check_error("lower\n  file /a uid=x\n", 2, 15, "bad uid 'x'");
    check_error("steps\nread f1 -1\n", 2, 9, "bad count '-1'");
  }
  SECTION("an unknown attribute") {
    check_error("lower\n  file /a colour=red\n", 2, 11,
                "unknown attribute 'colour'");
  }
  SECTION("a duplicate attribute") {
    check_error("lower\n  file /a mode=0600 mode=0644\n", 2, 21,
                "duplicate attribute 'mode'");
  }
  SECTION("a bad device") {
    check_error("lower\n  chardev /c 13\n", 2, 14, "expected MAJOR:MINOR");
    check_error("lower\n  chardev /c a:1\n", 2, 14, "bad device major");
    check_error("lower\n  chardev /c\n", 2, 13, "missing device");
  }
  SECTION("extra words after a whiteout") {
    check_error("lower\n  whiteout /w mode=0644\n", 2, 15, "unexpected");
  }
  SECTION("an empty symlink target") {
    check_error("lower\n  symlink /s \"\"\n", 2, 14, "empty symlink target");
  }
  SECTION("an unknown operation") {
    check_error("steps\nfrob /a\n", 2, 1, "unknown operation 'frob'");
  }
  SECTION("a missing argument") {
    check_error("steps\nrename /a\n", 2, 10, "rename: missing second path");
    check_error("steps\nrename /a -> ok\n", 2, 11, "missing second path");
  }
  SECTION("an extra argument") {
    check_error("steps\nunlink /a /b\n", 2, 11, "unexpected argument '/b'");
  }
  SECTION("a bad file name") {
    check_error("steps\nclose 3\n", 2, 7, "bad file name '3'");
  }
  SECTION("an unknown flag") {
    check_error("steps\nopen f1 /a O_RDONLY|O_BOGUS\n", 2, 21,
                "unknown flag 'O_BOGUS'");
    check_error("steps\nrename /a /b RENAME_SWAP\n", 2, 14, "unknown flag");
  }
  SECTION("an unknown file type for mknod") {
    check_error("steps\nmknod /n door 0644\n", 2, 10, "unknown file type");
  }
  SECTION("a bad time") {
    check_error("steps\nutimens /a 1.5 2\n", 2, 14,
                "nanoseconds need 9 digits");
    check_error("steps\nutimens /a soon 2\n", 2, 12, "bad time 'soon'");
  }
  SECTION("a bad errno name") {
    check_error("steps\nstat /a -> ENOPE\n", 2, 12,
                "unknown errno name 'ENOPE'");
  }
  SECTION("a missing expectation after the arrow") {
    check_error("steps\nstat /a ->\n", 2, 11, "missing expectation");
  }
  SECTION("an expectation that does not fit the operation") {
    check_error("steps\nunlink /a -> 5\n", 2, 14, "unlink returns no value");
    check_error("steps\nread f1 3 -> abc\n", 2, 14, "expected a quoted string");
    check_error("steps\nstat /a -> \"x\"\n", 2, 12, "expected a file type");
    check_error("steps\nreaddir / -> a\n", 2, 14, "expected a list");
    check_error("steps\nwrite f1 \"x\" -> many\n", 2, 17, "bad byte count");
  }
  SECTION("a bad stat result") {
    check_error("steps\nstat /a -> file 0644 colour=1\n", 2, 22,
                "unknown stat field 'colour'");
    check_error("steps\nstat /a -> file\n", 2, 16, "missing mode");
  }
  SECTION("a bad listing") {
    check_error("steps\nreaddir / -> [a:file\n", 2, 21, "unterminated list");
    check_error("steps\nreaddir / -> [a]\n", 2, 15, "expected NAME:TYPE");
    check_error("steps\nreaddir / -> [a:door]\n", 2, 15, "unknown type");
    check_error("steps\nreaddir / -> [a:file] x\n", 2, 23, "after ']'");
  }
  SECTION("words after an expectation") {
    check_error("steps\nunlink /a -> ok now\n", 2, 17, "after the expectation");
  }
  SECTION("a misplaced mount") {
    check_error("steps\nstat /\nmount\n", 3, 1, "first step");
  }
  SECTION("an expectation before any step") {
    check_error("steps\nexpect absent /a\n", 2, 1, "before any step");
  }
  SECTION("an unterminated expect block") {
    check_error("steps\nstat /\nexpect upper\n  file /a\n", 3, 1,
                "unterminated 'expect upper' block");
  }
  SECTION("an operation inside an expect block") {
    check_error("steps\nstat /\nexpect merged\nstat /a\n", 4, 1,
                "missing 'end'");
  }
  SECTION("an end without a block") {
    check_error("steps\nend\n", 2, 1, "'end' without");
  }
  SECTION("an unknown expectation kind") {
    check_error("steps\nstat /\nexpect lower\n", 3, 8,
                "expected upper, merged, absent");
  }
  SECTION("a duplicate steps section") {
    check_error("steps\nsteps\n", 2, 1, "duplicate steps");
  }
}

TEST_CASE("fs= places layers on backing filesystems (INO-02)", "[parser]") {
  SECTION("layers without fs= share one filesystem") {
    Scenario s = parse_ok("title t\nupper\nlower\nlower\n");
    CHECK(s.stack.filesystems.empty());
  }
  SECTION("one name everywhere is one filesystem too") {
    Scenario s = parse_ok("title t\nupper fs=a\nlower fs=a\n");
    CHECK(s.stack.filesystems.empty());
    CHECK(s.upper_fs == "a");
  }
  SECTION("names number the filesystems, upper first, unnamed layers apart") {
    Scenario s = parse_ok(
        "title t\nupper top fs=u\nlower image fs=l\nlower\nlower fs=l\n");
    CHECK(s.upper_label == "top");
    CHECK(s.lower_labels[0] == "image");
    CHECK(s.lower_fs == std::vector<std::string>{"l", "", "l"});
    CHECK(s.stack.filesystems == std::vector<unsigned>{0, 1, 2, 1});
  }
  SECTION("a read-only stack numbers its lower layers") {
    Scenario s = parse_ok("title t\nlower fs=x\nlower fs=y\n");
    CHECK(s.stack.filesystems == std::vector<unsigned>{0, 1});
  }
  SECTION("a filesystem line gives one a null UUID (INO-04)") {
    Scenario s =
        parse_ok("title t\nfilesystem l uuid=null\nupper fs=u\nlower fs=l\n");
    CHECK(s.null_uuid_fs == std::vector<std::string>{"l"});
    CHECK(s.stack.null_uuid == std::vector<unsigned>{1});
  }
}

TEST_CASE("a mounter line says who mounts the overlay", "[parser]") {
  SECTION("root of the initial namespace by default") {
    CHECK_FALSE(parse_ok("title t\nupper\nlower\n").userns);
    CHECK_FALSE(parse_ok("title t\nmounter root\nupper\nlower\n").userns);
  }
  SECTION("root of a user namespace, with userxattr") {
    Scenario s =
        parse_ok("title t\nmounter userns\noptions userxattr\nlower\n");
    CHECK(s.userns);
    CHECK(mounter_of(s).userns);
    CHECK(mounter_of(s).is_root());
    CHECK_FALSE(mounter_of(s).capable());
  }
  SECTION("errors") {
    check_error("mounter\n", 1, 8, "missing 'root' or 'userns'");
    check_error("mounter nobody\n", 1, 9, "unknown mounter 'nobody'");
    check_error("mounter root root\n", 1, 14, "unexpected");
    check_error("mounter root\nmounter root\n", 2, 1, "duplicate mounter line");
    check_error("mounter userns\nlower\n", 1, 9,
                "'mounter userns' needs the userxattr option");
    check_error("lower\nmounter root\n", 2, 1, "must come before");
    check_error("steps\nmounter root\n", 2, 1, "must come before");
  }
}

TEST_CASE("a bare shorthand after a file's path is an attribute", "[parser]") {
  // Found by the parser fuzzer: "file /x uuid" was rejected as unquoted
  // content, although "file /x user.a=b uuid" was read, so a written
  // trace did not parse again.
  Scenario s = parse_ok(
      "title t\n"
      "upper\n"
      "  file /x uuid user.foo=bar\n"
      "  file /y opaque=n\n");
  const model::Layer& upper = *s.stack.upper;
  const model::Inode& x = upper.inode(*upper.find("/x"));
  CHECK(x.data.empty());
  CHECK(x.xattr("trusted.overlay.uuid") == "");
  CHECK(x.xattr("user.foo") == "bar");
  CHECK(upper.inode(*upper.find("/y")).xattr("trusted.overlay.opaque") == "n");

  SECTION("a word that is no attribute is still unquoted content") {
    check_error("upper\n  file /x data\n", 2, 11,
                "file content must be quoted");
  }
}

TEST_CASE("title and description lines are free text", "[parser]") {
  Scenario s = parse_ok(
      "title It's a \"quote # not a comment\n"
      "description a lone \" and [ are text\n");
  CHECK(s.title == "It's a \"quote # not a comment");
  CHECK(s.description == "a lone \" and [ are text");

  SECTION("a control character in them is an error") {
    // Found by the parser fuzzer: a '\r' kept in a title was lost when
    // the written trace was read again.
    ParseError err = parse_bad("title a\r\t\nsteps\n");
    CHECK(err.line == 1);
    CHECK(err.col == 8);
    CHECK_THAT(err.message, Catch::Contains("control character"));
  }
  SECTION("out of place, they are still errors") {
    check_error("steps\ntitle x \"\n", 2, 1, "must come before the steps");
  }
}

TEST_CASE("ParseError formats as FILE:LINE:COL", "[parser][errors]") {
  ParseError err{"x.trace", 3, 7, "bad thing"};
  CHECK(err.str() == "x.trace:3:7: bad thing");
  ParseError io{"gone.trace", 0, 0, "cannot read the file"};
  CHECK(io.str() == "gone.trace: cannot read the file");
}

TEST_CASE("parse_trace_file reports a missing file", "[parser][errors]") {
  auto r = parse_trace_file("/nonexistent/dir/x.trace");
  REQUIRE(std::holds_alternative<ParseError>(r));
  CHECK(std::get<ParseError>(r).line == 0);
}

}  // namespace
}  // namespace ovlsim::trace
