// Image pipeline throughput: decode of a 640x480 JPEG (and the same picture as PNG, for
// comparison in the same run), Pillow-exact bicubic resize, and full CLIP preprocessing.
// Prints one JSON row per figure (bench/bench_util.h); never part of pass/fail tests.
#include <cstdint>
#include <random>
#include <vector>

#include "bench_util.h"
#include "cir/image.h"

namespace {

// A photo-like test picture: smooth gradients plus mild noise, so JPEG and PNG sizes are
// realistic rather than trivially compressible.
cir::image::ImageU8 synthetic_photo(int width, int height) {
  cir::image::ImageU8 image;
  image.width = width;
  image.height = height;
  image.rgb.resize(size_t(width) * height * 3);
  std::mt19937 rng(1);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = image.rgb.data() + (size_t(y) * width + x) * 3;
      const int noise = int(rng() % 16);
      p[0] = uint8_t((x * 255 / width + noise) & 255);
      p[1] = uint8_t((y * 255 / height + noise) & 255);
      p[2] = uint8_t(((x + y) * 128 / (width + height) + 64 + noise) & 255);
    }
  }
  return image;
}

void emit_rate(const std::string& figure, double seconds, int64_t pixels,
               nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json row = {{"figure", figure},
                        {"seconds", seconds},
                        {"images_per_second", 1.0 / seconds},
                        {"megapixels_per_second", double(pixels) / seconds / 1e6},
                        {"threads", 1}};
  row.update(extra);
  cir::bench::emit_row("image", row);
}

}  // namespace

int main() {
  using namespace cir::image;
  const ImageU8 photo = synthetic_photo(640, 480);
  const int64_t pixels = int64_t(photo.width) * photo.height;
  const std::vector<uint8_t> jpeg = encode_jpeg(photo, 90);
  const std::vector<uint8_t> png = encode_png(photo);
  constexpr int kRepeats = 20;

  emit_rate("decode_jpeg_640x480", cir::bench::best_seconds(kRepeats, [&] { decode_image(jpeg, "bench.jpg"); }),
            pixels, {{"bytes", jpeg.size()}});
  emit_rate("decode_png_640x480", cir::bench::best_seconds(kRepeats, [&] { decode_image(png, "bench.png"); }),
            pixels, {{"bytes", png.size()}});
  emit_rate("resize_bicubic_640x480_to_298x224",
            cir::bench::best_seconds(kRepeats, [&] { resize_bicubic(photo, 298, 224); }), pixels);

  cir::PreprocessSpec spec;  // 224 px, shortest side + center crop (OpenAI CLIP)
  std::vector<float> out(3 * size_t(spec.image_size) * spec.image_size);
  emit_rate("preprocess_224_shortest", cir::bench::best_seconds(kRepeats, [&] { preprocess_into(photo, spec, out.data()); }),
            pixels);
  emit_rate("decode_and_preprocess_jpeg_224", cir::bench::best_seconds(kRepeats, [&] {
              preprocess_into(decode_image(jpeg, "bench.jpg"), spec, out.data());
            }),
            pixels);
  return 0;
}
