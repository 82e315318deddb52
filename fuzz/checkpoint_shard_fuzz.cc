// Fuzz target: the checkpoint shard loader: ps/checkpoint_shard.h ParseShardBytes (which
// ReadShardFile uses after reading the file), for a model of three tables, and the server's
// restore (Server::LoadShards: ReadShardFile, then every row put where it belongs). Every row
// ParseShardBytes hands out must belong to a table of the model and hold at most that table's
// floats per row.
//
// Input: a mode byte, then the shard's bytes. Mode bit 0 appends the checksum the bytes' own
// version asks for (CRC-32, or FNV-1a for version 1), so the fuzzer gets past the checksum
// and into the tables; bit 1 restores a server (fuzz_server.h, options from bits 3-4) from
// the bytes written to a scratch file instead.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/crc32.h"
#include "core/hash.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/fuzz_server.h"
#include "ps/checkpoint_shard.h"

using namespace embark;
using embark::fuzz::FuzzInput;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  const uint8_t mode = in.Byte();
  std::string bytes = in.Rest();
  if (mode & 1) {
    uint32_t version = 0;
    if (bytes.size() >= 12) std::memcpy(&version, bytes.data() + 8, 4);
    const uint64_t sum = version == 1 ? HashBytes(bytes) : uint64_t{Crc32(bytes)};
    bytes.append(reinterpret_cast<const char*>(&sum), 8);
  }
  static const std::vector<std::string> names = {"emb", "lin", "mlp"};
  static const std::vector<uint32_t> floats = {8, 3, 16384};
  uint64_t rows = 0;
  auto on_row = [&](const ShardRow& r) {
    FUZZ_CHECK(r.table < names.size(), "a row of a table the model does not have");
    FUZZ_CHECK(r.floats <= floats[r.table], "a row wider than its table");
    float sum = 0;
    for (uint32_t i = 0; i < r.floats; ++i) sum += r.row[i];  // every float readable
    (void)sum;
    return ++rows > 100000 ? Status::InvalidArgument("enough rows") : Status::OK();
  };
  if (mode & 2) {
    const std::string path = fuzz::ScratchDir() + "/server-0.shard";
    fuzz::WriteFile(path, bytes);
    std::unique_ptr<Server> server = fuzz::MakeFuzzServer((mode >> 3) & 3);
    (void)server->LoadShards({path});
  } else {
    const uint64_t expected = mode & 4 ? 12345 : 0;
    (void)ParseShardBytes("fuzz.shard", bytes, names, floats, on_row, mode & 4 ? &expected : nullptr);
  }
  return 0;
}
