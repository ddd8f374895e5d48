// hash_auto (aim/storage/hashing): salted 8-byte BLAKE2b over det_hash'ed numbers, UTF-8
// strings, raw bytes, and the hashes of list elements and dict items.
#include "wire/hash.h"

#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "wire/utf8.h"

namespace aim::wire {
namespace {

constexpr std::int64_t kHashNone = 1393794177995070132;

enum Salt { kUniform, kArray, kObject, kStr, kBytes, kSaltCount };
constexpr std::int64_t kSaltValues[kSaltCount] = {
    -7494597716789683807,  // UNIFORM
    2965039128708897743,   // ARRAY
    -2435585119574290752,  // OBJECT
    7540324813251503183,   // STR
    -6836296829636613855,  // BYTES
};

// BLAKE2b states already initialised with digest length 8 and each salt (i64le, zero-padded
// to 16 bytes), so hashing starts from a copy instead of rebuilding the parameter block.
struct SaltedStates {
  crypto_generichash_blake2b_state state[kSaltCount];

  SaltedStates() {
    if (sodium_init() < 0) std::abort();  // libsodium cannot work at all on this machine
    for (int i = 0; i < kSaltCount; ++i) {
      unsigned char salt[crypto_generichash_blake2b_SALTBYTES] = {};
      const auto v = static_cast<std::uint64_t>(kSaltValues[i]);
      for (int b = 0; b < 8; ++b) salt[b] = static_cast<unsigned char>(v >> (8 * b));
      unsigned char personal[crypto_generichash_blake2b_PERSONALBYTES] = {};
      crypto_generichash_blake2b_init_salt_personal(&state[i], nullptr, 0, 8, salt, personal);
    }
  }
};

const SaltedStates& States() {
  static const SaltedStates states;  // thread-safe one-time init, includes sodium_init()
  return states;
}

class Blake64 {
 public:
  explicit Blake64(Salt salt) : state_(States().state[salt]) {}

  void Update(const void* data, std::size_t size) {
    crypto_generichash_blake2b_update(&state_, static_cast<const unsigned char*>(data), size);
  }
  void UpdateI64(std::int64_t v) {
    unsigned char b[8];
    const auto u = static_cast<std::uint64_t>(v);
    for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(u >> (8 * i));
    Update(b, 8);
  }
  std::int64_t Final() {
    unsigned char out[8];
    crypto_generichash_blake2b_final(&state_, out, sizeof out);
    std::uint64_t u = 0;
    for (int i = 7; i >= 0; --i) u = u << 8 | out[i];
    return static_cast<std::int64_t>(u);
  }

 private:
  crypto_generichash_blake2b_state state_;
};

absl::StatusOr<std::int64_t> HashStr(std::string_view s) {
  if (!internal::IsValidUtf8(s)) {
    return absl::InvalidArgumentError("cannot hash a str that is not valid UTF-8");
  }
  Blake64 h(kStr);
  h.Update(s.data(), s.size());
  return h.Final();
}

absl::StatusOr<std::int64_t> HashKey(const Key& key) {
  if (const auto* s = std::get_if<std::string>(&key)) return HashStr(*s);
  return HashNumber(static_cast<double>(std::get<std::int64_t>(key)));
}

}  // namespace

std::int64_t DetHash(double v) {
  if (std::isinf(v)) return v > 0 ? 314159 : -314159;
  if (std::isnan(v)) return 0;
  constexpr std::uint64_t kModulus = (std::uint64_t{1} << 61) - 1;
  int e = 0;
  double m = std::frexp(v, &e);
  std::uint64_t sign = 1;
  if (m < 0) {
    sign = ~std::uint64_t{0};  // -1; the product below wraps like CPython's Py_uhash_t
    m = -m;
  }
  std::uint64_t x = 0;
  while (m != 0) {
    x = ((x << 28) & kModulus) | x >> (61 - 28);
    m *= 268435456.0;  // 2**28
    e -= 28;
    const auto y = static_cast<std::uint64_t>(m);
    m -= static_cast<double>(y);
    x += y;
    if (x >= kModulus) x -= kModulus;
  }
  e = e >= 0 ? e % 61 : 61 - 1 - ((-1 - e) % 61);
  x = ((x << e) & kModulus) | x >> (61 - e);
  return static_cast<std::int64_t>(x * sign);
}

std::int64_t HashNumber(double v) {
  Blake64 h(kUniform);
  h.UpdateI64(DetHash(v));
  return h.Final();
}

absl::StatusOr<std::int64_t> HashAuto(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kNone: return kHashNone;
    case Value::Kind::kBool: return HashNumber(value.bool_value() ? 1.0 : 0.0);
    case Value::Kind::kInt: return HashNumber(static_cast<double>(value.int_value()));
    case Value::Kind::kDouble: return HashNumber(value.double_value());
    case Value::Kind::kString: return HashStr(value.string_value());
    case Value::Kind::kBytes: {
      Blake64 h(kBytes);
      h.Update(value.string_value().data(), value.string_value().size());
      return h.Final();
    }
    case Value::Kind::kList: {
      Blake64 h(kArray);
      for (const Value& item : value.list()) {
        absl::StatusOr<std::int64_t> ih = HashAuto(item);
        if (!ih.ok()) return ih.status();
        h.UpdateI64(*ih);
      }
      return h.Final();
    }
    case Value::Kind::kDict: {
      // (hash of key, hash of the [key, value] pair), sorted by key hash as Python's stable
      // sorted() does.
      absl::InlinedVector<std::pair<std::int64_t, std::int64_t>, 8> items;
      items.reserve(value.dict().size());
      for (const auto& [key, item] : value.dict()) {
        absl::StatusOr<std::int64_t> kh = HashKey(key);
        if (!kh.ok()) return kh.status();
        absl::StatusOr<std::int64_t> vh = HashAuto(item);
        if (!vh.ok()) return vh.status();
        Blake64 pair(kArray);
        pair.UpdateI64(*kh);
        pair.UpdateI64(*vh);
        items.emplace_back(*kh, pair.Final());
      }
      std::stable_sort(items.begin(), items.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      Blake64 h(kObject);
      for (const auto& item : items) h.UpdateI64(item.second);
      return h.Final();
    }
    case Value::Kind::kObject:
    case Value::Kind::kBlob:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("hash_auto is not defined for ", value.DebugString().substr(0, 64)));
}

}  // namespace aim::wire
