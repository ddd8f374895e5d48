// decode(encode(v)) == v for random nested values (seeded, reproducible).
#include <bit>
#include <cstdint>
#include <random>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "wire/codec.h"
#include "wire/hash.h"

namespace aim::wire {
namespace {

class RandomValues {
 public:
  explicit RandomValues(std::uint64_t seed) : rng_(seed) {}

  Value Make(int depth) {
    const int kinds = depth >= 4 ? 7 : 11;  // containers only near the top
    switch (Pick(kinds)) {
      case 0: return Value();
      case 1: return Value(Pick(2) == 1);
      case 2: return Value(Int());
      case 3: return Value(Double());
      case 4: return Value(Utf8(Pick(12)));
      case 5: return Value::MakeBytes(Bytes(Pick(12)));
      case 6: return Value::MakeBlob(Pick(2) ? Value(Utf8(Pick(8))) : Value::MakeBytes(Bytes(8)));
      case 7: {
        Value::List list;
        for (int n = Pick(5); n > 0; --n) list.push_back(Make(depth + 1));
        return Value::MakeList(std::move(list));
      }
      case 8:
      case 9: return Value::MakeDict(Items(depth));
      default: return Value::MakeObject(Pick(2) ? "aim.text" : "aim.resource", Items(depth));
    }
  }

 private:
  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  std::int64_t Int() {
    switch (Pick(4)) {
      case 0: return Pick(200) - 100;
      case 1: return INT64_MIN + Pick(3);
      case 2: return INT64_MAX - Pick(3);
      default: return static_cast<std::int64_t>(rng_());
    }
  }

  double Double() {
    switch (Pick(3)) {
      case 0: return std::bit_cast<double>(rng_());  // any bit pattern, NaN payloads included
      case 1: return Pick(2) ? -0.0 : 0.0;
      default: return std::uniform_real_distribution<double>(-1e6, 1e6)(rng_);
    }
  }

  std::string Utf8(int chars) {
    static const std::string_view kPieces[] = {"a", "Z", "_", std::string_view("\0", 1),
                                               "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                               "\x7f", " "};
    std::string s;
    for (int i = 0; i < chars; ++i) s += kPieces[Pick(9)];
    return s;
  }

  std::string Bytes(int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(Pick(256)));
    return s;
  }

  Value::Dict Items(int depth) {
    Value::Dict items;
    std::set<Key> used;
    for (int n = Pick(5); n > 0; --n) {
      Key key = Pick(3) == 0 ? Key(Int()) : Key(Utf8(1 + Pick(6)));
      if (!used.insert(key).second) continue;
      items.emplace_back(std::move(key), Make(depth + 1));
    }
    return items;
  }

  std::mt19937_64 rng_;
};

bool HasBlob(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kBlob: return true;
    case Value::Kind::kList:
      for (const Value& c : v.list()) if (HasBlob(c)) return true;
      return false;
    case Value::Kind::kDict:
      for (const auto& [k, c] : v.dict()) if (HasBlob(c)) return true;
      return false;
    case Value::Kind::kObject:
      for (const auto& [k, c] : v.object_items()) if (HasBlob(c)) return true;
      return false;
    default: return false;
  }
}

TEST(PropertyTest, DecodeOfEncodeIsIdentity) {
  RandomValues gen(20240601);
  for (int i = 0; i < 5000; ++i) {
    const Value v = gen.Make(0);
    SCOPED_TRACE(v.DebugString());
    absl::StatusOr<std::string> packed = Pack(v);
    ASSERT_TRUE(packed.ok()) << packed.status();
    absl::StatusOr<Value> back = UnpackTree(*packed);
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_EQ(*back, v);

    absl::StatusOr<std::vector<Record>> records = EncodeTree(v);
    ASSERT_TRUE(records.ok());
    absl::StatusOr<Value> from_records = DecodeTree(*records);
    ASSERT_TRUE(from_records.ok()) << from_records.status();
    ASSERT_EQ(*from_records, v);

    if (!HasBlob(v)) {
      absl::StatusOr<std::string> args = Pack(v, Framing::kArgs);
      ASSERT_TRUE(args.ok()) << args.status();
      absl::StatusOr<Value> args_back = UnpackTree(*args, Framing::kArgs);
      ASSERT_TRUE(args_back.ok()) << args_back.status();
      ASSERT_EQ(*args_back, v);
    }
  }
}

TEST(PropertyTest, TruncatedStreamsAreRejectedNotMisread) {
  RandomValues gen(7);
  for (int i = 0; i < 1000; ++i) {
    const Value v = gen.Make(0);
    absl::StatusOr<std::string> packed = Pack(v);
    ASSERT_TRUE(packed.ok());
    // Every proper prefix that ends inside a record must fail to unpack.
    absl::StatusOr<std::vector<Record>> records = Unpack(*packed);
    ASSERT_TRUE(records.ok());
    std::string prefix;
    std::set<size_t> boundaries = {0};
    for (const Record& r : *records) {
      AppendRecord(r.key, r.value, r.is_blob, Framing::kStream, &prefix);
      boundaries.insert(prefix.size());
    }
    for (size_t cut = 1; cut < packed->size(); cut += 3) {
      if (boundaries.count(cut)) continue;
      EXPECT_FALSE(Unpack(std::string_view(*packed).substr(0, cut)).ok());
    }
  }
}

TEST(PropertyTest, DictHashIgnoresInsertionOrder) {
  RandomValues gen(99);
  for (int i = 0; i < 500; ++i) {
    Value v = gen.Make(3);
    if (v.kind() != Value::Kind::kDict || v.dict().size() < 2) continue;
    absl::StatusOr<std::int64_t> h = HashAuto(v);
    if (!h.ok()) continue;  // objects and blobs are not hashable
    Value::Dict reversed(v.dict().rbegin(), v.dict().rend());
    absl::StatusOr<std::int64_t> hr = HashAuto(Value::MakeDict(std::move(reversed)));
    ASSERT_TRUE(hr.ok());
    EXPECT_EQ(*h, *hr);
  }
}

}  // namespace
}  // namespace aim::wire
