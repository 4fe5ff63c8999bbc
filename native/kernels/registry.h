// The one list of kernel families. Each family (a folder of native/kernels/) describes itself
// in its descriptor.cpp: its name, whether its table has an entry for a device and
// implementation, and its ops with what the checks need of each (the shapes a check covers,
// odd sizes included, and whether it has a backward). registry.cpp holds the list, in Family
// order. Everything that iterates families or ops iterates it: the engine's implementation per
// family and EngineOptions::referenceFor, describe(), the harness, intra-kernel-check, and
// TypeScript through the addon (kernelFamilies(): the tests, the argument checks).
//
// A new family: its folder, its descriptor, one line in the list and in Family, its sources
// in the build. A CUDA twin of a family's kernel: its files and one line in the family's table.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <vector>

#include "dispatch.h"

namespace intra::kernels {

enum class Family { Attention, Filters, Norm, Activation, Bias, Optimizer, Weights };
constexpr int kFamilyCount = 7;

using Shape = std::vector<int64_t>;
using Inputs = std::vector<at::Tensor>;
using OpCall = std::function<at::Tensor(const Inputs&)>;

struct OpDescriptor {
  const char* name;
  const char* shape;       // what a shape holds, "[B, heads, S, dqk, dv]"
  std::vector<size_t> ranks;  // the lengths a shape may have
  bool backward;           // a gradient to check (the smoothing filters and Adam have none)
  std::vector<Shape> checkShapes;      // the float64 checks' shapes
  std::vector<Shape> gradcheckShapes;  // the central differences' shapes (where backward)
  // What the harness runs (checks/harness.cpp): the op under an implementation for a shape (a
  // kernel size may ride in it); null for an op checked its own way (Adam: an update, not a
  // function of its inputs).
  OpCall (*call)(Implementation implementation, const Shape& shape) = nullptr;
  // Random inputs for a shape, in double on the CPU from `generator`, in the layout the model
  // hands the op (every device and type then sees the same values).
  Inputs (*inputs)(const Shape& shape, at::Generator& generator) = nullptr;
  // The bench's cost model per run: arithmetic (FLOPs; 0 where memory is the measure) and
  // memory traffic (bytes, at an element size).
  double (*flops)(const Shape& shape, bool backward) = nullptr;
  double (*bytes)(const Shape& shape, double elementSize, bool backward) = nullptr;
};

struct FamilyDescriptor {
  Family id;
  const char* name;
  const char* description;
  // Whether the family's table has an entry for (device, implementation). Null for a family
  // without a table of its own, whose choice follows another family's (weights: the optimizer's).
  bool (*built)(Device device, Implementation implementation);
  std::vector<OpDescriptor> ops;
};

const std::vector<FamilyDescriptor>& kernelFamilies();  // in Family order
const FamilyDescriptor& descriptorOf(Family family);
// The family called `name`; INTRA_INVALID_ARGUMENT listing every name, for `what`, otherwise.
Family familyNamed(const std::string& name, const std::string& what);
// The op called `name` and its family; INTRA_INVALID_ARGUMENT listing every op otherwise.
const OpDescriptor& opNamed(const std::string& name);
const FamilyDescriptor& familyOfOp(const std::string& name);

// Each family's descriptor, defined in its folder.
FamilyDescriptor attentionFamily();   // attention/descriptor.cpp
FamilyDescriptor filtersFamily();     // filters/descriptor.cpp
FamilyDescriptor normFamily();        // norm/descriptor.cpp
FamilyDescriptor activationFamily();  // activation/descriptor.cpp
FamilyDescriptor biasFamily();        // bias/descriptor.cpp
FamilyDescriptor optimizerFamily();   // optim/descriptor.cpp
FamilyDescriptor weightsFamily();     // optim/descriptor.cpp (the working copies the fused Adam rewrites)

}  // namespace intra::kernels
