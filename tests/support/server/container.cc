#include "tests/support/server/container.h"

#include <algorithm>

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

}  // namespace

Container::Group* Container::FindGroup(std::string_view parent) {
  if (cached_group_ != nullptr && cached_parent_ == parent) return cached_group_;
  auto it = groups_.find(parent);
  if (it == groups_.end()) return nullptr;
  cached_parent_ = parent;
  cached_group_ = &it->second;
  return cached_group_;
}

Container::Group& Container::FindOrAddGroup(std::string_view parent) {
  if (Group* group = FindGroup(parent)) return *group;
  cached_parent_ = parent;
  cached_group_ = &groups_.try_emplace(std::string(parent)).first->second;
  return *cached_group_;
}

void Container::EraseGroups(std::map<std::string, Group, std::less<>>::iterator first,
                            std::map<std::string, Group, std::less<>>::iterator last) {
  if (first == last) return;
  groups_.erase(first, last);
  cached_group_ = nullptr;
  sorted_valid_ = false;
}

void Container::Put(std::string_view key, std::string value, bool is_blob) {
  sorted_valid_ = false;
  if (is_blob) {
    has_blobs_ = true;
    const std::string blob_key = absl::StrCat(Av(kBlobPrefix), Av(key));
    const auto [blob_parent, blob_leaf] = Split(blob_key);
    FindOrAddGroup(blob_parent).insert_or_assign(std::string(blob_leaf), std::move(value));
    value.clear();
  } else if (has_blobs_) {
    Erase(absl::StrCat(Av(kBlobPrefix), Av(key)));
  }
  const auto [parent, leaf] = Split(key);
  FindOrAddGroup(parent).insert_or_assign(std::string(leaf), std::move(value));
}

void Container::Erase(std::string_view key) {
  const auto [parent, leaf] = Split(key);
  Group* group = FindGroup(parent);
  if (group == nullptr || group->erase(Av(leaf)) == 0) return;
  sorted_valid_ = false;
  if (group->empty()) EraseGroups(groups_.find(parent), std::next(groups_.find(parent)));
}

void Container::Replace(std::string_view key, std::string value) {
  DeleteBelow(key);
  Put(key, std::move(value), false);
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
  for (const auto& [parent, group] : groups_) {
    for (const auto& [leaf, value] : group) sorted_.emplace_back(parent + leaf, value);
  }
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
