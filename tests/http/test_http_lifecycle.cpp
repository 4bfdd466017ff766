// Concurrency and shutdown: bounded parallel clients, and stop() while requests are in flight.
#include <atomic>

#include "http_fixture.h"

namespace cir::testing {

TEST_F(HttpTest, ConcurrentRequestsAllSucceed) {
  constexpr int kClients = 8, kPerClient = 6;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t)
    threads.emplace_back([t, &ok] {
      auto c = client();
      for (int i = 0; i < kPerClient; ++i) {
        const json body = {{"query", {{"reference", {{"id", t % 2 ? "blue_disc.png" : "green_square.png"}}},
                                      {"text", i % 2 ? "make it red" : "a yellow shape"}}},
                           {"limit", 3}};
        auto res = c.Post("/v1/indexes/shapes/search", body.dump(), "application/json");
        if (res && res->status == 200 && json::parse(res->body)["results"].size() == 3) ++ok;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kClients * kPerClient);
}

TEST_F(HttpTest, GracefulShutdownFinishesInFlightRequests) {
  // A private copy of the index: the shared server holds the writer lock on the original.
  TempDir copy;
  std::filesystem::copy(index_->index, copy.str("index"), std::filesystem::copy_options::recursive);
  std::filesystem::remove(copy.str("index/LOCK"));
  auto options = test_options(copy.str("index"));
  options.writable = false;
  auto running = std::make_unique<RunningServer>(options);
  std::atomic<int> done{0}, ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i)
    clients.emplace_back([&, port = running->port] {
      httplib::Client c("127.0.0.1", port);
      const json body = {{"query", {{"text", "a red disc"}}}, {"limit", 5}};
      auto res = c.Post("/v1/indexes/shapes/search", body.dump(), "application/json");
      if (res && res->status == 200) ++ok;
      ++done;
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  running->server->stop();
  running->thread.join();  // run() returned
  for (auto& t : clients) t.join();
  EXPECT_EQ(done.load(), 4);
  // Requests accepted before stop() completed; later ones were refused, never left hanging.
  httplib::Client after("127.0.0.1", running->port);
  after.set_connection_timeout(1, 0);
  EXPECT_FALSE(after.Get("/healthz"));
  // The read-only server refuses writes with a clear error (checked on a fresh instance).
  auto again = std::make_unique<RunningServer>(options);
  auto c = again->client();
  auto res = c.Post("/v1/indexes/shapes/items", R"({"items":[{"image":"AAAA"}]})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 501);
}

}  // namespace cir::testing
