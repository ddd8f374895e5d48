#include "tools/track_lines.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace aim::tools {
namespace {

using Json = nlohmann::ordered_json;

// Bounds the context cache; inputs with more distinct contexts just rebuild them.
constexpr std::size_t kMaxCachedContexts = 4096;

absl::StatusOr<std::int64_t> Int64(const Json& j, const char* what) {
  if (j.is_number_integer() && !j.is_number_unsigned()) return j.get<std::int64_t>();
  if (j.is_number_unsigned() &&
      j.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return static_cast<std::int64_t>(j.get<std::uint64_t>());
  }
  return absl::InvalidArgumentError(absl::StrCat("\"", what, "\" must be an integer"));
}

absl::StatusOr<std::string> String(const Json& j, const char* what) {
  if (!j.is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", what, "\" must be a string"));
  }
  return j.get<std::string>();
}

}  // namespace

absl::StatusOr<Value> JsonToValue(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return Value();
    case Json::value_t::boolean:
      return Value(j.get<bool>());
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: {
      absl::StatusOr<std::int64_t> i = Int64(j, "value");
      if (!i.ok()) return absl::InvalidArgumentError("integer out of the int64 range");
      return Value(*i);
    }
    case Json::value_t::number_float:
      return Value(j.get<double>());
    case Json::value_t::string:
      return Value(j.get<std::string>());
    case Json::value_t::array: {
      Value::List list;
      list.reserve(j.size());
      for (const Json& item : j) {
        absl::StatusOr<Value> v = JsonToValue(item);
        if (!v.ok()) return v.status();
        list.push_back(*std::move(v));
      }
      return Value::MakeList(std::move(list));
    }
    case Json::value_t::object: {
      Value::Dict dict;
      dict.reserve(j.size());
      for (const auto& [key, item] : j.items()) {
        absl::StatusOr<Value> v = JsonToValue(item);
        if (!v.ok()) return v.status();
        dict.emplace_back(key, *std::move(v));
      }
      return Value::MakeDict(std::move(dict));
    }
    default:
      return absl::InvalidArgumentError("binary JSON values are not supported");
  }
}

absl::StatusOr<Context> LineTracker::ContextOf(const Json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("\"context\" must be an object");
  std::string key = j.dump();
  if (auto it = contexts_.find(key); it != contexts_.end()) return it->second;
  absl::StatusOr<Value> dict = JsonToValue(j);
  if (!dict.ok()) return dict.status();
  Context context(*std::move(dict));
  if (!context.status().ok()) return context.status();
  if (contexts_.size() >= kMaxCachedContexts) contexts_.clear();
  contexts_.emplace(std::move(key), context);
  return context;
}

absl::Status LineTracker::Track(const Json& j) {
  TrackOptions options;
  std::string name;
  std::optional<Number> value;
  for (const auto& [key, item] : j.items()) {
    if (key == "name") {
      absl::StatusOr<std::string> s = String(item, "name");
      if (!s.ok()) return s.status();
      name = *std::move(s);
    } else if (key == "value") {
      if (item.is_number_float()) {
        value = Number(item.get<double>());
      } else if (item.is_number()) {
        absl::StatusOr<std::int64_t> i = Int64(item, "value");
        if (!i.ok()) return absl::InvalidArgumentError("\"value\" is out of the int64 range");
        value = Number(*i);
      } else if (item.is_boolean()) {
        value = Number(item.get<bool>() ? 1 : 0);  // bool is tracked as an int, as in Python
      } else {
        return absl::InvalidArgumentError("\"value\" must be a number");
      }
    } else if (key == "step" || key == "epoch") {
      absl::StatusOr<std::int64_t> i = Int64(item, key == "step" ? "step" : "epoch");
      if (!i.ok()) return i.status();
      (key == "step" ? options.step : options.epoch) = *i;
    } else if (key == "context") {
      absl::StatusOr<Context> c = ContextOf(item);
      if (!c.ok()) return c.status();
      options.context = *std::move(c);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown key \"", key, "\" in a metric"));
    }
  }
  return run_.Track(*value, name, options);
}

absl::Status LineTracker::Apply(std::string_view line) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return absl::OkStatus();
  const Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  if (!j.is_object() || j.empty()) return absl::InvalidArgumentError("not a JSON object");

  if (j.contains("value") && j.contains("name")) return Track(j);
  if (j.contains("set")) {
    if (j.size() != 2 || !j.contains("value")) {
      return absl::InvalidArgumentError("\"set\" needs exactly one other key, \"value\"");
    }
    const Json& path_json = j["set"];
    if (!path_json.is_array() || path_json.empty()) {
      return absl::InvalidArgumentError("\"set\" must be a non-empty array of keys");
    }
    Path path;
    for (const Json& k : path_json) {
      if (k.is_string()) {
        path.emplace_back(k.get<std::string>());
      } else if (absl::StatusOr<std::int64_t> i = Int64(k, "set"); i.ok()) {
        path.emplace_back(*i);
      } else {
        return absl::InvalidArgumentError("\"set\" keys must be strings or integers");
      }
    }
    absl::StatusOr<Value> v = JsonToValue(j["value"]);
    if (!v.ok()) return v.status();
    return run_.Set(path, *std::move(v));
  }
  if (j.size() != 1) {
    return absl::InvalidArgumentError(
        "a line is a metric (name + value), or exactly one of params, set, tag, remove_tag, "
        "name, description, experiment, archived");
  }
  const auto only = j.begin();
  const std::string& key = only.key();
  const Json& item = only.value();
  if (key == "params") {
    if (!item.is_object()) return absl::InvalidArgumentError("\"params\" must be an object");
    for (const auto& [name, param] : item.items()) {
      absl::StatusOr<Value> v = JsonToValue(param);
      if (!v.ok()) return v.status();
      if (absl::Status s = run_.Set(name, *std::move(v)); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (key == "archived") {
    if (!item.is_boolean()) return absl::InvalidArgumentError("\"archived\" must be true or false");
    return run_.SetArchived(item.get<bool>());
  }
  if (key == "value") return absl::InvalidArgumentError("a metric needs a \"name\"");
  absl::StatusOr<std::string> text = String(item, key.c_str());
  if (!text.ok()) return text.status();
  if (key == "tag") return run_.AddTag(*text);
  if (key == "remove_tag") return run_.RemoveTag(*text);
  if (key == "name") return run_.SetName(*std::move(text));
  if (key == "description") return run_.SetDescription(*std::move(text));
  if (key == "experiment") return run_.SetExperiment(*std::move(text));
  return absl::InvalidArgumentError(absl::StrCat("unknown key \"", key, "\""));
}

}  // namespace aim::tools
