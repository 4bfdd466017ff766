// GIF via giflib: the first frame as Pillow 9.4's GifImagePlugin loads it, converted to RGB.
// Pillow's rules, reproduced here:
//   - the image is the logical screen, grown to contain the first frame if it sticks out;
//   - pixels outside the frame hold the GCE transparent index if one is set, else index 0;
//   - indices are looked up in the frame's palette (local, else global); without any palette
//     (or with an identity gray palette) indices are gray levels, which the gray-ramp default
//     table reproduces, as it does for indices past a short palette.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gif_lib.h>

#include "image/codec_util.h"

namespace cir::image::detail {
namespace {

constexpr std::string_view kFormat = "GIF";

struct GifSource {
  std::span<const uint8_t> bytes;
  size_t offset = 0;
};

extern "C" int cir_gif_read_memory(GifFileType* gif, GifByteType* out, int length) {
  auto* source = static_cast<GifSource*>(gif->UserData);
  if (length <= 0) return 0;
  const size_t n = std::min(size_t(length), source->bytes.size() - source->offset);
  std::memcpy(out, source->bytes.data() + source->offset, n);
  source->offset += n;
  return int(n);
}

struct GifCloser {
  void operator()(GifFileType* gif) const {
    int error = 0;
    DGifCloseFile(gif, &error);
  }
};
using GifHandle = std::unique_ptr<GifFileType, GifCloser>;

std::string gif_error_text(int code) {
  if (code == D_GIF_ERR_READ_FAILED) return "file is truncated";
  const char* text = GifErrorString(code);
  return text != nullptr ? text : "giflib error " + std::to_string(code);
}

GifHandle open_gif(GifSource& source, const std::string& name) {
  int error = 0;
  GifHandle gif(DGifOpen(&source, cir_gif_read_memory, &error));
  if (!gif) throw_corrupt(name, kFormat, gif_error_text(error));
  return gif;
}

[[noreturn]] void throw_gif_error(const GifHandle& gif, const std::string& name) {
  throw_corrupt(name, kFormat, gif_error_text(gif->Error));
}

// Walks extensions up to the first image descriptor and reads it (gif->Image). Returns the
// transparent index from the last graphic control extension seen, or -1.
int read_first_frame_header(const GifHandle& gif, const std::string& name) {
  int transparent_index = -1;
  for (;;) {
    GifRecordType record = UNDEFINED_RECORD_TYPE;
    if (DGifGetRecordType(gif.get(), &record) == GIF_ERROR) throw_gif_error(gif, name);
    if (record == TERMINATE_RECORD_TYPE) throw_corrupt(name, kFormat, "file holds no image");
    if (record == IMAGE_DESC_RECORD_TYPE) {
      if (DGifGetImageDesc(gif.get()) == GIF_ERROR) throw_gif_error(gif, name);
      return transparent_index;
    }
    if (record != EXTENSION_RECORD_TYPE) continue;
    int code = 0;
    GifByteType* block = nullptr;
    if (DGifGetExtension(gif.get(), &code, &block) == GIF_ERROR) throw_gif_error(gif, name);
    // block[0] is the sub-block length; a GCE carries flags, delay (2 bytes), index.
    if (code == GRAPHICS_EXT_FUNC_CODE && block != nullptr && block[0] >= 4) {
      transparent_index = (block[1] & 1) ? block[4] : -1;
    }
    while (block != nullptr) {
      if (DGifGetExtensionNext(gif.get(), &block) == GIF_ERROR) throw_gif_error(gif, name);
    }
  }
}

// Pillow grows the image so that the first frame fits (GifImagePlugin._seek).
std::pair<int64_t, int64_t> canvas_size(const GifFileType& gif) {
  const int64_t width = std::max<int64_t>(gif.SWidth, int64_t(gif.Image.Left) + gif.Image.Width);
  const int64_t height = std::max<int64_t>(gif.SHeight, int64_t(gif.Image.Top) + gif.Image.Height);
  return {width, height};
}

Palette frame_palette(const GifFileType& gif) {
  Palette palette = make_gray_ramp_palette();
  const ColorMapObject* map = gif.Image.ColorMap != nullptr ? gif.Image.ColorMap : gif.SColorMap;
  if (map == nullptr) return palette;
  for (int i = 0; i < map->ColorCount && i < 256; ++i) {
    palette[i] = {map->Colors[i].Red, map->Colors[i].Green, map->Colors[i].Blue};
  }
  return palette;
}

// Row order of an interlaced frame: rows 0, 8, 16...; then 4, 12...; then 2, 6...; then 1, 3...
std::vector<int> frame_row_order(int height, bool interlaced) {
  std::vector<int> order;
  order.reserve(size_t(height));
  if (!interlaced) {
    for (int y = 0; y < height; ++y) order.push_back(y);
    return order;
  }
  static constexpr int kStart[4] = {0, 4, 2, 1};
  static constexpr int kStep[4] = {8, 8, 4, 2};
  for (int pass = 0; pass < 4; ++pass) {
    for (int y = kStart[pass]; y < height; y += kStep[pass]) order.push_back(y);
  }
  return order;
}

// Fills the canvas with the background index, then decodes the frame's indices into it.
std::vector<uint8_t> read_indices(const GifHandle& gif, int canvas_width, int canvas_height, int transparent_index,
                                  const std::string& name) {
  std::vector<uint8_t> indices(size_t(canvas_width) * size_t(canvas_height),
                               uint8_t(transparent_index >= 0 ? transparent_index : 0));
  const GifImageDesc& frame = gif->Image;
  if (frame.Width <= 0 || frame.Height <= 0) return indices;
  const std::vector<int> rows = frame_row_order(frame.Height, frame.Interlace);
  for (const int y : rows) {
    GifPixelType* line = indices.data() + size_t(frame.Top + y) * size_t(canvas_width) + size_t(frame.Left);
    if (DGifGetLine(gif.get(), line, frame.Width) == GIF_ERROR) throw_gif_error(gif, name);
  }
  return indices;
}

}  // namespace

ImageInfo probe_gif(std::span<const uint8_t> bytes, const std::string& name) {
  GifSource source{bytes};
  const GifHandle gif = open_gif(source, name);
  read_first_frame_header(gif, name);
  const auto [width, height] = canvas_size(*gif);
  if (width <= 0 || height <= 0) throw_corrupt(name, kFormat, "header gives an empty image");
  return {int(width), int(height), "gif"};
}

ImageU8 decode_gif(std::span<const uint8_t> bytes, const std::string& name, const DecodeOptions& options) {
  GifSource source{bytes};
  const GifHandle gif = open_gif(source, name);
  const int transparent_index = read_first_frame_header(gif, name);
  const auto [width, height] = canvas_size(*gif);
  check_dimensions(width, height, options, name, kFormat);

  const std::vector<uint8_t> indices = read_indices(gif, int(width), int(height), transparent_index, name);
  const Palette palette = frame_palette(*gif);
  ImageU8 image = make_rgb_image(int(width), int(height));
  for (size_t i = 0; i < indices.size(); ++i) std::memcpy(&image.rgb[i * 3], palette[indices[i]].data(), 3);
  return image;
}

}  // namespace cir::image::detail
