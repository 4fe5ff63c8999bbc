// Each config described once: its fields' names, types and integer bounds. The table drives
// conversion from and to JavaScript (addon/convert.cpp), the checkpoints' key=value text, the
// bounds checks of validate(), `intra info`, and the test that keeps TypeScript's types in step.
// Adding a field means adding it to the struct and one line to its table.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <variant>
#include <vector>

#include "config.h"

namespace intra {

enum class FieldType { Integer, Number, Boolean, Choice };
using FieldValue = std::variant<int64_t, double, bool, std::string>;

template <typename Config>
struct Field {
  const char* name;
  FieldType type;
  FieldValue (*get)(const Config&);
  void (*set)(Config&, const FieldValue&);  // a Choice throws INTRA_INVALID_ARGUMENT for an unknown name
  int64_t min = std::numeric_limits<int64_t>::min();  // integers only
  int64_t max = std::numeric_limits<int64_t>::max();
  // The value of a checkpoint from before the field existed; nullptr: the field is required.
  const char* legacyDefault = nullptr;
};

const std::vector<Field<ModelConfig>>& modelFields();
const std::vector<Field<TrainConfig>>& trainFields();
const std::vector<Field<MapConfig>>& mapFields();

const char* toString(FieldType type);

// Throws INTRA_INVALID_ARGUMENT ("Expected a positive integer for depth but received 0", "Expected
// at most 1024 for depth but received 5000") for an integer field outside its bounds.
template <typename Config>
void checkBounds(const Config& config, const std::vector<Field<Config>>& fields);

// "name=value" lines in table order (numbers with 17 significant digits: they read back exactly).
template <typename Config>
std::string serializeFields(const Config& config, const std::vector<Field<Config>>& fields);

// Reads "name=value" lines into `config` (which holds the defaults). `what` names the text in
// errors ("config", "training config"): "<what> has no 'x'", "<what> field 'x' is not an integer".
// Errors are INTRA_CHECKPOINT.
template <typename Config>
void parseFields(const std::string& text, const std::vector<Field<Config>>& fields, Config& config, const std::string& what);

}  // namespace intra
