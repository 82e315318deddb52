// Field count of libffm files: how many fields a field-aware model (ffm, deepfm) needs so that
// no feature of the data is dropped, found before training by reading the files once.
//
// The result is a pure function of the files' bytes, so every rank of a cluster that scans the
// same files (workers, servers, scheduler) sizes its tables identically without exchanging a
// message. A token counts when it starts with a decimal field number 0..65535 followed by ':'
// (the libffm shape "field:id:value"); the label and tokens of any other shape are passed
// over, because the reader judges bad lines later (under --bad_lines) and the scan must not
// fail a run that skips them. Fields of bad lines therefore count too, which can only make the
// table wider, never drop a field.
//
// Thread-safety: a pure function (reads the files, keeps no state).
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "data/line_parser.h"

namespace embark {

class CsvSchema;

struct FieldCount {
  uint32_t num_fields = 0;  // 1 + the highest field seen; 0 if no feature was seen
  uint64_t lines = 0;       // lines read (blank ones included)
  // Where the highest field first appears, for messages: "PATH:LINE".
  std::string highest_at;
};

// Scans every file of `spec` (comma-separated files, globs, directories: input_split.h) as
// libffm. IoError / InvalidArgument name a missing or unreadable file.
Status CountLibffmFields(const std::string& spec, FieldCount* out);

// The num_fields of a field-aware model for a job reading `format`, so that no field is
// dropped silently. `requested` is the user's --num_fields (0 = not given).
//   libffm  requested: taken as is; the reader then refuses a line with a field >= it
//           (ParserOptions::num_fields, naming file, line and field). Not given: 1 + the
//           highest field of the train and test files (CountLibffmFields over both).
//   criteo  39 fields (kCriteoFields); a requested count below that is an error.
//   csv     1 + the highest field of the schema's columns; a requested count below that is an
//           error naming the schema and the column.
//   libsvm  every feature is in field 0: 1 unless requested.
// *how says where the count came from, for the log ("12: the highest field of the data is 11,
// first at a.libffm:3"). InvalidArgument for an impossible request; scan errors as above.
Status ResolveNumFields(DataFormat format, const CsvSchema* schema, const std::string& train,
                        const std::string& test, uint32_t requested, uint32_t* num_fields,
                        std::string* how);

}  // namespace embark
