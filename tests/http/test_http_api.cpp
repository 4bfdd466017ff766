// The v1 search API against a real server: search by gallery id, upload, data: URL and embedding
// references, paging, filters, batch, ground truth, and the error shape of bad requests.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http_fixture.h"

namespace cir::testing {

TestIndex* HttpTest::index_ = nullptr;
RunningServer* HttpTest::server_ = nullptr;

namespace {

// Stops the shared server and removes the shared index after the last test.
class SharedCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    delete HttpTest::server_;
    HttpTest::server_ = nullptr;
    delete HttpTest::index_;
    HttpTest::index_ = nullptr;
  }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new SharedCleanup);

json id_query(const std::string& id, const std::string& text) {
  return {{"query", {{"reference", {{"id", id}}}, {"text", text}}}, {"limit", 4}};
}

void expect_error(const json& body, const std::string& code) {
  ASSERT_TRUE(body.contains("error")) << body.dump();
  EXPECT_EQ(body["error"]["code"], code) << body.dump();
  EXPECT_FALSE(body["error"]["message"].get<std::string>().empty());
}

// A whole "100 Continue" head, or a whole response with its Content-Length body.
bool response_complete(const std::string& out) {
  const size_t head_end = out.find("\r\n\r\n");
  if (head_end == std::string::npos) return false;
  if (out.rfind("HTTP/1.1 100", 0) == 0) return true;
  const size_t cl = out.find("Content-Length: ");
  if (cl == std::string::npos || cl > head_end) return true;
  return out.size() - (head_end + 4) >= std::stoul(out.substr(cl + 16));
}

// Sends only the request head of a POST announcing `content_length` bytes with
// "Expect: 100-continue" (what curl does for bodies over 1 KB) and returns what the server
// answers before any body byte is sent.
std::string answer_to_expect(int port, size_t content_length) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string head = "POST /v1/indexes/shapes/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " +
                             std::to_string(content_length) + "\r\n\r\n";
    if (::send(fd, head.data(), head.size(), 0) == static_cast<ssize_t>(head.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
        out.append(buf, static_cast<size_t>(n));
        if (response_complete(out)) break;
      }
    }
  }
  ::close(fd);
  return out;
}

}  // namespace

TEST_F(HttpTest, HealthAndIndexes) {
  EXPECT_EQ(get("/healthz")["status"], "ok");
  const json list = get("/v1/indexes");
  ASSERT_EQ(list["indexes"].size(), 1u);
  EXPECT_EQ(list["indexes"][0]["name"], "shapes");
  EXPECT_GE(list["indexes"][0]["count"].get<int>(), 8);
  EXPECT_EQ(list["ground_truth_queries"], 1);
  const json info = get("/v1/indexes/shapes");
  bool has_color = false;
  for (const auto& f : info["fields"]) has_color |= f["key"] == "color" && f["values"].size() == 4;
  EXPECT_TRUE(has_color) << info.dump();
  EXPECT_EQ(get("/indices-list"), json::array({"shapes"}));
}

// The verify route runs Store::verify (its damage cases are tested in tests/unit/index).
TEST_F(HttpTest, VerifyRouteReportsASoundIndex) {
  const json report = get("/v1/indexes/shapes/verify");
  EXPECT_TRUE(report["ok"].get<bool>()) << report.dump();
  EXPECT_EQ(report["n_items"], get("/v1/indexes/shapes")["count"]);
  EXPECT_GE(report["n_blocks"].get<int>(), 1);
  EXPECT_TRUE(report["problems"].empty());
  auto res = client().Get("/v1/indexes/nope/verify");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST_F(HttpTest, SearchByGalleryIdExcludesReferenceAndReportsStages) {
  const json r = post("/v1/indexes/shapes/search", id_query("red_square.png", "a blue square"));
  ASSERT_EQ(r["results"].size(), 4u);
  for (const auto& hit : r["results"]) {
    EXPECT_NE(hit["id"], "red_square.png");
    EXPECT_TRUE(hit["thumbnail_url"].get<std::string>().starts_with("/v1/indexes/shapes/items/"));
    EXPECT_TRUE(hit["payload"].contains("color"));
  }
  EXPECT_EQ(r["results"][0]["rank"], 1);
  for (const char* stage : {"decode", "encode_image", "encode_text", "compose", "search", "fetch"})
    EXPECT_TRUE(r["took_ms"].contains(stage)) << stage;
  EXPECT_GT(r["took_ms"]["encode_text"].get<double>(), 0.0);
  EXPECT_EQ(r["index"]["dim"].get<int>() > 0, true);
  EXPECT_EQ(r["next_offset"], 4);
  EXPECT_EQ(r["filtered"]["excluded"], 1);
  json with_ref = id_query("red_square.png", "");
  with_ref["exclude_reference"] = false;
  with_ref["query"].erase("text");
  EXPECT_EQ(post("/v1/indexes/shapes/search", with_ref)["results"][0]["id"], "red_square.png");
}

TEST_F(HttpTest, PagingContinuesTheRanking) {
  json q = id_query("green_disc.png", "a red disc");
  q["limit"] = 3;
  const json page1 = post("/v1/indexes/shapes/search", q);
  q["offset"] = page1["next_offset"];
  const json page2 = post("/v1/indexes/shapes/search", q);
  ASSERT_EQ(page2["results"].size(), 3u);
  EXPECT_EQ(page2["results"][0]["rank"], 4);
  for (const auto& a : page1["results"])
    for (const auto& b : page2["results"]) EXPECT_NE(a["id"], b["id"]);
}

TEST_F(HttpTest, UploadedDataUrlAndEmbeddingReferences) {
  const std::string png = png_of(make_image(40, 40, {245, 245, 245}, {220, 30, 30}, true));
  json q = {{"query", {{"reference", {{"image", base64(png)}}}, {"text", "make it green"}}}, {"limit", 3}};
  const json uploaded = post("/v1/indexes/shapes/search", q);
  EXPECT_EQ(uploaded["results"].size(), 3u);
  EXPECT_GT(uploaded["took_ms"]["decode"].get<double>(), 0.0);
  EXPECT_GT(uploaded["took_ms"]["encode_image"].get<double>(), 0.0);
  q["query"]["reference"] = {{"image_url", "data:image/png;base64," + base64(png)}};
  EXPECT_EQ(post("/v1/indexes/shapes/search", q)["results"], uploaded["results"]);
  q["query"]["reference"] = {{"image_url", "http://127.0.0.1:1/x.png"}};
  expect_error(post("/v1/indexes/shapes/search", q, 501), "unsupported");
  // A stored vector as the reference: same ranking as the gallery id (both normalised).
  const json item = get("/v1/indexes/shapes/items/blue_disc.png?with_vector=true");
  ASSERT_TRUE(item.contains("vector"));
  json by_vec = {{"query", {{"reference", {{"embedding", item["vector"]}}}}}, {"limit", 2}};
  EXPECT_EQ(post("/v1/indexes/shapes/search", by_vec)["results"][0]["id"], "blue_disc.png");
}

TEST_F(HttpTest, QdrantFilterAndExcludeIds) {
  json q = id_query("red_square.png", "a shape");
  q["limit"] = 10;
  q["filter"] = {{"must", {{{"key", "shape"}, {"match", {{"value", "disc"}}}}}},
                 {"must_not", {{{"key", "color"}, {"match", {{"value", "blue"}}}}}}};
  q["exclude_ids"] = {"green_disc.png"};
  const json r = post("/v1/indexes/shapes/search", q);
  ASSERT_EQ(r["results"].size(), 2u) << r.dump();  // red, yellow discs
  for (const auto& hit : r["results"]) EXPECT_EQ(hit["payload"]["shape"], "disc");
  EXPECT_GT(r["filtered"]["by_filter"].get<int>(), 0);
  q["filter"] = {{"must", {{{"key", "size"}, {"range", {{"gte", "x"}}}}}}};
  expect_error(post("/v1/indexes/shapes/search", q, 400), "invalid_argument");
}

TEST_F(HttpTest, BatchIsOneEngineCall) {
  json batch = json::array({id_query("red_square.png", "blue"), id_query("blue_disc.png", "red"),
                            {{"query", {{"text", "a yellow square"}}}, {"limit", 1}}});
  const json r = post("/v1/indexes/shapes/search/batch", batch);
  ASSERT_EQ(r["responses"].size(), 3u);
  EXPECT_EQ(r["responses"][2]["results"].size(), 1u);
  EXPECT_EQ(r["responses"][0]["took_ms"], r["responses"][1]["took_ms"]);  // one batch, shared timings
  expect_error(post("/v1/indexes/shapes/search/batch", json::array(), 400), "invalid_argument");
}

TEST_F(HttpTest, GroundTruthIsMarked) {
  json q = id_query("red_square.png", "make it blue");
  q["limit"] = 8;
  const json r = post("/v1/indexes/shapes/search", q);
  ASSERT_TRUE(r.contains("ground_truth")) << r.dump();
  EXPECT_EQ(r["ground_truth"]["query_id"], "q1");
  int marked = 0;
  for (const auto& hit : r["results"]) marked += hit["ground_truth"].get<bool>() ? 1 : 0;
  EXPECT_EQ(marked, 1);
  EXPECT_FALSE(post("/v1/indexes/shapes/search", id_query("red_square.png", "other"))["results"][0].contains("ground_truth"));
}

TEST_F(HttpTest, BadRequestsGetJsonErrors) {
  auto c = client();
  auto res = c.Post("/v1/indexes/shapes/search", "{not json", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  expect_error(json::parse(res->body), "invalid_argument");
  expect_error(post("/v1/indexes/shapes/search", {{"limit", 3}}, 400), "invalid_argument");
  expect_error(post("/v1/indexes/shapes/search", {{"query", {{"text", "x"}}}, {"limit", "ten"}}, 400), "invalid_argument");
  expect_error(post("/v1/indexes/shapes/search", {{"query", {{"text", "x"}}}, {"limit", 100000}}, 400), "invalid_argument");
  expect_error(post("/v1/indexes/shapes/search", {{"query", {{"text", "x"}, {"method", "nope"}}}}, 400), "invalid_argument");
  expect_error(post("/v1/indexes/shapes/search",
                    {{"query", {{"text", "x"}, {"method_options", {{"phi", "/etc/passwd"}}}}}}, 400), "invalid_argument");
  expect_error(post("/v1/indexes/shapes/search", id_query("missing.png", "x"), 404), "not_found");
  expect_error(post("/v1/indexes/nope/search", id_query("red_square.png", "x"), 404), "not_found");
  expect_error(get("/v1/nothing/here", 404), "not_found");
  expect_error(post("/v1/indexes/shapes/search", {{"query", {{"reference", {{"image", "!!notbase64"}}}}}}, 400),
               "invalid_argument");
  expect_error(post("/v1/indexes/shapes/search", {{"query", {{"reference", {{"image", base64("not an image")}}}}}}, 501),
               "unsupported");
}

TEST_F(HttpTest, LimitsOnBodyAndPixels) {
  auto c = client();
  const std::string huge(3 << 20, 'a');
  auto res = c.Post("/v1/indexes/shapes/search", huge, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  // An announced oversize body is refused before it is sent; a small one is invited.
  const std::string refused = answer_to_expect(server_->port, size_t{3} << 20);
  EXPECT_EQ(refused.rfind("HTTP/1.1 413", 0), 0u) << refused;
  EXPECT_NE(refused.find("exceeds the server's limit"), std::string::npos) << refused;
  const std::string invited = answer_to_expect(server_->port, 100);
  EXPECT_EQ(invited.rfind("HTTP/1.1 100", 0), 0u) << invited;
  const std::string big = png_of(make_image(200, 200, {0, 0, 0}, {255, 255, 255}, true));
  expect_error(post("/v1/indexes/shapes/search", {{"query", {{"reference", {{"image", base64(big)}}}}}}, 413),
               "resource_exhausted");
}

}  // namespace cir::testing
