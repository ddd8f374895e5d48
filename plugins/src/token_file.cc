// TokenFile: a token on disk that may be rotated while the process runs.
//
// Design: the current token lives in an immutable Snapshot behind a shared_ptr. Readers copy
// the pointer under a short lock and never wait for file I/O: when the snapshot is due for a
// re-check, one caller (whoever wins a TryLock) does the stat() and, if the file changed,
// the read; everyone else keeps serving the previous snapshot meanwhile.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "aim/auth/credentials.h"
#include "internal.h"

namespace aim::auth {
namespace {

// What identifies one version of the file without reading it.
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  timespec mtime{};
  timespec ctime{};

  friend bool operator==(const FileId& a, const FileId& b) {
    return a.dev == b.dev && a.ino == b.ino && a.size == b.size &&
           a.mtime.tv_sec == b.mtime.tv_sec && a.mtime.tv_nsec == b.mtime.tv_nsec &&
           a.ctime.tv_sec == b.ctime.tv_sec && a.ctime.tv_nsec == b.ctime.tv_nsec;
  }
};

struct Snapshot {
  ~Snapshot() {
    if (headers.ok()) internal::Wipe(*headers);
  }
  absl::StatusOr<Headers> headers;  // or why the file is unusable
  absl::Time exp = absl::InfiniteFuture();
  std::optional<FileId> id;  // empty when stat() failed
  absl::Time checked;
};

class TokenFileCredentials final : public Credentials {
 public:
  TokenFileCredentials(std::string path, TokenFileKind kind, TokenFileOptions options)
      : path_(std::move(path)), kind_(kind), options_(options) {}

  // Loads the first snapshot; the factory fails if it is unusable.
  absl::Status Init() {
    auto first = Load(std::nullopt, nullptr, absl::Now());
    absl::Status status = first->headers.status();
    absl::MutexLock lock(&mu_);
    snapshot_ = std::move(first);
    return status;
  }

  absl::StatusOr<Headers> GetHeaders(std::string_view /*target*/) const override {
    const absl::Time now = absl::Now();
    std::shared_ptr<const Snapshot> snapshot = Current();
    if (now - snapshot->checked >= options_.recheck_interval && refresh_mu_.TryLock()) {
      snapshot = Current();  // another caller may have refreshed it meanwhile
      if (now - snapshot->checked >= options_.recheck_interval) {
        std::shared_ptr<const Snapshot> next = Load(snapshot->id, snapshot.get(), now);
        absl::MutexLock lock(&mu_);
        snapshot_ = next;
        snapshot = std::move(next);
      }
      refresh_mu_.Unlock();
    }
    if (!snapshot->headers.ok()) return snapshot->headers.status();
    if (absl::Status s = internal::CheckNotExpired(Describe(), snapshot->exp, now); !s.ok()) {
      return s;
    }
    return *snapshot->headers;
  }

  std::string DebugString() const override {
    return absl::StrCat(Describe(), "{", HeaderName(), "}");
  }

 private:
  std::string HeaderName() const {
    return kind_ == TokenFileKind::kBearerToken ? "Authorization" : "cf-access-token";
  }
  // The path is not secret and is what a user needs to fix a problem.
  std::string Describe() const { return absl::StrCat("TokenFile(", path_, ")"); }

  std::shared_ptr<const Snapshot> Current() const {
    absl::MutexLock lock(&mu_);
    return snapshot_;
  }

  // A new snapshot for time `now`: the previous one re-stamped if the file is unchanged,
  // otherwise the file read afresh.
  std::shared_ptr<const Snapshot> Load(std::optional<FileId> previous_id,
                                       const Snapshot* previous, absl::Time now) const {
    auto next = std::make_shared<Snapshot>();
    next->checked = now;
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
      next->headers = absl::NotFoundError(
          absl::StrCat(Describe(), ": cannot stat the token file: ", std::strerror(errno)));
      return next;
    }
    next->id = FileId{st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
    if (previous != nullptr && previous_id.has_value() && *previous_id == *next->id) {
      next->headers = previous->headers;
      next->exp = previous->exp;
      return next;
    }
    std::ifstream in(path_, std::ios::binary);
    if (!in.is_open()) {
      next->headers = absl::PermissionDeniedError(
          absl::StrCat(Describe(), ": cannot open the token file: ", std::strerror(errno)));
      return next;
    }
    std::string token(std::istreambuf_iterator<char>(in), {});
    // Trailing whitespace is what editors and `echo` leave behind; leading is not stripped
    // because it is unlikely to be accidental.
    token.erase(token.find_last_not_of(" \t\r\n\v\f") + 1);
    if (token.empty()) {
      next->headers = absl::FailedPreconditionError(
          absl::StrCat(Describe(), ": the token file is empty"));
      return next;
    }
    next->headers = Parse(std::move(token), next->exp);
    return next;
  }

  absl::StatusOr<Headers> Parse(std::string token, absl::Time& exp) const {
    const std::string source = Describe();
    Headers headers;
    if (kind_ == TokenFileKind::kBearerToken) {
      if (absl::StartsWithIgnoreCase(token, "bearer ")) {
        internal::Wipe(token);
        return absl::InvalidArgumentError(absl::StrCat(
            source, ": the token starts with \"Bearer \"; store the bare token in the file"));
      }
      headers.push_back({HeaderName(), absl::StrCat("Bearer ", token)});
    } else {
      absl::StatusOr<absl::Time> expiry = internal::JwtExpiry(source, token);
      if (!expiry.ok()) {
        internal::Wipe(token);
        return expiry.status();
      }
      exp = *expiry;
      headers.push_back({HeaderName(), token});
    }
    internal::Wipe(token);
    if (absl::Status s = internal::ValidateHeaders(source, headers); !s.ok()) {
      internal::Wipe(headers);
      return s;
    }
    return headers;
  }

  const std::string path_;
  const TokenFileKind kind_;
  const TokenFileOptions options_;
  mutable absl::Mutex mu_;
  mutable std::shared_ptr<const Snapshot> snapshot_ ABSL_GUARDED_BY(mu_);
  // Held by the one caller that re-checks the file; never waited for.
  mutable absl::Mutex refresh_mu_;
};

}  // namespace

absl::StatusOr<CredentialsPtr> TokenFile(std::string path, TokenFileKind kind,
                                         const TokenFileOptions& options) {
  if (path.empty()) return absl::InvalidArgumentError("TokenFile: empty path");
  auto credentials = std::make_shared<TokenFileCredentials>(std::move(path), kind, options);
  if (absl::Status s = credentials->Init(); !s.ok()) return s;
  return credentials;
}

absl::StatusOr<CredentialsPtr> TokenFile(std::string path, TokenFileKind kind) {
  return TokenFile(std::move(path), kind, TokenFileOptions{});
}

}  // namespace aim::auth
