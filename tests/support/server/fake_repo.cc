#include "tests/support/server/fake_repo.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <set>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "tests/support/server/python_text.h"
#include "wire/codec.h"

namespace aim::test_server {

using internal::PyJsonDumpsStrings;
using internal::PyRepr;
using internal::PyReprPath;
using ::aim::internal::Av;
using ::aim::internal::Sv;

AimError AimError::KeyError(std::string_view arg) {
  std::string a(arg);
  return {"builtins", "KeyError", PyJsonDumpsStrings({&a, 1}), PyRepr(arg)};
}
AimError AimError::EmptyKeyError() { return {"builtins", "KeyError", "[]", ""}; }
AimError AimError::Simple(std::string module_name, std::string class_name, std::string_view arg) {
  std::string a(arg);
  return {std::move(module_name), std::move(class_name), PyJsonDumpsStrings({&a, 1}), a};
}
AimError AimError::Unauthorized(std::string_view handler) {
  return Simple("aim.ext.transport.tracking", "UnauthorizedRequestError", handler);
}
AimError AimError::StopIteration() { return {"builtins", "StopIteration", "[]", ""}; }

Value AimError::ToValue() const {
  return Value::MakeDict({{"module_name", module_name},
                          {"class_name", class_name},
                          {"args", args_json},
                          {"message", message}});
}

namespace {

AimError TypeError(absl::string_view text) {
  return AimError::Simple("builtins", "TypeError", Sv(text));
}
AimError ValueError(absl::string_view text) {
  return AimError::Simple("builtins", "ValueError", Sv(text));
}
AimError AttributeError(std::string_view cls, std::string_view attr) {
  return AimError::Simple("builtins", "AttributeError",
                          absl::StrFormat("'%s' object has no attribute '%s'", cls, attr));
}
AimError NotImplemented(absl::string_view what) {
  return AimError::Simple("builtins", "NotImplementedError", Sv(what));
}

std::string MakeUuid4() {
  thread_local absl::BitGen gen;
  std::array<std::uint8_t, 16> b;
  for (auto& x : b) x = absl::Uniform<std::uint8_t>(gen);
  b[6] = (b[6] & 0x0F) | 0x40;
  b[8] = (b[8] & 0x3F) | 0x80;
  std::string hex;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) hex += '-';
    absl::StrAppendFormat(&hex, "%02x", b[i]);
  }
  return hex;
}

// "3.29.1" -> {3, 29, 1}; missing or non-numeric parts count as 0.
std::array<int, 3> ParseVersion(std::string_view v) {
  std::array<int, 3> out{0, 0, 0};
  int i = 0;
  for (absl::string_view part : absl::StrSplit(Av(v), '.')) {
    if (i == 3) break;
    int n = 0;
    if (absl::SimpleAtoi(part, &n)) out[i] = n;
    ++i;
  }
  return out;
}

// fnmatch with `*` and `?` only (the check-in globs Aim uses).
bool GlobMatch(std::string_view pattern, std::string_view name) {
  std::size_t p = 0, n = 0, star = std::string_view::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// A path argument as Aim's TreeView methods take it: a list of keys, or one lone key.
struct PathArg {
  Path path;
  bool was_list = true;
  std::string encoded;
};

std::optional<Key> ValueToKey(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kString: return Key(v.string_value());
    case Value::Kind::kInt: return Key(v.int_value());
    case Value::Kind::kBool: return Key(std::int64_t{v.bool_value() ? 1 : 0});
    default: return std::nullopt;
  }
}

Value KeyToValue(const Key& k) {
  if (const auto* s = std::get_if<std::string>(&k)) return Value(*s);
  return Value(std::get<std::int64_t>(k));
}

std::variant<PathArg, AimError> ToPathArg(const Value& v) {
  PathArg out;
  if (v.kind() == Value::Kind::kList) {
    for (const Value& e : v.list()) {
      std::optional<Key> k = ValueToKey(e);
      if (!k) return ValueError(absl::StrCat("Unsupported key type: ", e.DebugString()));
      out.path.push_back(std::move(*k));
    }
  } else if (std::optional<Key> k = ValueToKey(v)) {
    out.path.push_back(std::move(*k));
    out.was_list = false;
  } else {
    return ValueError(absl::StrCat("Unsupported path: ", v.DebugString()));
  }
  absl::StatusOr<std::string> encoded = wire::EncodePath(out.path);
  if (!encoded.ok()) return ValueError(encoded.status().message());
  out.encoded = *std::move(encoded);
  return out;
}

bool Truthy(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kNone: return false;
    case Value::Kind::kBool: return v.bool_value();
    case Value::Kind::kInt: return v.int_value() != 0;
    case Value::Kind::kDouble: return v.double_value() != 0;
    case Value::Kind::kString:
    case Value::Kind::kBytes: return !v.string_value().empty();
    case Value::Kind::kList: return !v.list().empty();
    case Value::Kind::kDict: return !v.dict().empty();
    default: return true;
  }
}

enum class Kind { kRepo, kTreeView, kStructuredRun, kLock, kRunHeartbeat, kFileManager };

// Python class names, for AttributeError texts.
std::string_view ClassName(Kind k) {
  switch (k) {
    case Kind::kRepo: return "Repo";
    case Kind::kTreeView: return "ContainerTreeView";
    case Kind::kStructuredRun: return "ModelMappedRun";
    case Kind::kLock: return "SFRunLock";
    case Kind::kRunHeartbeat: return "ScheduledStatusReporter";
    case Kind::kFileManager: return "LocalFileManager";
  }
  return "object";
}

struct Resource {
  Kind kind;
  std::uint64_t id = 0;     // identity of this Python object (locks are held per object)
  std::string container;    // TreeView: ".aim/<name>/chunks/<sub>" etc.
  bool read_only = false;
  std::string run_hash;     // StructuredRun, Lock, RunHeartbeat
  bool stopped = false;     // RunHeartbeat
};

struct PoolEntry {
  std::string client_uri;
  std::shared_ptr<Resource> resource;
};

// Positional-argument check in CPython's words (counting `self`, as CPython does).
std::optional<AimError> CheckArgCount(std::string_view method, std::size_t given,
                                      std::size_t min, std::size_t max) {
  if (given >= min && given <= max) return std::nullopt;
  if (given < min) {
    return TypeError(absl::StrFormat("%s() missing %d required positional argument%s", method,
                                     min - given, min - given == 1 ? "" : "s"));
  }
  if (min == max) {
    return TypeError(absl::StrFormat("%s() takes %d positional arguments but %d were given",
                                     method, max + 1, given + 1));
  }
  return TypeError(absl::StrFormat("%s() takes from %d to %d positional arguments but %d were given",
                                   method, min + 1, max + 1, given + 1));
}

}  // namespace

struct FakeAimRepo::State {
  mutable absl::Mutex mu;
  FakeAimRepoOptions options ABSL_GUARDED_BY(mu);
  std::vector<std::string> clients ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string, absl::Time> heartbeats ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string, PoolEntry> pool ABSL_GUARDED_BY(mu);
  std::map<std::string, Container, std::less<>> containers ABSL_GUARDED_BY(mu);
  std::map<std::string, RunProps, std::less<>> runs ABSL_GUARDED_BY(mu);
  std::set<std::string, std::less<>> check_ins ABSL_GUARDED_BY(mu);
  // run hash -> id of the Lock object holding `.aim/locks/<hash>.softlock`.
  std::map<std::string, std::uint64_t, std::less<>> locks ABSL_GUARDED_BY(mu);
  std::uint64_t next_resource_id ABSL_GUARDED_BY(mu) = 1;
  ServerCounters counters ABSL_GUARDED_BY(mu);

  std::optional<AimError> SetTree(const Resource& r, const Value& path_value, const Value& value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto path = ToPathArg(path_value);
    if (auto* e = std::get_if<AimError>(&path)) return *e;
    return SetEncoded(containers[r.container], std::get<PathArg>(path).encoded, value);
  }

  // TreeView.set at an already encoded path: delete the subtree, write the value's records.
  static std::optional<AimError> SetEncoded(Container& c, std::string_view prefix,
                                            const Value& value) {
    switch (value.kind()) {
      case Value::Kind::kNone:
      case Value::Kind::kBool:
      case Value::Kind::kInt:
      case Value::Kind::kDouble: {
        // What every tracked point is: one record at the path itself.
        // Encoded straight into the stored record: copying a value just built byte by byte
        // stalls reloading it, a sizeable share of the test server's time per point.
        std::string& stored = c.Replace(prefix);
        (void)wire::AppendScalar(value, &stored);  // cannot fail for these kinds
        return std::nullopt;
      }
      default: break;
    }
    absl::StatusOr<std::vector<wire::Record>> records = wire::EncodeTree(value);
    if (!records.ok()) return TypeError(records.status().message());
    c.DeleteSubtree(prefix);
    for (wire::Record& rec : *records) {
      c.Put(absl::StrCat(Av(prefix), rec.key), std::move(rec.value), rec.is_blob);
    }
    return std::nullopt;
  }

  // ---- finalizers (run when a pool entry is dropped) ----
  void Finalize(const Resource& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (r.kind == Kind::kLock) {
      auto it = locks.find(r.run_hash);
      if (it != locks.end() && it->second == r.id) locks.erase(it);
    } else if (r.kind == Kind::kRunHeartbeat && !r.stopped) {
      CheckIn(r.run_hash, "progress", 1);
    }
  }
  void DropEntry(absl::flat_hash_map<std::string, PoolEntry>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::shared_ptr<Resource> r = std::move(it->second.resource);
    pool.erase(it);
    Finalize(*r);
  }

  // A server-side check-in file (SPEC 4.7): continues the index after the newest file of the
  // run and deletes older files of the same flag.
  void CheckIn(const std::string& hash, std::string_view flag, int expect_next_in)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::int64_t idx = 0;
    const std::string run_prefix = hash + "-";
    for (const std::string& f : check_ins) {
      if (!absl::StartsWith(f, run_prefix) || f.size() < run_prefix.size() + 16) continue;
      std::int64_t n = 0;
      if (absl::SimpleAtoi(absl::string_view(f).substr(run_prefix.size(), 16), &n)) {
        idx = std::max(idx, n);
      }
    }
    const std::string cleanup = absl::StrCat(hash, "-*-", Av(flag), "-*-*");
    std::erase_if(check_ins, [&](const std::string& f) { return GlobMatch(cleanup, f); });
    const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
    check_ins.insert(
        absl::StrFormat("%s-%016d-%s-%011.2f-%05d", hash, idx + 1, flag, now, expect_next_in));
  }

  // ---- resource creation (handlers.py) ----
  std::variant<std::shared_ptr<Resource>, AimError> Create(std::string_view type,
                                                            const Value* kwargs)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    static const Value kEmpty = Value::MakeDict();
    const Value& kw = kwargs ? *kwargs : kEmpty;
    // A dict encoded empty arrives as ObjectFlag, i.e. an empty dict; anything else is not a
    // mapping and `handler(**kwargs)` fails.
    if (kw.kind() != Value::Kind::kDict) {
      return TypeError("argument after ** must be a mapping");
    }
    auto get = [&](std::string_view name) -> const Value* {
      for (const auto& [k, v] : kw.dict()) {
        if (const auto* s = std::get_if<std::string>(&k); s && *s == name) return &v;
      }
      return nullptr;
    };
    auto r = std::make_shared<Resource>();
    r->id = next_resource_id++;
    auto require_str = [&](std::string_view fn, std::string_view name,
                           std::string* out) -> std::optional<AimError> {
      const Value* v = get(name);
      if (!v) {
        return TypeError(absl::StrFormat(
            "%s() missing 1 required positional argument: '%s'", fn, name));
      }
      if (v->kind() != Value::Kind::kString) {
        return TypeError(absl::StrFormat("%s must be str, not %s", name, v->DebugString()));
      }
      *out = v->string_value();
      return std::nullopt;
    };
    if (type == "Repo") {
      r->kind = Kind::kRepo;
    } else if (type == "FileManager") {
      r->kind = Kind::kFileManager;
    } else if (type == "TreeView") {
      r->kind = Kind::kTreeView;
      // get_tree reads these keys in this order; servers <= 3.28 also read from_union.
      std::vector<std::string_view> required = {"name", "sub", "read_only"};
      if (options.require_from_union) required.push_back("from_union");
      required.push_back("index");
      required.push_back("timeout");
      for (std::string_view key : required) {
        if (!get(key)) return AimError::KeyError(key);
      }
      const Value* name = get("name");
      const Value* sub = get("sub");
      if (name->kind() != Value::Kind::kString) return TypeError("name must be str");
      r->read_only = Truthy(*get("read_only"));
      if (Truthy(*get("index"))) {
        r->container = absl::StrCat(".aim/", name->string_value(), "/index");
      } else if (sub->kind() == Value::Kind::kString) {
        r->container = absl::StrCat(".aim/", name->string_value(), "/chunks/", sub->string_value());
      } else if (sub->is_none()) {
        r->container = absl::StrCat(".aim/", name->string_value());
      } else {
        return TypeError("sub must be str or None");
      }
    } else if (type == "StructuredRun") {
      r->kind = Kind::kStructuredRun;
      if (auto e = require_str("get_structured_run", "hash_", &r->run_hash)) return *e;
      if (!get("read_only")) {
        return TypeError("get_structured_run() missing 1 required positional argument: 'read_only'");
      }
      r->read_only = Truthy(*get("read_only"));
      if (!runs.contains(r->run_hash)) {
        RunProps p;
        p.hash = r->run_hash;
        p.name = "Run: " + r->run_hash;
        const Value* created = get("created_at");
        if (created && created->is_number()) {
          p.created_at = created->kind() == Value::Kind::kInt
                             ? static_cast<double>(created->int_value())
                             : created->double_value();
        } else {
          p.created_at = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
        }
        runs.emplace(p.hash, std::move(p));
      }
    } else if (type == "Lock") {
      r->kind = Kind::kLock;
      if (auto e = require_str("get_lock", "run_hash", &r->run_hash)) return *e;
    } else if (type == "RunHeartbeat") {
      r->kind = Kind::kRunHeartbeat;
      if (auto e = require_str("get_run_heartbeat", "run_hash", &r->run_hash)) return *e;
      // The server-side reporter's own `starting` check-in, then its first `progress` one.
      CheckIn(r->run_hash, "starting", 0);
      CheckIn(r->run_hash, "progress", 30);
    } else {
      return AimError::KeyError(type);
    }
    return r;
  }

  // ---- method dispatch ----
  InstructionResult Call(Resource& r, std::string_view method, const Value& args_value,
                         bool write) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (args_value.kind() != Value::Kind::kList) {
      return {Value(), TypeError("instruction arguments must be a list")};
    }
    const Value::List& args = args_value.list();
    ++counters.per_method[std::string(method)];
    if (absl::EndsWith(Av(method), ".setter")) {
      if (args.empty()) return {Value(), AimError{"builtins", "IndexError", "[\"list index out of range\"]", "list index out of range"}};
      return {Value(), Setter(r, method.substr(0, method.size() - 7), args[0])};
    }
    switch (r.kind) {
      case Kind::kTreeView: return CallTree(r, method, args);
      case Kind::kStructuredRun: return CallRun(r, method, args, write);
      case Kind::kLock: return CallLock(r, method, args);
      case Kind::kRunHeartbeat:
        if (method == "stop") {
          if (auto e = CheckArgCount(method, args.size(), 0, 0)) return {Value(), e};
          if (!r.stopped) CheckIn(r.run_hash, "progress", 1);
          r.stopped = true;
          return {};
        }
        break;
      case Kind::kFileManager: return CallFiles(method, args);
      case Kind::kRepo:
        if (method == "list_all_runs" || method == "list_active_runs") {
          if (auto e = CheckArgCount(method, args.size(), 0, 0)) return {Value(), e};
          return {ListRuns(method == "list_active_runs"), std::nullopt};
        }
        break;
    }
    return {Value(), AttributeError(ClassName(r.kind), method)};
  }

  Value ListRuns(bool active_only) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::set<std::string> hashes;
    if (active_only) {
      for (const auto& [h, e] : pool) {
        if (e.resource->kind == Kind::kRunHeartbeat && !e.resource->stopped) {
          hashes.insert(e.resource->run_hash);
        }
      }
    } else {
      constexpr std::string_view kMeta = ".aim/meta/chunks/";
      for (const auto& [path, c] : containers) {
        if (absl::StartsWith(path, Av(kMeta))) hashes.insert(path.substr(kMeta.size()));
      }
    }
    Value::List out(hashes.begin(), hashes.end());
    return Value::MakeList(std::move(out));
  }

  std::optional<AimError> Setter(Resource& r, std::string_view attr, const Value& v)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    // setattr on other Python objects just adds an attribute: nothing observable.
    if (r.kind != Kind::kStructuredRun) return std::nullopt;
    RunProps& p = runs[r.run_hash];
    if (attr == "archived") {
      p.archived = Truthy(v);
      return std::nullopt;
    }
    std::string* field = attr == "name"          ? &p.name
                         : attr == "description" ? &p.description
                         : attr == "experiment"  ? &p.experiment
                                                 : nullptr;
    if (!field) return std::nullopt;
    if (v.kind() != Value::Kind::kString) {
      return TypeError(absl::StrCat(Av(attr), " must be str, got ", v.DebugString()));
    }
    *field = v.string_value();
    return std::nullopt;
  }

  InstructionResult CallRun(Resource& r, std::string_view method, const Value::List& args,
                            bool write) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    RunProps& p = runs[r.run_hash];
    if (method == "add_tag" || method == "remove_tag") {
      if (auto e = CheckArgCount(method, args.size(), 1, 1)) return {Value(), e};
      if (args[0].kind() != Value::Kind::kString) return {Value(), TypeError("tag must be str")};
      const std::string& tag = args[0].string_value();
      auto it = std::find(p.tags.begin(), p.tags.end(), tag);
      if (method == "add_tag") {
        if (it == p.tags.end()) p.tags.push_back(tag);  // a duplicate only logs a warning
        return {};
      }
      const bool found = it != p.tags.end();
      if (found) p.tags.erase(it);
      return {Value(found), std::nullopt};
    }
    std::optional<Value> prop;
    if (method == "name") prop = Value(p.name);
    else if (method == "description") prop = Value(p.description);
    else if (method == "experiment") prop = Value(p.experiment);
    else if (method == "archived") prop = Value(p.archived);
    else if (method == "hash") prop = Value(p.hash);
    else if (method == "creation_time") prop = Value(p.created_at);
    else if (method == "end_time") prop = Value();
    else if (method == "tags") {
      Value::List tags(p.tags.begin(), p.tags.end());
      prop = Value::MakeList(std::move(tags));
    }
    if (!prop) return {Value(), AttributeError(ClassName(r.kind), method)};
    // Write instructions must be callables or setters (`assert callable(...)`).
    if (write) return {Value(), AimError{"builtins", "AssertionError", "[]", ""}};
    return {*std::move(prop), std::nullopt};
  }

  InstructionResult CallLock(Resource& r, std::string_view method, const Value::List& args)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (method != "lock" && method != "release") {
      return {Value(), AttributeError(ClassName(r.kind), method)};
    }
    if (auto e = CheckArgCount(method, args.size(), 0, 1)) return {Value(), e};
    const bool force = !args.empty() && Truthy(args[0]);
    auto it = locks.find(r.run_hash);
    if (method == "release") {
      if (it != locks.end() && (force || it->second == r.id)) locks.erase(it);
      return {};
    }
    if (it != locks.end() && it->second != r.id && !force) {
      const std::string path = absl::StrCat(".aim/locks/", r.run_hash, ".softlock");
      AimError e = AimError::Simple("filelock._error", "Timeout", path);
      e.message = absl::StrFormat("The file lock '%s' could not be acquired.", path);
      return {Value(), e};
    }
    locks[r.run_hash] = r.id;
    return {};
  }

  InstructionResult CallFiles(std::string_view method, const Value::List& args)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (method == "poll") {
      if (auto e = CheckArgCount(method, args.size(), 1, 1)) return {Value(), e};
      if (args[0].kind() != Value::Kind::kString) return {Value(), TypeError("pattern must be str")};
      std::optional<std::string> newest;
      for (const std::string& f : check_ins) {
        if (GlobMatch(args[0].string_value(), f)) newest = f;  // the set is sorted by name
      }
      return {newest ? Value(*newest) : Value(), std::nullopt};
    }
    if (method == "touch") {
      if (auto e = CheckArgCount(method, args.size(), 1, 2)) return {Value(), e};
      if (args[0].kind() != Value::Kind::kString) return {Value(), TypeError("filename must be str")};
      const std::string& name = args[0].string_value();
      if (args.size() == 2 && args[1].kind() == Value::Kind::kString) {
        std::erase_if(check_ins, [&](const std::string& f) {
          return f != name && GlobMatch(args[1].string_value(), f);
        });
      }
      check_ins.insert(name);
      return {};
    }
    return {Value(), AttributeError(ClassName(Kind::kFileManager), method)};
  }

  InstructionResult CallTree(Resource& r, std::string_view method, const Value::List& args)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto fail = [](AimError e) { return InstructionResult{Value(), std::move(e)}; };
    if (method == "__setitem__" || method == "set") {
      if (auto e = CheckArgCount(method, args.size(), 2, method == "set" ? 3 : 2)) return fail(*e);
      if (auto e = SetTree(r, args[0], args[1])) return fail(*e);
      return {};
    }
    if (method == "update") {
      if (!HasUpdate()) return fail(AttributeError(ClassName(r.kind), method));
      if (auto e = CheckArgCount(method, args.size(), 2, 2)) return fail(*e);
      auto base = ToPathArg(args[0]);
      if (auto* e = std::get_if<AimError>(&base)) return fail(*e);
      if (args[1].kind() != Value::Kind::kList) return fail(TypeError("values must be a list"));
      // Aim: for key, value in values: self.set(path + (key,), value)
      Container& c = containers[r.container];
      std::string prefix;
      for (const Value& pair : args[1].list()) {
        if (pair.kind() != Value::Kind::kList || pair.list().size() != 2) {
          return fail(ValueError("update() expects (key, value) pairs"));
        }
        std::optional<Key> key = ValueToKey(pair.list()[0]);
        if (!key) return fail(ValueError("Unsupported key type: " + pair.list()[0].DebugString()));
        prefix = std::get<PathArg>(base).encoded;
        if (absl::Status s = wire::AppendKey(*key, &prefix); !s.ok()) {
          return fail(ValueError(s.message()));
        }
        if (auto e = SetEncoded(c, prefix, pair.list()[1])) return fail(*e);
      }
      return {};
    }
    if (method == "make_array" || method == "__delitem__") {
      if (auto e = CheckArgCount(method, args.size(), method == "make_array" ? 0 : 1, 1)) {
        return fail(*e);
      }
      auto path = ToPathArg(args.empty() ? Value::MakeList() : args[0]);
      if (auto* e = std::get_if<AimError>(&path)) return fail(*e);
      Container& c = containers[r.container];
      if (method == "make_array") {
        c.Put(std::get<PathArg>(path).encoded, std::string("\x06", 1), false);
      } else {
        c.DeleteSubtree(std::get<PathArg>(path).encoded);
      }
      return {};
    }
    if (method == "preload") {
      if (auto e = CheckArgCount(method, args.size(), 0, 0)) return fail(*e);
      return {};
    }
    if (method == "iterlevel" || method == "finalize") {
      return fail(NotImplemented(absl::StrCat("the test server does not implement ", Av(method))));
    }
    const bool is_read = method == "collect" || method == "first_key" || method == "last_key" ||
                         method == "keys_eager" || method == "items_eager";
    if (!is_read) return fail(AttributeError(ClassName(r.kind), method));
    if (auto e = CheckArgCount(method, args.size(), 0, method == "collect" ? 3 : 1)) {
      return fail(*e);
    }
    auto path_or = ToPathArg(args.empty() ? Value::MakeList() : args[0]);
    if (auto* e = std::get_if<AimError>(&path_or)) return fail(*e);
    const PathArg& path = std::get<PathArg>(path_or);
    static const Container kNoContainer;
    auto cit = containers.find(r.container);
    const Container& c = cit == containers.end() ? kNoContainer : cit->second;
    const std::vector<StoredRecord>& sorted = c.Sorted();
    auto lower_bound = [&sorted](const std::string& key) {
      return std::lower_bound(
          sorted.begin(), sorted.end(), key,
          [](const StoredRecord& r, const std::string& k) { return r.first < k; });
    };

    if (method == "collect") {
      std::vector<wire::Record> records = c.Items(path.encoded);
      const std::string missing =
          absl::StrCat("No key ", PyReprPath(path.path, path.was_list), " is present.");
      if (records.empty()) return fail(AimError::KeyError(missing));
      absl::StatusOr<Value> v = wire::DecodeTree(records);
      if (!v.ok()) return fail(ValueError(v.status().message()));
      return {*std::move(v), std::nullopt};
    }
    if (method == "first_key") {
      auto it = lower_bound(path.encoded + '\0');
      if (it == sorted.end()) return fail(AimError::StopIteration());
      if (!absl::StartsWith(it->first, path.encoded)) return fail(AimError::EmptyKeyError());
      return FirstKeyOf(std::string_view(it->first).substr(path.encoded.size()));
    }
    if (method == "last_key") {
      auto it = lower_bound(path.encoded + '\xff');
      if (it == sorted.begin()) return fail(AimError::EmptyKeyError());
      --it;
      if (!absl::StartsWith(it->first, path.encoded) || it->first.size() == path.encoded.size()) {
        return fail(AimError::EmptyKeyError());
      }
      return FirstKeyOf(std::string_view(it->first).substr(path.encoded.size()));
    }
    // keys_eager / items_eager: one entry per child key; the record at the path itself (the
    // node's own flag) is skipped, as Aim's `skip_top_level` does.
    std::vector<wire::Record> records = c.Items(path.encoded);
    Value::List out;
    std::size_t i = 0;
    if (i < records.size() && records[i].key.empty()) ++i;
    while (i < records.size()) {
      absl::StatusOr<Path> p = wire::DecodePath(records[i].key);
      if (!p.ok() || p->empty()) return fail(ValueError("undecodable stored key"));
      std::string child;
      if (absl::Status s = wire::AppendKey((*p)[0], &child); !s.ok()) {
        return fail(ValueError(s.message()));
      }
      std::vector<wire::Record> group;
      for (; i < records.size() && absl::StartsWith(records[i].key, child); ++i) {
        group.push_back({records[i].key.substr(child.size()), records[i].value,
                         records[i].is_blob});
      }
      if (method == "keys_eager") {
        out.push_back(KeyToValue((*p)[0]));
        continue;
      }
      absl::StatusOr<Value> v = wire::DecodeTree(group);
      if (!v.ok()) return fail(ValueError(v.status().message()));
      out.push_back(Value::MakeList({KeyToValue((*p)[0]), *std::move(v)}));
    }
    return {Value::MakeList(std::move(out)), std::nullopt};
  }

  static InstructionResult FirstKeyOf(std::string_view stripped) {
    absl::StatusOr<Path> p = wire::DecodePath(stripped);
    if (!p.ok()) return {Value(), ValueError(p.status().message())};
    if (p->empty()) return {Value(), AimError::EmptyKeyError()};
    return {KeyToValue((*p)[0]), std::nullopt};
  }

  bool HasUpdate() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return ParseVersion(options.version) >= std::array<int, 3>{3, 24, 0};
  }

  // The pool lookup every instruction starts with (tracking.py `_verify_resource_handler`).
  Resource* Verify(std::string_view client_uri, std::string_view handler)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = pool.find(std::string(handler));
    if (it == pool.end() || it->second.client_uri != client_uri) return nullptr;
    return it->second.resource.get();
  }
};

FakeAimRepo::FakeAimRepo(FakeAimRepoOptions options) : state_(std::make_unique<State>()) {
  state_->options = std::move(options);
}
FakeAimRepo::~FakeAimRepo() = default;

void FakeAimRepo::Connect(std::string_view client_uri) {
  absl::MutexLock l(&state_->mu);
  state_->clients.emplace_back(client_uri);
}
void FakeAimRepo::Reconnect(std::string_view client_uri) {
  absl::MutexLock l(&state_->mu);
  auto& c = state_->clients;
  if (std::find(c.begin(), c.end(), client_uri) == c.end()) c.emplace_back(client_uri);
}
void FakeAimRepo::Disconnect(std::string_view client_uri) {
  absl::MutexLock l(&state_->mu);
  auto& c = state_->clients;
  auto it = std::find(c.begin(), c.end(), client_uri);
  if (it != c.end()) c.erase(it);
}
void FakeAimRepo::Heartbeat(std::string_view client_uri) {
  absl::MutexLock l(&state_->mu);
  state_->heartbeats[std::string(client_uri)] = absl::Now();
}
std::vector<std::string> FakeAimRepo::ConnectedClients() const {
  absl::MutexLock l(&state_->mu);
  return state_->clients;
}
std::optional<absl::Time> FakeAimRepo::LastHeartbeat(std::string_view client_uri) const {
  absl::MutexLock l(&state_->mu);
  auto it = state_->heartbeats.find(std::string(client_uri));
  if (it == state_->heartbeats.end()) return std::nullopt;
  return it->second;
}

std::pair<std::string, std::optional<AimError>> FakeAimRepo::GetResource(
    std::string_view client_uri, std::string_view requested_handler,
    std::string_view resource_type, const Value* kwargs) {
  absl::MutexLock l(&state_->mu);
  ++state_->counters.get_resource_calls;
  auto created = state_->Create(resource_type, kwargs);
  if (auto* e = std::get_if<AimError>(&created)) return {"", *e};
  std::string handler = requested_handler.empty() ? MakeUuid4() : std::string(requested_handler);
  auto it = state_->pool.find(std::string(handler));
  if (it != state_->pool.end()) state_->DropEntry(it);
  state_->pool[handler] = PoolEntry{std::string(client_uri),
                                    std::get<std::shared_ptr<Resource>>(std::move(created))};
  return {handler, std::nullopt};
}

std::optional<AimError> FakeAimRepo::ReleaseResource(std::string_view client_uri,
                                                     std::string_view handler) {
  absl::MutexLock l(&state_->mu);
  auto it = state_->pool.find(std::string(handler));
  if (it == state_->pool.end() || it->second.client_uri != client_uri) {
    return AimError::Unauthorized(handler);
  }
  state_->DropEntry(it);
  return std::nullopt;
}

InstructionResult FakeAimRepo::ReadInstruction(std::string_view client_uri,
                                               std::string_view handler,
                                               std::string_view method_name, const Value& args) {
  absl::MutexLock l(&state_->mu);
  Resource* r = state_->Verify(client_uri, handler);
  if (!r) return {Value(), AimError::Unauthorized(handler)};
  ++state_->counters.read_instructions;
  return state_->Call(*r, method_name, args, /*write=*/false);
}

std::optional<AimError> FakeAimRepo::WriteInstructions(std::string_view client_uri,
                                                       const Value& instructions,
                                                       std::size_t message_bytes) {
  absl::MutexLock l(&state_->mu);
  State& s = *state_;
  ++s.counters.write_messages;
  s.counters.write_bytes += message_bytes;
  s.counters.bytes_received += message_bytes;
  if (instructions.kind() != Value::Kind::kList) {
    return TypeError("write-instruction payload must be a list of instructions");
  }
  for (const Value& ins : instructions.list()) {
    if (ins.kind() != Value::Kind::kList || ins.list().size() != 3 ||
        ins.list()[0].kind() != Value::Kind::kString ||
        ins.list()[1].kind() != Value::Kind::kString) {
      return ValueError("an instruction must be [handler, method_name, args]");
    }
    const std::string& handler = ins.list()[0].string_value();
    Resource* r = s.Verify(client_uri, handler);
    if (!r) return AimError::Unauthorized(handler);
    ++s.counters.write_instructions;
    InstructionResult result = s.Call(*r, ins.list()[1].string_value(), ins.list()[2], true);
    if (result.error) return result.error;
  }
  return std::nullopt;
}

void FakeAimRepo::CountBytesReceived(std::size_t bytes) {
  absl::MutexLock l(&state_->mu);
  state_->counters.bytes_received += bytes;
}

void FakeAimRepo::SetVersion(std::string version) {
  absl::MutexLock l(&state_->mu);
  state_->options.version = std::move(version);
}
std::string FakeAimRepo::version() const {
  absl::MutexLock l(&state_->mu);
  return state_->options.version;
}
bool FakeAimRepo::HasTreeViewUpdate() const {
  absl::MutexLock l(&state_->mu);
  return state_->HasUpdate();
}
void FakeAimRepo::SetRequireFromUnion(bool require) {
  absl::MutexLock l(&state_->mu);
  state_->options.require_from_union = require;
}

void FakeAimRepo::Restart() {
  absl::MutexLock l(&state_->mu);
  State& s = *state_;
  while (!s.pool.empty()) s.DropEntry(s.pool.begin());
  s.clients.clear();
  s.heartbeats.clear();
}

ServerCounters FakeAimRepo::Counters() const {
  absl::MutexLock l(&state_->mu);
  return state_->counters;
}
void FakeAimRepo::ResetCounters() {
  absl::MutexLock l(&state_->mu);
  state_->counters = ServerCounters();
}

std::vector<StoredRecord> FakeAimRepo::Records(std::string_view name, std::string_view sub) const {
  absl::MutexLock l(&state_->mu);
  auto it = state_->containers.find(absl::StrCat(".aim/", Av(name), "/chunks/", Av(sub)));
  if (it == state_->containers.end()) return {};
  return it->second.Sorted();
}
std::vector<std::string> FakeAimRepo::ContainerPaths() const {
  absl::MutexLock l(&state_->mu);
  std::vector<std::string> out;
  for (const auto& [path, c] : state_->containers) out.push_back(path);
  return out;
}
std::optional<RunProps> FakeAimRepo::Props(std::string_view run_hash) const {
  absl::MutexLock l(&state_->mu);
  auto it = state_->runs.find(run_hash);
  if (it == state_->runs.end()) return std::nullopt;
  return it->second;
}
std::vector<std::string> FakeAimRepo::RunHashes() const {
  absl::MutexLock l(&state_->mu);
  std::vector<std::string> out;
  for (const auto& [h, p] : state_->runs) out.push_back(h);
  return out;
}
std::vector<std::string> FakeAimRepo::CheckIns() const {
  absl::MutexLock l(&state_->mu);
  return {state_->check_ins.begin(), state_->check_ins.end()};
}
bool FakeAimRepo::IsLocked(std::string_view run_hash) const {
  absl::MutexLock l(&state_->mu);
  return state_->locks.contains(run_hash);
}
std::size_t FakeAimRepo::LiveResources() const {
  absl::MutexLock l(&state_->mu);
  return state_->pool.size();
}

}  // namespace aim::test_server
