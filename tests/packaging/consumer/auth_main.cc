// Links AimCpp::auth alone: credentials -> header lines, no SDK.
#include <cstdio>

#include "aim/auth/credentials.h"
#include "aim/auth/http.h"

int main() {
  auto credentials = aim::auth::BearerToken("consumer-token");
  if (!credentials.ok()) return 1;
  auto lines = aim::auth::HttpHeaderLines(**credentials, "https://aim.example.com/status/");
  if (!lines.ok() || lines->size() != 1) return 2;
  std::printf("%s\n", (*credentials)->DebugString().c_str());
  return 0;
}
