// One credential object shared by an Aim run, a libcurl request to another service behind
// the same proxy, and a gRPC channel: the secret is read (and, for *_FILE variables,
// re-read on rotation) in one place, and every transport sends the same headers.
//
//   export AIM_AUTH_TOKEN=...                       # or CF_ACCESS_CLIENT_ID/_SECRET, ...
//   ./shared_credentials aim://aim.example.com:443 --http https://api.example.com/health
//       --grpc grpc.example.com:443   (all on one line)
//
// --http and --grpc are optional; without them only the Aim run is made.
#include <curl/curl.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <iostream>
#include <string>

#include "aim/auth/credentials.h"
#include "aim/auth/curl.h"
#include "aim/auth/grpc.h"
#include "aim/run.h"

namespace {

// GET `url` with the shared credentials; returns the HTTP status (0 if no answer).
long CallOtherService(const aim::auth::CredentialsPtr& credentials, const std::string& url) {
  auto headers = aim::auth::CurlHeaderList::Create(*credentials, url);
  if (!headers.ok()) {
    std::cerr << "headers for " << url << ": " << headers.status() << "\n";
    return 0;
  }
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return 0;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  long status = 0;
  if (headers->ApplyTo(curl).ok() && curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  }
  curl_easy_cleanup(curl);  // before `headers` goes away: the handle points at its list
  return status;
}

// Waits for a gRPC channel carrying the shared credentials to connect.
bool ConnectGrpc(const aim::auth::CredentialsPtr& credentials, const std::string& target) {
  auto channel = aim::auth::MakeGrpcChannel(target, credentials);
  if (!channel.ok()) {
    std::cerr << "gRPC channel: " << channel.status() << "\n";
    return false;
  }
  // The credentials go out with each call; any stub made on *channel carries them.
  return (*channel)->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc % 2 != 0) {
    std::cerr << "usage: shared_credentials <aim repo> [--http URL] [--grpc host:port]\n";
    return 2;
  }
  std::string http_url, grpc_target;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    (flag == "--http" ? http_url : grpc_target) = argv[i + 1];
  }

  // The one credential object. Errors name the variable, never the secret.
  absl::StatusOr<aim::auth::CredentialsPtr> credentials = aim::auth::FromEnvironment();
  if (!credentials.ok()) {
    std::cerr << "credentials: " << credentials.status() << "\n";
    return 1;
  }
  std::cout << "credentials: " << (*credentials)->DebugString() << "\n";

  int failures = 0;
  aim::RunOptions options{.repo = argv[1], .experiment = "shared_credentials_example"};
  options.credentials = *credentials;  // shared, not re-read from the environment
  auto run = aim::Run::Create(std::move(options));
  absl::Status s = run.ok() ? (*run)->Track(1, "calls") : run.status();
  if (s.ok()) s = (*run)->Close();
  std::cout << "aim run: " << (s.ok() ? (*run)->hash() : s.ToString()) << "\n";
  failures += s.ok() ? 0 : 1;

  if (!http_url.empty()) {
    const long status = CallOtherService(*credentials, http_url);
    std::cout << "GET " << http_url << ": " << status << "\n";
    failures += status / 100 == 2 ? 0 : 1;
  }
  if (!grpc_target.empty()) {
    const bool connected = ConnectGrpc(*credentials, grpc_target);
    std::cout << "gRPC " << grpc_target << ": " << (connected ? "connected" : "not connected")
              << "\n";
    failures += connected ? 0 : 1;
  }
  return failures == 0 ? 0 : 1;
}
