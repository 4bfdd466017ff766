// The rest of issue 13: ids that are not UTF-8 or contain '\n', thumbnails of every image the
// build accepted, removal of deleted uploads' files, matching statuses across the v1 and
// clip-retrieval routes, wrong JSON types, and a shutdown deadline.
#include <atomic>

#include "http_fixture.h"
#include "raw_socket.h"

namespace cir::testing {
namespace {

constexpr const char* kLatin1Id = "caf\xe9.png";  // "café" in Latin-1: not UTF-8
constexpr const char* kNewlineId = "line\nbreak.png";
constexpr const char* kFixtureImages = "fixtures/clip/vit/images";

// A gallery with awkward file names and one image of every format the decoder reads (the
// fixture images: png incl. RGBA/grey, jpeg incl. grey, gif, webp, bmp; some larger than the
// test server's --max-image-pixels of 100x100), indexed with the fixture CLIP.
struct OddIndex {
  TempDir root;
  std::string index;
  std::vector<std::string> ids;
  OddIndex() {
    const std::string gallery = root.str("gallery");
    std::filesystem::create_directories(gallery);
    for (const auto& entry : std::filesystem::directory_iterator(fixture_path(kFixtureImages))) {
      std::filesystem::copy_file(entry.path(), gallery + "/" + entry.path().filename().string());
      ids.push_back(entry.path().filename().string());
    }
    for (const char* id : {kLatin1Id, kNewlineId}) {
      write_file_atomic(gallery + "/" + id, png_of(make_image(40, 40, {250, 250, 250}, {200, 20, 20}, true)));
      ids.push_back(id);
    }
    index = root.str("index");
    engine::IngestOptions o;
    o.images = gallery;
    o.model = fixture_path(kFixtureModel);
    o.progress = false;
    engine::build_index(index, o);
  }
};

std::string decode_b64url(const std::string& text) {
  const auto bytes = server::decode_base64(text, "test");
  return {bytes.begin(), bytes.end()};
}

}  // namespace

class OddIdsTest : public HttpTest {
 protected:
  static void SetUpTestSuite() {
    HttpTest::SetUpTestSuite();
    if (!std::filesystem::exists(fixture_path(kFixtureImages)) || odd_) return;
    odd_ = new OddIndex();
    auto options = test_options(odd_->index);
    options.indexes = {{"odd", odd_->index}};
    odd_server_ = new RunningServer(options);
  }
  static void TearDownTestSuite() {
    delete odd_server_;
    odd_server_ = nullptr;
    delete odd_;
    odd_ = nullptr;
  }
  void SetUp() override {
    HttpTest::SetUp();
    CIR_REQUIRE_FIXTURE(kFixtureImages);
  }
  static json odd_get(const std::string& path, int expect_status = 200) {
    auto res = odd_server_->client().Get(path.c_str());
    EXPECT_TRUE(res) << path;
    if (!res) return {};
    EXPECT_EQ(res->status, expect_status) << path << " -> " << res->body.substr(0, 300);
    return json::parse(res->body, nullptr, false);
  }
  static OddIndex* odd_;
  static RunningServer* odd_server_;
};
OddIndex* OddIdsTest::odd_ = nullptr;
RunningServer* OddIdsTest::odd_server_ = nullptr;

// A Latin-1 id comes back with id_b64 holding its exact bytes, and every route reached through
// the listed URLs (percent-encoded bytes) or through {"b64": ...} / id_b64 finds the item.
TEST_F(OddIdsTest, NonUtf8IdsRoundTrip) {
  const json list = odd_get("/v1/indexes/odd/items?limit=100");
  const json* latin1 = nullptr;
  for (const auto& item : list["items"])
    if (item.contains("id_b64") && decode_b64url(item["id_b64"]) == kLatin1Id) latin1 = &item;
  ASSERT_NE(latin1, nullptr) << list.dump();
  odd_get(latin1->at("image_url").get<std::string>().c_str());
  auto thumb = odd_server_->client().Get(latin1->at("thumbnail_url").get<std::string>().c_str());
  ASSERT_TRUE(thumb);
  EXPECT_EQ(thumb->status, 200);
  // As a reference (id_b64) and in exclude_ids ({"b64": ...}): the reference itself is excluded
  // by default, so ask for it explicitly and exclude it by b64 instead.
  const json body = {{"query", {{"reference", {{"id_b64", (*latin1)["id_b64"]}}}, {"text", "red"}}},
                     {"exclude_reference", false},
                     {"exclude_ids", json::array({{{"b64", (*latin1)["id_b64"]}}})},
                     {"limit", 20}};
  auto res = odd_server_->client().Post("/v1/indexes/odd/search", body.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json found = json::parse(res->body);
  EXPECT_EQ(found["results"].size(), list["items"].size() - 1);
  for (const auto& hit : found["results"]) EXPECT_FALSE(hit.contains("id_b64")) << hit.dump();
}

// std::regex's '.' never matches '\n', so an id containing one had no reachable item URL.
TEST_F(OddIdsTest, IdsWithNewlinesAreReachable) {
  const std::string base = "/v1/indexes/odd/items/" + url_component(kNewlineId);
  const json item = odd_get(base);
  EXPECT_EQ(item["id"], kNewlineId);
  odd_get(base + "/image");
  auto thumb = odd_server_->client().Get((base + "/thumbnail").c_str());
  ASSERT_TRUE(thumb);
  EXPECT_EQ(thumb->status, 200);
}

// Every image the build indexed has a thumbnail, whatever its format, and also when it is
// larger than --max-image-pixels (a limit for client uploads, not for the gallery).
TEST_F(OddIdsTest, ThumbnailsForEveryIndexedImage) {
  const json list = odd_get("/v1/indexes/odd/items?limit=100");
  EXPECT_EQ(list["items"].size(), odd_->ids.size()) << "the build refused some of the gallery";
  for (const auto& item : list["items"]) {
    const std::string id = item["id"];
    auto res = odd_server_->client().Get(item["thumbnail_url"].get<std::string>().c_str());
    ASSERT_TRUE(res) << id;
    EXPECT_EQ(res->status, 200) << id << ": " << res->body.substr(0, 300);
    if (res->status != 200) continue;
    const auto bytes = std::vector<uint8_t>(res->body.begin(), res->body.end());
    const auto info = image::probe_image(bytes, id);
    EXPECT_EQ(info.format, "jpeg") << id;
    EXPECT_LE(std::max(info.width, info.height), 256) << id;
  }
}

// DELETE removes an uploaded item's file under <index>/uploads/ (and its cached thumbnail).
TEST_F(HttpTest, DeletingAnUploadRemovesItsFile) {
  const std::string png = png_of(make_image(30, 30, {10, 10, 10}, {240, 240, 10}, false));
  const json up = post("/v1/indexes/shapes/items", {{"items", {{{"image", base64(png)}, {"caption", "to delete"}}}}}, 201);
  ASSERT_EQ(up["items"].size(), 1u);
  const std::string id = up["items"][0]["id"];
  const std::string file = index_->index + "/uploads/" + id.substr(std::string("upload:").size());
  ASSERT_TRUE(std::filesystem::exists(file));
  auto thumb = client().Get(up["items"][0]["thumbnail_url"].get<std::string>().c_str());
  ASSERT_TRUE(thumb);
  EXPECT_EQ(thumb->status, 200);
  auto res = client().Delete("/v1/indexes/shapes/items", json{{"ids", {id}}}.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_FALSE(std::filesystem::exists(file));
  const std::string prefix = std::to_string(up["items"][0]["internal_id"].get<int64_t>()) + "-";
  for (const auto& entry : std::filesystem::directory_iterator(index_->index + "/thumbnails"))
    EXPECT_NE(entry.path().filename().string().rfind(prefix, 0), 0u) << entry.path();
}

// A wrong JSON type in an upload is a 400 naming the field, not silently dropped.
TEST_F(HttpTest, UploadFieldOfWrongTypeIs400) {
  const std::string png = png_of(make_image(30, 30, {10, 10, 10}, {10, 240, 240}, true));
  const json r = post("/v1/indexes/shapes/items", {{"items", {{{"image", base64(png)}, {"caption", 5}}}}}, 400);
  EXPECT_NE(r.dump().find("items[].caption"), std::string::npos) << r.dump();
}

// An unknown method is the caller's mistake on both routes: the same 400.
TEST_F(HttpTest, UnknownMethodIsTheSameStatusOnBothRoutes) {
  const json v1 = post("/v1/indexes/shapes/search", {{"query", {{"text", "red"}, {"method", "nope"}}}}, 400);
  const json knn = post("/knn-service", {{"text", "red"}, {"method", "nope"}}, 400);
  EXPECT_EQ(v1["error"]["code"], "invalid_argument");
  EXPECT_EQ(knn["error"]["code"], "invalid_argument");
}

// shutdown(grace): idle keep-alive connections do not hold it up; a request still arriving at
// the deadline makes it return false (serve() then exits), and run() returns once it ends.
TEST_F(HttpTest, ShutdownHasADeadline) {
  TempDir copy;
  std::filesystem::copy(index_->index, copy.str("index"), std::filesystem::copy_options::recursive);
  std::filesystem::remove(copy.str("index/LOCK"));
  auto options = test_options(copy.str("index"));
  options.writable = false;
  {
    RunningServer idle(options);
    RawSocket keep_alive(idle.port);
    ASSERT_TRUE(keep_alive.send_all("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    ASSERT_NE(keep_alive.read_response().find("200 OK"), std::string::npos);
    EXPECT_TRUE(idle.server->shutdown(30)) << "an idle keep-alive connection kept the server running";
    idle.thread.join();
  }
  RunningServer busy(options);
  RawSocket slow(busy.port);
  ASSERT_TRUE(slow.send_all("POST /v1/indexes/shapes/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the request is being read
  EXPECT_FALSE(busy.server->shutdown(1));
  slow.close();  // the in-flight request ends (its body never completes)
  EXPECT_TRUE(busy.server->shutdown(30));
  busy.thread.join();
  httplib::Client after("127.0.0.1", busy.port);
  after.set_connection_timeout(1, 0);
  EXPECT_FALSE(after.Get("/healthz"));
}

}  // namespace cir::testing
