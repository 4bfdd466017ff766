// Factories of the baseline methods (registered in registry.cpp).
#pragma once

#include "cir/compose.h"

namespace cir::compose {

std::shared_ptr<const Method> make_image_only();
std::shared_ptr<const Method> make_text_only();
std::shared_ptr<const Method> make_sum();
/// n(I(ref) + T(text)) on raw features (BGE-VL, SPN4CIR clip4cir, CLIP4Cir sum).
std::shared_ptr<const Method> make_raw_sum();

}  // namespace cir::compose
