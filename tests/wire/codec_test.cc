// Codec behaviour the golden vectors do not pin: strictness, bounds, error shapes.
#include "wire/codec.h"

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/wire/typed_json.h"

namespace aim::wire {
namespace {

using test_vectors::BytesToHex;

std::string Record1(std::string_view key, std::string_view value) {
  std::string out;
  AppendRecord(key, value, false, Framing::kStream, &out);
  return out;
}

std::string IntKey(std::int64_t i) {
  std::string out;
  EXPECT_TRUE(AppendKey(Key(i), &out).ok());
  return out;
}

TEST(CodecTest, FailedAppendTreeLeavesTheBufferAlone) {
  std::string out = "keep";
  const Value bad = Value::MakeList({1, 2, Value::MakeDict({{"ok", 1}, {"", 2}})});
  absl::Status s = AppendTree(bad, "", Framing::kStream, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out, "keep");
}

TEST(CodecTest, EncoderRejectsWhatAimCannotDecode) {
  EXPECT_FALSE(Pack(Value(std::string("\xff"))).ok());                  // str value
  EXPECT_FALSE(Pack(Value::MakeDict({{"\xc3\x28", 1}})).ok());          // str key
  EXPECT_FALSE(Pack(Value::MakeDict({{"", 1}})).ok());                  // empty key
  EXPECT_FALSE(Pack(Value::MakeObject("aim.nope", {})).ok());           // unregistered
  EXPECT_FALSE(Pack(Value::MakeObject("aim.text\xff", {})).ok());       // bad UTF-8 name
  EXPECT_FALSE(Pack(Value::MakeBlob(Value::MakeList({1}))).ok());       // BLOB of a list
  EXPECT_FALSE(Pack(Value::MakeBlob("x"), Framing::kArgs).ok());        // 3.18 args
  EXPECT_TRUE(Pack(Value::MakeBytes("\xff\xfe")).ok());                 // bytes are raw
  EXPECT_FALSE(EncodePath(Path{Key("a"), Key("")}).ok());
}

TEST(CodecTest, SurrogatesAndOverlongUtf8AreInvalid) {
  EXPECT_FALSE(Pack(Value(std::string("\xed\xa0\x80"))).ok());  // U+D800
  EXPECT_FALSE(Pack(Value(std::string("\xc0\xaf"))).ok());      // overlong '/'
  EXPECT_FALSE(Pack(Value(std::string("\xf4\x90\x80\x80"))).ok());  // > U+10FFFF
  EXPECT_TRUE(Pack(Value(std::string("\xf4\x8f\xbf\xbf"))).ok());   // U+10FFFF
}

TEST(CodecTest, DeepValuesAreRejectedBothWays) {
  Value deep = 1;
  for (size_t i = 0; i < kMaxPathDepth + 1; ++i) deep = Value::MakeList({deep});
  EXPECT_FALSE(Pack(deep).ok());

  std::string key;
  for (size_t i = 0; i < kMaxPathDepth + 1; ++i) key += "a\xfe";
  absl::StatusOr<Value> v = UnpackTree(Record1(key, std::string("\x00", 1)));
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(absl::StrContains(v.status().message(), "deeper")) << v.status();
}

TEST(CodecTest, ListPaddingIsBoundedByTheInput) {
  const std::string flag(1, '\x06');
  const std::string none(1, '\x00');
  // A gap of 5 is fine (the records carry more than 5 bytes)...
  absl::StatusOr<Value> ok = UnpackTree(Record1("", flag) + Record1(IntKey(5), none));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->list().size(), 6u);
  // ...a hash-sized index (a v2 sequence column) is not.
  absl::StatusOr<Value> bad =
      UnpackTree(Record1("", flag) + Record1(IntKey(std::int64_t{1} << 40), none));
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "padding")) << bad.status();
  // Out-of-order indexes would overwrite padding.
  EXPECT_FALSE(UnpackTree(Record1("", flag) + Record1(IntKey(2), none) +
                          Record1(IntKey(1), none))
                   .ok());
}

TEST(CodecTest, ErrorsNameTheOffset) {
  const std::string good = Record1("", std::string("\x02\x01\0\0\0\0\0\0\0", 9));
  absl::StatusOr<Value> v = UnpackTree(good + "\x07");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(v.status().message(), "offset 18")) << v.status();

  v = UnpackTree(good + Record1("a\xfe", "\x02\x01"));
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(absl::StrContains(v.status().message(), "record 1 at offset 18")) << v.status();
}

TEST(CodecTest, ScalarsRoundTripThroughDecodeScalar) {
  for (const Value& v : {Value(), Value(false), Value(-7), Value(2.5), Value("x"),
                         Value::MakeBytes(""), Value::MakeList(), Value::MakeDict(),
                         Value::MakeObject("aim.resource", {})}) {
    std::string enc;
    ASSERT_TRUE(AppendScalar(v, &enc).ok());
    absl::StatusOr<Value> back = DecodeScalar(enc);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, v);
  }
  EXPECT_FALSE(DecodeScalar("").ok());
  EXPECT_FALSE(DecodeScalar("\x08").ok());
}

TEST(CodecTest, DecodePathIsStrict) {
  EXPECT_TRUE(DecodePath("").ok());
  EXPECT_FALSE(DecodePath("abc").ok());                   // no sentinel
  EXPECT_FALSE(DecodePath("\xfe").ok());                  // lone sentinel
  EXPECT_FALSE(DecodePath(std::string("\xfe\0\0\0\0\0\0\0\x01x", 10)).ok());
  absl::StatusOr<Path> p = DecodePath(std::string("\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xfe", 10));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(BytesToHex(*EncodePath(*p)), "fefefefefefefefefefe");
}

TEST(CodecTest, KArgsFramingHasNoBlobByte) {
  absl::StatusOr<std::string> args = Pack(Value::MakeDict(), Framing::kArgs);
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(BytesToHex(*args), "000000000100000007");
  absl::StatusOr<std::vector<Record>> recs = Unpack(*args, Framing::kArgs);
  ASSERT_TRUE(recs.ok());
  ASSERT_EQ(recs->size(), 1u);
  EXPECT_EQ((*recs)[0], (Record{"", "\x07", false}));
}

}  // namespace
}  // namespace aim::wire
