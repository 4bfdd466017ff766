// The torch.save unpickler (src/model/torch_pickle.cpp), std-only: the input is data.pkl
// itself, fed straight to unpickle_torch_save (no zip needed: storages are only described).
// Every value of the resulting tree is visited (it may contain itself), and every tensor
// description is checked against the promise the unpickler makes to the torch side: one rank for
// sizes and strides, and every element inside its storage.
#include <cstdint>
#include <set>
#include <vector>

#include "cir/core.h"
#include "fuzz_util.h"
#include "model/torch_pickle.h"

namespace {

using cir::model::detail::PyValue;
using cir::model::detail::TensorRecord;

void check_tensor(const TensorRecord& t) {
  if (t.sizes.size() != t.strides.size() || t.storage_offset < 0 || t.storage_numel < 0) __builtin_trap();
  __int128 numel = 1, last = t.storage_offset;
  for (size_t d = 0; d < t.sizes.size(); ++d) {
    if (t.sizes[d] < 0 || t.strides[d] < 0) __builtin_trap();
    numel *= t.sizes[d];
    if (t.sizes[d] > 0) last += static_cast<__int128>(t.sizes[d] - 1) * t.strides[d];
  }
  if (numel != t.numel()) __builtin_trap();
  if (numel > 0 ? last >= t.storage_numel : t.storage_offset > t.storage_numel) __builtin_trap();
}

void visit_all(const PyValue& root) {
  std::set<const PyValue*> seen{&root};
  std::vector<const PyValue*> todo{&root};
  auto queue = [&](const PyValue* v) {
    if (seen.insert(v).second) todo.push_back(v);
  };
  while (!todo.empty()) {
    const PyValue* v = todo.back();
    todo.pop_back();
    (void)v->kind_name();
    if (v->kind == PyValue::Kind::kTensor) check_tensor(v->tensor);
    for (const PyValue* item : v->items) queue(item);
    for (const auto& [key, value] : v->dict) {
      queue(key);
      queue(value);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto tree = cir::model::detail::unpickle_torch_save(cir::fuzz::as_text(data, size));
    visit_all(tree.root());
  } catch (const cir::Error&) {
  }
  return 0;
}
