// Prometheus text rendering. Labels are route templates and stage names only, so the number of
// series stays bounded whatever clients send.
#include "metrics.h"

#include <sstream>

namespace cir::server {
namespace {

void render_histogram(std::ostringstream& out, const std::string& name, const std::string& label_key,
                      const std::string& label_value, const Histogram& h) {
  const std::string labels = label_key + "=\"" + label_value + "\"";
  for (size_t i = 0; i < h.counts.size(); ++i)
    out << name << "_bucket{" << labels << ",le=\"" << Histogram::kBucketsMs[i] << "\"} " << h.counts[i] << "\n";
  out << name << "_bucket{" << labels << ",le=\"+Inf\"} " << h.count << "\n";
  out << name << "_sum{" << labels << "} " << h.sum << "\n";
  out << name << "_count{" << labels << "} " << h.count << "\n";
}

}  // namespace

void Histogram::observe(double ms) {
  for (size_t i = 0; i < counts.size(); ++i)
    if (ms <= kBucketsMs[i]) ++counts[i];
  ++count;
  sum += ms;
}

void Metrics::record_request(const std::string& route, int status, double ms) {
  std::lock_guard lock(mutex_);
  ++requests_[{route, status}];
  latency_[route].observe(ms);
}

void Metrics::record_rejection(const std::string& reason) {
  std::lock_guard lock(mutex_);
  ++rejections_[reason];
}

void Metrics::record_stages(const engine::QueryTimings& t) {
  std::lock_guard lock(mutex_);
  stages_["decode"].observe(t.decode);
  stages_["encode_image"].observe(t.encode_image);
  stages_["encode_text"].observe(t.encode_text);
  stages_["compose"].observe(t.compose);
  stages_["search"].observe(t.search);
  stages_["fetch"].observe(t.fetch);
}

std::string Metrics::render() const {
  std::lock_guard lock(mutex_);
  std::ostringstream out;
  out << "# HELP cir_http_requests_total HTTP requests by route template and status.\n"
         "# TYPE cir_http_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    out << "cir_http_requests_total{route=\"" << key.first << "\",status=\"" << key.second << "\"} " << n << "\n";
  out << "# HELP cir_http_rejected_total Requests and connections refused by a limit, by reason.\n"
         "# TYPE cir_http_rejected_total counter\n";
  for (const auto& [reason, n] : rejections_) out << "cir_http_rejected_total{reason=\"" << reason << "\"} " << n << "\n";
  out << "# HELP cir_http_request_duration_ms Request latency by route template (milliseconds).\n"
         "# TYPE cir_http_request_duration_ms histogram\n";
  for (const auto& [route, h] : latency_) render_histogram(out, "cir_http_request_duration_ms", "route", route, h);
  out << "# HELP cir_query_stage_duration_ms Query batch time per stage (milliseconds).\n"
         "# TYPE cir_query_stage_duration_ms histogram\n";
  for (const auto& [stage, h] : stages_) render_histogram(out, "cir_query_stage_duration_ms", "stage", stage, h);
  return out.str();
}

std::string render_generation_metrics(const std::vector<std::pair<std::string, engine::GenerationStats>>& per_index) {
  std::ostringstream out;
  out << "# HELP cir_generation_captions_total Reference captions used by queries, by source.\n"
         "# TYPE cir_generation_captions_total counter\n";
  for (const auto& [index, g] : per_index) {
    out << "cir_generation_captions_total{index=\"" << index << "\",source=\"stored\"} " << g.captions_stored << "\n";
    out << "cir_generation_captions_total{index=\"" << index << "\",source=\"generated\"} " << g.captions_generated << "\n";
  }
  out << "# HELP cir_generation_edits_total Edited captions used by queries, by source (failed = fallback used).\n"
         "# TYPE cir_generation_edits_total counter\n";
  for (const auto& [index, g] : per_index)
    for (const auto& [source, n] : {std::pair<const char*, int64_t>{"stored", g.edits_stored},
                                    {"generated", g.edits_generated}, {"failed", g.edits_failed}})
      out << "cir_generation_edits_total{index=\"" << index << "\",source=\"" << source << "\"} " << n << "\n";
  const auto counter = [&](const char* name, const char* help, auto field) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n";
    for (const auto& [index, g] : per_index)
      if (g.provider_stats) out << name << "{index=\"" << index << "\"} " << field(*g.provider_stats) << "\n";
  };
  counter("cir_llm_requests_total", "HTTP requests sent to the LLM provider (retries included).",
          [](const gen::ProviderStats& p) { return p.requests; });
  counter("cir_llm_generations_total", "Provider calls answered (cache hits included).",
          [](const gen::ProviderStats& p) { return p.generations; });
  counter("cir_llm_cache_hits_total", "Provider calls answered by the response cache.",
          [](const gen::ProviderStats& p) { return p.cache_hits; });
  counter("cir_llm_retries_total", "Provider requests retried.", [](const gen::ProviderStats& p) { return p.retries; });
  counter("cir_llm_failures_total", "Provider calls that failed after their retries.",
          [](const gen::ProviderStats& p) { return p.failures; });
  out << "# HELP cir_llm_tokens_total Tokens of answered, uncached provider calls.\n# TYPE cir_llm_tokens_total counter\n";
  for (const auto& [index, g] : per_index)
    if (g.provider_stats) {
      out << "cir_llm_tokens_total{index=\"" << index << "\",kind=\"prompt\"} " << g.provider_stats->usage.prompt_tokens << "\n";
      out << "cir_llm_tokens_total{index=\"" << index << "\",kind=\"completion\"} " << g.provider_stats->usage.completion_tokens
          << "\n";
    }
  return out.str();
}

}  // namespace cir::server
