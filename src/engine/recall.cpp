// ANN recall measured with the queries users actually send (text and composed), see engine.h.
#include <algorithm>

#include "cir/engine.h"

namespace cir::engine {
namespace {

std::vector<std::string> default_texts(const index::Store& store) {
  std::vector<std::string> texts;
  index::ListRequest req;
  req.limit = 200;
  req.with_metadata = false;
  for (const auto& rec : store.list_items(req))
    if (!rec.caption.empty()) texts.push_back(rec.caption);
  if (texts.empty())
    texts = {"a photo", "a red object", "a blue square", "two objects", "a large circle", "something green",
             "an animal", "a person", "a street at night", "a small yellow triangle"};
  return texts;
}

}  // namespace

IndexRecallReport measure_recall(const Engine& engine, const std::vector<std::string>& texts_in, int k, int ef_search,
                                 int nprobe) {
  const auto& store = engine.store();
  const std::vector<std::string> texts = texts_in.empty() ? default_texts(store) : texts_in;
  IndexRecallReport report;
  report.k = k;
  report.ef_search = ef_search;
  report.nprobe = nprobe;
  index::SearchRequest params;
  params.ef_search = ef_search;
  params.nprobe = nprobe;
  FloatMatrix text_queries = engine.encoder().encode_texts(texts);
  normalize_rows(text_queries);
  const auto r_text = store.measure_recall(text_queries, k, params);
  report.text_recall = r_text.recall;
  report.n_text_queries = r_text.n_queries;
  report.index_key = r_text.index_key;
  report.ann_ms_per_query = r_text.ann_ms_per_query;
  report.exact_ms_per_query = r_text.exact_ms_per_query;

  // Composed: n(n(I) + n(T)) with stored images spread over the gallery.
  index::ListRequest req;
  req.limit = static_cast<int64_t>(texts.size());
  req.with_metadata = false;
  const auto items = store.list_items(req);
  if (!items.empty()) {
    std::vector<int64_t> ids;
    for (size_t i = 0; i < texts.size(); ++i) ids.push_back(items[i % items.size()].id);
    const FloatMatrix images = store.get_vectors(ids);
    // Multi-vector items (BLIP-2) contribute their image query row, built from all their rows.
    const int64_t per_item = images.rows / static_cast<int64_t>(ids.size());
    FloatMatrix composed(text_queries.rows, text_queries.cols);
    for (int64_t i = 0; i < composed.rows; ++i) {
      const std::vector<float> image = engine.encoder().image_query_row(images.row(i * per_item), per_item);
      for (int64_t j = 0; j < composed.cols; ++j) composed.row(i)[j] = image[static_cast<size_t>(j)] + text_queries.row(i)[j];
    }
    normalize_rows(composed);
    const auto r_comp = store.measure_recall(composed, k, params);
    report.composed_recall = r_comp.recall;
    report.n_composed_queries = r_comp.n_queries;
    // Per-query latencies averaged over both query sets, weighted by their sizes.
    const double n_all = static_cast<double>(r_text.n_queries + r_comp.n_queries);
    if (n_all > 0) {
      report.ann_ms_per_query = (r_text.ann_ms_per_query * static_cast<double>(r_text.n_queries) +
                                 r_comp.ann_ms_per_query * static_cast<double>(r_comp.n_queries)) / n_all;
      report.exact_ms_per_query = (r_text.exact_ms_per_query * static_cast<double>(r_text.n_queries) +
                                   r_comp.exact_ms_per_query * static_cast<double>(r_comp.n_queries)) / n_all;
    }
  }
  return report;
}

}  // namespace cir::engine
