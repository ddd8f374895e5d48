// Python's text renderings that Aim's error objects are made of: repr() of str and of a key
// path, json.dumps() of exception args (ensure_ascii, ", " separators), and UTF-8 checks.
// Internal to the test server.
#ifndef AIM_TESTS_SUPPORT_SERVER_PYTHON_TEXT_H_
#define AIM_TESTS_SUPPORT_SERVER_PYTHON_TEXT_H_

#include <span>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "wire/string_view_compat.h"
#include "aim/value.h"

namespace aim::test_server::internal {

// repr(s): single quotes unless s has a single quote and no double quote.
std::string PyRepr(std::string_view s);
// repr() of a path as Aim received it: a list renders as ['a', 1], a lone key as ('a',).
std::string PyReprPath(std::span<const Key> path, bool was_list);
// json.dumps(list_of_str) with Python's defaults: ensure_ascii, separators ", " and ": ".
std::string PyJsonDumpsStrings(std::span<const std::string> items);
bool IsValidUtf8(std::string_view s);

using ::aim::internal::Av;
using ::aim::internal::Sv;

}  // namespace aim::test_server::internal

#endif  // AIM_TESTS_SUPPORT_SERVER_PYTHON_TEXT_H_
