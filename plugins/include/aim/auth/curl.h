// Opt-in libcurl adapter: credentials as a `curl_slist` for your own libcurl requests.
// This header includes <curl/curl.h>; the rest of aim/auth does not.
//
//   auto headers = aim::auth::CurlHeaderList::Create(*credentials, url);
//   if (!headers.ok()) return headers.status();
//   headers->Append("Accept: application/json");
//   if (auto s = headers->ApplyTo(curl); !s.ok()) return s;
//   curl_easy_perform(curl);  // `headers` must outlive the transfer
#ifndef AIM_AUTH_CURL_H_
#define AIM_AUTH_CURL_H_

#include <curl/curl.h>

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aim/auth/credentials.h"
#include "aim/auth/http.h"

namespace aim::auth {

// Owns a `curl_slist` of header lines. Move-only; the list is overwritten and freed on
// destruction. Not thread-safe (like the easy handle it is applied to).
class CurlHeaderList {
 public:
  // The credential headers for a request to `url` (see HttpHeaderLines for the errors).
  static absl::StatusOr<CurlHeaderList> Create(const Credentials& credentials,
                                               std::string_view url,
                                               const HttpOptions& options = {});

  CurlHeaderList(CurlHeaderList&& other) noexcept;
  CurlHeaderList& operator=(CurlHeaderList&& other) noexcept;
  CurlHeaderList(const CurlHeaderList&) = delete;
  CurlHeaderList& operator=(const CurlHeaderList&) = delete;
  ~CurlHeaderList();

  // Adds a non-credential line such as "Content-Type: application/json". kInvalidArgument
  // for a line with CR, LF or NUL; kResourceExhausted if libcurl cannot allocate.
  absl::Status Append(std::string_view line);

  // CURLOPT_HTTPHEADER on `handle`. The list must outlive every transfer on `handle` that
  // uses it (or reset the option first).
  absl::Status ApplyTo(CURL* handle) const;

  // The list itself, e.g. for CURLOPT_PROXYHEADER; null when empty.
  curl_slist* get() const { return list_; }

 private:
  CurlHeaderList() = default;
  void Reset();

  curl_slist* list_ = nullptr;
};

}  // namespace aim::auth

#endif  // AIM_AUTH_CURL_H_
