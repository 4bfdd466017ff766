// Factories of the baseline methods (registered in registry.cpp).
#pragma once

#include "cir/compose.h"

namespace cir::compose {

std::shared_ptr<const Method> make_image_only();
std::shared_ptr<const Method> make_text_only();
std::shared_ptr<const Method> make_sum();

}  // namespace cir::compose
