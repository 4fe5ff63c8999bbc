// Model and training configuration, presets, and the analytic parameter count.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace intra {

enum class AttentionKind { Msa, Mfsa, Linear };
enum class Precision { Fp32, Bf16 };
// Which anomaly map a model computes (its training images' mean diff map is fitted with it).
enum class AnomalyMapKind { Paper, Thesis };

std::string toString(AttentionKind kind);
AttentionKind attentionKindFromString(const std::string& name);
std::string toString(Precision precision);
Precision precisionFromString(const std::string& name);
std::string toString(AnomalyMapKind kind);
AnomalyMapKind anomalyMapKindFromString(const std::string& name);

// How a difference map becomes the anomaly map and the image's score (anomaly_map.h). The
// paper's is the default: the structure term (1 - GMS) alone, minus the training images' mean,
// squared, and the map's maximum as the score.
// gms | gms+intensity | gms+texture | gms+intensity+texture (the texture term: texture.h)
enum class MapTerms { Gms, GmsIntensity, GmsTexture, GmsIntensityTexture };
inline bool withIntensity(MapTerms terms) { return terms == MapTerms::GmsIntensity || terms == MapTerms::GmsIntensityTexture; }
inline bool withTexture(MapTerms terms) { return terms == MapTerms::GmsTexture || terms == MapTerms::GmsIntensityTexture; }
enum class MapNormalisation { Mean, Z };            // mean (eq. 7) | z (over the per-pixel spread)
enum class ImageScoreRule { Max, TopK };            // max | topk (mean of the top topkArea of the map)
std::string toString(MapTerms terms);
MapTerms mapTermsFromString(const std::string& name);
std::string toString(MapNormalisation normalise);
MapNormalisation mapNormalisationFromString(const std::string& name);
std::string toString(ImageScoreRule rule);
ImageScoreRule imageScoreRuleFromString(const std::string& name);

struct ModelConfig {
  int64_t patchSize = 16;     // K
  int64_t windowSize = 7;     // L
  int64_t channels = 3;       // C
  int64_t imageHeight = 256;  // H
  int64_t imageWidth = 256;   // W (square is the default; real parts often are not)
  int64_t dim = 512;          // D
  int64_t depth = 13;         // n blocks
  int64_t heads = 8;
  int64_t mlpRatio = 4;
  AttentionKind attention = AttentionKind::Mfsa;
  bool longResiduals = true;

  int64_t gridRows() const { return imageHeight / patchSize; }  // N
  int64_t gridCols() const { return imageWidth / patchSize; }   // M
  int64_t gridPatches() const { return gridRows() * gridCols(); }
  bool square() const { return imageHeight == imageWidth; }
  void setImageSize(int64_t side) { imageHeight = imageWidth = side; }
  int64_t sequenceLength() const { return windowSize * windowSize; }
  int64_t patchValues() const { return patchSize * patchSize * channels; }
  // Width of queries and keys: MFSA reduces them to D/2 (paper §3.1).
  int64_t queryKeyDim() const { return attention == AttentionKind::Mfsa ? dim / 2 : dim; }

  void validate() const;  // throws IntraError(INTRA_INVALID_ARGUMENT)
};

struct TrainConfig {
  int64_t batchSize = 256;
  double learningRate = 1e-4;
  double alpha = 0.01;  // weight of the GMS loss
  // Scales of the GMS loss: 1 = mean(1 - GMS) on the patch (the paper); 3 = the thesis's
  // MSGMS: the patch and its 2x and 4x average-pooled versions, each scale's mean(1 - GMS),
  // scales weighted equally. Eq. 4.7 as printed weights scale l by 1/l and sums pixels, but the
  // thesis says of its loss "Which is equal to the one used in [44]" (RIAD), whose MSGMS loss
  // is the plain mean over scales of each scale's mean: that is what the thesis used.
  int64_t gmsScales = 1;
  double beta = 0.01;   // weight of mean(1 - SSIM)
  // Random rot90 and flips of windows, positions turned with them. Off by default: on real data
  // (magnetic tile, docs/real-data.md) it cost accuracy at the same budget, as the thesis found (§6.1.2).
  bool augment = false;
  uint64_t seed = 0;
  // 256: the validation loss's spread over window draws is then ~1/3 of the 1e-4 margin that picks
  // the best epoch (64 gave 1.2x; measured with `intra bench validation`, docs/real-data.md).
  int64_t validationWindowsPerImage = 256;
  Precision trainPrecision = Precision::Fp32;  // bf16 = autocast matrix products
  // The anomaly map: the paper's (eqs. 6-7) or the thesis's (eqs. 4.12-4.14); see anomaly_map.h.
  AnomalyMapKind anomalyMap = AnomalyMapKind::Paper;
  void validate() const;
};

// A model's scoring settings: stored in its file (a file without them has the paper's), and
// replaceable per call, as they need no statistics beyond those every fitted model keeps.
struct MapConfig {
  MapTerms map = MapTerms::Gms;
  MapNormalisation normalise = MapNormalisation::Mean;
  ImageScoreRule imageScore = ImageScoreRule::Max;
  // topk: the share of the map's pixels averaged (the same share at the model's and at the
  // original resolution, so one value fits images of any size).
  double topkArea = 0.01;
  // The standardised map and the intensity term need the spreads and the intensity statistics;
  // the texture term its own statistics and each image's texture descriptors.
  bool needsSpreads() const { return map != MapTerms::Gms || normalise == MapNormalisation::Z; }
  bool needsTexture() const { return withTexture(map); }
  void validate() const;
};

struct EngineOptions {
  std::string device = "cpu";  // cpu | cuda | auto
  int64_t threads = 0;         // 0 = all cores
  Precision inferencePrecision = Precision::Fp32;
  int64_t inferenceBatch = 512;  // windows per forward pass at inference
  std::string kernels = "auto";  // auto (fused on the CPU, reference elsewhere) | fused | reference
  // Kernel families kept on their reference while the others run `kernels`, so that one
  // family's share of a whole run can be measured (`intra bench score|train --ablate`).
  std::vector<std::string> referenceFor;
};


ModelConfig presetConfig(const std::string& preset);  // paper | small | cpu | tiny
const char* const* presetNames();                     // null-terminated

// Learnable parameters of the model this config builds; a test keeps it equal to
// the sum over the real module's parameters.
int64_t countParameters(const ModelConfig& config);

// Serialised as "key=value" lines for checkpoints (config_fields.h); errors are INTRA_CHECKPOINT.
std::string serialize(const ModelConfig& config);
ModelConfig deserializeModelConfig(const std::string& text);
std::string serialize(const TrainConfig& config);
TrainConfig deserializeTrainConfig(const std::string& text);
std::string serialize(const MapConfig& config);
MapConfig deserializeMapConfig(const std::string& text);

}  // namespace intra
