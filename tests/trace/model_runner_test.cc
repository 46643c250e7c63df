#include "trace/model_runner.h"

#include <catch2/catch.hpp>
#include <string>
#include <variant>

#include "trace/parser.h"

namespace ovlsim::trace {
namespace {

Scenario parse_ok(const std::string& text) {
  auto r = parse_trace(text, "t.trace");
  if (auto* err = std::get_if<ParseError>(&r))
    FAIL(err->str());
  return std::get<Scenario>(r);
}

const char* const kStack =
    "title t\n"
    "upper\n"
    "lower\n"
    "  file /a \"lower\"\n"
    "steps\n";

TEST_CASE("ModelRunner maps trace file names to descriptors",
          "[model_runner]") {
  Scenario s = parse_ok(std::string(kStack) +
                        "open f1 /a O_RDWR\n"
                        "write f1 \"LOW\"\n"
                        "close f1\n"
                        "read f1 1\n");
  ModelRunner runner;
  REQUIRE(runner.mount(s).ok());
  CHECK(runner.apply(s.steps[0].op).ok());
  CHECK(std::get<std::size_t>(runner.apply(s.steps[1].op).value) == 3);
  CHECK(runner.apply(s.steps[2].op).ok());
  SECTION("a closed name is not open") {
    CHECK(runner.apply(s.steps[3].op).err == EBADF);
  }
  SECTION("the write went to a copy in the upper layer") {
    const model::Layer* upper = runner.overlay().upper();
    REQUIRE(upper != nullptr);
    REQUIRE(upper->find("/a"));
    CHECK(upper->inode(*upper->find("/a")).data == "LOWer");
  }
}

TEST_CASE("ModelRunner refuses a mount with a bad option", "[model_runner]") {
  Scenario s = parse_ok("title t\noptions bogus\nupper\nlower\n");
  ModelRunner runner;
  CHECK(runner.mount(s).err == EINVAL);
  CHECK_FALSE(runner.mounted());
}

TEST_CASE("run_on_model reports the first failing step", "[model_runner]") {
  SECTION("a wrong outcome") {
    Scenario s = parse_ok(std::string(kStack) +
                          "stat /a -> ok\n"
                          "unlink /a -> ENOENT\n");
    RunReport r = run_on_model(s);
    CHECK_FALSE(r.passed);
    CHECK(r.line == 7);
    CHECK(r.step == "unlink /a");
    CHECK(r.expected == "ENOENT");
    CHECK(r.actual == "ok");
  }
  SECTION("a wrong state") {
    Scenario s = parse_ok(std::string(kStack) +
                          "unlink /a -> ok\n"
                          "expect file /a \"lower\"\n");
    RunReport r = run_on_model(s);
    CHECK_FALSE(r.passed);
    CHECK(r.line == 7);
    CHECK(r.actual == "merged /a: expected file, found nothing");
  }
  SECTION("a passing trace") {
    Scenario s = parse_ok(std::string(kStack) +
                          "unlink /a -> ok\n"
                          "expect absent /a\n");
    CHECK(run_on_model(s).passed);
  }
}

TEST_CASE("run_on_model records missing expectations", "[model_runner]") {
  Scenario s = parse_ok(std::string(kStack) +
                        "stat /nope\n"
                        "unlink /a\n"
                        "expect merged\n"
                        "end\n");
  RunReport r = run_on_model(s, true);
  REQUIRE(r.passed);
  REQUIRE(r.recorded.steps[0].expect);
  CHECK(r.recorded.steps[0].expect->err == ENOENT);
  REQUIRE(r.recorded.steps[1].expect);
  CHECK(r.recorded.steps[1].expect->err == 0);
  const model::Layer& merged = r.recorded.steps[1].states[0].tree;
  CHECK_FALSE(merged.find("/a"));

  SECTION("the recording passes when run again") {
    Scenario again = r.recorded;
    for (Step& step : again.steps)
      for (ExpectedState& state : step.states)
        state.to_record = false;
    CHECK(run_on_model(again).passed);
  }
}

}  // namespace
}  // namespace ovlsim::trace
