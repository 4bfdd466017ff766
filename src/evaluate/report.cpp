// Evaluation reports: a Markdown table, JSON, and a hand-drawn SVG of Recall@K (no plotting
// library is packaged for C++ on Debian that is worth a dependency for one line chart).
#include <cstdio>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cir/evaluate.h"

namespace cir::evaluate {
namespace {

std::vector<std::string> metric_names(const EvalRun& run) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const auto& r : run.results)
    for (const auto& [name, _] : r.report.metrics)
      if (seen.insert(name).second) names.push_back(name);
  return names;
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// Recall@K series: metric names "recall@K" (case-insensitive prefix), K ascending.
std::vector<std::pair<int, double>> recall_series(const eval::MetricReport& report) {
  std::vector<std::pair<int, double>> points;
  for (const auto& [name, value] : report.metrics) {
    if (name.rfind("recall@", 0) != 0 && name.rfind("Recall@", 0) != 0) continue;
    const int k = std::atoi(name.c_str() + 7);
    if (k > 0) points.emplace_back(k, value);
  }
  std::sort(points.begin(), points.end());
  return points;
}

// generation.md 7.2: mode, provider and model, prompt SHA-256s and cache hit rate.
std::string generation_line(const std::string& method, const GenerationSummary& g) {
  std::ostringstream out;
  out << "\n`" << method << "` generations: mode " << g.mode << ", provider "
      << (g.provider.empty() ? "none" : g.provider) << ", captions";
  for (const auto& k : g.captioner_keys) out << " `" << k << "`";
  out << ", edits";
  for (const auto& k : g.editor_keys) out << " `" << k << "`";
  out << "; " << g.edits_stored << " edits replayed, " << g.edits_generated << " generated (" << g.edits_failed
      << " failed), " << g.captions_generated << " references captioned; cache hit rate " << fmt(100 * g.cache_hit_rate)
      << "%";
  for (const auto& [name, sha] : g.prompt_sha256) out << "; " << name << " sha256 " << sha;
  if (!g.captions_file.empty()) out << "; texts in `" << g.captions_file << "`";
  out << ".\n";
  return out.str();
}

}  // namespace

std::string report_markdown(const EvalRun& run) {
  std::ostringstream md;
  md << "# " << run.benchmark << " (" << run.split << ")\n\n"
     << "Model `" << run.model << "`, " << run.n_queries << " queries, gallery of " << run.n_gallery << " images.\n\n";
  const auto names = metric_names(run);
  md << "| method |";
  for (const auto& n : names) md << " " << n << " |";
  md << " ms/query |\n|---|";
  for (size_t i = 0; i < names.size(); ++i) md << "---:|";
  md << "---:|\n";
  for (const auto& r : run.results) {
    md << "| " << r.method << " |";
    for (const auto& n : names) {
      auto it = std::find_if(r.report.metrics.begin(), r.report.metrics.end(), [&](const auto& m) { return m.first == n; });
      md << " " << (it == r.report.metrics.end() ? "—" : fmt(it->second)) << " |";
    }
    md << " " << fmt(r.ms_per_query) << " |\n";
  }
  if (!run.results.empty() && !run.results[0].report.unit.empty())
    md << "\nValues in " << run.results[0].report.unit << ".\n";
  for (const auto& r : run.results)
    if (r.generation) md << generation_line(r.method, *r.generation);
  return md.str();
}

std::string report_json(const EvalRun& run) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : run.results) {
    nlohmann::json metrics = nlohmann::json::object();
    for (const auto& [name, value] : r.report.metrics) metrics[name] = value;
    nlohmann::json row = {{"method", r.method}, {"metrics", metrics}, {"unit", r.report.unit}, {"seconds", r.seconds},
                          {"ms_per_query", r.ms_per_query}};
    if (r.generation)
      row["generation"] = {{"mode", r.generation->mode},
                           {"provider", r.generation->provider},
                           {"captioner_keys", r.generation->captioner_keys},
                           {"editor_keys", r.generation->editor_keys},
                           {"prompt_sha256", r.generation->prompt_sha256},
                           {"edits_stored", r.generation->edits_stored},
                           {"edits_generated", r.generation->edits_generated},
                           {"edits_failed", r.generation->edits_failed},
                           {"captions_generated", r.generation->captions_generated},
                           {"cache_hit_rate", r.generation->cache_hit_rate},
                           {"captions_file", r.generation->captions_file}};
    rows.push_back(row);
  }
  const nlohmann::json j = {{"benchmark", run.benchmark}, {"split", run.split},         {"model", run.model},
                            {"n_queries", run.n_queries}, {"n_gallery", run.n_gallery}, {"index", run.index_dir},
                            {"results", rows}};
  return j.dump(2) + "\n";
}

std::string report_svg(const EvalRun& run) {
  const int width = 640, height = 400, left = 60, right = 160, top = 30, bottom = 50;
  const int plot_w = width - left - right, plot_h = height - top - bottom;
  std::set<int> ks;
  double y_max = 0;
  for (const auto& r : run.results)
    for (const auto& [k, v] : recall_series(r.report)) {
      ks.insert(k);
      y_max = std::max(y_max, v);
    }
  y_max = y_max <= 1.0 ? 1.0 : 100.0;
  const std::vector<int> kv(ks.begin(), ks.end());
  auto x_of = [&](int k) {
    const auto pos = std::find(kv.begin(), kv.end(), k) - kv.begin();
    return left + (kv.size() <= 1 ? plot_w / 2 : static_cast<int>(pos * plot_w / (kv.size() - 1)));
  };
  auto y_of = [&](double v) { return top + plot_h - static_cast<int>(v / y_max * plot_h); };
  static const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << left << "\" y=\"18\" font-size=\"14\">Recall@K — " << run.benchmark << " " << run.split << "</text>\n"
      << "<line x1=\"" << left << "\" y1=\"" << top + plot_h << "\" x2=\"" << left + plot_w << "\" y2=\"" << top + plot_h
      << "\" stroke=\"black\"/>\n<line x1=\"" << left << "\" y1=\"" << top << "\" x2=\"" << left << "\" y2=\"" << top + plot_h
      << "\" stroke=\"black\"/>\n";
  for (int i = 0; i <= 4; ++i) {
    const double v = y_max * i / 4;
    svg << "<text x=\"" << left - 8 << "\" y=\"" << y_of(v) + 4 << "\" text-anchor=\"end\">" << fmt(v) << "</text>\n"
        << "<line x1=\"" << left << "\" y1=\"" << y_of(v) << "\" x2=\"" << left + plot_w << "\" y2=\"" << y_of(v)
        << "\" stroke=\"#ddd\"/>\n";
  }
  for (int k : kv)
    svg << "<text x=\"" << x_of(k) << "\" y=\"" << top + plot_h + 18 << "\" text-anchor=\"middle\">" << k << "</text>\n";
  svg << "<text x=\"" << left + plot_w / 2 << "\" y=\"" << height - 10 << "\" text-anchor=\"middle\">K</text>\n";
  for (size_t m = 0; m < run.results.size(); ++m) {
    const auto pts = recall_series(run.results[m].report);
    const char* color = kColors[m % 8];
    svg << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" points=\"";
    for (const auto& [k, v] : pts) svg << x_of(k) << "," << y_of(v) << " ";
    svg << "\"/>\n";
    for (const auto& [k, v] : pts) svg << "<circle cx=\"" << x_of(k) << "\" cy=\"" << y_of(v) << "\" r=\"3\" fill=\"" << color << "\"/>\n";
    svg << "<text x=\"" << left + plot_w + 12 << "\" y=\"" << top + 16 + 18 * m << "\" fill=\"" << color << "\">"
        << run.results[m].method << "</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace cir::evaluate
