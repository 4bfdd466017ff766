// PNG and JPEG encoders: libpng's simplified write API and libjpeg-turbo, both to memory.
#include <cstdlib>
#include <cstring>
#include <string>

#include <png.h>

#include "image/codec_util.h"
#include "image/jpeg_common.h"

namespace cir::image {
namespace {

// libjpeg state owned outside the function that calls setjmp, so nothing that a longjmp
// skips has a destructor and nothing it reads afterwards is an indeterminate local.
struct JpegEncodeState {
  jpeg_compress_struct cinfo{};
  detail::JpegErrorManager error{};
  unsigned char* buffer = nullptr;  // malloc'ed by jpeg_mem_dest
  unsigned long size = 0;
  bool created = false;
  bool finished = false;

  ~JpegEncodeState() {
    if (created) jpeg_destroy_compress(&cinfo);
    // Only after jpeg_finish_compress does `buffer` point at libjpeg's live allocation; after a
    // failed grow it may already be freed, so an error path leaks rather than double-frees.
    if (finished) std::free(buffer);
  }
};

// Returns false (with state.error.message) when libjpeg reports an error.
bool compress_rgb(JpegEncodeState& state, const ImageU8& image, int quality) {
  state.cinfo.err = detail::install_jpeg_error_manager(state.error);
  if (setjmp(state.error.jump)) return false;
  jpeg_create_compress(&state.cinfo);
  state.created = true;
  jpeg_mem_dest(&state.cinfo, &state.buffer, &state.size);
  state.cinfo.image_width = static_cast<JDIMENSION>(image.width);
  state.cinfo.image_height = static_cast<JDIMENSION>(image.height);
  state.cinfo.input_components = 3;
  state.cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&state.cinfo);
  jpeg_set_quality(&state.cinfo, quality, TRUE);
  jpeg_start_compress(&state.cinfo, TRUE);
  const size_t stride = static_cast<size_t>(image.width) * 3;
  while (state.cinfo.next_scanline < state.cinfo.image_height) {
    // libjpeg's API takes non-const rows but only reads them.
    JSAMPROW row = const_cast<uint8_t*>(image.rgb.data() + state.cinfo.next_scanline * stride);
    jpeg_write_scanlines(&state.cinfo, &row, 1);
  }
  jpeg_finish_compress(&state.cinfo);
  state.finished = true;
  return true;
}

}  // namespace

std::vector<uint8_t> encode_png(const ImageU8& image) {
  detail::require_valid_image(image, "encode_png");
  png_image header;
  std::memset(&header, 0, sizeof header);
  header.version = PNG_IMAGE_VERSION;
  header.width = static_cast<png_uint_32>(image.width);
  header.height = static_cast<png_uint_32>(image.height);
  header.format = PNG_FORMAT_RGB;

  // First call measures, second writes: the simplified API has no growable sink.
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&header, nullptr, &size, 0, image.rgb.data(), 0, nullptr)) {
    throw Error(ErrorCode::kInternal, std::string("encode_png: libpng failed to size the output: ") + header.message);
  }
  std::vector<uint8_t> out(size);
  if (!png_image_write_to_memory(&header, out.data(), &size, 0, image.rgb.data(), 0, nullptr)) {
    throw Error(ErrorCode::kInternal, std::string("encode_png: libpng failed to write: ") + header.message);
  }
  out.resize(size);
  return out;
}

std::vector<uint8_t> encode_jpeg(const ImageU8& image, int quality) {
  detail::require_valid_image(image, "encode_jpeg");
  if (quality < 1 || quality > 100) {
    throw Error(ErrorCode::kInvalidArgument,
                "encode_jpeg: quality must be in [1, 100], found " + std::to_string(quality));
  }
  if (image.width > JPEG_MAX_DIMENSION || image.height > JPEG_MAX_DIMENSION) {
    throw Error(ErrorCode::kInvalidArgument, "encode_jpeg: JPEG sides are limited to " +
                                                 std::to_string(JPEG_MAX_DIMENSION) + " pixels, found " +
                                                 std::to_string(image.width) + "x" + std::to_string(image.height));
  }
  JpegEncodeState state;
  if (!compress_rgb(state, image, quality)) {
    throw Error(ErrorCode::kInternal, std::string("encode_jpeg: libjpeg failed: ") + state.error.message);
  }
  return std::vector<uint8_t>(state.buffer, state.buffer + state.size);
}

}  // namespace cir::image
