// aim-track's input language: one JSON object per line, each turned into one aim::Run call.
//
//   {"name":"loss","value":0.3,"step":5,"epoch":1,"context":{"subset":"train"}}  Track
//   {"params":{"hparams":{"lr":0.01}}}           Set(key, value) for each key, in order
//   {"set":["hparams","lr"],"value":0.02}        Set(path, value)
//   {"tag":"x"}  {"remove_tag":"x"}              AddTag / RemoveTag
//   {"name":"run name"}  {"description":"..."}  {"experiment":"..."}  {"archived":true}
//
// Numbers keep their JSON kind: 3 is tracked as an int, 3.0 as a float, as in Python.
// Unknown keys are errors, so a typo never silently drops data.
#ifndef AIM_TOOLS_TRACK_LINES_H_
#define AIM_TOOLS_TRACK_LINES_H_

#include <string>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aim/run.h"
#include "aim/value.h"

namespace aim::tools {

// A JSON value as an aim::Value: objects keep their key order, integers stay ints.
absl::StatusOr<Value> JsonToValue(const nlohmann::ordered_json& json);

// Applies JSON lines to one run. Not thread-safe (one reader feeds it).
class LineTracker {
 public:
  explicit LineTracker(Run& run) : run_(run) {}

  // Parses and applies one line; an error names what is wrong with it (not the line number:
  // the caller knows it). Blank lines are OK and do nothing.
  absl::Status Apply(std::string_view line);

 private:
  absl::Status Track(const nlohmann::ordered_json& j);
  // Contexts are hashed when built: reuse them for repeated context objects.
  absl::StatusOr<Context> ContextOf(const nlohmann::ordered_json& j);

  Run& run_;
  std::unordered_map<std::string, Context> contexts_;
};

}  // namespace aim::tools

#endif  // AIM_TOOLS_TRACK_LINES_H_
