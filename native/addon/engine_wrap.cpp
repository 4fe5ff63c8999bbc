// The JS `Engine` object: argument unpacking on the main thread, heavy work in TaskWorkers.
#include "engine_wrap.h"

#include <cmath>
#include <optional>

#include "../common/errors.h"
#include "task_worker.h"

namespace intra::addon {

namespace {

// Reads (data: Uint8Array, count, height, width, channels) at `first`.
ImageBatch imagesFrom(const Napi::CallbackInfo& info, size_t first) {
  if (info.Length() < first + 5 || !info[first].IsTypedArray() ||
      info[first].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw invalidArgument("Expected (Uint8Array, count, height, width, channels) for images");
  }
  Napi::Uint8Array data = info[first].As<Napi::Uint8Array>();
  ImageBatch batch;
  batch.data = data.Data();
  batch.count = info[first + 1].As<Napi::Number>().Int64Value();
  batch.height = info[first + 2].As<Napi::Number>().Int64Value();
  batch.width = info[first + 3].As<Napi::Number>().Int64Value();
  batch.channels = info[first + 4].As<Napi::Number>().Int64Value();
  const int64_t expected = batch.count * batch.height * batch.width * batch.channels;
  if (batch.count <= 0 || batch.height <= 0 || batch.width <= 0 || batch.channels <= 0 ||
      static_cast<int64_t>(data.ElementLength()) != expected) {
    throw invalidArgument("Expected a buffer of count*height*width*channels = " + std::to_string(expected) +
                          " bytes for images but received " + std::to_string(data.ElementLength()));
  }
  return batch;
}

// An optional array of (partial) map configs at `index`, each over the model's own settings;
// absent: none (the engine then uses the model's own).
std::vector<MapConfig> mapConfigsFrom(const Napi::CallbackInfo& info, size_t index, const MapConfig& base) {
  std::vector<MapConfig> configs;
  if (info.Length() <= index || info[index].IsUndefined() || info[index].IsNull()) return configs;
  if (!info[index].IsArray()) throw invalidArgument("Expected an array of map settings objects");
  Napi::Array list = info[index].As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value item = list.Get(i);
    if (!item.IsObject()) throw invalidArgument("Expected an object for map settings " + std::to_string(i));
    configs.push_back(mapConfigFrom(item.As<Napi::Object>(), base));
  }
  return configs;
}

}  // namespace

Napi::Function EngineWrap::define(Napi::Env env) {
  return DefineClass(env, "Engine",
                     {
                         InstanceMethod("setTrainingImages", &EngineWrap::setTrainingImages),
                         InstanceMethod("setValidationImages", &EngineWrap::setValidationImages),
                         InstanceMethod("trainSteps", &EngineWrap::trainSteps),
                         InstanceMethod("validate", &EngineWrap::validate),
                         InstanceMethod("reconstruct", &EngineWrap::reconstruct),
                         InstanceMethod("anomalyMaps", &EngineWrap::anomalyMaps),
                         InstanceMethod("validationScores", &EngineWrap::validationScores),
                         InstanceMethod("fitNormalStatistics", &EngineWrap::fitNormalStatistics),
                         InstanceMethod("addTextureSamples", &EngineWrap::addTextureSamples),
                         InstanceMethod("fitTextureStatistics", &EngineWrap::fitTextureStatistics),
                         InstanceMethod("setMapConfig", &EngineWrap::setMapConfig),
                         InstanceMethod("joinGroup", &EngineWrap::joinGroup),
                         InstanceMethod("groupAverage", &EngineWrap::groupAverage),
                         InstanceMethod("keepBest", &EngineWrap::keepBest),
                         InstanceMethod("restoreBest", &EngineWrap::restoreBest),
                         InstanceMethod("save", &EngineWrap::save),
                         InstanceMethod("describe", &EngineWrap::describe),
                         InstanceMethod("setProfiling", &EngineWrap::setProfiling),
                         InstanceMethod("takeProfile", &EngineWrap::takeProfile),
                         InstanceMethod("takeOpProfile", &EngineWrap::takeOpProfile),
                         InstanceMethod("dispose", &EngineWrap::dispose),
                     });
}

// new Engine(modelConfig, trainConfig, options) or new Engine(null, null, options, existing)
EngineWrap::EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
  guarded(info.Env(), [&] {
    if (info.Length() >= 4 && info[3].IsExternal()) {  // adopting an engine made by `load`
      engine_ = *info[3].As<Napi::External<std::shared_ptr<Engine>>>().Data();
      return 0;
    }
    if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsObject() || !info[2].IsObject()) {
      throw invalidArgument("Expected (modelConfig, trainConfig, options) objects for Engine");
    }
    engine_ = std::make_shared<Engine>(modelConfigFrom(info[0].As<Napi::Object>()),
                                       trainConfigFrom(info[1].As<Napi::Object>()),
                                       engineOptionsFrom(info[2].As<Napi::Object>()));
    return 0;
  });
}

std::shared_ptr<Engine> EngineWrap::engine(const Napi::Env& env) const {
  if (!engine_) throw makeError(env, {"INTRA_DISPOSED", "Engine is disposed"});
  return engine_;
}

Napi::Value EngineWrap::setTrainingImages(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    auto e = engine(info.Env());
    ImageBatch batch = imagesFrom(info, 0);
    return TaskWorker::run(
        info.Env(), [e, batch] { e->setTrainingImages(batch); },
        [](Napi::Env env) { return env.Undefined(); }, {info[0]});
  });
}

Napi::Value EngineWrap::setValidationImages(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    auto e = engine(info.Env());
    ImageBatch batch = imagesFrom(info, 0);
    // Optional (windowsPerImage, windowSeed) after the image arguments: for measuring the
    // validation loss's noise over window draws.
    int64_t perImage = 0;
    std::optional<uint64_t> seed;
    if (info.Length() > 5 && info[5].IsNumber()) perImage = info[5].As<Napi::Number>().Int64Value();
    if (info.Length() > 6 && info[6].IsNumber()) {
      const double s = info[6].As<Napi::Number>().DoubleValue();
      if (!(s >= 0) || s != std::floor(s) || s > 9007199254740991.0) throw invalidArgument("Expected a non-negative integer for windowSeed");
      seed = static_cast<uint64_t>(s);
    }
    return TaskWorker::run(
        info.Env(), [e, batch, perImage, seed] { e->setValidationImages(batch, perImage, seed); },
        [](Napi::Env env) { return env.Undefined(); }, {info[0]});
  });
}

Napi::Value EngineWrap::trainSteps(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    auto e = engine(info.Env());
    if (info.Length() < 1 || !info[0].IsNumber()) throw invalidArgument("Expected a number for steps");
    const int64_t steps = info[0].As<Napi::Number>().Int64Value();
    auto result = std::make_shared<LossParts>();
    return TaskWorker::run(
        info.Env(), [e, steps, result] { *result = e->trainSteps(steps); },
        [result](Napi::Env env) -> Napi::Value { return toObject(env, *result); });
  });
}

Napi::Value EngineWrap::validate(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    auto e = engine(info.Env());
    auto result = std::make_shared<LossParts>();
    return TaskWorker::run(
        info.Env(), [e, result] { *result = e->validate(); },
        [result](Napi::Env env) -> Napi::Value { return toObject(env, *result); });
  });
}

Napi::Value EngineWrap::reconstruct(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    auto e = engine(info.Env());
    ImageBatch batch = imagesFrom(info, 0);
    auto result = std::make_shared<torch::Tensor>();
    return TaskWorker::run(
        info.Env(), [e, batch, result] { *result = e->reconstruct(batch); },
        [result](Napi::Env env) { return float32ArrayOf(env, *result); }, {info[0]});
  });
}

Napi::Value EngineWrap::anomalyMaps(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    auto e = engine(info.Env());
    ImageBatch batch = imagesFrom(info, 0);
    const bool withReconstruction = info.Length() > 5 && info[5].ToBoolean().Value();
    const bool withMaps = info.Length() <= 6 || info[6].ToBoolean().Value();
    std::vector<MapConfig> configs = mapConfigsFrom(info, 7, e->mapConfig());
    // The images' texture descriptors, for settings with the texture term.
    const bool withTexture = info.Length() > 8 && !info[8].IsUndefined() && !info[8].IsNull();
    if (withTexture) {
      if (!info[8].IsTypedArray() || info[8].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
        throw invalidArgument("Expected a Float32Array of texture descriptors");
      }
      Napi::Float32Array texture = info[8].As<Napi::Float32Array>();
      const int64_t expected = batch.count * kTextureDescriptors * batch.height * batch.width;
      if (static_cast<int64_t>(texture.ElementLength()) != expected) {
        throw invalidArgument("Expected count*" + std::to_string(kTextureDescriptors) + "*height*width = " + std::to_string(expected) +
                              " texture descriptors but received " + std::to_string(texture.ElementLength()));
      }
      batch.texture = texture.Data();
    }
    auto result = std::make_shared<AnomalyResult>();
    std::vector<Napi::Value> kept{info[0]};
    if (withTexture) kept.push_back(info[8]);
    return TaskWorker::run(
        info.Env(), [e, batch, withReconstruction, withMaps, configs, result] { *result = e->anomalyMaps(batch, withReconstruction, withMaps, configs); },
        [result](Napi::Env env) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          if (result->maps.defined()) out.Set("maps", float32ArrayOf(env, result->maps));
          out.Set("scores", float32ArrayOf(env, result->scores));
          if (result->reconstruction.defined()) out.Set("reconstruction", float32ArrayOf(env, result->reconstruction));
          return out;
        },
        kept);
  });
}

Napi::Value EngineWrap::validationScores(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    auto e = engine(info.Env());
    std::vector<MapConfig> configs = mapConfigsFrom(info, 0, e->mapConfig());
    auto scores = std::make_shared<torch::Tensor>();
    return TaskWorker::run(
        info.Env(), [e, configs, scores] { *scores = e->validationScores(configs); },
        [scores](Napi::Env env) -> Napi::Value { return float32ArrayOf(env, *scores); });
  });
}

// addTextureSamples(descriptors: Float32Array (count, descriptors, H, W), count) -> Promise:
// the training images' texture descriptors into the sums the next fitTextureStatistics uses.
Napi::Value EngineWrap::addTextureSamples(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto e = engine(info.Env());
    if (info.Length() < 2 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array || !info[1].IsNumber()) {
      throw invalidArgument("Expected (descriptors: Float32Array, count) for addTextureSamples");
    }
    const ModelConfig& model = e->modelConfig();
    const int64_t count = info[1].As<Napi::Number>().Int64Value();
    Napi::Float32Array descriptors = info[0].As<Napi::Float32Array>();
    const int64_t values = count * kTextureDescriptors * model.imageHeight * model.imageWidth;
    if (count <= 0 || static_cast<int64_t>(descriptors.ElementLength()) != values) {
      throw invalidArgument("Expected count*" + std::to_string(kTextureDescriptors) + "*" + std::to_string(model.imageHeight) + "*" +
                            std::to_string(model.imageWidth) + " = " + std::to_string(values) + " values for addTextureSamples but received " +
                            std::to_string(descriptors.ElementLength()));
    }
    const torch::Tensor tensor =
        torch::from_blob(const_cast<float*>(descriptors.Data()), {count, kTextureDescriptors, model.imageHeight, model.imageWidth}, torch::kFloat);
    return TaskWorker::run(
        info.Env(), [e, tensor] { e->addTextureSamples(tensor); }, [](Napi::Env env) { return env.Undefined(); }, {info[0]});
  });
}

Napi::Value EngineWrap::fitTextureStatistics(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    auto e = engine(info.Env());
    return TaskWorker::run(
        info.Env(), [e] { e->fitTextureStatistics(); }, [](Napi::Env env) { return env.Undefined(); });
  });
}

Napi::Value EngineWrap::fitNormalStatistics(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    auto e = engine(info.Env());
    return TaskWorker::run(
        info.Env(), [e] { e->fitNormalStatistics(); }, [](Napi::Env env) { return env.Undefined(); });
  });
}

// Cheap and synchronous: the settings are the engine's own, under a lock no running call holds.
Napi::Value EngineWrap::setMapConfig(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto e = engine(info.Env());
    if (info.Length() < 1 || !info[0].IsObject()) throw invalidArgument("Expected a map settings object");
    e->setMapConfig(mapConfigFrom(info[0].As<Napi::Object>(), e->mapConfig()));
    return info.Env().Undefined();
  });
}

// joinGroup({ rank, worldSize, masterAddr, port, timeoutMs, bucketBytes?, overlap? }): the rendezvous waits for every
// rank, so it runs off the event loop.
Napi::Value EngineWrap::joinGroup(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    auto e = engine(info.Env());
    if (info.Length() < 1 || !info[0].IsObject()) throw invalidArgument("Expected a group object { rank, worldSize, masterAddr, port, timeoutMs }");
    Napi::Object o = info[0].As<Napi::Object>();
    GroupConfig config;
    config.rank = integerField(o, "rank", config.rank);
    config.worldSize = integerField(o, "worldSize", config.worldSize);
    config.masterAddr = stringField(o, "masterAddr", config.masterAddr);
    config.port = integerField(o, "port", config.port);
    config.timeoutMs = integerField(o, "timeoutMs", config.timeoutMs);
    config.bucketBytes = integerField(o, "bucketBytes", config.bucketBytes);
    config.overlap = boolField(o, "overlap", config.overlap);
    if (config.bucketBytes < 1) throw invalidArgument("Expected a positive bucketBytes but received " + std::to_string(config.bucketBytes));
    return TaskWorker::run(
        info.Env(), [e, config] { e->joinGroup(config); }, [](Napi::Env env) { return env.Undefined(); });
  });
}

// groupAverage(Float64Array) -> Promise<Float64Array>: the mean over the ranks (a collective:
// it waits for every rank).
Napi::Value EngineWrap::groupAverage(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    auto e = engine(info.Env());
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      throw invalidArgument("Expected a Float64Array for groupAverage");
    }
    Napi::Float64Array given = info[0].As<Napi::Float64Array>();
    auto values = std::make_shared<std::vector<double>>(given.Data(), given.Data() + given.ElementLength());
    return TaskWorker::run(
        info.Env(), [e, values] { *values = e->groupAverage(*values); },
        [values](Napi::Env env) -> Napi::Value {
          Napi::Float64Array out = Napi::Float64Array::New(env, values->size());
          std::copy(values->begin(), values->end(), out.Data());
          return out;
        });
  });
}

Napi::Value EngineWrap::keepBest(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    auto e = engine(info.Env());
    return TaskWorker::run(
        info.Env(), [e] { e->keepBest(); }, [](Napi::Env env) { return env.Undefined(); });
  });
}

Napi::Value EngineWrap::restoreBest(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    auto e = engine(info.Env());
    return TaskWorker::run(
        info.Env(), [e] { e->restoreBest(); }, [](Napi::Env env) { return env.Undefined(); });
  });
}

Napi::Value EngineWrap::save(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    auto e = engine(info.Env());
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
      throw invalidArgument("Expected (path, metadataJson) strings for save");
    }
    std::string path = info[0].As<Napi::String>().Utf8Value();
    std::string metadata = info[1].As<Napi::String>().Utf8Value();
    return TaskWorker::run(
        info.Env(), [e, path, metadata] { e->save(path, metadata); }, [](Napi::Env env) { return env.Undefined(); });
  });
}

// Cheap, synchronous: the configuration and counters.
Napi::Value EngineWrap::describe(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto e = engine(info.Env());
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("model", toObject(env, e->modelConfig()));
    o.Set("train", toObject(env, e->trainConfig()));
    o.Set("parameters", static_cast<double>(e->parameterCount()));
    o.Set("steps", static_cast<double>(e->stepsDone()));
    o.Set("metadata", e->metadata());
    o.Set("hasNormalStatistics", e->hasNormalStatistics());
    o.Set("hasSpreadStatistics", e->hasSpreadStatistics());
    o.Set("hasTextureStatistics", e->hasTextureStatistics());
    Napi::Object group = Napi::Object::New(env);
    group.Set("rank", static_cast<double>(e->groupRank()));
    group.Set("worldSize", static_cast<double>(e->groupSize()));
    const GroupConfig groupConfig = e->groupConfig();
    const GradientReducer::Statistics reduced = e->reducerStatistics();
    group.Set("overlap", groupConfig.overlap);
    group.Set("bucketBytes", static_cast<double>(groupConfig.bucketBytes));
    group.Set("buckets", static_cast<double>(reduced.buckets));
    group.Set("bytesPerStep", static_cast<double>(reduced.bytesPerStep));
    group.Set("reducedSteps", static_cast<double>(reduced.steps));
    group.Set("launchedInBackward", static_cast<double>(reduced.launchedInBackward));
    group.Set("waitMs", reduced.waitSeconds * 1000);
    o.Set("group", group);
    o.Set("map", toObject(env, e->mapConfig()));
    o.Set("purpose", e->scoringOnly() ? "scoring" : "training");
    o.Set("inferenceBatch", static_cast<double>(e->inferenceBatch()));
    o.Set("device", e->deviceName());
    o.Set("deviceNote", e->deviceNote());
    o.Set("kernels", kernels::toString(e->kernels()));
    Napi::Object families = Napi::Object::New(env);
    for (const kernels::FamilyDescriptor& family : kernels::kernelFamilies()) {
      families.Set(family.name, kernels::toString(e->kernelsFor(family.id)));
    }
    o.Set("families", families);
    return o;
  });
}

Napi::Value EngineWrap::setProfiling(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto e = engine(info.Env());
    e->profiler().setEnabled(info.Length() > 0 && info[0].ToBoolean().Value(), info.Length() > 1 && info[1].ToBoolean().Value());
    return info.Env().Undefined();
  });
}

// The phases recorded since the last call: [{ name, startNs, durationNs, depth }], start
// on CLOCK_MONOTONIC (process.hrtime's clock).
Napi::Value EngineWrap::takeProfile(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto e = engine(info.Env());
    std::vector<ProfileEvent> events = e->profiler().take();
    Napi::Array out = Napi::Array::New(info.Env(), events.size());
    for (size_t i = 0; i < events.size(); ++i) {
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("name", events[i].name);
      o.Set("startNs", static_cast<double>(events[i].startNs));
      o.Set("durationNs", static_cast<double>(events[i].endNs - events[i].startNs));
      o.Set("depth", events[i].depth);
      out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
  });
}

// The ops timed since the last call (with setProfiling(true, true)): [{ name, calls, selfNs,
// totalNs }], self time excluding the ops nested in each.
Napi::Value EngineWrap::takeOpProfile(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto e = engine(info.Env());
    std::vector<OpStat> ops = e->profiler().takeOps();
    Napi::Array out = Napi::Array::New(info.Env(), ops.size());
    for (size_t i = 0; i < ops.size(); ++i) {
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("name", ops[i].name);
      o.Set("calls", static_cast<double>(ops[i].calls));
      o.Set("selfNs", static_cast<double>(ops[i].selfNs));
      o.Set("totalNs", static_cast<double>(ops[i].totalNs));
      out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
  });
}

Napi::Value EngineWrap::dispose(const Napi::CallbackInfo& info) {
  engine_.reset();  // work in flight holds its own reference and finishes first
  return info.Env().Undefined();
}

}  // namespace intra::addon
