#include "tests/support/server/fake_repo.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wire/codec.h"

namespace aim::test_server {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;

constexpr char kClient[] = "5d7d3aa4-0000-4000-8000-000000000001";
constexpr char kHash[] = "668458c785e24a678bfc6ce3";

Value TreeKwargs(std::string_view name, bool with_from_union = false) {
  Value::Dict d = {{"name", Value(name)}, {"sub", Value(kHash)}, {"read_only", false}};
  if (with_from_union) d.emplace_back("from_union", true);
  d.emplace_back("index", false);
  d.emplace_back("timeout", Value());
  return Value::MakeDict(std::move(d));
}

Value Path(std::initializer_list<Key> keys) {
  Value::List l;
  for (const Key& k : keys) {
    if (const auto* s = std::get_if<std::string>(&k)) l.emplace_back(*s);
    else l.emplace_back(std::get<std::int64_t>(k));
  }
  return Value::MakeList(std::move(l));
}

class FakeAimRepoTest : public ::testing::Test {
 protected:
  std::string Create(std::string_view type, const Value& kwargs) {
    auto [h, err] = repo_.GetResource(kClient, "", type, &kwargs);
    EXPECT_FALSE(err.has_value()) << err->message;
    return h;
  }
  std::optional<AimError> Write(const std::string& h, std::string_view method, Value::List args) {
    Value ins = Value::MakeList(
        {Value::MakeList({Value(h), Value(method), Value::MakeList(std::move(args))})});
    return repo_.WriteInstructions(kClient, ins, 100);
  }
  FakeAimRepo repo_;
};

TEST_F(FakeAimRepoTest, ErrorShapesMatchTheObservedOnes) {
  auto [h1, unknown] = repo_.GetResource(kClient, "", "Nope", nullptr);
  EXPECT_THAT(unknown, Optional(AimError{"builtins", "KeyError", "[\"Nope\"]", "'Nope'"}));
  const Value no_name = Value::MakeDict({{"sub", Value(kHash)}});
  auto [h2, missing] = repo_.GetResource(kClient, "", "TreeView", &no_name);
  EXPECT_THAT(missing, Optional(AimError{"builtins", "KeyError", "[\"name\"]", "'name'"}));

  const std::string meta = Create("TreeView", TreeKwargs("meta"));
  InstructionResult r = repo_.ReadInstruction(
      kClient, meta, "collect", Value::MakeList({Path({"meta", "chunks", kHash, "traces"}), true, false}));
  const std::string text = std::string("No key ['meta', 'chunks', '") + kHash + "', 'traces'] is present.";
  EXPECT_THAT(r.error, Optional(AimError{"builtins", "KeyError", "[\"" + text + "\"]",
                                         "\"" + text + "\""}));
  r = repo_.ReadInstruction(kClient, meta, "first_key", Value::MakeList({Path({"meta", "attrs"})}));
  EXPECT_THAT(r.error, Optional(AimError{"builtins", "StopIteration", "[]", ""}));

  r = repo_.ReadInstruction("another-client", meta, "preload", Value::MakeList());
  EXPECT_THAT(r.error, Optional(AimError{"aim.ext.transport.tracking", "UnauthorizedRequestError",
                                         "[\"" + meta + "\"]", meta}));
  EXPECT_THAT(Write("bad-handler", "__setitem__", {}),
              Optional(AimError{"aim.ext.transport.tracking", "UnauthorizedRequestError",
                                "[\"bad-handler\"]", "bad-handler"}));
}

TEST_F(FakeAimRepoTest, FromUnionIsRequiredByOldServersOnly) {
  repo_.SetRequireFromUnion(true);
  const Value kw = TreeKwargs("meta");
  auto [h, err] = repo_.GetResource(kClient, "", "TreeView", &kw);
  EXPECT_THAT(err, Optional(AimError{"builtins", "KeyError", "[\"from_union\"]", "'from_union'"}));
  Create("TreeView", TreeKwargs("meta", /*with_from_union=*/true));
}

TEST_F(FakeAimRepoTest, ScalarSetDeletesWhatLiesBelowIt) {
  const std::string meta = Create("TreeView", TreeKwargs("meta"));
  ASSERT_EQ(Write(meta, "__setitem__", {Path({"a", "b", "c"}), 1}), std::nullopt);
  // A write next to it, in the parent of the subtree: the write after it takes a shortcut
  // for keys with nothing below them, which must not apply to ("a", "b").
  ASSERT_EQ(Write(meta, "__setitem__", {Path({"a", "x"}), 2}), std::nullopt);
  ASSERT_EQ(Write(meta, "__setitem__", {Path({"a", "b"}), 3}), std::nullopt);
  std::vector<std::pair<std::string, std::string>> want = {
      {"a\xfe" "b\xfe", std::string("\x02\x03\0\0\0\0\0\0\0", 9)},
      {"a\xfex\xfe", std::string("\x02\x02\0\0\0\0\0\0\0", 9)}};
  EXPECT_EQ(repo_.Records("meta", kHash), want);
}

TEST_F(FakeAimRepoTest, SetItemReplacesTheWholeSubtree) {
  const std::string meta = Create("TreeView", TreeKwargs("meta"));
  ASSERT_EQ(Write(meta, "__setitem__", {Path({"a"}), Value{{"x", 1}, {"y", Value::MakeList({1, 2})}}}),
            std::nullopt);
  ASSERT_EQ(Write(meta, "__setitem__", {Path({"ab"}), 5}), std::nullopt);
  ASSERT_EQ(Write(meta, "__setitem__", {Path({"a"}), Value{{"z", "s"}}}), std::nullopt);
  std::vector<std::pair<std::string, std::string>> want = {
      // Bytewise order: 'b' (0x62) sorts before the 0xFE sentinel.
      {"ab\xfe", std::string("\x02\x05\0\0\0\0\0\0\0", 9)}, {"a\xfez\xfe", "\x04s"}};
  EXPECT_EQ(repo_.Records("meta", kHash), want);

  InstructionResult r = repo_.ReadInstruction(kClient, meta, "collect",
                                              Value::MakeList({Path({"a"}), true, false}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value, (Value{{"z", "s"}}));
  r = repo_.ReadInstruction(kClient, meta, "keys_eager", Value::MakeList({Path({})}));
  EXPECT_EQ(r.value, Value::MakeList({"ab", "a"}));
  ASSERT_EQ(Write(meta, "__delitem__", {Path({"a"})}), std::nullopt);
  EXPECT_EQ(repo_.Records("meta", kHash).size(), 1u);
}

TEST_F(FakeAimRepoTest, UpdateExistsFrom324AndEqualsSetItemPerKey) {
  const std::string seqs = Create("TreeView", TreeKwargs("seqs"));
  const Value column = Path({"seqs", "v2", "val"});
  ASSERT_EQ(Write(seqs, "make_array", {column}), std::nullopt);
  ASSERT_EQ(Write(seqs, "update", {column, Value::MakeList({Value::MakeList({Value(std::int64_t{-5}), 0.5}),
                                                           Value::MakeList({Value(std::int64_t{7}), 0.25})})}),
            std::nullopt);
  InstructionResult r = repo_.ReadInstruction(kClient, seqs, "items_eager", Value::MakeList({column}));
  ASSERT_TRUE(r.ok()) << r.error->message;
  // Storage order: non-negative int keys first.
  EXPECT_EQ(r.value, Value::MakeList({Value::MakeList({7, 0.25}), Value::MakeList({-5, 0.5})}));

  repo_.SetVersion("3.23.1");
  EXPECT_FALSE(repo_.HasTreeViewUpdate());
  EXPECT_THAT(Write(seqs, "update", {column, Value::MakeList()}),
              Optional(AimError{"builtins", "AttributeError",
                                "[\"'ContainerTreeView' object has no attribute 'update'\"]",
                                "'ContainerTreeView' object has no attribute 'update'"}));
  ServerCounters c = repo_.Counters();
  EXPECT_EQ(c.write_messages, 3u);
  EXPECT_EQ(c.write_instructions, 3u);
  EXPECT_EQ(c.per_method["update"], 2u);
  EXPECT_EQ(c.write_bytes, 300u);
}

TEST_F(FakeAimRepoTest, RestartDropsHandlersAndLocksButKeepsRecords) {
  const std::string meta = Create("TreeView", TreeKwargs("meta"));
  const std::string lock = Create("Lock", Value{{"run_hash", kHash}});
  repo_.Connect(kClient);
  ASSERT_TRUE(repo_.ReadInstruction(kClient, lock, "lock", Value::MakeList({false})).ok());
  EXPECT_TRUE(repo_.IsLocked(kHash));
  // A second Lock object on the same run cannot take it.
  const std::string lock2 = Create("Lock", Value{{"run_hash", kHash}});
  InstructionResult r = repo_.ReadInstruction(kClient, lock2, "lock", Value::MakeList({false}));
  ASSERT_TRUE(r.error.has_value());
  EXPECT_EQ(r.error->class_name, "Timeout");
  ASSERT_EQ(Write(meta, "__setitem__", {Path({"k"}), 1}), std::nullopt);

  repo_.Restart();
  EXPECT_FALSE(repo_.IsLocked(kHash));
  EXPECT_TRUE(repo_.ConnectedClients().empty());
  EXPECT_EQ(repo_.LiveResources(), 0u);
  EXPECT_EQ(repo_.Records("meta", kHash).size(), 1u);
  EXPECT_TRUE(Write(meta, "__setitem__", {Path({"k"}), 2}).has_value());
  // Re-creating with the same handler (what a reconnecting client does) works again.
  const Value kw = TreeKwargs("meta");
  auto [h, err] = repo_.GetResource(kClient, meta, "TreeView", &kw);
  EXPECT_EQ(h, meta);
  EXPECT_EQ(Write(meta, "__setitem__", {Path({"k"}), 2}), std::nullopt);
}

TEST_F(FakeAimRepoTest, StructuredRunPropsAndTags) {
  const Value kw = Value{{"hash_", kHash}, {"read_only", false}, {"created_at", Value()}};
  const std::string props = Create("StructuredRun", kw);
  EXPECT_THAT(repo_.RunHashes(), ElementsAre(kHash));
  EXPECT_EQ(repo_.Props(kHash)->name, std::string("Run: ") + kHash);
  ASSERT_EQ(Write(props, "name.setter", {"my run"}), std::nullopt);
  ASSERT_EQ(Write(props, "experiment.setter", {"exp"}), std::nullopt);
  ASSERT_EQ(Write(props, "archived.setter", {true}), std::nullopt);
  EXPECT_TRUE(repo_.ReadInstruction(kClient, props, "add_tag", Value::MakeList({"x"})).ok());
  EXPECT_EQ(repo_.ReadInstruction(kClient, props, "name", Value::MakeList()).value, Value("my run"));
  EXPECT_EQ(repo_.ReadInstruction(kClient, props, "remove_tag", Value::MakeList({"y"})).value,
            Value(false));
  const RunProps p = *repo_.Props(kHash);
  EXPECT_EQ(p.experiment, "exp");
  EXPECT_TRUE(p.archived);
  EXPECT_THAT(p.tags, ElementsAre("x"));
  // A getter is not a callable: the write path refuses it.
  EXPECT_THAT(Write(props, "name", {}), Optional(AimError{"builtins", "AssertionError", "[]", ""}));
}

TEST_F(FakeAimRepoTest, FileManagerTouchCleansUpAndPollFindsNewest) {
  const std::string fm = Create("FileManager", Value::MakeDict());
  const std::string h = kHash;
  ASSERT_EQ(Write(fm, "touch", {h + "-0000000000000001-check_in-1.00-00030", h + "-*-check_in-*-*"}),
            std::nullopt);
  ASSERT_EQ(Write(fm, "touch", {h + "-0000000000000002-check_in-2.00-00030", h + "-*-check_in-*-*"}),
            std::nullopt);
  EXPECT_THAT(repo_.CheckIns(), ElementsAre(h + "-0000000000000002-check_in-2.00-00030"));
  EXPECT_EQ(repo_.ReadInstruction(kClient, fm, "poll", Value::MakeList({h + "-*-*-*-*"})).value,
            Value(h + "-0000000000000002-check_in-2.00-00030"));
  EXPECT_EQ(repo_.ReadInstruction(kClient, fm, "poll", Value::MakeList({"zz*"})).value, Value());
}

}  // namespace
}  // namespace aim::test_server
