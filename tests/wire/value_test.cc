#include "aim/value.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace aim {
namespace {

TEST(ValueTest, BraceListOfStringPairsIsADict) {
  const Value v = {{"lr", 0.001}, {"layers", {64, 32}}, {"opt", {{"name", "adam"}}}};
  ASSERT_EQ(v.kind(), Value::Kind::kDict);
  ASSERT_EQ(v.dict().size(), 3u);
  EXPECT_EQ(v.dict()[0].first, Key("lr"));
  EXPECT_EQ(v.dict()[0].second.kind(), Value::Kind::kDouble);
  EXPECT_EQ(v.dict()[1].second, Value::MakeList({64, 32}));
  EXPECT_EQ(v.dict()[2].second.kind(), Value::Kind::kDict);
  EXPECT_EQ(v.DebugString(), "{'lr': 0.001, 'layers': [64, 32], 'opt': {'name': 'adam'}}");
}

TEST(ValueTest, OtherBraceListsAreLists) {
  EXPECT_EQ(Value({64, 32}).kind(), Value::Kind::kList);
  EXPECT_EQ(Value({"a", "b", "c"}).kind(), Value::Kind::kList);
  EXPECT_EQ(Value({{"a", 1}, 2}).kind(), Value::Kind::kList);  // not every element is a pair
  EXPECT_EQ(Value({{1, 2}, {3, 4}}).kind(), Value::Kind::kList);  // int first elements
  // MakeList keeps a list of string pairs a list.
  EXPECT_EQ(Value::MakeList({Value({"a", 1})}).list()[0].kind(), Value::Kind::kList);
}

TEST(ValueTest, IntAndDoubleStayDistinct) {
  EXPECT_EQ(Value(1).kind(), Value::Kind::kInt);
  EXPECT_EQ(Value(std::uint8_t{1}).kind(), Value::Kind::kInt);
  EXPECT_EQ(Value(1.0f).kind(), Value::Kind::kDouble);
  EXPECT_EQ(Value(true).kind(), Value::Kind::kBool);
  EXPECT_NE(Value(1), Value(1.0));
  EXPECT_NE(Value(1), Value(true));
  EXPECT_NE(Value("a"), Value::MakeBytes("a"));
}

TEST(ValueTest, DoublesCompareByBitPattern) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(Value(nan), Value(nan));
  EXPECT_NE(Value(0.0), Value(-0.0));
  EXPECT_NE(Value(nan), Value(-nan));
}

TEST(ValueTest, ObjectsAndBlobs) {
  const Value text = Value::MakeObject("aim.text", {{"data", Value::MakeBlob("hi")}});
  EXPECT_EQ(text.object_type(), "aim.text");
  EXPECT_EQ(text.object_items()[0].second.blob_inner(), Value("hi"));
  const Value copy = text;
  EXPECT_EQ(copy, text);
  EXPECT_NE(text, Value::MakeObject("aim.text", {{"data", Value::MakeBlob("ho")}}));
  EXPECT_EQ(text.DebugString(), "<aim.text {'data': BLOB('hi')}>");
}

TEST(ValueTest, DebugStringIsPythonLike) {
  EXPECT_EQ(Value().DebugString(), "None");
  EXPECT_EQ(Value(true).DebugString(), "True");
  EXPECT_EQ(Value(-5).DebugString(), "-5");
  EXPECT_EQ(Value(1.0).DebugString(), "1.0");
  EXPECT_EQ(Value(0.1).DebugString(), "0.1");
  EXPECT_EQ(Value(1e-5).DebugString(), "1e-05");
  EXPECT_EQ(Value(1e16).DebugString(), "1e+16");
  EXPECT_EQ(Value(123456789012345.0).DebugString(), "123456789012345.0");
  EXPECT_EQ(Value(1.5e300).DebugString(), "1.5e+300");
  EXPECT_EQ(Value(-0.0).DebugString(), "-0.0");
  EXPECT_EQ(Value(std::numeric_limits<double>::infinity()).DebugString(), "inf");
  EXPECT_EQ(Value(std::nan("")).DebugString(), "nan");
  EXPECT_EQ(Value("it's").DebugString(), "\"it's\"");
  EXPECT_EQ(Value("a\nb\x01").DebugString(), "'a\\nb\\x01'");
  EXPECT_EQ(Value::MakeBytes("\x01\xfe" "a").DebugString(), "b'\\x01\\xfea'");
  EXPECT_EQ(Value::MakeDict({{7, Value::MakeList()}}).DebugString(), "{7: []}");
}

}  // namespace
}  // namespace aim
