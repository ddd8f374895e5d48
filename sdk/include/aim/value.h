// aim::Value - every value Aim can store: params, contexts, instruction arguments.
//
// Aim is a Python system; this type keeps the distinctions its wire format makes and C++
// would otherwise lose: int64 and double stay different kinds (0x02 vs 0x03 on the wire and
// a different `dtype` in the UI), dicts keep insertion order (it decides the message bytes),
// and str and bytes are distinct.
//
// Thread safety: a Value is a plain value type; const methods may be called concurrently.
#ifndef AIM_VALUE_H_
#define AIM_VALUE_H_

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace aim {

// A dict key or one element of a tree path: a non-empty UTF-8 string or a 64-bit integer.
using Key = std::variant<std::string, std::int64_t>;
// A tree path such as {"hparams", "lr"}.
using Path = std::vector<Key>;

class Value {
 public:
  enum class Kind : std::uint8_t {
    kNone,
    kBool,
    kInt,
    kDouble,
    kString,
    kBytes,
    kList,
    kDict,
    kObject,  // an Aim custom object such as `aim.resource` or `aim.text`
    kBlob,    // a large payload stored out of line; wraps one inner value
  };
  using List = std::vector<Value>;
  using Dict = std::vector<std::pair<Key, Value>>;  // insertion order is kept

  Value() = default;  // None
  Value(std::nullptr_t) {}
  Value(bool b) : data_(b) {}
  template <typename T,
            std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Value(T i) : data_(static_cast<std::int64_t>(i)) {}
  template <typename T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  Value(T d) : data_(static_cast<double>(d)) {}
  Value(const char* s) : data_(std::string(s)) {}
  Value(std::string s) : data_(std::move(s)) {}
  Value(std::string_view s) : data_(std::string(s)) {}
  Value(List list) : data_(std::move(list)) {}
  Value(Dict dict) : data_(std::move(dict)) {}
  // Brace lists read like Python literals: `{{"lr", 0.001}, {"layers", {64, 32}}}` is a dict
  // because every element is a [string, value] pair; anything else (`{64, 32}`) is a list.
  // Use MakeList / MakeDict where that guess is not what you mean.
  Value(std::initializer_list<Value> items);

  static Value MakeList(List items = {}) { return Value(std::move(items)); }
  static Value MakeDict(Dict items = {}) { return Value(std::move(items)); }
  static Value MakeBytes(std::string bytes);
  // An Aim custom object: `type_name` such as "aim.text", items in storage order.
  static Value MakeObject(std::string type_name, Dict items);
  static Value MakeBlob(Value inner);

  Kind kind() const { return static_cast<Kind>(data_.index()); }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_number() const { return kind() == Kind::kInt || kind() == Kind::kDouble; }

  // Typed accessors. Each requires the matching kind(); calling one on another kind is a
  // programming error (checked with assert in debug builds).
  bool bool_value() const { return std::get<bool>(data_); }
  std::int64_t int_value() const { return std::get<std::int64_t>(data_); }
  double double_value() const { return std::get<double>(data_); }
  // The text of kString, or the raw bytes of kBytes.
  const std::string& string_value() const;
  const List& list() const { return std::get<List>(data_); }
  List& list() { return std::get<List>(data_); }
  const Dict& dict() const { return std::get<Dict>(data_); }
  Dict& dict() { return std::get<Dict>(data_); }
  const std::string& object_type() const { return std::get<Object>(data_).type_name; }
  const Dict& object_items() const { return std::get<Object>(data_).items; }
  Dict& object_items() { return std::get<Object>(data_).items; }
  const Value& blob_inner() const { return *std::get<Blob>(data_).inner; }

  // Structural identity: same kinds, same order, doubles compared by bit pattern (so NaN
  // equals the same NaN and -0.0 differs from 0.0).
  friend bool operator==(const Value& a, const Value& b);
  friend bool operator!=(const Value& a, const Value& b) { return !(a == b); }

  // A Python-like rendering for messages and tests, e.g. `{'lr': 0.001, 'layers': [64, 32]}`.
  // Params are not secret; credentials never pass through this type.
  std::string DebugString() const;

 private:
  struct Bytes {
    std::string data;
  };
  struct Object {
    std::string type_name;
    Dict items;
  };
  struct Blob {
    std::shared_ptr<const Value> inner;  // immutable, so sharing on copy is safe
  };
  // The alternative order matches Kind.
  std::variant<std::monostate, bool, std::int64_t, double, std::string, Bytes, List, Dict,
               Object, Blob>
      data_;
};

}  // namespace aim

#endif  // AIM_VALUE_H_
