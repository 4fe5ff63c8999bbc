#include "config_fields.h"

#include <map>
#include <sstream>

#include "../common/errors.h"

namespace intra {

namespace {

// One line of a table per field; the lambdas are captureless, so they are plain function pointers.
#define INTRA_INTEGER(Config, member, lo, hi, ...)                                                  \
  Field<Config> {                                                                                  \
    #member, FieldType::Integer, [](const Config& c) -> FieldValue { return static_cast<int64_t>(c.member); }, \
        [](Config& c, const FieldValue& v) { c.member = static_cast<decltype(c.member)>(std::get<int64_t>(v)); }, lo, hi, ##__VA_ARGS__ \
  }
#define INTRA_NUMBER(Config, member)                                                       \
  Field<Config> {                                                                          \
    #member, FieldType::Number, [](const Config& c) -> FieldValue { return c.member; },    \
        [](Config& c, const FieldValue& v) { c.member = std::get<double>(v); }             \
  }
#define INTRA_BOOLEAN(Config, member)                                                      \
  Field<Config> {                                                                          \
    #member, FieldType::Boolean, [](const Config& c) -> FieldValue { return c.member; },   \
        [](Config& c, const FieldValue& v) { c.member = std::get<bool>(v); }               \
  }
#define INTRA_CHOICE(Config, member, parse, ...)                                                     \
  Field<Config> {                                                                                    \
    #member, FieldType::Choice, [](const Config& c) -> FieldValue { return toString(c.member); },    \
        [](Config& c, const FieldValue& v) { c.member = parse(std::get<std::string>(v)); }, 0, 0, ##__VA_ARGS__ \
  }

constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();

}  // namespace

// Upper bounds far above any real model, low enough that parameter counts and tensor sizes
// computed from a config (a model file's, say) stay within int64.
const std::vector<Field<ModelConfig>>& modelFields() {
  static const std::vector<Field<ModelConfig>> fields = {
      INTRA_INTEGER(ModelConfig, patchSize, 1, 256),
      INTRA_INTEGER(ModelConfig, windowSize, 1, 64),
      INTRA_INTEGER(ModelConfig, channels, 1, 3),
      INTRA_INTEGER(ModelConfig, imageHeight, 1, 32768),
      INTRA_INTEGER(ModelConfig, imageWidth, 1, 32768),
      INTRA_INTEGER(ModelConfig, dim, 1, 65536),
      INTRA_INTEGER(ModelConfig, depth, 1, 1024),
      INTRA_INTEGER(ModelConfig, heads, 1, 1024),
      INTRA_INTEGER(ModelConfig, mlpRatio, 1, 64),
      INTRA_CHOICE(ModelConfig, attention, attentionKindFromString),
      INTRA_BOOLEAN(ModelConfig, longResiduals),
  };
  return fields;
}

const std::vector<Field<TrainConfig>>& trainFields() {
  static const std::vector<Field<TrainConfig>> fields = [] {
    std::vector<Field<TrainConfig>> f = {
        INTRA_INTEGER(TrainConfig, batchSize, 1, 1 << 20),
        INTRA_NUMBER(TrainConfig, learningRate),
        INTRA_NUMBER(TrainConfig, alpha),
        INTRA_NUMBER(TrainConfig, beta),
        // Checkpoints from before the thesis recipe have no gmsScales: theirs was the paper's loss.
        INTRA_INTEGER(TrainConfig, gmsScales, 1, 3, "1"),
        INTRA_BOOLEAN(TrainConfig, augment),
        INTRA_INTEGER(TrainConfig, seed, 0, kNoLimit),
        INTRA_INTEGER(TrainConfig, validationWindowsPerImage, 1, 1 << 20),
        INTRA_CHOICE(TrainConfig, trainPrecision, precisionFromString),
        // Checkpoints from before the thesis's map have none: theirs was the paper's.
        INTRA_CHOICE(TrainConfig, anomalyMap, anomalyMapKindFromString, "paper"),
    };
    return f;
  }();
  return fields;
}

// Every field has the paper's value as its legacy default: a file without them maps as the paper does.
const std::vector<Field<MapConfig>>& mapFields() {
  static const std::vector<Field<MapConfig>> fields = [] {
    Field<MapConfig> topkArea = INTRA_NUMBER(MapConfig, topkArea);
    topkArea.legacyDefault = "0.01";
    return std::vector<Field<MapConfig>>{
        INTRA_CHOICE(MapConfig, map, mapTermsFromString, "gms"),
        INTRA_CHOICE(MapConfig, normalise, mapNormalisationFromString, "mean"),
        INTRA_CHOICE(MapConfig, imageScore, imageScoreRuleFromString, "max"),
        topkArea,
    };
  }();
  return fields;
}

const char* toString(FieldType type) {
  switch (type) {
    case FieldType::Integer: return "integer";
    case FieldType::Number: return "number";
    case FieldType::Boolean: return "boolean";
    case FieldType::Choice: return "choice";
  }
  return "?";
}

template <typename Config>
void checkBounds(const Config& config, const std::vector<Field<Config>>& fields) {
  for (const auto& field : fields) {
    if (field.type != FieldType::Integer) continue;
    const int64_t value = std::get<int64_t>(field.get(config));
    if (value < field.min) {
      const std::string want = field.min == 1 ? "a positive integer" : field.min == 0 ? "a non-negative integer"
                                                                                     : "an integer of at least " + std::to_string(field.min);
      throw invalidArgument("Expected " + want + " for " + field.name + " but received " + std::to_string(value));
    }
    if (value > field.max) {
      throw invalidArgument("Expected at most " + std::to_string(field.max) + " for " + field.name + " but received " +
                            std::to_string(value));
    }
  }
}

template <typename Config>
std::string serializeFields(const Config& config, const std::vector<Field<Config>>& fields) {
  std::ostringstream out;
  out.precision(17);
  for (const auto& field : fields) {
    out << field.name << "=";
    std::visit([&](const auto& v) {
      using V = std::decay_t<decltype(v)>;
      if constexpr (std::is_same_v<V, bool>) out << (v ? 1 : 0);
      else out << v;
    }, field.get(config));
    out << "\n";
  }
  return out.str();
}

template <typename Config>
void parseFields(const std::string& text, const std::vector<Field<Config>>& fields, Config& config, const std::string& what) {
  std::map<std::string, std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) throw checkpointError(what + " has a malformed line '" + line + "'");
    lines[line.substr(0, eq)] = line.substr(eq + 1);
  }
  for (const auto& field : fields) {
    auto found = lines.find(field.name);
    if (found == lines.end() && field.legacyDefault == nullptr) {
      throw checkpointError(what + " has no '" + field.name + "'");
    }
    const std::string& value = found != lines.end() ? found->second : std::string(field.legacyDefault);
    auto notA = [&](const char* kind) {
      return checkpointError(what + " field '" + field.name + "' is not " + kind + " ('" + value + "')");
    };
    std::istringstream read(value);
    switch (field.type) {
      case FieldType::Integer: {
        int64_t v{};
        read >> v;
        if (read.fail() || !read.eof()) throw notA("an integer");
        field.set(config, v);
        break;
      }
      case FieldType::Number: {
        double v{};
        read >> v;
        if (read.fail() || !read.eof()) throw notA("a number");
        field.set(config, v);
        break;
      }
      case FieldType::Boolean:
        if (value != "0" && value != "1") throw notA("0 or 1");
        field.set(config, value == "1");
        break;
      case FieldType::Choice:
        try {
          field.set(config, value);
        } catch (const IntraError& e) {
          throw checkpointError(what + " field '" + field.name + "': " + e.what());
        }
        break;
    }
  }
}

template void checkBounds(const ModelConfig&, const std::vector<Field<ModelConfig>>&);
template void checkBounds(const TrainConfig&, const std::vector<Field<TrainConfig>>&);
template void checkBounds(const MapConfig&, const std::vector<Field<MapConfig>>&);
template std::string serializeFields(const ModelConfig&, const std::vector<Field<ModelConfig>>&);
template std::string serializeFields(const TrainConfig&, const std::vector<Field<TrainConfig>>&);
template std::string serializeFields(const MapConfig&, const std::vector<Field<MapConfig>>&);
template void parseFields(const std::string&, const std::vector<Field<ModelConfig>>&, ModelConfig&, const std::string&);
template void parseFields(const std::string&, const std::vector<Field<TrainConfig>>&, TrainConfig&, const std::string&);
template void parseFields(const std::string&, const std::vector<Field<MapConfig>>&, MapConfig&, const std::string&);

}  // namespace intra
