// The tracking engine's messages against the golden vectors: in per-field mode every track()
// must produce the very bytes the official Python client sent (values.json ws_batch_*).
#include "tracking/batch_builder.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/wire/typed_json.h"
#include "wire/codec.h"
#include "wire/hash.h"

namespace aim::tracking {
namespace {

using test_vectors::BytesToHex;

constexpr char kRunHash[] = "aaaabbbbccccdddd11112222";
constexpr char kMeta[] = "11111111-1111-4111-8111-111111111111";
constexpr char kSeqs[] = "22222222-2222-4222-8222-222222222222";
constexpr double kTime = 1700000000.25;

class GoldenMessages : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<nlohmann::json> values =
        test_vectors::ReadJsonFile(AIMCPP_VECTORS_DIR "/values.json");
    ASSERT_TRUE(values.ok()) << values.status();
    for (const nlohmann::json& c : (*values)["cases"]) {
      expected_[c["id"].get<std::string>()] = c["packed_hex"].get<std::string>();
    }
  }

  std::string Expected(const std::string& id) {
    auto it = expected_.find(id);
    EXPECT_NE(it, expected_.end()) << "missing vector " << id;
    return it == expected_.end() ? "" : it->second;
  }

  std::map<std::string, std::string> expected_;
};

std::string TrackOne(BatchBuilder& builder, SequenceInfo& seq, Number value,
                     std::optional<std::int64_t> step, std::optional<std::int64_t> epoch) {
  EXPECT_TRUE(builder.AddPoint(Point{&seq, value, step, epoch, kTime}).ok());
  return BytesToHex(builder.Finish());
}

// The scenario_basic calls, in order, one message per track() as the Python client sends.
TEST_F(GoldenMessages, PerFieldModeReproducesThePythonClientByteForByte) {
  BatchBuilder builder(kRunHash, kMeta, kSeqs, BatchOptions{.per_field = true});
  Context train(Value::MakeDict({{"subset", "train"}}));
  Context val(Value::MakeDict({{"subset", "val"}}));
  SequenceInfo loss("loss", train), correct("correct", val), lr("lr", Context());

  EXPECT_EQ(TrackOne(builder, loss, 2.5, 0, 0), Expected("ws_batch_first_track_loss"));
  EXPECT_EQ(TrackOne(builder, loss, 2.25, 1, 0), Expected("ws_batch_second_track_loss"));
  for (int step = 2; step < 10; ++step) TrackOne(builder, loss, 2.5 - 0.25 * step, step, step / 5);
  EXPECT_EQ(TrackOne(builder, correct, 50, 0, std::nullopt),
            Expected("ws_batch_first_track_correct_int"));
  EXPECT_EQ(TrackOne(builder, lr, 0.001, std::nullopt, std::nullopt),
            Expected("ws_batch_first_track_lr_noctx"));
  EXPECT_EQ(TrackOne(builder, loss, 3.0, 3, 0), Expected("ws_batch_backfill_loss_step3"));
}

TEST(BatchBuilder, CoalescedModeWritesMetaOncePerMessageWithFinalValues) {
  BatchBuilder builder(kRunHash, kMeta, kSeqs, BatchOptions{.use_update = true});
  SequenceInfo loss("loss", Context());
  ASSERT_TRUE(builder.AddPoint(Point{&loss, 1.0, std::nullopt, std::nullopt, kTime}).ok());
  builder.Finish();  // the sequence is started
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(builder.AddPoint(Point{&loss, 1.0 + i, std::nullopt, std::nullopt, kTime}).ok());
  }
  // 4 column updates + last + last_step + max; min unchanged.
  EXPECT_EQ(builder.points(), 100u);
  std::string message = builder.Finish();
  absl::StatusOr<Value> decoded = wire::UnpackTree(message);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->list().size(), 7u);
  std::vector<std::string> methods;
  for (const Value& instruction : decoded->list()) methods.push_back(instruction.list()[1].string_value());
  EXPECT_THAT(methods, ::testing::ElementsAre("update", "update", "update", "update",
                                              "__setitem__", "__setitem__", "__setitem__"));
  const Value& last_args = decoded->list()[4].list()[2];
  EXPECT_EQ(last_args.list()[1], Value(100.0));
  EXPECT_EQ(loss.count, 101);
  // The update pairs, written straight into the message, are exactly what encoding the
  // whole tree would give.
  EXPECT_EQ(wire::Pack(*decoded).value(), message);
  const Value::List& pairs = decoded->list()[0].list()[2].list()[1].list();
  ASSERT_EQ(pairs.size(), 100u);
  EXPECT_EQ(pairs[41], Value::MakeList({wire::HashNumber(42), 42.0}));
}

TEST(BatchBuilder, ARetractedMessageIsIntroducedAgainByTheNextPoint) {
  BatchBuilder builder(kRunHash, kMeta, kSeqs, BatchOptions{.per_field = true});
  SequenceInfo loss("loss", Context({{"subset", "train"}}));
  ASSERT_TRUE(builder.AddPoint(Point{&loss, 2.5, 0, 0, kTime}).ok());
  const std::string refused = builder.Finish();
  builder.Retract();  // e.g. the server answered it with an error reply
  ASSERT_TRUE(builder.AddPoint(Point{&loss, 2.5, 0, 0, kTime}).ok());
  EXPECT_EQ(builder.Finish(), refused) << "the sequence and its context are written again";
}

TEST(BatchBuilder, IntAndFloatMixIntoNumberAsAimDoes) {
  BatchBuilder builder(kRunHash, kMeta, kSeqs, BatchOptions{.per_field = true});
  SequenceInfo seq("acc", Context());
  ASSERT_TRUE(builder.AddPoint(Point{&seq, 1, 0, std::nullopt, kTime}).ok());
  builder.Finish();
  ASSERT_TRUE(builder.AddPoint(Point{&seq, 0.5, 1, std::nullopt, kTime}).ok());
  absl::StatusOr<Value> decoded = wire::UnpackTree(builder.Finish());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  // traces_types 'number', typed_traces, dtype 'number' come first.
  const Value& dtype_args = decoded->list()[2].list()[2];
  EXPECT_EQ(dtype_args.list()[1], Value("number"));
  EXPECT_EQ(seq.dtype, "number");
}

}  // namespace
}  // namespace aim::tracking
