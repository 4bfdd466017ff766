// One image decoder per binary (CIR_FUZZ_FORMAT picks jpeg/png/webp/gif/bmp): the header probe,
// then the full decode, called directly so that a mutated magic number does not just bounce off
// the format sniffing in decode_image. The pixel limit is lowered to 4 Mpx so huge announced
// sizes are refused from the header (the path under test) instead of timing the fuzzer out.
#include <cstdint>
#include <span>

#include "cir/image.h"
#include "image/codec_util.h"

#define CIR_FUZZ_CAT2(a, b) a##b
#define CIR_FUZZ_CAT(a, b) CIR_FUZZ_CAT2(a, b)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  cir::image::DecodeOptions options;
  options.max_pixels = 4'000'000;
  try {
    (void)cir::image::detail::CIR_FUZZ_CAT(probe_, CIR_FUZZ_FORMAT)(bytes, "fuzz");
  } catch (const cir::Error&) {
  }
  try {
    const cir::image::ImageU8 image = cir::image::detail::CIR_FUZZ_CAT(decode_, CIR_FUZZ_FORMAT)(bytes, "fuzz", options);
    if (image.rgb.size() != static_cast<size_t>(image.width) * static_cast<size_t>(image.height) * 3) __builtin_trap();
  } catch (const cir::Error&) {
  }
  return 0;
}
