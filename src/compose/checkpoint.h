// Private to cir (compose and train): PyTorch checkpoints as torch.save writes them (a zip
// archive holding a pickle of nested dicts of tensors), read and written without Python.
// Layouts seen in the wild: SEARLE {"Phi": sd}, Pic2Word {"state_dict": ..., 
// "state_dict_img2text": {"module.layers...": ...}}, CLIP4Cir {"epoch": n, "Combiner": sd}.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <string>

namespace cir::compose::detail {

/// Tensors of one state dict inside a torch.save'd file: the dict at `key` of the top-level
/// dict ("" = the top level itself is the state dict), with every leading "module." (from
/// DataParallel) stripped. Tensors are float32, contiguous, detached from the file.
/// Throws cir::Error naming the file and key: kNotFound (no file, missing key; lists the keys
/// present), kCorrupt (not a zip pickle — garbage, truncated, or the legacy pre-1.6 format —
/// or a value that is not a dict of tensors).
std::map<std::string, at::Tensor> read_state_dict(const std::string& path, const std::string& key);

/// Writes {key: state_dict, "epoch": epoch} as torch.save would (zip + pickle; torch.load reads
/// it), atomically (temp file + rename). Throws kIo.
void write_state_dict(const std::string& path, const std::string& key, const std::map<std::string, at::Tensor>& state,
                      int64_t epoch = 0);

/// The tensor `name` of `state` with the expected shape; kModel naming the file, the tensor,
/// the expected and the found shape otherwise. `expected` entries of -1 match any size.
at::Tensor take_tensor(const std::map<std::string, at::Tensor>& state, const std::string& name,
                       const std::vector<int64_t>& expected, const std::string& file);

}  // namespace cir::compose::detail
