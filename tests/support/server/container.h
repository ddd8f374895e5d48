// Container: one RocksDB container of the fake repository (e.g. `.aim/seqs/chunks/<hash>`),
// with the rockscontainer semantics TreeView relies on: records in bytewise key order,
// subtree deletion, and BLOBs stored beside an empty placeholder key (SPEC 7).
//
// Writes are hash-map operations. A big run holds millions of keys that share prefixes of
// some 60 bytes; an ordered tree over whole keys spent its time comparing those prefixes and
// chasing pointers to them, and was the test server's throughput bound. Keys are therefore
// grouped by their parent path (everything before the last encoded key): the groups are
// ordered, the members of a group are not, and reads sort what they return. The test server
// reads rarely, and mostly small containers.
//
// Not thread-safe: FakeAimRepo calls it under its own mutex.
#ifndef AIM_TESTS_SUPPORT_SERVER_CONTAINER_H_
#define AIM_TESTS_SUPPORT_SERVER_CONTAINER_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "wire/codec.h"

namespace aim::test_server {

// One key/value record of a container, in storage order.
using StoredRecord = std::pair<std::string, std::string>;  // (key bytes, value bytes)

class Container {
 public:
  // Writes one record at `key` (an encoded path). A BLOB's value goes to "BLOBS\xfe" + key and
  // an empty placeholder to `key`; a plain value replaces any BLOB stored for `key`.
  void Put(std::string_view key, std::string value, bool is_blob);

  // Deletes every record whose key starts with `prefix` (an encoded path), BLOBs included.
  void DeleteSubtree(std::string_view prefix);

  // DeleteSubtree(key), then a record at `key` whose (empty) value the caller fills in:
  // TreeView.set of a scalar, which is what every tracked point is. One hash lookup when
  // `key` lands in the group written last with nothing below it, the usual case. The
  // reference is valid until the next call.
  std::string& Replace(std::string_view key);

  // Every record in key order, BLOB entries as Aim stores them. Valid until the next write.
  const std::vector<StoredRecord>& Sorted() const;

  // The records under `prefix`, in key order, with the prefix stripped and BLOBs resolved.
  std::vector<wire::Record> Items(std::string_view prefix) const;

 private:
  // The records of one parent path, by their last key. An int key (0xFE, 8 bytes, 0xFE),
  // which sequence columns hold by the million, is kept as its 8 bytes: no string to build
  // per record, and smaller slots to miss the cache on.
  class Group {
   public:
    std::string& Slot(std::string_view leaf);  // the value at `leaf`, added if missing
    bool Erase(std::string_view leaf);  // false: no such record
    bool empty() const { return by_int_.empty() && by_text_.empty(); }
    // Appends (parent + leaf, value) for each record, in no particular order.
    void AppendTo(std::string_view parent, std::vector<StoredRecord>* out) const;

   private:
    absl::flat_hash_map<std::uint64_t, std::string> by_int_;
    absl::flat_hash_map<std::string, std::string> by_text_;
  };
  // Node-based: an iterator to a group stays valid while other groups come and go.
  using Groups = std::map<std::string, Group, std::less<>>;

  void Erase(std::string_view key);
  // The records strictly below `prefix` (not the one at it).
  void DeleteBelow(std::string_view prefix);
  // The group of `parent`, or groups_.end(); consecutive writes nearly always share a parent.
  Groups::iterator FindGroup(std::string_view parent);
  Group& FindOrAddGroup(std::string_view parent);
  void EraseGroups(Groups::iterator first, Groups::iterator last);
  void Cache(Groups::iterator group);

  Groups groups_;
  // What FindGroup() found last. A group is only ever added as cached_, so whether groups
  // lie below it stays true until cached_ changes.
  Groups::iterator cached_ = groups_.end();
  bool cached_has_groups_below_ = false;
  bool has_blobs_ = false;  // no BLOB was ever written: skip looking for them
  mutable std::vector<StoredRecord> sorted_;
  mutable bool sorted_valid_ = true;
};

}  // namespace aim::test_server

#endif  // AIM_TESTS_SUPPORT_SERVER_CONTAINER_H_
