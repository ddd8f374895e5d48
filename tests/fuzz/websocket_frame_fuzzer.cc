// libFuzzer target: the WebSocket frame parser and message reassembler (sdk/rpc/
// websocket_frame.h) on arbitrary server bytes. Beyond "no crash": every accepted frame must
// re-encode to exactly the bytes it was parsed from (lengths are minimal, so the encoding
// is unique), and the reassembler must never return a message over its limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "rpc/websocket_frame.h"

using aim::rpc::internal::EncodeFrame;
using aim::rpc::internal::ParseFrame;
using aim::rpc::internal::WsEvent;
using aim::rpc::internal::WsReader;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  constexpr std::size_t kLimit = 4096;

  auto frame = ParseFrame(input, kLimit, /*expect_masked=*/false);
  if (frame.ok() && frame->has_value()) {
    if ((*frame)->consumed > input.size()) std::abort();
    const auto& f = (*frame)->frame;
    if (EncodeFrame(f.fin, f.opcode, f.payload, std::nullopt) !=
        input.substr(0, (*frame)->consumed)) {
      std::abort();
    }
  }
  (void)ParseFrame(input, kLimit, /*expect_masked=*/true);

  // The same bytes through the reassembler, cut into two pieces at a data-chosen point.
  WsReader reader(kLimit);
  const std::size_t cut = size == 0 ? 0 : data[0] % (size + 1);
  for (std::string_view piece : {input.substr(0, cut), input.substr(cut)}) {
    reader.Append(piece);
    while (true) {
      auto event = reader.Next();
      if (!event.ok() || !event->has_value()) break;
      if ((*event)->type == WsEvent::Type::kMessage && (*event)->payload.size() > kLimit) {
        std::abort();
      }
    }
  }
  return 0;
}
