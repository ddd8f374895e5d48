// aim::Value: construction rules, structural equality and the Python-like DebugString.
#include "aim/value.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <system_error>

namespace aim {
namespace {

// A brace element reads as a dict entry when it is a two-element list whose first element
// is a string: `{"lr", 0.001}`.
bool IsDictEntry(const Value& v) {
  return v.kind() == Value::Kind::kList && v.list().size() == 2 &&
         v.list()[0].kind() == Value::Kind::kString;
}

bool KeysEqual(const Key& a, const Key& b) { return a == b; }

bool DictsEqual(const Value::Dict& a, const Value::Dict& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!KeysEqual(a[i].first, b[i].first) || a[i].second != b[i].second) return false;
  }
  return true;
}

// Python's repr of a str (single quotes unless the text holds a ' and no ").
void AppendStrRepr(std::string_view s, std::string* out) {
  const bool dq = s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos;
  const char quote = dq ? '"' : '\'';
  out->push_back(quote);
  for (unsigned char c : s) {
    switch (c) {
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c == quote) {
          out->push_back('\\');
          out->push_back(static_cast<char>(c));
        } else if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out->append(buf);
        } else {
          out->push_back(static_cast<char>(c));  // UTF-8 passes through, as Python prints it
        }
    }
  }
  out->push_back(quote);
}

void AppendBytesRepr(std::string_view s, std::string* out) {
  const bool dq = s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos;
  const char quote = dq ? '"' : '\'';
  out->push_back('b');
  out->push_back(quote);
  for (unsigned char c : s) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == quote) {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '\r') {
      out->append("\\r");
    } else if (c == '\t') {
      out->append("\\t");
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out->append(buf);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
  out->push_back(quote);
}

// Python's float repr: the shortest round-trip digits, positional for exponents -4..15,
// scientific otherwise ("1e-05", "1e+16"), and always a ".0" on integral positional values.
void AppendFloatRepr(double d, std::string* out) {
  if (std::isnan(d)) {
    out->append("nan");
    return;
  }
  if (std::isinf(d)) {
    out->append(d < 0 ? "-inf" : "inf");
    return;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));
  std::string_view mant = sci.substr(0, sci.find('e'));
  // to_chars does not NUL-terminate: parse the exponent within the written characters.
  std::string_view exp_text = sci.substr(sci.find('e') + 1);
  if (!exp_text.empty() && exp_text[0] == '+') exp_text.remove_prefix(1);
  int exp = 0;
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp);
  const bool neg = !mant.empty() && mant[0] == '-';
  if (neg) mant.remove_prefix(1);
  std::string digits;
  for (char c : mant) {
    if (c != '.') digits.push_back(c);
  }
  if (neg) out->push_back('-');
  if (exp < -4 || exp >= 16) {
    out->push_back(digits[0]);
    if (digits.size() > 1) {
      out->push_back('.');
      out->append(digits, 1);
    }
    char e[16];
    std::snprintf(e, sizeof e, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    out->append(e);
  } else if (exp < 0) {
    out->append("0.");
    out->append(static_cast<size_t>(-exp - 1), '0');
    out->append(digits);
  } else {
    const size_t int_len = static_cast<size_t>(exp) + 1;
    if (digits.size() <= int_len) {
      out->append(digits);
      out->append(int_len - digits.size(), '0');
      out->append(".0");
    } else {
      out->append(digits, 0, int_len);
      out->push_back('.');
      out->append(digits, int_len);
    }
  }
}

void AppendKeyRepr(const Key& k, std::string* out) {
  if (const auto* s = std::get_if<std::string>(&k)) {
    AppendStrRepr(*s, out);
  } else {
    out->append(std::to_string(std::get<std::int64_t>(k)));
  }
}

void AppendRepr(const Value& v, std::string* out);

void AppendDictRepr(const Value::Dict& d, std::string* out) {
  out->push_back('{');
  for (size_t i = 0; i < d.size(); ++i) {
    if (i) out->append(", ");
    AppendKeyRepr(d[i].first, out);
    out->append(": ");
    AppendRepr(d[i].second, out);
  }
  out->push_back('}');
}

void AppendRepr(const Value& v, std::string* out) {
  switch (v.kind()) {
    case Value::Kind::kNone: out->append("None"); break;
    case Value::Kind::kBool: out->append(v.bool_value() ? "True" : "False"); break;
    case Value::Kind::kInt: out->append(std::to_string(v.int_value())); break;
    case Value::Kind::kDouble: AppendFloatRepr(v.double_value(), out); break;
    case Value::Kind::kString: AppendStrRepr(v.string_value(), out); break;
    case Value::Kind::kBytes: AppendBytesRepr(v.string_value(), out); break;
    case Value::Kind::kList: {
      out->push_back('[');
      const auto& l = v.list();
      for (size_t i = 0; i < l.size(); ++i) {
        if (i) out->append(", ");
        AppendRepr(l[i], out);
      }
      out->push_back(']');
      break;
    }
    case Value::Kind::kDict: AppendDictRepr(v.dict(), out); break;
    case Value::Kind::kObject:
      out->push_back('<');
      out->append(v.object_type());
      out->push_back(' ');
      AppendDictRepr(v.object_items(), out);
      out->push_back('>');
      break;
    case Value::Kind::kBlob:
      out->append("BLOB(");
      AppendRepr(v.blob_inner(), out);
      out->push_back(')');
      break;
  }
}

}  // namespace

Value::Value(std::initializer_list<Value> items) {
  bool all_entries = items.size() > 0;
  for (const Value& item : items) {
    if (!IsDictEntry(item)) {
      all_entries = false;
      break;
    }
  }
  if (all_entries) {
    Dict dict;
    dict.reserve(items.size());
    for (const Value& item : items) {
      dict.emplace_back(item.list()[0].string_value(), item.list()[1]);
    }
    data_ = std::move(dict);
  } else {
    data_ = List(items);
  }
}

Value Value::MakeBytes(std::string bytes) {
  Value v;
  v.data_ = Bytes{std::move(bytes)};
  return v;
}

Value Value::MakeObject(std::string type_name, Dict items) {
  Value v;
  v.data_ = Object{std::move(type_name), std::move(items)};
  return v;
}

Value Value::MakeBlob(Value inner) {
  Value v;
  v.data_ = Blob{std::make_shared<const Value>(std::move(inner))};
  return v;
}

const std::string& Value::string_value() const {
  if (const auto* b = std::get_if<Bytes>(&data_)) return b->data;
  return std::get<std::string>(data_);
}

bool operator==(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kNone: return true;
    case Value::Kind::kBool: return a.bool_value() == b.bool_value();
    case Value::Kind::kInt: return a.int_value() == b.int_value();
    case Value::Kind::kDouble:
      return std::bit_cast<std::uint64_t>(a.double_value()) ==
             std::bit_cast<std::uint64_t>(b.double_value());
    case Value::Kind::kString:
    case Value::Kind::kBytes: return a.string_value() == b.string_value();
    case Value::Kind::kList: return a.list() == b.list();
    case Value::Kind::kDict: return DictsEqual(a.dict(), b.dict());
    case Value::Kind::kObject:
      return a.object_type() == b.object_type() && DictsEqual(a.object_items(), b.object_items());
    case Value::Kind::kBlob: return a.blob_inner() == b.blob_inner();
  }
  return false;
}

std::string Value::DebugString() const {
  std::string out;
  AppendRepr(*this, &out);
  return out;
}

}  // namespace aim
