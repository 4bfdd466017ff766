// clip-retrieval compatible endpoints and Prometheus metrics.
#include "http_fixture.h"

namespace cir::testing {

TEST_F(HttpTest, KnnServiceTextImageAndComposed) {
  auto c = client();
  const json text_only = post("/knn-service", {{"text", "a red square"}, {"num_images", 3}, {"indice_name", "shapes"},
                                               {"modality", "image"}});
  ASSERT_EQ(text_only.size(), 3u);
  for (const char* field : {"id", "similarity", "url", "image_path", "caption"})
    EXPECT_TRUE(text_only[0].contains(field)) << field;
  const std::string png = png_of(make_image(48, 48, {245, 245, 245}, {30, 40, 220}, false));
  const json image_only = post("/knn-service", {{"image", base64(png)}, {"num_images", 2}});
  ASSERT_EQ(image_only.size(), 2u);
  EXPECT_EQ(image_only[0]["image_path"], "blue_square.png");
  // Both given = composed; unsupported knobs are accepted and reported in a header.
  auto res = c.Post("/knn-service",
                    json({{"image", base64(png)}, {"text", "make it red"}, {"num_images", 4},
                          {"use_safety_model", true}, {"aesthetic_score", 9}, {"deduplicate", true}})
                        .dump(),
                    "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body).size(), 4u);
  const std::string ignored = res->get_header_value("X-Cir-Ignored");
  EXPECT_NE(ignored.find("use_safety_model"), std::string::npos);
  EXPECT_NE(ignored.find("aesthetic_score"), std::string::npos);
  post("/knn-service", {{"num_images", 2}}, 400);
  post("/knn-service", {{"text", "x"}, {"num_images", 0}}, 400);  // not a silent 40
  post("/knn-service", {{"text", "x"}, {"num_images", "3"}}, 400);
  post("/knn-service", {{"text", "x"}, {"num_images", -2}}, 400);
  post("/knn-service", {{"text", "x"}, {"indice_name", "missing"}}, 404);
}

TEST_F(HttpTest, MetadataByKnnIds) {
  const json hits = post("/knn-service", {{"text", "a green disc"}, {"num_images", 2}});
  json ids = json::array();
  for (const auto& h : hits) ids.push_back(h["id"]);
  ids.push_back(987654);  // unknown ids are skipped, as clip-retrieval does
  const json meta = post("/metadata", {{"ids", ids}, {"indice_name", "shapes"}});
  ASSERT_EQ(meta.size(), 2u);
  EXPECT_EQ(meta[0]["id"], hits[0]["id"]);
  EXPECT_TRUE(meta[0]["metadata"].contains("image_path"));
  post("/metadata", {{"ids", {"a"}}}, 400);
}

TEST_F(HttpTest, MetricsAreExposed) {
  get("/healthz");
  post("/v1/indexes/shapes/search", {{"query", {{"text", "a disc"}}}, {"limit", 1}});
  auto res = client().Get("/metrics");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("cir_http_requests_total{route=\"/healthz\",status=\"200\"}"), std::string::npos);
  EXPECT_NE(res->body.find("cir_http_request_duration_ms_bucket{route=\"/v1/indexes/{index}/search\",le=\"+Inf\"}"),
            std::string::npos);
  EXPECT_NE(res->body.find("cir_query_stage_duration_ms_count{stage=\"encode_text\"}"), std::string::npos);
  EXPECT_NE(res->body.find("cir_generation_edits_total{index=\"shapes\",source=\"generated\"} 0"), std::string::npos);
}

// With a provider configured, its counters are exposed per index (zero until a query needs it;
// the provider is not contacted to render them).
TEST_F(HttpTest, ProviderCountersAreExposedPerIndex) {
  TestIndex own;  // the shared server holds the shared index's writer lock
  auto o = test_options(own.index);
  o.generation.provider.base_url = "http://127.0.0.1:9";
  o.generation.provider.model = "unused";
  RunningServer server(o);
  auto res = server.client().Get("/metrics");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  for (const char* line : {"cir_llm_requests_total{index=\"shapes\"} 0", "cir_llm_cache_hits_total{index=\"shapes\"} 0",
                           "cir_llm_tokens_total{index=\"shapes\",kind=\"completion\"} 0"})
    EXPECT_NE(res->body.find(line), std::string::npos) << line << "\n" << res->body;
}

TEST_F(HttpTest, WebPageIsEmbedded) {
  auto c = client();
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<script src=\"/app.js\">"), std::string::npos);
  auto js = c.Get("/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_NE(js->get_header_value("Content-Type").find("javascript"), std::string::npos);
  EXPECT_EQ(c.Get("/style.css")->status, 200);
}

}  // namespace cir::testing
