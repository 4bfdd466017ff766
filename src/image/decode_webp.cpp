// WebP via libwebp's animation decoder, as Pillow 9.4's WebPImagePlugin does for every WebP
// (still or animated): first frame rendered on the canvas in RGBA, alpha then dropped.
#include <cstring>
#include <memory>
#include <string>

#include <webp/decode.h>
#include <webp/demux.h>

#include "image/codec_util.h"

namespace cir::image::detail {
namespace {

constexpr std::string_view kFormat = "WebP";

std::string status_text(VP8StatusCode status) {
  switch (status) {
    case VP8_STATUS_NOT_ENOUGH_DATA: return "file is truncated";
    case VP8_STATUS_BITSTREAM_ERROR: return "invalid bitstream";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    default: return "invalid header (status " + std::to_string(int(status)) + ")";
  }
}

// Width and height of the canvas (VP8X) or of the single bitstream, from the header only.
WebPBitstreamFeatures read_features(std::span<const uint8_t> bytes, const std::string& name) {
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(bytes.data(), bytes.size(), &features);
  if (status != VP8_STATUS_OK) throw_corrupt(name, kFormat, status_text(status));
  return features;
}

// The demuxer (no pixel buffers yet) tells a truncated file from a malformed one.
void require_complete_container(std::span<const uint8_t> bytes, const std::string& name) {
  const WebPData data{bytes.data(), bytes.size()};
  WebPDemuxState state = WEBP_DEMUX_PARSE_ERROR;
  WebPDemuxer* demuxer = WebPDemuxPartial(&data, &state);
  WebPDemuxDelete(demuxer);
  if (state == WEBP_DEMUX_DONE) return;
  if (state == WEBP_DEMUX_PARSE_ERROR) throw_corrupt(name, kFormat, "malformed RIFF container");
  throw_corrupt(name, kFormat, "file is truncated");
}

struct AnimDecoderDeleter {
  void operator()(WebPAnimDecoder* decoder) const { WebPAnimDecoderDelete(decoder); }
};

}  // namespace

ImageInfo probe_webp(std::span<const uint8_t> bytes, const std::string& name) {
  const WebPBitstreamFeatures features = read_features(bytes, name);
  if (features.width <= 0 || features.height <= 0) throw_corrupt(name, kFormat, "header gives an empty image");
  return {features.width, features.height, "webp"};
}

ImageU8 decode_webp(std::span<const uint8_t> bytes, const std::string& name, const DecodeOptions& options) {
  const WebPBitstreamFeatures features = read_features(bytes, name);
  check_dimensions(features.width, features.height, options, name, kFormat);
  require_complete_container(bytes, name);

  WebPAnimDecoderOptions decoder_options;
  if (!WebPAnimDecoderOptionsInit(&decoder_options)) {
    throw Error(ErrorCode::kInternal, "'" + name + "': libwebp demux ABI mismatch");
  }
  decoder_options.color_mode = MODE_RGBA;  // Pillow's choice; RGB values do not depend on it
  decoder_options.use_threads = 0;
  const WebPData data{bytes.data(), bytes.size()};
  std::unique_ptr<WebPAnimDecoder, AnimDecoderDeleter> decoder(WebPAnimDecoderNew(&data, &decoder_options));
  if (!decoder) throw_corrupt(name, kFormat, "invalid frame layout");
  WebPAnimInfo info;
  if (!WebPAnimDecoderGetInfo(decoder.get(), &info)) throw_corrupt(name, kFormat, "cannot read canvas info");
  // The canvas size is what the decoder renders; re-check in case it differs from the header.
  check_dimensions(info.canvas_width, info.canvas_height, options, name, kFormat);
  uint8_t* rgba = nullptr;
  int timestamp = 0;
  if (!WebPAnimDecoderHasMoreFrames(decoder.get()) || !WebPAnimDecoderGetNext(decoder.get(), &rgba, &timestamp)) {
    throw_corrupt(name, kFormat, "first frame cannot be decoded");
  }
  ImageU8 image = make_rgb_image(int(info.canvas_width), int(info.canvas_height));
  const size_t n_pixels = size_t(image.width) * size_t(image.height);
  for (size_t i = 0; i < n_pixels; ++i) std::memcpy(&image.rgb[i * 3], rgba + i * 4, 3);
  return image;
}

}  // namespace cir::image::detail
