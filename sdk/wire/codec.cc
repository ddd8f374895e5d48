// Aim's value codec (aim/storage/encoding, treeutils, message_utils), with a strict decoder.
#include "wire/codec.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "wire/string_view_compat.h"
#include "wire/utf8.h"

namespace aim::wire {
namespace {

constexpr char kSentinel = '\xfe';

enum TypeByte : std::uint8_t {
  kTypeNone = 0x00,
  kTypeBool = 0x01,
  kTypeInt = 0x02,
  kTypeFloat = 0x03,
  kTypeStr = 0x04,
  kTypeBytes = 0x05,
  kTypeArrayFlag = 0x06,
  kTypeObjectFlag = 0x07,
  kTypeCustomFlag = 0x0F,
};

constexpr std::array<std::string_view, 9> kRegisteredObjectTypes = {
    "aim.resource", "aim.text",  "aim.log_line",     "aim.log_record", "aim.image",
    "aim.audio",    "aim.figure", "aim.figure3d", "aim.distribution",
};

// Little-endian integers go through one word: built byte by byte, the compiler stored the
// bytes one at a time and then reloaded them as one word, a store-forwarding stall on every
// record.
template <typename T>
void PutLittleEndian(T v, std::string* out) {
  if constexpr (std::endian::native == std::endian::big) {
    if constexpr (sizeof(T) == 8) v = __builtin_bswap64(v);
    if constexpr (sizeof(T) == 4) v = __builtin_bswap32(v);
  }
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out->append(b, sizeof(T));
}

void PutU32le(std::uint32_t v, std::string* out) { PutLittleEndian(v, out); }
void PutU64le(std::uint64_t v, std::string* out) { PutLittleEndian(v, out); }

void PatchU32le(std::uint32_t v, char* p) {
  p[0] = static_cast<char>(v);
  p[1] = static_cast<char>(v >> 8);
  p[2] = static_cast<char>(v >> 16);
  p[3] = static_cast<char>(v >> 24);
}

std::uint32_t GetU32le(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return std::uint32_t{u[0]} | std::uint32_t{u[1]} << 8 | std::uint32_t{u[2]} << 16 |
         std::uint32_t{u[3]} << 24;
}

// One load, not eight: GCC does not merge the byte-by-byte form, and every int and float
// of a message goes through here.
template <std::endian kOrder>
std::uint64_t GetFixed64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (kOrder != std::endian::native) v = __builtin_bswap64(v);
  return v;
}

std::uint64_t GetU64le(const char* p) { return GetFixed64<std::endian::little>(p); }
std::uint64_t GetU64be(const char* p) { return GetFixed64<std::endian::big>(p); }

using ::aim::internal::Av;

absl::Status ErrorAt(std::size_t offset, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("offset ", offset, ": ", problem));
}

const char* KindName(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::kNone: return "None";
    case Value::Kind::kBool: return "bool";
    case Value::Kind::kInt: return "int";
    case Value::Kind::kDouble: return "float";
    case Value::Kind::kString: return "str";
    case Value::Kind::kBytes: return "bytes";
    case Value::Kind::kList: return "list";
    case Value::Kind::kDict: return "dict";
    case Value::Kind::kObject: return "custom object";
    case Value::Kind::kBlob: return "BLOB";
  }
  return "?";
}

// A BLOB carries one plain scalar (Aim wraps str or bytes; ints are accepted as Aim does).
bool IsPlainScalar(Value::Kind kind) {
  return kind != Value::Kind::kList && kind != Value::Kind::kDict &&
         kind != Value::Kind::kObject && kind != Value::Kind::kBlob;
}

absl::Status CheckObjectType(std::string_view name) {
  if (!internal::IsValidUtf8(name)) {
    return absl::InvalidArgumentError("custom object type name is not valid UTF-8");
  }
  if (!IsRegisteredObjectType(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("custom object type '", Av(name), "' is not registered in Aim"));
  }
  return absl::OkStatus();
}

// ---- encoding ------------------------------------------------------------------------

// Writes one record whose value is AppendScalar(value); the value length is patched in
// afterwards so the value is encoded straight into `out`.
absl::Status EmitRecord(std::string_view key, const Value& value, bool is_blob, Framing framing,
                        std::string* out) {
  if (key.size() > std::numeric_limits<std::uint32_t>::max()) {
    return absl::InvalidArgumentError("encoded path longer than 4 GiB");
  }
  PutU32le(static_cast<std::uint32_t>(key.size()), out);
  out->append(key);
  if (framing == Framing::kStream) out->push_back(is_blob ? '\x01' : '\x00');
  const std::size_t len_at = out->size();
  PutU32le(0, out);
  if (absl::Status s = AppendScalar(value, out); !s.ok()) return s;
  const std::size_t vlen = out->size() - len_at - 4;
  if (vlen > std::numeric_limits<std::uint32_t>::max()) {
    return absl::InvalidArgumentError("encoded value longer than 4 GiB");
  }
  PatchU32le(static_cast<std::uint32_t>(vlen), out->data() + len_at);
  return absl::OkStatus();
}

absl::Status AppendNode(const Value& value, std::size_t depth, Framing framing,
                        std::string* path, std::string* out);

absl::Status AppendItems(const Value::Dict& items, std::size_t depth, Framing framing,
                         std::string* path, std::string* out) {
  const std::size_t len = path->size();
  for (const auto& [key, child] : items) {
    if (absl::Status s = AppendKey(key, path); !s.ok()) return s;
    if (absl::Status s = AppendNode(child, depth + 1, framing, path, out); !s.ok()) return s;
    path->resize(len);
  }
  return absl::OkStatus();
}

absl::Status AppendNode(const Value& value, std::size_t depth, Framing framing,
                        std::string* path, std::string* out) {
  if (depth > kMaxPathDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("value nested deeper than ", kMaxPathDepth, " levels"));
  }
  switch (value.kind()) {
    case Value::Kind::kDict:
      // A non-empty dict is implied by its children's paths; only {} needs a record.
      if (value.dict().empty()) return EmitRecord(*path, value, false, framing, out);
      return AppendItems(value.dict(), depth, framing, path, out);
    case Value::Kind::kList: {
      if (absl::Status s = EmitRecord(*path, value, false, framing, out); !s.ok()) return s;
      const std::size_t len = path->size();
      const auto& list = value.list();
      for (std::size_t i = 0; i < list.size(); ++i) {
        (void)AppendKey(Key(static_cast<std::int64_t>(i)), path);  // int keys cannot fail
        if (absl::Status s = AppendNode(list[i], depth + 1, framing, path, out); !s.ok()) {
          return s;
        }
        path->resize(len);
      }
      return absl::OkStatus();
    }
    case Value::Kind::kObject:
      if (absl::Status s = EmitRecord(*path, value, false, framing, out); !s.ok()) return s;
      return AppendItems(value.object_items(), depth, framing, path, out);
    case Value::Kind::kBlob:
      if (framing == Framing::kArgs) {
        // Aim 3.18's pack_args raises TypeError on a BLOB.
        return absl::InvalidArgumentError("a BLOB cannot be sent in gRPC args framing");
      }
      return EmitRecord(*path, value, true, framing, out);
    default:
      return EmitRecord(*path, value, false, framing, out);
  }
}

// ---- decoding ------------------------------------------------------------------------

// One element of an encoded path; `end` is the offset just past its trailing 0xFE.
struct Segment {
  std::size_t begin;
  std::size_t end;
  bool is_int;
  std::int64_t int_key;
};

// Splits an encoded path strictly: every key must end with 0xFE, every int key must have
// exactly 8 bytes, string keys must be valid UTF-8. Offsets in errors are `base` + position.
// The first `keep` segments already in `segs` are taken as they are: the caller knows `enc`
// begins with the bytes they were split from (sibling records share most of their path).
absl::Status SplitPath(std::string_view enc, std::size_t base, std::vector<Segment>* segs,
                       std::size_t keep = 0) {
  segs->resize(keep);
  std::size_t pos = keep == 0 ? 0 : segs->back().end;
  while (pos < enc.size()) {
    if (segs->size() == kMaxPathDepth) {
      return ErrorAt(base + pos, absl::StrCat("path deeper than ", kMaxPathDepth, " keys"));
    }
    if (enc[pos] == kSentinel) {
      if (enc.size() - pos < 10) {
        return ErrorAt(base + pos,
                       absl::StrCat("truncated int key: needs 0xFE, 8 bytes and 0xFE, only ",
                                    enc.size() - pos, " bytes left in the key"));
      }
      if (enc[pos + 9] != kSentinel) {
        return ErrorAt(base + pos + 9,
                       absl::StrFormat("int key ends with 0x%02x instead of 0xFE",
                                       static_cast<unsigned char>(enc[pos + 9])));
      }
      segs->push_back({pos, pos + 10, true,
                       static_cast<std::int64_t>(GetU64be(enc.data() + pos + 1))});
      pos += 10;
      continue;
    }
    const std::size_t fe = enc.find(kSentinel, pos);
    if (fe == std::string_view::npos) {
      return ErrorAt(base + pos, "string key without its trailing 0xFE");
    }
    const std::string_view text = enc.substr(pos, fe - pos);
    if (std::size_t bad = internal::FindInvalidUtf8(text); bad != std::string_view::npos) {
      return ErrorAt(base + pos + bad, "string key is not valid UTF-8");
    }
    segs->push_back({pos, fe + 1, false, 0});
    pos = fe + 1;
  }
  return absl::OkStatus();
}

Key SegmentKey(std::string_view enc, const Segment& seg) {
  if (seg.is_int) return Key(seg.int_key);
  return Key(std::string(enc.substr(seg.begin, seg.end - 1 - seg.begin)));
}

absl::StatusOr<Value> DecodeScalarAt(std::string_view enc, std::size_t base) {
  if (enc.empty()) return ErrorAt(base, "empty value: no type byte");
  const auto type = static_cast<std::uint8_t>(enc[0]);
  const std::string_view payload = enc.substr(1);
  auto wrong_size = [&](std::size_t n, const char* what) {
    return ErrorAt(base, absl::StrCat(what, " needs ", n, " payload bytes, got ",
                                      payload.size()));
  };
  switch (type) {
    case kTypeNone:
      if (payload.size() != 0) return wrong_size(0, "None");
      return Value();
    case kTypeBool:
      if (payload.size() != 1) return wrong_size(1, "bool");
      if (payload[0] != 0 && payload[0] != 1) {
        return ErrorAt(base + 1, absl::StrFormat("bool payload 0x%02x is neither 0 nor 1",
                                                 static_cast<unsigned char>(payload[0])));
      }
      return Value(payload[0] == 1);
    case kTypeInt:
      if (payload.size() != 8) return wrong_size(8, "int");
      return Value(static_cast<std::int64_t>(GetU64le(payload.data())));
    case kTypeFloat:
      if (payload.size() != 8) return wrong_size(8, "float");
      return Value(std::bit_cast<double>(GetU64le(payload.data())));
    case kTypeStr:
      if (std::size_t bad = internal::FindInvalidUtf8(payload); bad != std::string_view::npos) {
        return ErrorAt(base + 1 + bad, "str value is not valid UTF-8");
      }
      return Value(std::string(payload));
    case kTypeBytes:
      return Value::MakeBytes(std::string(payload));
    case kTypeArrayFlag:
      if (payload.size() != 0) return wrong_size(0, "list flag");
      return Value::MakeList();
    case kTypeObjectFlag:
      if (payload.size() != 0) return wrong_size(0, "dict flag");
      return Value::MakeDict();
    case kTypeCustomFlag:
      if (absl::Status s = CheckObjectType(payload); !s.ok()) {
        return ErrorAt(base + 1, s.message());
      }
      return Value::MakeObject(std::string(payload), {});
    default:
      return ErrorAt(base, absl::StrFormat("unknown type byte 0x%02x", type));
  }
}

// A record still inside the buffer it was framed in: decoding a message needs no copies.
struct RecordView {
  std::string_view key;
  std::string_view value;
  bool is_blob = false;
};

absl::Status UnpackImpl(std::string_view data, Framing framing, std::vector<RecordView>* records,
                        std::vector<std::size_t>* offsets) {
  std::size_t pos = 0;
  const std::size_t n = data.size();
  while (pos < n) {
    const std::size_t start = pos;
    if (n - pos < 4) {
      return ErrorAt(pos, absl::StrCat("truncated key length: ", n - pos, " of 4 bytes"));
    }
    const std::uint32_t klen = GetU32le(data.data() + pos);
    pos += 4;
    if (klen > n - pos) {
      return ErrorAt(start, absl::StrCat("key length ", klen, " exceeds the ", n - pos,
                                         " remaining bytes"));
    }
    const std::string_view key = data.substr(pos, klen);
    pos += klen;
    bool is_blob = false;
    if (framing == Framing::kStream) {
      if (pos == n) return ErrorAt(pos, "missing is_blob byte");
      const auto flag = static_cast<unsigned char>(data[pos]);
      if (flag > 1) {
        return ErrorAt(pos, absl::StrFormat("is_blob byte 0x%02x is neither 0 nor 1", flag));
      }
      is_blob = flag == 1;
      ++pos;
    }
    if (n - pos < 4) {
      return ErrorAt(pos, absl::StrCat("truncated value length: ", n - pos, " of 4 bytes"));
    }
    const std::uint32_t vlen = GetU32le(data.data() + pos);
    pos += 4;
    if (vlen > n - pos) {
      return ErrorAt(pos - 4, absl::StrCat("value length ", vlen, " exceeds the ", n - pos,
                                           " remaining bytes"));
    }
    records->push_back(RecordView{key, data.substr(pos, vlen), is_blob});
    if (offsets != nullptr) offsets->push_back(start);
    pos += vlen;
  }
  return absl::OkStatus();
}

// Byte offsets of a record's key and value in its stream, for error messages.
struct RecordOrigin {
  std::size_t record = 0;
  std::size_t key = 0;
  std::size_t value = 0;
};

RecordOrigin OriginOf(std::span<const RecordView> records, const std::vector<std::size_t>* offsets,
                      std::size_t i, Framing framing) {
  if (offsets == nullptr) return {};
  const std::size_t record = (*offsets)[i];
  const std::size_t key = record + 4;
  return {record, key, key + records[i].key.size() + (framing == Framing::kStream ? 5 : 4)};
}

// How many leading bytes `a` and `b` share, a word at a time: sibling records share keys of
// some 50 bytes.
std::size_t CommonPrefixLength(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    if (x != y) {
      // The first differing byte is the lowest differing one in memory order.
      const std::uint64_t diff = std::endian::native == std::endian::little
                                     ? x ^ y
                                     : __builtin_bswap64(x ^ y);
      return i + static_cast<std::size_t>(std::countr_zero(diff)) / 8;
    }
  }
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

absl::StatusOr<Value*> AddChild(Value* parent, std::string_view enc, const Segment& seg,
                                Value child, std::size_t* padding_budget) {
  Value::Dict* items = nullptr;
  switch (parent->kind()) {
    case Value::Kind::kDict: items = &parent->dict(); break;
    case Value::Kind::kObject: items = &parent->object_items(); break;
    case Value::Kind::kList: {
      if (!seg.is_int) return absl::InvalidArgumentError("list element with a string key");
      if (seg.int_key < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("negative list index ", seg.int_key));
      }
      auto& list = parent->list();
      const auto index = static_cast<std::uint64_t>(seg.int_key);
      if (index < list.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "list index ", index, " is out of order (the list already has ", list.size(),
            " elements)"));
      }
      const std::uint64_t gap = index - list.size();
      if (gap > *padding_budget) {
        return absl::InvalidArgumentError(absl::StrCat(
            "list index ", index, " would need ", gap,
            " None elements of padding, more than the input can justify"));
      }
      *padding_budget -= gap;
      // Most lists in a message are pairs and short tuples: one allocation for them, not two
      // or three as the list grows.
      if (list.capacity() == 0) list.reserve(std::max<std::size_t>(index + 1, 4));
      list.resize(static_cast<std::size_t>(index));
      list.push_back(std::move(child));
      return &list.back();
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("a ", KindName(parent->kind()), " cannot have children"));
  }
  items->emplace_back(SegmentKey(enc, seg), std::move(child));
  return &items->back().second;
}

absl::StatusOr<Value> DecodeTreeImpl(std::span<const RecordView> records,
                                     const std::vector<std::size_t>* offsets, Framing framing) {
  if (records.empty()) return absl::InvalidArgumentError("no records: empty tree");
  std::size_t padding_budget = 0;
  for (const RecordView& r : records) padding_budget += r.key.size() + r.value.size();

  Value root;
  // The nodes on the previous record's path, root first: children may still be added to them.
  std::vector<Value*> open;
  // Encoded paths of the dict and object entries built so far: a record that reaches one of
  // them again once it is no longer open is a duplicate or a non-contiguous child, which Aim
  // mangles.
  absl::flat_hash_set<std::string_view> seen;
  std::vector<Segment> segs;  // of `previous_key`, then of the current record's key
  std::string_view previous_key;

  for (std::size_t i = 0; i < records.size(); ++i) {
    const RecordView& rec = records[i];
    const RecordOrigin origin = OriginOf(records, offsets, i, framing);
    // Offsets inside `problem` are stream offsets when the records came from UnpackTree,
    // else offsets inside the record's key or value.
    auto fail = [&](absl::string_view problem) {
      return absl::InvalidArgumentError(
          offsets != nullptr
              ? absl::StrCat("record ", i, " at offset ", origin.record, ": ", problem)
              : absl::StrCat("record ", i, ": ", problem));
    };
    const std::string_view enc = rec.key;
    // The keys this path shares with the previous record's: split once, and still open.
    const std::size_t common = CommonPrefixLength(enc, previous_key);
    std::size_t match = 0;
    while (match < segs.size() && segs[match].end <= common) ++match;
    if (absl::Status s = SplitPath(enc, origin.key, &segs, match); !s.ok()) {
      return fail(s.message());
    }
    previous_key = enc;

    absl::StatusOr<Value> leaf = DecodeScalarAt(rec.value, origin.value);
    if (!leaf.ok()) return fail(leaf.status().message());
    if (rec.is_blob) {
      if (!IsPlainScalar(leaf->kind())) {
        return fail(absl::StrCat("a BLOB cannot wrap a ", KindName(leaf->kind())));
      }
      *leaf = Value::MakeBlob(*std::move(leaf));
    }

    if (i == 0) {
      root = segs.empty() ? *std::move(leaf) : Value::MakeDict();
      open.push_back(&root);
      seen.insert(std::string_view());
      if (segs.empty()) continue;
    } else if (segs.empty()) {
      return fail("a second root record (duplicate, or after its children)");
    }

    if (match == segs.size()) return fail("duplicate path");
    open.resize(match + 1);
    // A list's elements come in increasing index order (AddChild checks it), so only keys of
    // dicts and objects can come back after their node was closed.
    const bool keyed = open.back()->kind() != Value::Kind::kList;
    if (keyed && seen.contains(enc.substr(0, segs[match].end))) {
      return fail("path revisits a node that earlier records closed (duplicate path or "
                  "children that do not follow their parent)");
    }
    for (std::size_t k = match; k < segs.size(); ++k) {
      const bool last = k + 1 == segs.size();
      const bool parent_keyed = open.back()->kind() != Value::Kind::kList;
      // Aim materialises every missing prefix of a path as a dict.
      absl::StatusOr<Value*> node =
          AddChild(open.back(), enc, segs[k], last ? *std::move(leaf) : Value::MakeDict(),
                   &padding_budget);
      if (!node.ok()) return fail(node.status().message());
      if (parent_keyed) seen.insert(enc.substr(0, segs[k].end));
      open.push_back(*node);
    }
  }
  return root;
}

}  // namespace

bool IsRegisteredObjectType(std::string_view type_name) {
  for (std::string_view name : kRegisteredObjectTypes) {
    if (name == type_name) return true;
  }
  return false;
}

absl::Status AppendKey(const Key& key, std::string* out) {
  if (const auto* s = std::get_if<std::string>(&key)) {
    if (s->empty()) {
      return absl::InvalidArgumentError("empty string key (Aim cannot decode it back)");
    }
    if (std::size_t bad = internal::FindInvalidUtf8(*s); bad != std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("string key is not valid UTF-8 at byte ", bad));
    }
    out->append(*s);
    out->push_back(kSentinel);
    return absl::OkStatus();
  }
  // 0xFE, 8 bytes big-endian, 0xFE in one append: every list index of every record's path.
  std::uint64_t be = static_cast<std::uint64_t>(std::get<std::int64_t>(key));
  if constexpr (std::endian::native == std::endian::little) be = __builtin_bswap64(be);
  char bytes[10];
  bytes[0] = kSentinel;
  std::memcpy(bytes + 1, &be, 8);
  bytes[9] = kSentinel;
  out->append(bytes, 10);
  return absl::OkStatus();
}

absl::StatusOr<std::string> EncodePath(std::span<const Key> path) {
  std::string out;
  for (const Key& key : path) {
    if (absl::Status s = AppendKey(key, &out); !s.ok()) return s;
  }
  return out;
}

absl::StatusOr<Path> DecodePath(std::string_view encoded) {
  std::vector<Segment> segs;
  if (absl::Status s = SplitPath(encoded, 0, &segs); !s.ok()) return s;
  Path path;
  path.reserve(segs.size());
  for (const Segment& seg : segs) path.push_back(SegmentKey(encoded, seg));
  return path;
}

absl::Status AppendTree(const Value& value, std::string_view prefix, Framing framing,
                        std::string* out) {
  const std::size_t mark = out->size();
  std::string path;
  path.reserve(prefix.size() + 64);
  path.append(prefix);
  absl::Status s = AppendNode(value, 0, framing, &path, out);
  if (!s.ok()) out->resize(mark);
  return s;
}

absl::StatusOr<std::vector<Record>> EncodeTree(const Value& value) {
  absl::StatusOr<std::string> packed = Pack(value);
  if (!packed.ok()) return packed.status();
  return Unpack(*packed);
}

absl::StatusOr<std::string> Pack(const Value& value, Framing framing) {
  std::string out;
  if (absl::Status s = AppendTree(value, {}, framing, &out); !s.ok()) return s;
  return out;
}

void AppendRecord(std::string_view key, std::string_view value, bool is_blob, Framing framing,
                  std::string* out) {
  PutU32le(static_cast<std::uint32_t>(key.size()), out);
  out->append(key);
  if (framing == Framing::kStream) out->push_back(is_blob ? '\x01' : '\x00');
  PutU32le(static_cast<std::uint32_t>(value.size()), out);
  out->append(value);
}

absl::StatusOr<std::vector<Record>> Unpack(std::string_view data, Framing framing) {
  std::vector<RecordView> views;
  if (absl::Status s = UnpackImpl(data, framing, &views, nullptr); !s.ok()) return s;
  std::vector<Record> records;
  records.reserve(views.size());
  for (const RecordView& v : views) {
    records.push_back(Record{std::string(v.key), std::string(v.value), v.is_blob});
  }
  return records;
}

absl::Status AppendScalar(const Value& value, std::string* out) {
  switch (value.kind()) {
    case Value::Kind::kNone:
      out->push_back(static_cast<char>(kTypeNone));
      break;
    case Value::Kind::kBool:
      out->push_back(static_cast<char>(kTypeBool));
      out->push_back(value.bool_value() ? '\x01' : '\x00');
      break;
    case Value::Kind::kInt:
      out->push_back(static_cast<char>(kTypeInt));
      PutU64le(static_cast<std::uint64_t>(value.int_value()), out);
      break;
    case Value::Kind::kDouble:
      out->push_back(static_cast<char>(kTypeFloat));
      PutU64le(std::bit_cast<std::uint64_t>(value.double_value()), out);
      break;
    case Value::Kind::kString:
      if (std::size_t bad = internal::FindInvalidUtf8(value.string_value());
          bad != std::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("str value is not valid UTF-8 at byte ", bad));
      }
      out->push_back(static_cast<char>(kTypeStr));
      out->append(value.string_value());
      break;
    case Value::Kind::kBytes:
      out->push_back(static_cast<char>(kTypeBytes));
      out->append(value.string_value());
      break;
    case Value::Kind::kList:
      out->push_back(static_cast<char>(kTypeArrayFlag));
      break;
    case Value::Kind::kDict:
      out->push_back(static_cast<char>(kTypeObjectFlag));
      break;
    case Value::Kind::kObject:
      if (absl::Status s = CheckObjectType(value.object_type()); !s.ok()) return s;
      out->push_back(static_cast<char>(kTypeCustomFlag));
      out->append(value.object_type());
      break;
    case Value::Kind::kBlob: {
      const Value& inner = value.blob_inner();
      if (!IsPlainScalar(inner.kind())) {
        return absl::InvalidArgumentError(
            absl::StrCat("a BLOB cannot wrap a ", KindName(inner.kind())));
      }
      return AppendScalar(inner, out);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Value> DecodeScalar(std::string_view encoded) {
  return DecodeScalarAt(encoded, 0);
}

absl::StatusOr<Value> DecodeTree(std::span<const Record> records) {
  std::vector<RecordView> views;
  views.reserve(records.size());
  for (const Record& r : records) views.push_back(RecordView{r.key, r.value, r.is_blob});
  return DecodeTreeImpl(views, nullptr, Framing::kStream);
}

absl::StatusOr<Value> UnpackTree(std::string_view data, Framing framing) {
  std::vector<RecordView> records;
  std::vector<std::size_t> offsets;
  if (absl::Status s = UnpackImpl(data, framing, &records, &offsets); !s.ok()) return s;
  return DecodeTreeImpl(records, &offsets, framing);
}

}  // namespace aim::wire
