// Fuzz target: the checkpoint MANIFEST parser (checkpoint/checkpoint_store.h ParseManifest) and
// its round trip: a MANIFEST that parses, written again by FormatManifest, must parse to the
// same MANIFEST (the scheduler rewrites manifests it has read, e.g. when it resumes).
//
// Input: a mode byte, then the MANIFEST text. Mode bit 0 appends the "crc32 C" line the text
// needs, so the fuzzer gets past the checksum into the lines.
#include <string>

#include "core/crc32.h"
#include "fuzz/fuzz_input.h"
#include "checkpoint/checkpoint_store.h"

using namespace embark;
using embark::fuzz::FuzzInput;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  const uint8_t mode = in.Byte();
  std::string text = in.Rest();
  if (mode & 1) text += "crc32 " + std::to_string(Crc32(text)) + "\n";
  Manifest m;
  if (!ParseManifest("MANIFEST", text, &m).ok()) return 0;
  const std::string again = FormatManifest(m);
  Manifest m2;
  const Status st = ParseManifest("MANIFEST (rewritten)", again, &m2);
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    FUZZ_CHECK(false, "a MANIFEST that parsed does not parse once written again");
  }
  FUZZ_CHECK(FormatManifest(m2) == again, "a MANIFEST changes when written, read and written again");
  return 0;
}
