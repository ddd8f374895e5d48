#include "tests/wire/typed_json.h"

#include <bit>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "wire/string_view_compat.h"

namespace aim::test_vectors {
namespace {

using nlohmann::json;

using ::aim::internal::Av;

absl::Status Bad(std::string_view what, const json& j) {
  return absl::InvalidArgumentError(
      absl::StrCat("typed JSON: ", Av(what), " in ", j.dump().substr(0, 200)));
}

// The string at j[field], or nullptr.
const std::string* StringField(const json& j, const char* field) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(field);
  if (it == j.end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

absl::StatusOr<std::int64_t> ParseInt(const std::string& s, const json& j) {
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) {
    return absl::OutOfRangeError(absl::StrCat("typed JSON: int ", s, " is outside int64"));
  }
  if (ec != std::errc() || ptr != s.data() + s.size()) return Bad("bad int", j);
  return v;
}

absl::StatusOr<Value::Dict> ItemsFromTypedJson(const json& items) {
  if (!items.is_array()) return Bad("dict items are not an array", items);
  Value::Dict dict;
  for (const json& item : items) {
    if (!item.is_array() || item.size() != 2) return Bad("dict item is not a [K, V] pair", item);
    absl::StatusOr<Key> key = KeyFromTypedJson(item[0]);
    if (!key.ok()) return key.status();
    absl::StatusOr<Value> value = ValueFromTypedJson(item[1]);
    if (!value.ok()) return value.status();
    dict.emplace_back(*std::move(key), *std::move(value));
  }
  return dict;
}

absl::StatusOr<Value> Convert(const json& j) {
  const std::string* t = StringField(j, "t");
  if (t == nullptr) return Bad("missing \"t\"", j);
  const std::string* sv = StringField(j, "v");
  if (*t == "none") return Value();
  if (*t == "bool") {
    auto it = j.find("v");
    if (it == j.end() || !it->is_boolean()) return Bad("bool without a boolean v", j);
    return Value(it->get<bool>());
  }
  if (*t == "int") {
    if (sv == nullptr) return Bad("int without a string v", j);
    absl::StatusOr<std::int64_t> v = ParseInt(*sv, j);
    if (!v.ok()) return v.status();
    return Value(*v);
  }
  if (*t == "float") {
    if (sv == nullptr || sv->size() != 16) return Bad("float v is not 16 hex digits", j);
    std::uint64_t bits = 0;
    auto [ptr, ec] = std::from_chars(sv->data(), sv->data() + 16, bits, 16);
    if (ec != std::errc() || ptr != sv->data() + 16) return Bad("bad float bits", j);
    return Value(std::bit_cast<double>(bits));
  }
  if (*t == "str") {
    if (sv == nullptr) return Bad("str without v", j);
    return Value(*sv);
  }
  if (*t == "bytes") {
    if (sv == nullptr) return Bad("bytes without v", j);
    absl::StatusOr<std::string> bytes = HexToBytes(*sv);
    if (!bytes.ok()) return bytes.status();
    return Value::MakeBytes(*std::move(bytes));
  }
  if (*t == "list") {
    auto it = j.find("v");
    if (it == j.end() || !it->is_array()) return Bad("list without an array v", j);
    Value::List list;
    for (const json& item : *it) {
      absl::StatusOr<Value> v = Convert(item);
      if (!v.ok()) return v.status();
      list.push_back(*std::move(v));
    }
    return Value::MakeList(std::move(list));
  }
  if (*t == "dict" || *t == "custom") {
    auto it = j.find("v");
    if (it == j.end()) return Bad("missing v", j);
    absl::StatusOr<Value::Dict> items = ItemsFromTypedJson(*it);
    if (!items.ok()) return items.status();
    if (*t == "dict") return Value::MakeDict(*std::move(items));
    const std::string* name = StringField(j, "name");
    if (name == nullptr) return Bad("custom without name", j);
    return Value::MakeObject(*name, *std::move(items));
  }
  if (*t == "blob") {
    auto it = j.find("v");
    if (it == j.end()) return Bad("blob without v", j);
    absl::StatusOr<Value> inner = Convert(*it);
    if (!inner.ok()) return inner.status();
    return Value::MakeBlob(*std::move(inner));
  }
  if (*t == "array_flag") return Value::MakeList();
  if (*t == "object_flag") return Value::MakeDict();
  if (*t == "custom_flag") {
    const std::string* name = StringField(j, "name");
    if (name == nullptr) return Bad("custom_flag without name", j);
    return Value::MakeObject(*name, {});
  }
  return Bad("unknown type", j);
}

std::string FloatBits(double d) {
  char buf[17];
  auto res = std::to_chars(buf, buf + 16, std::bit_cast<std::uint64_t>(d), 16);
  std::string s(buf, res.ptr);
  return std::string(16 - s.size(), '0') + s;
}

json KeyToTypedJson(const Key& key) {
  if (const auto* s = std::get_if<std::string>(&key)) return {{"t", "str"}, {"v", *s}};
  return {{"t", "int"}, {"v", std::to_string(std::get<std::int64_t>(key))}};
}

json ItemsToTypedJson(const Value::Dict& items) {
  json out = json::array();
  for (const auto& [k, v] : items) out.push_back(json::array({KeyToTypedJson(k), ValueToTypedJson(v)}));
  return out;
}

}  // namespace

absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path, " is not valid JSON"));
  return j;
}

absl::StatusOr<std::string> HexToBytes(std::string_view hex) {
  if (hex.size() % 2 != 0) return absl::InvalidArgumentError("odd-length hex string");
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    unsigned int byte = 0;
    auto [ptr, ec] = std::from_chars(hex.data() + i, hex.data() + i + 2, byte, 16);
    if (ec != std::errc() || ptr != hex.data() + i + 2) {
      return absl::InvalidArgumentError(absl::StrCat("bad hex at ", i));
    }
    out.push_back(static_cast<char>(byte));
  }
  return out;
}

std::string BytesToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

absl::StatusOr<Value> ValueFromTypedJson(const nlohmann::json& typed) {
  try {
    return Convert(typed);
  } catch (const std::exception& e) {  // a json accessor on an unexpected shape
    return absl::InvalidArgumentError(absl::StrCat("typed JSON: ", e.what()));
  }
}

absl::StatusOr<Key> KeyFromTypedJson(const nlohmann::json& typed) {
  const std::string* t = StringField(typed, "t");
  if (t == nullptr) return Bad("key without \"t\"", typed);
  if (*t == "bool") {
    auto it = typed.find("v");
    if (it == typed.end() || !it->is_boolean()) return Bad("bool key without a boolean v", typed);
    return Key(std::int64_t{it->get<bool>() ? 1 : 0});
  }
  const std::string* v = StringField(typed, "v");
  if (v == nullptr) return Bad("key without a string v", typed);
  if (*t == "str") return Key(*v);
  if (*t == "int") {
    absl::StatusOr<std::int64_t> i = ParseInt(*v, typed);
    if (!i.ok()) return i.status();
    return Key(*i);
  }
  return Bad("a key must be str, int or bool", typed);
}

absl::StatusOr<Path> PathFromTypedJson(const nlohmann::json& typed_keys) {
  if (!typed_keys.is_array()) return Bad("path is not an array", typed_keys);
  Path path;
  for (const json& k : typed_keys) {
    absl::StatusOr<Key> key = KeyFromTypedJson(k);
    if (!key.ok()) return key.status();
    path.push_back(*std::move(key));
  }
  return path;
}

nlohmann::json ValueToTypedJson(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kNone: return {{"t", "none"}};
    case Value::Kind::kBool: return {{"t", "bool"}, {"v", value.bool_value()}};
    case Value::Kind::kInt: return {{"t", "int"}, {"v", std::to_string(value.int_value())}};
    case Value::Kind::kDouble: return {{"t", "float"}, {"v", FloatBits(value.double_value())}};
    case Value::Kind::kString: return {{"t", "str"}, {"v", value.string_value()}};
    case Value::Kind::kBytes: return {{"t", "bytes"}, {"v", BytesToHex(value.string_value())}};
    case Value::Kind::kList: {
      json items = json::array();
      for (const Value& v : value.list()) items.push_back(ValueToTypedJson(v));
      return {{"t", "list"}, {"v", items}};
    }
    case Value::Kind::kDict: return {{"t", "dict"}, {"v", ItemsToTypedJson(value.dict())}};
    case Value::Kind::kObject:
      return {{"t", "custom"}, {"name", value.object_type()},
              {"v", ItemsToTypedJson(value.object_items())}};
    case Value::Kind::kBlob: return {{"t", "blob"}, {"v", ValueToTypedJson(value.blob_inner())}};
  }
  return {};
}

}  // namespace aim::test_vectors
