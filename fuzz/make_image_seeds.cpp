// Writes the JPEG and WebP seeds of fuzz/corpus/decode_jpeg and decode_webp with libjpeg-turbo's
// and libwebp's encoders (the other seeds come from make_corpus.py). Built in the fuzz
// configuration as fuzz_make_image_seeds; run as `fuzz_make_image_seeds <repo>/fuzz/corpus`.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <jpeglib.h>
#include <webp/encode.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

void write(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

std::vector<uint8_t> pattern(int w, int h, int channels) {
  std::vector<uint8_t> px(static_cast<size_t>(w * h * channels));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) px[static_cast<size_t>((y * w + x) * channels + c)] = static_cast<uint8_t>(x * 37 + y * 91 + c * 60);
  return px;
}

void jpeg(const std::filesystem::path& path, int w, int h, bool gray, bool progressive, int sampling, int restart) {
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr jerr{};
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  unsigned char* out = nullptr;
  unsigned long out_size = 0;
  jpeg_mem_dest(&cinfo, &out, &out_size);
  cinfo.image_width = static_cast<JDIMENSION>(w);
  cinfo.image_height = static_cast<JDIMENSION>(h);
  cinfo.input_components = gray ? 1 : 3;
  cinfo.in_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 75, TRUE);
  if (!gray) {
    cinfo.comp_info[0].h_samp_factor = sampling;
    cinfo.comp_info[0].v_samp_factor = sampling;
  }
  if (progressive) jpeg_simple_progression(&cinfo);
  cinfo.restart_interval = static_cast<unsigned>(restart);
  jpeg_start_compress(&cinfo, TRUE);
  const std::vector<uint8_t> px = pattern(w, h, gray ? 1 : 3);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(px.data() + cinfo.next_scanline * static_cast<size_t>(w) * (gray ? 1 : 3));
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  write(path, out, out_size);
  jpeg_destroy_compress(&cinfo);
  std::free(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <repo>/fuzz/corpus\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  jpeg(root / "decode_jpeg" / "rgb420_16x8.jpg", 16, 8, false, false, 2, 0);
  jpeg(root / "decode_jpeg" / "rgb444_restart_9x7.jpg", 9, 7, false, false, 1, 1);
  jpeg(root / "decode_jpeg" / "gray_8x8.jpg", 8, 8, true, false, 1, 0);
  jpeg(root / "decode_jpeg" / "progressive_12x10.jpg", 12, 10, false, true, 2, 0);

  uint8_t* out = nullptr;
  const std::vector<uint8_t> rgb = pattern(9, 6, 3), rgba = pattern(5, 4, 4);
  size_t n = WebPEncodeRGB(rgb.data(), 9, 6, 9 * 3, 60, &out);
  write(root / "decode_webp" / "lossy_9x6.webp", out, n);
  WebPFree(out);
  n = WebPEncodeLosslessRGBA(rgba.data(), 5, 4, 5 * 4, &out);
  write(root / "decode_webp" / "lossless_alpha_5x4.webp", out, n);
  WebPFree(out);
  n = WebPEncodeRGBA(rgba.data(), 5, 4, 5 * 4, 50, &out);
  write(root / "decode_webp" / "lossy_alpha_5x4.webp", out, n);
  WebPFree(out);
  return 0;
}
