#include "cir/core.h"

#include <cmath>

namespace cir {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kIo: return "io";
    case ErrorCode::kCorrupt: return "corrupt";
    case ErrorCode::kModel: return "model";
    case ErrorCode::kResourceExhausted: return "resource_exhausted";
    case ErrorCode::kInternal: return "internal";
  }
  return "internal";
}

std::string_view resize_mode_name(ResizeMode mode) {
  switch (mode) {
    case ResizeMode::kShortestCenterCrop: return "shortest";
    case ResizeMode::kSquash: return "squash";
    case ResizeMode::kTargetPad: return "targetpad";
  }
  return "shortest";
}

ResizeMode parse_resize_mode(std::string_view name) {
  if (name == "shortest" || name == "center_crop") return ResizeMode::kShortestCenterCrop;
  if (name == "squash") return ResizeMode::kSquash;
  if (name == "targetpad" || name == "target_pad") return ResizeMode::kTargetPad;
  throw Error(ErrorCode::kInvalidArgument,
              "unknown resize mode '" + std::string(name) + "' (expected shortest, squash or targetpad)");
}

void normalize_in_place(std::span<float> v) {
  double sum = 0;
  for (const float x : v) sum += double(x) * x;
  if (sum <= 0) return;
  const float inv = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& x : v) x *= inv;
}

void normalize_rows(FloatMatrix& m) {
  for (int64_t i = 0; i < m.rows; ++i) normalize_in_place({m.row(i), static_cast<size_t>(m.cols)});
}

}  // namespace cir
