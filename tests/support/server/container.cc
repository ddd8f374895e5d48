#include "tests/support/server/container.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "wire/string_view_compat.h"

namespace aim::test_server {
namespace {

using ::aim::internal::Av;

// Aim stores a BLOB's value at this prefix + key (rockscontainer `_put_blob`).
constexpr std::string_view kBlobPrefix = "BLOBS\xfe";

// Where the last encoded key of `path` begins. Encoded keys are self-delimiting when read
// from the front (an int key is 0xFE + 8 bytes + 0xFE, a string key runs to its 0xFE), and
// no key is a proper prefix of a different one, so grouping by parent keeps bytewise order
// within a parent and every key under a prefix in a group whose parent starts with it.
std::size_t LastKeyStart(std::string_view path) {
  std::size_t pos = 0, last = 0;
  while (pos < path.size()) {
    last = pos;
    if (path[pos] == '\xfe') {
      pos += 10;
    } else {
      const std::size_t end = path.find('\xfe', pos);
      pos = end == std::string_view::npos ? path.size() : end + 1;
    }
  }
  return last;
}

std::pair<std::string_view, std::string_view> Split(std::string_view key) {
  const std::size_t at = LastKeyStart(key);
  return {key.substr(0, at), key.substr(at)};
}

// Whether `rest` is exactly one encoded key.
bool IsOneKey(std::string_view rest) {
  if (rest.empty()) return false;
  if (rest.front() == '\xfe') return rest.size() == 10 && rest.back() == '\xfe';
  return rest.find('\xfe') == rest.size() - 1;
}

// The 8 bytes of an int key, or nullopt for a string key.
std::optional<std::uint64_t> IntKeyBytes(std::string_view leaf) {
  if (leaf.size() != 10 || leaf.front() != '\xfe') return std::nullopt;
  std::uint64_t bytes;
  std::memcpy(&bytes, leaf.data() + 1, 8);
  return bytes;
}

}  // namespace

std::string& Container::Group::Slot(std::string_view leaf) {
  if (const std::optional<std::uint64_t> key = IntKeyBytes(leaf)) return by_int_[*key];
  return by_text_[Av(leaf)];
}

bool Container::Group::Erase(std::string_view leaf) {
  if (const std::optional<std::uint64_t> key = IntKeyBytes(leaf)) return by_int_.erase(*key) > 0;
  return by_text_.erase(Av(leaf)) > 0;
}

void Container::Group::AppendTo(std::string_view parent, std::vector<StoredRecord>* out) const {
  for (const auto& [key, value] : by_int_) {
    std::string full(parent);
    full.push_back('\xfe');
    full.append(reinterpret_cast<const char*>(&key), 8);
    full.push_back('\xfe');
    out->emplace_back(std::move(full), value);
  }
  for (const auto& [leaf, value] : by_text_) {
    out->emplace_back(absl::StrCat(Av(parent), leaf), value);
  }
}

Container::Groups::iterator Container::FindGroup(std::string_view parent) {
  if (cached_ != groups_.end() && cached_->first == parent) return cached_;
  auto it = groups_.find(parent);
  if (it != groups_.end()) Cache(it);
  return it;
}

Container::Group& Container::FindOrAddGroup(std::string_view parent) {
  auto it = FindGroup(parent);
  if (it == groups_.end()) Cache(it = groups_.try_emplace(std::string(parent)).first);
  return it->second;
}

void Container::Cache(Groups::iterator group) {
  cached_ = group;
  // Groups below it would follow it in order: only the next one needs looking at.
  const auto next = std::next(group);
  cached_has_groups_below_ =
      next != groups_.end() && absl::StartsWith(next->first, Av(group->first));
}

void Container::EraseGroups(Groups::iterator first, Groups::iterator last) {
  if (first == last) return;
  groups_.erase(first, last);
  cached_ = groups_.end();
  sorted_valid_ = false;
}

void Container::Put(std::string_view key, std::string value, bool is_blob) {
  sorted_valid_ = false;
  if (is_blob) {
    has_blobs_ = true;
    const std::string blob_key = absl::StrCat(Av(kBlobPrefix), Av(key));
    const auto [blob_parent, blob_leaf] = Split(blob_key);
    FindOrAddGroup(blob_parent).Slot(blob_leaf) = std::move(value);
    value.clear();
  } else if (has_blobs_) {
    Erase(absl::StrCat(Av(kBlobPrefix), Av(key)));
  }
  const auto [parent, leaf] = Split(key);
  FindOrAddGroup(parent).Slot(leaf) = std::move(value);
}

void Container::Erase(std::string_view key) {
  const auto [parent, leaf] = Split(key);
  auto group = FindGroup(parent);
  if (group == groups_.end() || !group->second.Erase(leaf)) return;
  sorted_valid_ = false;
  if (group->second.empty()) EraseGroups(group, std::next(group));
}

std::string& Container::Replace(std::string_view key) {
  sorted_valid_ = false;
  // A tracked point: one more key in the group written last (a sequence's column), which has
  // nothing below it. No scan of `key` for its last key, no ordered lookup for a subtree.
  if (cached_ != groups_.end() && !cached_has_groups_below_ && !has_blobs_) {
    const std::string_view parent = cached_->first;
    if (key.size() > parent.size() && key.substr(0, parent.size()) == parent &&
        IsOneKey(key.substr(parent.size()))) {
      std::string& value = cached_->second.Slot(key.substr(parent.size()));
      value.clear();
      return value;
    }
  }
  DeleteBelow(key);  // BLOBs included: the one at `key` too
  const auto [parent, leaf] = Split(key);
  std::string& value = FindOrAddGroup(parent).Slot(leaf);
  value.clear();
  return value;
}

void Container::DeleteSubtree(std::string_view prefix) {
  Erase(prefix);
  DeleteBelow(prefix);
}

void Container::DeleteBelow(std::string_view prefix) {
  // Every group whose parent path lies under `prefix`, and the BLOBs there.
  auto first = groups_.lower_bound(prefix);
  auto last = first;
  while (last != groups_.end() && absl::StartsWith(last->first, Av(prefix))) ++last;
  EraseGroups(first, last);
  if (has_blobs_ && !absl::StartsWith(Av(prefix), Av(kBlobPrefix))) {
    DeleteSubtree(absl::StrCat(Av(kBlobPrefix), Av(prefix)));
  }
}

const std::vector<StoredRecord>& Container::Sorted() const {
  if (sorted_valid_) return sorted_;
  sorted_.clear();
  for (const auto& [parent, group] : groups_) group.AppendTo(parent, &sorted_);
  std::sort(sorted_.begin(), sorted_.end());
  sorted_valid_ = true;
  return sorted_;
}

std::vector<wire::Record> Container::Items(std::string_view prefix) const {
  const std::vector<StoredRecord>& all = Sorted();
  auto key_less = [](const StoredRecord& r, std::string_view k) { return r.first < k; };
  std::vector<wire::Record> out;
  for (auto it = std::lower_bound(all.begin(), all.end(), prefix, key_less);
       it != all.end() && absl::StartsWith(it->first, Av(prefix)); ++it) {
    wire::Record r{it->first.substr(prefix.size()), it->second, false};
    if (r.value.empty() && has_blobs_) {
      const std::string blob_key = absl::StrCat(Av(kBlobPrefix), it->first);
      auto blob = std::lower_bound(all.begin(), all.end(), blob_key, key_less);
      if (blob != all.end() && blob->first == blob_key) {
        r.value = blob->second;
        r.is_blob = true;
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace aim::test_server
