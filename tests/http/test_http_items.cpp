// Item endpoints: listing, reading, image files, cached thumbnails, upload and delete, and
// path traversal attempts that must never reach the filesystem.
#include "http_fixture.h"

namespace cir::testing {
namespace {

bool is_jpeg(const std::string& body) { return body.size() > 3 && static_cast<unsigned char>(body[0]) == 0xFF && static_cast<unsigned char>(body[1]) == 0xD8; }

}  // namespace

TEST_F(HttpTest, ListItemsPagesById) {
  const json page1 = get("/v1/indexes/shapes/items?limit=5");
  ASSERT_EQ(page1["items"].size(), 5u);
  ASSERT_FALSE(page1["next_after"].is_null());
  const json page2 = get("/v1/indexes/shapes/items?limit=5&after=" + std::to_string(page1["next_after"].get<int64_t>()));
  EXPECT_GE(page2["items"].size(), 3u);
  EXPECT_GT(page2["items"][0]["internal_id"].get<int64_t>(), page1["items"][4]["internal_id"].get<int64_t>());
  const json filtered = get("/v1/indexes/shapes/items?filter=color%3Dred");
  EXPECT_EQ(filtered["items"].size(), 2u);
}

// Query parameters are checked as body fields are: a 400 naming the parameter, never a silent
// default (atoll read "abc" as 0, then clamped it to 1).
TEST_F(HttpTest, ListItemsRefusesBadPaging) {
  for (const char* query : {"limit=abc", "limit=0", "limit=5x", "limit=", "after=-1", "after=1e3"}) {
    const json error = get(std::string("/v1/indexes/shapes/items?") + query, 400);
    const std::string name = std::string(query).substr(0, std::string(query).find('='));
    EXPECT_NE(error.dump().find("'" + name + "'"), std::string::npos) << query << ": " << error.dump();
  }
}

TEST_F(HttpTest, ItemImageAndThumbnail) {
  const json item = get("/v1/indexes/shapes/items/sub%2Fyellow_disc.png");
  EXPECT_EQ(item["payload"]["color"], "yellow");
  auto c = client();
  auto img = c.Get("/v1/indexes/shapes/items/sub%2Fyellow_disc.png/image");
  ASSERT_TRUE(img);
  ASSERT_EQ(img->status, 200);
  EXPECT_EQ(img->get_header_value("Content-Type"), "image/png");
  EXPECT_EQ(img->body, read_file_text(index_->gallery + "/sub/yellow_disc.png"));
  auto thumb = c.Get("/v1/indexes/shapes/items/sub%2Fyellow_disc.png/thumbnail");
  ASSERT_TRUE(thumb);
  ASSERT_EQ(thumb->status, 200);
  EXPECT_TRUE(is_jpeg(thumb->body));
  bool cached = false;
  for (const auto& e : std::filesystem::directory_iterator(index_->index + "/thumbnails")) cached |= e.path().extension() == ".jpg";
  EXPECT_TRUE(cached);
  EXPECT_EQ(c.Get("/v1/indexes/shapes/items/sub%2Fyellow_disc.png/thumbnail")->body, thumb->body);
}

TEST_F(HttpTest, PathTraversalNeverTouchesTheFilesystem) {
  auto c = client();
  const char* attempts[] = {
      "/v1/indexes/shapes/items/..%2F..%2Fetc%2Fpasswd/image",
      "/v1/indexes/shapes/items/../../etc/passwd/image",
      "/v1/indexes/shapes/items/%2Fetc%2Fpasswd/image",
      "/v1/indexes/shapes/items/sub%2F..%2F..%2Fmeta.csv/image",
      "/v1/indexes/shapes/items/..%2Fmeta.csv/thumbnail",
      "/v1/indexes/..%2F..%2Fetc/items/passwd/image",
      "/v1/indexes/shapes/items/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
      "/../../etc/passwd",
      "/style.css/../../../etc/passwd",
  };
  for (const char* path : attempts) {
    auto res = c.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_TRUE(res->status == 404 || res->status == 400) << path << " -> " << res->status;
    EXPECT_EQ(res->body.find("root:"), std::string::npos) << path;
    EXPECT_EQ(res->body.find("path,color"), std::string::npos) << path;
  }
}

TEST_F(HttpTest, UploadThenDelete) {
  const int64_t before = get("/v1/indexes/shapes")["count"].get<int64_t>();
  const std::string png = png_of(make_image(32, 32, {10, 10, 10}, {250, 120, 0}, true));
  const json added = post("/v1/indexes/shapes/items",
                          {{"items", {{{"image", base64(png)}, {"caption", "an orange disc"},
                                       {"payload", {{"color", "orange"}, {"size", 9}}}}}}},
                          201);
  ASSERT_EQ(added["items"].size(), 1u);
  const std::string id = added["items"][0]["id"];
  EXPECT_TRUE(id.starts_with("upload:"));
  EXPECT_EQ(added["count"].get<int64_t>(), before + 1);
  // The new item is searchable, servable and carries its payload.
  json q = {{"query", {{"reference", {{"id", id}}}}}, {"limit", 1}, {"exclude_reference", false}};
  const json r = post("/v1/indexes/shapes/search", q);
  EXPECT_EQ(r["results"][0]["id"], id);
  EXPECT_EQ(r["results"][0]["payload"]["color"], "orange");
  EXPECT_EQ(r["results"][0]["payload"]["caption"], "an orange disc");
  auto c = client();
  auto img = c.Get(("/v1/indexes/shapes/items/" + url_component(id) + "/image").c_str());
  ASSERT_TRUE(img);
  EXPECT_EQ(img->status, 200);
  EXPECT_EQ(img->body, png);
  // Delete.
  auto del = c.Delete("/v1/indexes/shapes/items", json({{"ids", {id}}}).dump(), "application/json");
  ASSERT_TRUE(del);
  ASSERT_EQ(del->status, 200) << del->body;
  EXPECT_EQ(json::parse(del->body)["removed"], 1);
  get("/v1/indexes/shapes/items/" + url_component(id), 404);
  // Bad uploads.
  post("/v1/indexes/shapes/items", {{"items", {{{"caption", "no image"}}}}}, 400);
  post("/v1/indexes/shapes/items", {{"items", {{{"image", base64("junk")}}}}}, 501);
}

}  // namespace cir::testing
