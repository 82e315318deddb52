// Model spec text: ModelOptions as (name, value) text pairs, the form in which a checkpoint's
// MANIFEST records how to rebuild its model ("option dim 8") and a serving bundle's manifest
// lists the options. Only the options that are set appear, so CreateModel(name,
// ParseModelOptions(FormatModelOptions(o))) builds the same model as CreateModel(name, o).
//
// Values round-trip exactly: floats are printed with 9 significant digits, the optimizer by
// its name ("adagrad"), hidden layers as "64,32" (or "none").
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "models/model_factory.h"

namespace embark {

using ModelOptionText = std::vector<std::pair<std::string, std::string>>;

// The options set in `o`, in a fixed order.
ModelOptionText FormatModelOptions(const ModelOptions& o);

// Sets option `name` of *o from its text; InvalidArgument names an unknown option or a value
// that does not parse (options written by a newer version are thus refused, not ignored).
Status SetModelOption(const std::string& name, const std::string& value, ModelOptions* o);

}  // namespace embark
