// JSON text on one line in the layout the project's line formats use: `{"epoch": 1, "a": [1, 2]}`
// (a space after ':' and ','), the layout of the metrics JSONL, the bench reports and a bundle
// manifest's members, which scripts read with grep as well as with JSON parsers.
//
// nlohmann::json does the escaping and the numbers: a double is written with the fewest
// digits that read back to the same double (so no digit of a metric is lost), a NaN or an
// infinity as null, a string that is not valid UTF-8 with its bad bytes replaced (U+FFFD)
// rather than an exception. This file only adds the spaces nlohmann's compact dump leaves out.
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace embark {

// `j` as one line of JSON text, members in the order `j` holds them.
std::string JsonText(const nlohmann::ordered_json& j);

// A double as JSON: the shortest text that reads back exactly, null when not finite.
std::string JsonNumberText(double v);

}  // namespace embark
