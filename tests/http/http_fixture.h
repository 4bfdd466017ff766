// A shared test index (generated images + the fixture CLIP) and a running server over it.
#pragma once

#include <httplib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "cir/engine.h"
#include "cir/image.h"
#include "cir/server.h"
#include "server/server_impl.h"
#include "test_support.h"

namespace cir::testing {

using json = nlohmann::json;

inline constexpr const char* kFixtureModel = "fixtures/clip/vit/hf";

/// A w x h image: background colour with a filled square or disc of another colour.
inline image::ImageU8 make_image(int w, int h, std::array<uint8_t, 3> bg, std::array<uint8_t, 3> fg, bool disc) {
  image::ImageU8 img{w, h, std::vector<uint8_t>(static_cast<size_t>(w * h * 3))};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double dx = x - w / 2.0, dy = y - h / 2.0;
      const bool in = disc ? dx * dx + dy * dy < (w / 3.0) * (w / 3.0) : std::abs(dx) < w / 3.0 && std::abs(dy) < h / 3.0;
      for (int c = 0; c < 3; ++c) img.rgb[static_cast<size_t>((y * w + x) * 3 + c)] = in ? fg[c] : bg[c];
    }
  return img;
}

inline std::string png_of(const image::ImageU8& img) {
  const auto bytes = image::encode_png(img);
  return std::string(bytes.begin(), bytes.end());
}

inline std::string base64(const std::string& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63];
  while (out.size() % 4) out += '=';
  return out;
}

/// Percent-encodes a URL path segment (external ids may contain '/' and ':'), as the server's
/// own item URLs do.
inline std::string url_component(const std::string& text) { return cir::server::url_encode(text); }

/// Gallery of 8 images (colour x shape; sub/yellow_disc.png in a sub-folder) and metadata.
struct TestIndex {
  TempDir root;
  std::string gallery, index, queries;

  TestIndex() {
    gallery = root.str("gallery");
    index = root.str("index");
    queries = root.str("queries.jsonl");
    std::filesystem::create_directories(gallery + "/sub");
    const std::pair<const char*, std::array<uint8_t, 3>> colors[] = {
        {"red", {220, 30, 30}}, {"green", {30, 200, 40}}, {"blue", {30, 40, 220}}, {"yellow", {230, 220, 30}}};
    std::string csv = "path,color,shape,size\n";
    int i = 0;
    for (const auto& [name, rgb] : colors)
      for (bool disc : {false, true}) {
        const std::string rel = std::string(i == 7 ? "sub/" : "") + name + (disc ? "_disc" : "_square") + ".png";
        write_file_atomic(gallery + "/" + rel, png_of(make_image(48, 48, {245, 245, 245}, rgb, disc)));
        csv += rel + "," + name + "," + (disc ? "disc" : "square") + "," + std::to_string(i + 1) + "\n";
        ++i;
      }
    write_file_atomic(root.str("meta.csv"), csv);
    write_file_atomic(queries, R"({"id":"q1","reference":"red_square","text":"make it blue","targets":["blue_square"]})"
                               "\n");
    engine::IngestOptions o;
    o.images = gallery;
    o.model = fixture_path(kFixtureModel);
    o.metadata_file = root.str("meta.csv");
    o.progress = false;
    engine::build_index(index, o);
  }
};

/// A server running on its own thread until destroyed.
struct RunningServer {
  std::unique_ptr<server::Server> server;
  std::thread thread;
  int port = 0;

  explicit RunningServer(const server::ServerOptions& options) {
    server = server::Server::create(options);
    port = server->bind();
    thread = std::thread([this] { server->run(); });
  }
  ~RunningServer() {
    server->stop();
    if (thread.joinable()) thread.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    return c;
  }
};

/// Default options used by the shared server: small limits so the limit tests stay cheap.
inline server::ServerOptions test_options(const std::string& index_dir, const std::string& queries = "") {
  server::ServerOptions o;
  o.indexes = {{"shapes", index_dir}};
  o.port = 0;
  o.threads = 4;
  o.writable = true;
  o.queries_file = queries;
  o.max_body_bytes = 2 << 20;
  o.max_image_pixels = 100 * 100;
  return o;
}

/// The shared index and server of a test binary, created on first use.
class HttpTest : public ::testing::Test {
 public:
  static TestIndex* index_;       ///< deleted by the binary's cleanup environment
  static RunningServer* server_;

 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(fixture_path(kFixtureModel))) return;
    if (!index_) index_ = new TestIndex();
    if (!server_) server_ = new RunningServer(test_options(index_->index, index_->queries));
  }
  void SetUp() override { CIR_REQUIRE_FIXTURE(kFixtureModel); }

  static httplib::Client client() { return server_->client(); }
  static json post(const std::string& path, const json& body, int expect_status = 200) {
    auto res = client().Post(path.c_str(), body.dump(), "application/json");
    EXPECT_TRUE(res) << path;
    if (!res) return {};
    EXPECT_EQ(res->status, expect_status) << path << " -> " << res->body;
    return json::parse(res->body, nullptr, false);
  }
  static json get(const std::string& path, int expect_status = 200) {
    auto res = client().Get(path.c_str());
    EXPECT_TRUE(res) << path;
    if (!res) return {};
    EXPECT_EQ(res->status, expect_status) << path << " -> " << res->body;
    return json::parse(res->body, nullptr, false);
  }
};

}  // namespace cir::testing
