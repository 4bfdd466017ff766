// JPEG via libjpeg-turbo with the library defaults Pillow uses (JDCT_ISLOW, fancy upsampling),
// converted to RGB as Pillow's JpegImagePlugin + convert("RGB") do:
//   1 component  -> "L", replicated;
//   3 components -> libjpeg's RGB output;
//   4 components -> libjpeg's CMYK output read as Adobe-inverted "CMYK;I", then Pillow's
//                   cmyk2rgb formula.
// Truncated data is an error, as in Pillow with LOAD_TRUNCATED_IMAGES = False: our source
// manager raises "premature end" instead of inserting a fake EOI like jpeg_mem_src does (only
// a missing EOI after complete scanlines is accepted, as Pillow accepts it).
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "image/codec_util.h"
#include "image/jpeg_common.h"

namespace cir::image::detail {
namespace {

constexpr std::string_view kFormat = "JPEG";
// A progressive JPEG can hold an unbounded number of tiny scans that each re-walk the whole
// coefficient buffer (a known denial of service); libjpeg-turbo's djpeg caps them the same way.
constexpr int kMaxProgressiveScans = 1000;

// Memory source; `finishing` marks the jpeg_finish_decompress call, where running out of
// data is not an error for Pillow (see read_pixels).
struct JpegSource {
  jpeg_source_mgr pub;  // first member: libjpeg's cinfo->src points here
  bool finishing = false;
  bool ended_while_finishing = false;
};

struct JpegDecodeState {
  jpeg_decompress_struct cinfo{};
  JpegErrorManager error{};
  JpegSource source{};
  jpeg_progress_mgr progress{};
  bool created = false;

  ~JpegDecodeState() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

extern "C" void cir_jpeg_source_init(j_decompress_ptr) {}
extern "C" void cir_jpeg_source_term(j_decompress_ptr) {}

[[noreturn]] void fail_end_of_data(j_decompress_ptr cinfo) {
  auto* source = reinterpret_cast<JpegSource*>(cinfo->src);
  if (source->finishing) source->ended_while_finishing = true;
  ERREXIT(cinfo, JERR_INPUT_EOF);
  std::abort();  // ERREXIT does not return (our error_exit longjmps)
}

// The whole file is in the buffer from the start, so needing more is always a truncation.
extern "C" boolean cir_jpeg_source_fill(j_decompress_ptr cinfo) { fail_end_of_data(cinfo); }

extern "C" void cir_jpeg_source_skip(j_decompress_ptr cinfo, long n_bytes) {
  if (n_bytes <= 0) return;
  jpeg_source_mgr* source = cinfo->src;
  if (static_cast<size_t>(n_bytes) > source->bytes_in_buffer) fail_end_of_data(cinfo);
  source->next_input_byte += n_bytes;
  source->bytes_in_buffer -= static_cast<size_t>(n_bytes);
}

extern "C" void cir_jpeg_limit_scans(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  auto* dinfo = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (dinfo->input_scan_number <= kMaxProgressiveScans) return;
  auto* manager = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  std::snprintf(manager->message, sizeof manager->message, "more than %d progressive scans", kMaxProgressiveScans);
  std::longjmp(manager->jump, 1);
}

// Creates the decompressor over `bytes` and reads the header. Returns false on a libjpeg error.
bool read_header(JpegDecodeState& state, std::span<const uint8_t> bytes) {
  state.cinfo.err = install_jpeg_error_manager(state.error);
  if (setjmp(state.error.jump)) return false;
  jpeg_create_decompress(&state.cinfo);
  state.created = true;
  jpeg_source_mgr& source = state.source.pub;
  source.init_source = cir_jpeg_source_init;
  source.fill_input_buffer = cir_jpeg_source_fill;
  source.skip_input_data = cir_jpeg_source_skip;
  source.resync_to_restart = jpeg_resync_to_restart;
  source.term_source = cir_jpeg_source_term;
  source.next_input_byte = bytes.data();
  source.bytes_in_buffer = bytes.size();
  state.cinfo.src = &source;
  state.progress.progress_monitor = cir_jpeg_limit_scans;
  state.cinfo.progress = &state.progress;
  jpeg_read_header(&state.cinfo, TRUE);
  return true;
}

// Pillow's cmyk2rgb (Convert.c): each channel is nk - nk * c / 255 with Pillow's rounding
// division by 255; values come in as "CMYK;I", i.e. inverted (Adobe polarity).
inline uint8_t cmyk_channel_to_rgb(uint8_t raw_channel, uint8_t raw_black) {
  const int nk = raw_black;  // 255 - (255 - raw_black)
  const int c = 255 - raw_channel;
  const int t = c * nk + 128;
  return static_cast<uint8_t>(nk - (((t >> 8) + t) >> 8));
}

void convert_row_to_rgb(const uint8_t* row, int components, int width, uint8_t* out) {
  if (components == 1) {
    for (int x = 0; x < width; ++x, out += 3) out[0] = out[1] = out[2] = row[x];
  } else {
    for (int x = 0; x < width; ++x, out += 3, row += 4) {
      out[0] = cmyk_channel_to_rgb(row[0], row[3]);
      out[1] = cmyk_channel_to_rgb(row[1], row[3]);
      out[2] = cmyk_channel_to_rgb(row[2], row[3]);
    }
  }
}

// Decompresses into `image` (already sized); `row` holds one scanline for gray/CMYK output.
// Returns false on a libjpeg error. Pillow's rule after the last scanline, reproduced:
// jpeg_finish_decompress must not fail (a damaged marker after the last scan is an error),
// but running out of data there (no EOI) is accepted because every row is present.
bool read_pixels(JpegDecodeState& state, ImageU8& image, std::vector<uint8_t>& row) {
  if (setjmp(state.error.jump)) return state.source.ended_while_finishing;
  jpeg_start_decompress(&state.cinfo);
  const int components = state.cinfo.output_components;
  const size_t stride = static_cast<size_t>(image.width) * 3;
  while (state.cinfo.output_scanline < state.cinfo.output_height) {
    const JDIMENSION y = state.cinfo.output_scanline;
    JSAMPROW target = components == 3 ? image.rgb.data() + y * stride : row.data();
    if (jpeg_read_scanlines(&state.cinfo, &target, 1) != 1) {
      std::snprintf(state.error.message, sizeof state.error.message, "no data for scanline %u", unsigned(y));
      return false;
    }
    if (components != 3) convert_row_to_rgb(row.data(), components, image.width, image.rgb.data() + y * stride);
  }
  state.source.finishing = true;
  jpeg_finish_decompress(&state.cinfo);
  return true;
}

void require_header(JpegDecodeState& state, std::span<const uint8_t> bytes, const std::string& name) {
  if (!read_header(state, bytes)) throw_corrupt(name, kFormat, state.error.message);
}

}  // namespace

ImageInfo probe_jpeg(std::span<const uint8_t> bytes, const std::string& name) {
  JpegDecodeState state;
  require_header(state, bytes, name);
  if (state.cinfo.image_width == 0 || state.cinfo.image_height == 0) {
    throw_corrupt(name, kFormat, "header gives an empty image");
  }
  return {int(state.cinfo.image_width), int(state.cinfo.image_height), "jpeg"};
}

ImageU8 decode_jpeg(std::span<const uint8_t> bytes, const std::string& name, const DecodeOptions& options) {
  JpegDecodeState state;
  require_header(state, bytes, name);
  jpeg_decompress_struct& cinfo = state.cinfo;
  check_dimensions(cinfo.image_width, cinfo.image_height, options, name, kFormat);
  if (cinfo.data_precision != 8) {
    throw_unsupported(name, kFormat, std::to_string(cinfo.data_precision) + "-bit samples (expected 8-bit)");
  }
  // Pillow picks the mode from the component count alone (L, RGB, CMYK) and lets libjpeg
  // convert from whatever color space it inferred (YCbCr, RGB, YCCK, ...).
  switch (cinfo.num_components) {
    case 1: cinfo.out_color_space = JCS_GRAYSCALE; break;
    case 3: cinfo.out_color_space = JCS_RGB; break;
    case 4: cinfo.out_color_space = JCS_CMYK; break;
    default:
      throw_unsupported(name, kFormat, std::to_string(cinfo.num_components) + " components (expected 1, 3 or 4)");
  }
  ImageU8 image = make_rgb_image(int(cinfo.image_width), int(cinfo.image_height));
  std::vector<uint8_t> row(cinfo.num_components == 3 ? 0 : size_t(cinfo.image_width) * 4);
  if (!read_pixels(state, image, row)) throw_corrupt(name, kFormat, state.error.message);
  return image;
}

}  // namespace cir::image::detail
