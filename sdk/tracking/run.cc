// aim::Run and aim::Context: the public face of the tracking engine (run_impl.h).
#include "aim/run.h"

#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "tracking/client.h"
#include "tracking/run_impl.h"
#include "wire/codec.h"
#include "wire/hash.h"

namespace aim {

Context::Context() : Context(Value::MakeDict()) {}

Context::Context(std::initializer_list<std::pair<std::string_view, Value>> items)
    : Context([&] {
        Value::Dict dict;
        dict.reserve(items.size());
        for (const auto& [key, value] : items) dict.emplace_back(std::string(key), value);
        return Value(std::move(dict));
      }()) {}

namespace {

// The process-wide table of context dicts, by id. Contexts are few (a handful per run) and
// Track() copies them on every call, so they are interned once and never freed.
const Value* Intern(std::int64_t id, Value dict) {
  static absl::Mutex mu;
  static auto* interned = new absl::flat_hash_map<std::int64_t, std::unique_ptr<const Value>>();
  absl::MutexLock lock(&mu);
  auto [it, inserted] = interned->try_emplace(id);
  if (inserted) it->second = std::make_unique<const Value>(std::move(dict));
  return it->second.get();
}

const Value* EmptyDict() {
  static const Value* empty = new Value(Value::MakeDict());
  return empty;
}

}  // namespace

Context::Context(Value dict) : dict_(EmptyDict()) {
  if (dict.kind() != Value::Kind::kDict) {
    status_ = absl::InvalidArgumentError("a context must be a dict, such as {{\"subset\", \"train\"}}");
    return;
  }
  if (absl::StatusOr<std::string> encoded = wire::Pack(dict); !encoded.ok()) {
    status_ = encoded.status();
    return;
  }
  absl::StatusOr<std::int64_t> id = wire::HashAuto(dict);
  if (!id.ok()) {
    status_ = id.status();
    return;
  }
  id_ = *id;
  dict_ = Intern(id_, std::move(dict));
}

absl::StatusOr<std::unique_ptr<Run>> Run::Create(RunOptions options) {
  if (options.repo.empty()) return absl::InvalidArgumentError("RunOptions.repo is empty");
  absl::StatusOr<std::shared_ptr<tracking::Client>> client = tracking::Client::Get(options);
  if (!client.ok()) return client.status();
  absl::StatusOr<std::unique_ptr<tracking::RunImpl>> impl =
      tracking::RunImpl::Create(*std::move(client), options);
  if (!impl.ok()) return impl.status();
  return std::unique_ptr<Run>(new Run(*std::move(impl)));
}

Run::Run(std::unique_ptr<tracking::RunImpl> impl) : impl_(std::move(impl)) {}
Run::~Run() = default;  // RunImpl's destructor closes the run

const std::string& Run::hash() const { return impl_->hash(); }

absl::Status Run::Set(std::string_view key, Value value) {
  return impl_->Set(Path{std::string(key)}, std::move(value));
}
absl::Status Run::Set(const Path& path, Value value) { return impl_->Set(path, std::move(value)); }

absl::Status Run::Track(Number value, std::string_view name, const TrackOptions& options) {
  return impl_->Track(value, name, options);
}

absl::Status Run::SetName(std::string name) {
  return impl_->SetProperty("name.setter", std::move(name));
}
absl::Status Run::SetDescription(std::string description) {
  return impl_->SetProperty("description.setter", std::move(description));
}
absl::Status Run::SetExperiment(std::string experiment) {
  return impl_->SetProperty("experiment.setter", std::move(experiment));
}
absl::Status Run::SetArchived(bool archived) {
  return impl_->SetProperty("archived.setter", archived);
}
absl::Status Run::AddTag(std::string_view tag) { return impl_->ReadProperty("add_tag", tag); }
absl::Status Run::RemoveTag(std::string_view tag) {
  return impl_->ReadProperty("remove_tag", tag);
}

absl::Status Run::Flush(absl::Duration timeout) noexcept { return impl_->Flush(timeout); }
absl::Status Run::Close(absl::Duration timeout) noexcept { return impl_->Close(timeout); }
RunStats Run::stats() const { return impl_->stats(); }

}  // namespace aim
