#include "aim/auth/curl.h"

#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "internal.h"

namespace aim::auth {

absl::StatusOr<CurlHeaderList> CurlHeaderList::Create(const Credentials& credentials,
                                                      std::string_view url,
                                                      const HttpOptions& options) {
  absl::StatusOr<std::vector<std::string>> lines = HttpHeaderLines(credentials, url, options);
  if (!lines.ok()) return lines.status();
  CurlHeaderList list;
  absl::Status status;
  for (std::string& line : *lines) {
    if (status.ok()) status = list.Append(line);
    internal::Wipe(line);
  }
  if (!status.ok()) return status;
  return list;
}

CurlHeaderList::CurlHeaderList(CurlHeaderList&& other) noexcept
    : list_(std::exchange(other.list_, nullptr)) {}

CurlHeaderList& CurlHeaderList::operator=(CurlHeaderList&& other) noexcept {
  if (this != &other) {
    Reset();
    list_ = std::exchange(other.list_, nullptr);
  }
  return *this;
}

CurlHeaderList::~CurlHeaderList() { Reset(); }

absl::Status CurlHeaderList::Append(std::string_view line) {
  if (line.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
    return absl::InvalidArgumentError(
        "CurlHeaderList: a header line contains CR, LF or NUL; rejected");
  }
  // curl_slist_append copies a NUL-terminated string.
  std::string copy(line);
  curl_slist* appended = curl_slist_append(list_, copy.c_str());
  internal::Wipe(copy);
  if (appended == nullptr) return absl::ResourceExhaustedError("curl_slist_append failed");
  list_ = appended;
  return absl::OkStatus();
}

absl::Status CurlHeaderList::ApplyTo(CURL* handle) const {
  if (CURLcode rc = curl_easy_setopt(handle, CURLOPT_HTTPHEADER, list_); rc != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat("curl_easy_setopt(CURLOPT_HTTPHEADER): ", curl_easy_strerror(rc)));
  }
  return absl::OkStatus();
}

void CurlHeaderList::Reset() {
  // libcurl owns copies of the secrets; overwrite them before they are freed.
  for (curl_slist* node = list_; node != nullptr; node = node->next) {
    volatile char* p = node->data;
    for (; *p != '\0'; ++p) *p = '\0';
  }
  curl_slist_free_all(list_);
  list_ = nullptr;
}

}  // namespace aim::auth
