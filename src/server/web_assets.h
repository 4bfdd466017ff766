// The web page's files, embedded at build time by embed_web.cmake (generated web_assets.cpp).
#pragma once

#include <cstddef>

namespace cir::server {

/// One embedded file of web/, served at "/" + path (index.html also at "/").
struct WebAsset {
  const char* path;          ///< relative to web/, e.g. "app.js"
  const unsigned char* data;
  size_t size;
  const char* content_type;
};

extern const WebAsset kWebAssets[];
extern const size_t kWebAssetCount;

}  // namespace cir::server
