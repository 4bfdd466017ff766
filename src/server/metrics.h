// Prometheus metrics of the server: request counts by route and status, request latency and
// per-stage query latency histograms. Thread-safe; rendered in the text exposition format.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cir/engine.h"

namespace cir::server {

/// Cumulative histogram with fixed millisecond buckets (Prometheus "le" semantics).
struct Histogram {
  static constexpr std::array<double, 13> kBucketsMs{0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};
  std::array<uint64_t, kBucketsMs.size()> counts{};
  uint64_t count = 0;
  double sum = 0;
  void observe(double ms);
};

/// Prometheus text of the generative half per index: captions and edits by source and, for an
/// engine with a provider, the provider's requests, cache hits, retries, failures and tokens.
std::string render_generation_metrics(const std::vector<std::pair<std::string, engine::GenerationStats>>& per_index);

/// All counters of one server.
class Metrics {
 public:
  /// One finished HTTP request on `route` (a fixed label) with its status and latency.
  void record_request(const std::string& route, int status, double ms);
  /// The stage timings of one query batch (QueryTimings is per batch).
  void record_stages(const engine::QueryTimings& t);
  /// A request or connection refused before a handler ran, by a fixed `reason` label
  /// (body_too_large, header_timeout, connection_cap_total, busy, ...).
  void record_rejection(const std::string& reason);
  /// Prometheus text exposition (version 0.0.4).
  std::string render() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::map<std::string, Histogram> stages_;
  std::map<std::string, uint64_t> rejections_;
};

}  // namespace cir::server
