#include "convert.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <sstream>

#include "../common/errors.h"
#include "../core/config_fields.h"

namespace intra::addon {

ErrorInfo describeCurrentException() {
  try {
    throw;
  } catch (const IntraError& e) {
    return {e.code(), e.what()};
  } catch (const c10::Error& e) {
    return {"INTRA_TORCH", e.what_without_backtrace()};
  } catch (const std::bad_alloc&) {
    return {"INTRA_OUT_OF_MEMORY", "out of memory"};
  } catch (const std::exception& e) {
    return {"INTRA_NATIVE", e.what()};
  } catch (...) {
    return {"INTRA_NATIVE", "unknown native error"};
  }
}

Napi::Error makeError(const Napi::Env& env, const ErrorInfo& info) {
  Napi::Error error = Napi::Error::New(env, info.message);
  error.Set("code", Napi::String::New(env, info.code));
  return error;
}


static bool has(const Napi::Object& o, const char* key) {
  return o.Has(key) && !o.Get(key).IsUndefined() && !o.Get(key).IsNull();
}

// A JS value as messages show it (sharp's form): 'text', 2.5, true, null, an object.
static std::string describeValue(const Napi::Value& v) {
  if (v.IsString()) return "'" + v.As<Napi::String>().Utf8Value() + "'";
  if (v.IsNumber()) {
    std::ostringstream out;
    out << v.As<Napi::Number>().DoubleValue();
    return out.str();
  }
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsNull()) return "null";
  if (v.IsUndefined()) return "undefined";
  if (v.IsArray()) return "an array";
  if (v.IsFunction()) return "a function";
  return "an object";
}

static Napi::Value fieldValue(const Napi::Object& o, const char* key, bool ok(const Napi::Value&), const char* want) {
  Napi::Value v = o.Get(key);
  if (!ok(v)) throw invalidArgument(std::string("Expected ") + want + " for " + key + " but received " + describeValue(v));
  return v;
}

int64_t integerField(const Napi::Object& o, const char* key, int64_t fallback) {
  if (!has(o, key)) return fallback;
  auto isInteger = [](const Napi::Value& v) {
    if (!v.IsNumber()) return false;
    const double d = v.As<Napi::Number>().DoubleValue();
    return std::isfinite(d) && d == std::trunc(d) && std::fabs(d) <= 9007199254740991.0;
  };
  return static_cast<int64_t>(fieldValue(o, key, isInteger, "an integer").As<Napi::Number>().DoubleValue());
}

double numberField(const Napi::Object& o, const char* key, double fallback) {
  if (!has(o, key)) return fallback;
  auto isNumber = [](const Napi::Value& v) { return v.IsNumber() && std::isfinite(v.As<Napi::Number>().DoubleValue()); };
  return fieldValue(o, key, isNumber, "a finite number").As<Napi::Number>().DoubleValue();
}

bool boolField(const Napi::Object& o, const char* key, bool fallback) {
  if (!has(o, key)) return fallback;
  return fieldValue(o, key, [](const Napi::Value& v) { return v.IsBoolean(); }, "a boolean").As<Napi::Boolean>().Value();
}

std::string stringField(const Napi::Object& o, const char* key, const std::string& fallback) {
  if (!has(o, key)) return fallback;
  return fieldValue(o, key, [](const Napi::Value& v) { return v.IsString(); }, "a string").As<Napi::String>().Utf8Value();
}

std::vector<std::string> stringListField(const Napi::Object& o, const char* key) {
  if (!has(o, key)) return {};
  auto isStrings = [](const Napi::Value& v) {
    if (!v.IsArray()) return false;
    const Napi::Array array = v.As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); ++i)
      if (!array.Get(i).IsString()) return false;
    return true;
  };
  const Napi::Array array = fieldValue(o, key, isStrings, "an array of strings").As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < array.Length(); ++i) out.push_back(array.Get(i).As<Napi::String>().Utf8Value());
  return out;
}


namespace {

// Each field of the table that the object has, read by its type (an error names a field of
// another type); absent fields keep the value `config` holds.
template <typename Config>
void readFields(const Napi::Object& o, const std::vector<Field<Config>>& fields, Config& config) {
  for (const auto& field : fields) {
    if (!has(o, field.name)) continue;
    switch (field.type) {
      case FieldType::Integer: field.set(config, integerField(o, field.name, 0)); break;
      case FieldType::Number: field.set(config, numberField(o, field.name, 0)); break;
      case FieldType::Boolean: field.set(config, boolField(o, field.name, false)); break;
      case FieldType::Choice: field.set(config, stringField(o, field.name, "")); break;
    }
  }
}

template <typename Config>
Napi::Object fieldsObject(const Napi::Env& env, const Config& config, const std::vector<Field<Config>>& fields) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& field : fields) {
    std::visit([&](const auto& v) {
      using V = std::decay_t<decltype(v)>;
      if constexpr (std::is_same_v<V, int64_t>) o.Set(field.name, static_cast<double>(v));
      else o.Set(field.name, v);
    }, field.get(config));
  }
  return o;
}

template <typename Config>
Napi::Array describeFields(const Napi::Env& env, const std::vector<Field<Config>>& fields) {
  Napi::Array out = Napi::Array::New(env, fields.size());
  for (size_t i = 0; i < fields.size(); ++i) {
    Napi::Object f = Napi::Object::New(env);
    f.Set("name", fields[i].name);
    f.Set("type", toString(fields[i].type));
    out.Set(static_cast<uint32_t>(i), f);
  }
  return out;
}

}  // namespace

ModelConfig modelConfigFrom(const Napi::Object& o) {
  ModelConfig c = presetConfig(stringField(o, "preset", "paper"));
  if (has(o, "imageSize")) {  // a square's side, the shorthand for both
    if (has(o, "imageHeight") || has(o, "imageWidth")) {
      throw invalidArgument("Expected imageSize (a square) or imageHeight and imageWidth, not both");
    }
    c.setImageSize(integerField(o, "imageSize", c.imageHeight));
  }
  readFields(o, modelFields(), c);
  try {
    c.validate();
  } catch (const IntraError& e) {
    // The square shorthand's value broke a side's rule: name what the caller wrote.
    std::string message = e.what();
    const auto at = message.find(" for imageHeight ");
    if (!has(o, "imageSize") || at == std::string::npos) throw;
    throw invalidArgument(message.replace(at, 17, " for imageSize "));
  }
  return c;
}

TrainConfig trainConfigFrom(const Napi::Object& o) {
  TrainConfig t;
  readFields(o, trainFields(), t);
  t.validate();
  return t;
}

MapConfig mapConfigFrom(const Napi::Object& o, const MapConfig& base) {
  MapConfig m = base;
  readFields(o, mapFields(), m);
  m.validate();
  return m;
}

Napi::Object configFieldsObject(const Napi::Env& env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("model", describeFields(env, modelFields()));
  o.Set("train", describeFields(env, trainFields()));
  o.Set("trainDefaults", fieldsObject(env, TrainConfig{}, trainFields()));
  o.Set("map", describeFields(env, mapFields()));
  o.Set("mapDefaults", fieldsObject(env, MapConfig{}, mapFields()));
  return o;
}

EngineOptions engineOptionsFrom(const Napi::Object& o) {
  EngineOptions e;
  e.device = stringField(o, "device", e.device);
  e.threads = integerField(o, "threads", e.threads);
  e.inferencePrecision = precisionFromString(stringField(o, "precision", "fp32"));
  e.inferenceBatch = integerField(o, "inferenceBatch", e.inferenceBatch);
  e.kernels = stringField(o, "kernels", e.kernels);
  if (e.kernels != "auto") kernels::implementationFromString(e.kernels);
  e.referenceFor = stringListField(o, "referenceFor");
  return e;
}

LoadPurpose loadPurposeFrom(const Napi::Object& o) {
  const std::string purpose = stringField(o, "purpose", "training");
  if (purpose == "training") return LoadPurpose::Training;
  if (purpose == "scoring") return LoadPurpose::Scoring;
  throw invalidArgument("Expected one of training, scoring for purpose but received '" + purpose + "'");
}

Napi::Object toObject(const Napi::Env& env, const ModelConfig& c) { return fieldsObject(env, c, modelFields()); }

Napi::Object toObject(const Napi::Env& env, const TrainConfig& t) { return fieldsObject(env, t, trainFields()); }

Napi::Object toObject(const Napi::Env& env, const MapConfig& m) { return fieldsObject(env, m, mapFields()); }

Napi::Object toObject(const Napi::Env& env, const LossParts& l) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", l.total);
  o.Set("l2", l.l2);
  o.Set("gms", l.gms);
  o.Set("ssim", l.ssim);
  o.Set("windows", static_cast<double>(l.windows));
  o.Set("seconds", l.seconds);
  return o;
}

Napi::Value float32ArrayOf(const Napi::Env& env, const torch::Tensor& tensor) {
  auto* owner = new torch::Tensor(tensor.to(torch::kFloat).contiguous());
  const size_t count = static_cast<size_t>(owner->numel());
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
      env, owner->data_ptr(), count * sizeof(float),
      [](Napi::Env, void*, torch::Tensor* held) { delete held; }, owner);
  return Napi::Float32Array::New(env, count, buffer, 0);
}

}  // namespace intra::addon
