// The fixed credential sources (everything except TokenFile and FromEnvironment).
#include "aim/auth/credentials.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "internal.h"

namespace aim::auth {
namespace {

// Headers fixed at creation. `kind` is what DebugString and errors call the source.
class StaticCredentials final : public Credentials {
 public:
  StaticCredentials(std::string kind, Headers headers)
      : kind_(std::move(kind)), headers_(std::move(headers)) {}
  ~StaticCredentials() override { internal::Wipe(headers_); }

  absl::StatusOr<Headers> GetHeaders(std::string_view /*target*/) const override {
    return headers_;
  }
  std::string DebugString() const override { return internal::DescribeHeaders(kind_, headers_); }

 private:
  std::string kind_;
  Headers headers_;
};

constexpr char kJwtHeader[] = "cf-access-token";

class JwtCredentials final : public Credentials {
 public:
  JwtCredentials(std::string jwt, absl::Time exp) : headers_{{kJwtHeader, std::move(jwt)}}, exp_(exp) {}
  ~JwtCredentials() override { internal::Wipe(headers_); }

  absl::StatusOr<Headers> GetHeaders(std::string_view /*target*/) const override {
    if (absl::Status s = internal::CheckNotExpired("CloudflareAccessJwt", exp_, absl::Now());
        !s.ok()) {
      return s;
    }
    return headers_;
  }
  std::string DebugString() const override {
    return internal::DescribeHeaders("CloudflareAccessJwt", headers_);
  }

 private:
  Headers headers_;
  absl::Time exp_;
};

class CompositeCredentials final : public Credentials {
 public:
  explicit CompositeCredentials(std::vector<CredentialsPtr> sources)
      : sources_(std::move(sources)) {}

  absl::StatusOr<Headers> GetHeaders(std::string_view target) const override {
    Headers merged;
    // Which source produced merged[i], for the conflict message.
    std::vector<const Credentials*> origin;
    for (const CredentialsPtr& source : sources_) {
      absl::StatusOr<Headers> headers = source->GetHeaders(target);
      if (!headers.ok()) return headers.status();
      for (Header& h : *headers) {
        for (std::size_t i = 0; i < merged.size(); ++i) {
          if (absl::EqualsIgnoreCase(merged[i].name, h.name)) {
            internal::Wipe(merged);
            internal::Wipe(*headers);
            return absl::InvalidArgumentError(absl::StrCat(
                "Composite: header '", h.name, "' is produced by both ",
                origin[i]->DebugString(), " and ", source->DebugString()));
          }
        }
        merged.push_back(std::move(h));
        origin.push_back(source.get());
      }
    }
    return merged;
  }

  std::string DebugString() const override {
    return absl::StrCat("Composite{",
                        absl::StrJoin(sources_, ",",
                                      [](std::string* out, const CredentialsPtr& c) {
                                        out->append(c->DebugString());
                                      }),
                        "}");
  }

 private:
  std::vector<CredentialsPtr> sources_;
};

absl::Status RequireNonEmpty(absl::string_view source, absl::string_view what,
                             absl::string_view value) {
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": empty ", what));
  }
  return absl::OkStatus();
}

}  // namespace

CredentialsPtr NoCredentials() {
  static const CredentialsPtr kNone =
      std::make_shared<StaticCredentials>("NoCredentials", Headers{});
  return kNone;
}

absl::StatusOr<CredentialsPtr> BearerToken(std::string token) {
  if (absl::Status s = RequireNonEmpty("BearerToken", "token", token); !s.ok()) return s;
  if (absl::StartsWithIgnoreCase(token, "bearer ")) {
    internal::Wipe(token);
    return absl::InvalidArgumentError(
        "BearerToken: the token starts with \"Bearer \"; pass the bare token, the prefix is "
        "added for you");
  }
  Headers headers{{"Authorization", absl::StrCat("Bearer ", token)}};
  internal::Wipe(token);
  if (absl::Status s = internal::ValidateHeaders("BearerToken", headers); !s.ok()) {
    internal::Wipe(headers);
    return s;
  }
  return std::make_shared<StaticCredentials>("BearerToken", std::move(headers));
}

absl::StatusOr<CredentialsPtr> CloudflareServiceToken(std::string client_id,
                                                      std::string client_secret) {
  constexpr char kSource[] = "CloudflareServiceToken";
  if (client_id.empty() || client_secret.empty()) {
    internal::Wipe(client_id);
    internal::Wipe(client_secret);
    return absl::InvalidArgumentError(
        "CloudflareServiceToken: both the client id and the client secret are required");
  }
  Headers headers{{"CF-Access-Client-Id", std::move(client_id)},
                  {"CF-Access-Client-Secret", std::move(client_secret)}};
  if (absl::Status s = internal::ValidateHeaders(kSource, headers); !s.ok()) {
    internal::Wipe(headers);
    return s;
  }
  return std::make_shared<StaticCredentials>(kSource, std::move(headers));
}

absl::StatusOr<CredentialsPtr> CloudflareAccessJwt(std::string jwt) {
  constexpr char kSource[] = "CloudflareAccessJwt";
  absl::Status status = RequireNonEmpty(kSource, "token", jwt);
  if (status.ok()) status = internal::ValidateHeaderValue(kSource, kJwtHeader, jwt);
  absl::StatusOr<absl::Time> exp = absl::InfiniteFuture();
  if (status.ok()) {
    exp = internal::JwtExpiry(kSource, jwt);
    status = exp.status();
  }
  if (!status.ok()) {
    internal::Wipe(jwt);
    return status;
  }
  return std::make_shared<JwtCredentials>(std::move(jwt), *exp);
}

absl::StatusOr<CredentialsPtr> CustomHeaders(Headers headers) {
  constexpr char kSource[] = "CustomHeaders";
  absl::Status status = internal::ValidateHeaders(kSource, headers);
  for (std::size_t i = 0; status.ok() && i < headers.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (absl::EqualsIgnoreCase(headers[i].name, headers[j].name)) {
        status = absl::InvalidArgumentError(
            absl::StrCat(kSource, ": header '", headers[i].name, "' is given twice"));
        break;
      }
    }
  }
  if (!status.ok()) {
    internal::Wipe(headers);
    return status;
  }
  return std::make_shared<StaticCredentials>(kSource, std::move(headers));
}

absl::StatusOr<CredentialsPtr> Composite(std::vector<CredentialsPtr> sources) {
  for (const CredentialsPtr& source : sources) {
    if (source == nullptr) return absl::InvalidArgumentError("Composite: a source is null");
  }
  auto composite = std::make_shared<CompositeCredentials>(std::move(sources));
  // Report a conflict now rather than on the first request. A source that cannot produce
  // headers yet (an expired JWT, a missing file) is reported by GetHeaders later instead.
  absl::StatusOr<Headers> probe = composite->GetHeaders("");
  if (!probe.ok() && absl::StartsWith(probe.status().message(), "Composite:")) {
    return probe.status();
  }
  if (probe.ok()) internal::Wipe(*probe);
  return composite;
}

}  // namespace aim::auth
