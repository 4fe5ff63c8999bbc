#include "registry.h"

#include <utility>

#include "../common/errors.h"

namespace intra::kernels {

const std::vector<FamilyDescriptor>& kernelFamilies() {
  static const std::vector<FamilyDescriptor> list = [] {
    std::vector<FamilyDescriptor> l = {
        attentionFamily(), filtersFamily(), normFamily(), activationFamily(), biasFamily(), optimizerFamily(), weightsFamily(),
    };
    for (size_t i = 0; i < l.size(); ++i) {
      if (static_cast<size_t>(l[i].id) != i) throw invalidState(std::string("kernel family ") + l[i].name + " is out of Family order");
    }
    if (l.size() != static_cast<size_t>(kFamilyCount)) throw invalidState("the kernel family list and kFamilyCount disagree");
    return l;
  }();
  return list;
}

const FamilyDescriptor& descriptorOf(Family family) { return kernelFamilies()[static_cast<size_t>(family)]; }

Family familyNamed(const std::string& name, const std::string& what) {
  std::string names;
  for (const FamilyDescriptor& d : kernelFamilies()) {
    if (name == d.name) return d.id;
    names += (names.empty() ? "" : ", ") + std::string(d.name);
  }
  throw invalidArgument("Expected one of " + names + " for " + what + " but received '" + name + "'");
}

namespace {
std::pair<const FamilyDescriptor*, const OpDescriptor*> findOp(const std::string& name) {
  std::string names;
  for (const FamilyDescriptor& family : kernelFamilies()) {
    for (const OpDescriptor& op : family.ops) {
      if (name == op.name) return {&family, &op};
      names += (names.empty() ? "" : ", ") + std::string(op.name);
    }
  }
  throw invalidArgument("Expected one of " + names + " for op but received '" + name + "'");
}
}  // namespace

const OpDescriptor& opNamed(const std::string& name) { return *findOp(name).second; }
const FamilyDescriptor& familyOfOp(const std::string& name) { return *findOp(name).first; }

}  // namespace intra::kernels
