// Engine::query_batch: the one query path (CLI, server, evaluation harness).
//
// Stages, each timed: resolve references (stored vectors for gallery ids, decode + encode for
// files and uploads), compose (the method encodes the batch's texts in one call), search (filters
// and exclusions inside the store, before the top-k cut), fetch (item records for the hits).
#include <algorithm>
#include <chrono>
#include <filesystem>

#include "cir/engine.h"
#include "engine/generate.h"
#include "scan.h"

namespace cir::engine {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

bool is_hidden_key(const std::string& key) { return key.rfind("cir:", 0) == 0; }

// A multi-vector index must hold the rows this model writes ([features | query_embeds] x n).
void check_row_layout(const index::Store& store, const Encoder& encoder) {
  const index::IndexManifest& m = store.manifest();
  const auto parts = encoder.row_parts();
  bool same = parts.size() == m.row_parts.size();
  for (size_t i = 0; same && i < parts.size(); ++i)
    same = parts[i].name == m.row_parts[i].name && parts[i].dim == m.row_parts[i].dim;
  if (!same || (encoder.slot_layout().multi_vector() && m.vectors_per_item != encoder.vectors_per_image()))
    throw Error(ErrorCode::kInvalidArgument, "index '" + store.dir() + "': its row layout (" +
                                                 std::to_string(m.vectors_per_item) + " vectors per item, " +
                                                 std::to_string(m.row_parts.size()) +
                                                 " row parts) is not what '" + encoder.spec().path + "' writes; rebuild the index");
}

// Early-fusion families (SPRC) compose from the reference image itself: decode the upload, the
// file, or the gallery item's file under the index's gallery root.
std::shared_ptr<const image::ImageU8> decode_reference(const index::Store& store, const std::string& gallery_root,
                                                       const Encoder& encoder, const ReferenceImage& ref) {
  const image::DecodeOptions& decode = encoder.options().decode;
  if (!ref.bytes.empty()) return std::make_shared<image::ImageU8>(image::decode_image(ref.bytes, "uploaded image", decode));
  if (!ref.path.empty()) return std::make_shared<image::ImageU8>(image::decode_image_file(ref.path, decode));
  if (ref.gallery_id.empty()) return nullptr;  // a raw embedding: the method refuses it
  const auto rec = store.find_by_external_id(ref.gallery_id);
  if (!rec || rec->removed) throw Error(ErrorCode::kNotFound, "no item '" + ref.gallery_id + "' in the index");
  const std::string path = gallery_root.empty() ? rec->external_id : (fs::path(gallery_root) / rec->external_id).string();
  return std::make_shared<image::ImageU8>(image::decode_image_file(path, decode));
}

// Candidates the ANN first stage of a slot-form query hands to exact rescoring: generous, since
// the first stage ranks by max-over-vectors while the final rule weights the slots.
constexpr int kMinSlotCandidates = 256;
constexpr int kSlotCandidateFactor = 10;

// A stored vector is normalised; scaling by the recorded norm gives back the raw feature.
std::vector<float> stored_raw_feature(const index::Store& store, const index::ItemRecord& rec) {
  const FloatMatrix v = store.get_vectors({rec.id});
  std::vector<float> out(v.data.begin(), v.data.begin() + v.cols);
  auto it = rec.metadata.find(kFeatureNormKey);
  if (it != rec.metadata.end() && std::holds_alternative<double>(it->second)) {
    const float norm = static_cast<float>(std::get<double>(it->second));
    for (auto& x : out) x *= norm;
  }
  return out;
}

}  // namespace

Engine::~Engine() = default;

std::unique_ptr<Engine> Engine::open(const std::string& index_dir, const EngineOptions& options) {
  const std::string model = options.model.empty() ? index::read_manifest(index_dir).model.path : options.model;
  return open(index_dir, Encoder::open(model, options.encoder), options);
}

std::unique_ptr<Engine> Engine::open(const std::string& index_dir, std::shared_ptr<const Encoder> encoder,
                                     const EngineOptions& options) {
  std::unique_ptr<Engine> e(new Engine());
  index::OpenOptions open_options;
  open_options.read_only = options.read_only;
  e->store_ = index::Store::open(index_dir, open_options);
  e->encoder_ = std::move(encoder);
  e->store_->check_compatible(model_identity(e->encoder_->spec()), e->encoder_->spec().embed_dim);
  check_row_layout(*e->store_, *e->encoder_);
  e->gallery_root_ = read_gallery_root(index_dir);
  // Replay-only until set_generation: stored captions and edits, no model calls.
  register_builtin_generators();
  e->gen_ = std::make_unique<Generation>();
  e->gen_->index_dir = e->store_->dir();
  return e;
}

std::vector<float> Engine::reference_feature(const ReferenceImage& ref, QueryTimings& t) const {
  if (!ref.embedding.empty()) {
    if (static_cast<int>(ref.embedding.size()) != encoder_->spec().embed_dim)
      throw Error(ErrorCode::kInvalidArgument, "reference embedding has " + std::to_string(ref.embedding.size()) +
                                                   " values, the index holds " + std::to_string(encoder_->spec().embed_dim));
    return ref.embedding;
  }
  if (encoder_->slot_layout().multi_vector()) {
    const FloatMatrix rows = *reference_rows(ref, t);
    return encoder_->image_query_row(rows.data.data(), rows.rows);
  }
  if (!ref.gallery_id.empty()) {
    const auto t0 = Clock::now();
    const auto rec = store_->find_by_external_id(ref.gallery_id);
    if (!rec || rec->removed) throw Error(ErrorCode::kNotFound, "no item '" + ref.gallery_id + "' in the index");
    auto v = stored_raw_feature(*store_, *rec);
    t.fetch += ms_since(t0);
    return v;
  }
  auto t0 = Clock::now();
  const image::ImageU8 img = ref.bytes.empty() ? image::decode_image_file(ref.path, encoder_->options().decode)
                                               : image::decode_image(ref.bytes, "uploaded image", encoder_->options().decode);
  t.decode += ms_since(t0);
  t0 = Clock::now();
  const FloatMatrix f = encoder_->encode_images({img});
  t.encode_image += ms_since(t0);
  return f.data;
}

std::optional<FloatMatrix> Engine::reference_rows(const ReferenceImage& ref, QueryTimings& t) const {
  if (!ref.embedding.empty()) return std::nullopt;
  if (!ref.gallery_id.empty()) {
    const auto t0 = Clock::now();
    const auto rec = store_->find_by_external_id(ref.gallery_id);
    if (!rec || rec->removed) throw Error(ErrorCode::kNotFound, "no item '" + ref.gallery_id + "' in the index");
    FloatMatrix rows = store_->get_vectors({rec->id});
    t.fetch += ms_since(t0);
    return rows;
  }
  auto t0 = Clock::now();
  const image::ImageU8 img = ref.bytes.empty() ? image::decode_image_file(ref.path, encoder_->options().decode)
                                               : image::decode_image(ref.bytes, "uploaded image", encoder_->options().decode);
  t.decode += ms_since(t0);
  t0 = Clock::now();
  ImageRows rows = encoder_->encode_image_rows({img});
  t.encode_image += ms_since(t0);
  return std::move(rows.rows);
}

index::SearchResult Engine::slot_search(const compose::ScoringQuery& q, const index::SearchRequest& sr) const {
  const index::Store::ItemScorer scorer = [&q](const float* products, int n_vectors) {
    return q.combine_slots(products, n_vectors);
  };
  const bool approximate = !sr.exact && store_->ann_key() != "Flat" &&
                           store_->count() > std::max<int64_t>(kMinSlotCandidates, kSlotCandidateFactor * (int64_t{sr.k} + sr.offset));
  if (!approximate) return store_->search_scored(q.vectors, scorer, sr);
  // First stage: each query row's best items by max-over-vectors through the ANN index.
  index::SearchRequest first = sr;
  first.k = std::max(kMinSlotCandidates, kSlotCandidateFactor * (sr.k + sr.offset));
  first.offset = 0;
  first.score_threshold.reset();
  const int64_t m = q.vectors.rows;
  first.exclude_ids_per_query.assign(static_cast<size_t>(m), sr.exclude_ids_per_query.empty()
                                                                 ? std::vector<int64_t>{}
                                                                 : sr.exclude_ids_per_query[0]);
  const index::SearchResult found = store_->search(q.vectors, first);
  std::vector<int64_t> candidates;
  for (const auto& qh : found.queries)
    for (const auto& hit : qh.hits) candidates.push_back(hit.id);
  // Second stage: the exact rule over those candidates only.
  index::SearchRequest second = sr;
  second.candidate_ids = std::move(candidates);
  index::SearchResult out = store_->search_scored(q.vectors, scorer, second);
  out.n_filtered = found.n_filtered;
  out.index_key = found.index_key + "+rescore";
  for (auto& qh : out.queries) qh.exact = false;
  return out;
}

index::SearchRequest Engine::search_request(const QueryRequest& r, const std::optional<int64_t>& reference_id) const {
  index::SearchRequest sr;
  sr.k = r.k;
  sr.offset = r.offset;
  sr.filter = r.parsed_filter ? *r.parsed_filter : index::parse_filter(r.filter);
  sr.score_threshold = r.score_threshold;
  sr.exact = r.exact;
  sr.ef_search = r.ef_search;
  sr.nprobe = r.nprobe;
  std::vector<int64_t> excluded;
  if (reference_id && !r.include_reference) excluded.push_back(*reference_id);
  for (const auto& ext : r.exclude_ids)
    if (auto rec = store_->find_by_external_id(ext)) excluded.push_back(rec->id);
  sr.exclude_ids_per_query = {excluded};
  if (!r.candidate_ids.empty()) {
    std::vector<int64_t> ids;
    ids.reserve(r.candidate_ids.size());
    for (const auto& ext : r.candidate_ids)
      if (auto rec = store_->find_by_external_id(ext); rec && !rec->removed) ids.push_back(rec->id);
    sr.candidate_ids = std::move(ids);
  }
  return sr;
}

// Scores every eligible item exactly: each query row ranks the whole eligible set, then the
// method's rule combines the per-row inner products. O(rows x items): fine for galleries that
// fit an exact scan, which is where these methods are evaluated.
index::SearchResult Engine::scored_search(const compose::ScoringQuery& q, const index::SearchRequest& sr) const {
  index::SearchRequest all = sr;
  all.k = static_cast<int>(std::max<int64_t>(1, store_->count()));
  all.offset = 0;
  all.score_threshold.reset();
  all.exact = true;
  const int64_t m = q.vectors.rows;
  all.exclude_ids_per_query.assign(static_cast<size_t>(m), sr.exclude_ids_per_query.empty()
                                                               ? std::vector<int64_t>{}
                                                               : sr.exclude_ids_per_query[0]);
  const index::SearchResult per_row = store_->search(q.vectors, all);
  std::map<int64_t, std::vector<float>> sims;
  for (int64_t r = 0; r < m; ++r)
    for (const auto& hit : per_row.queries[r].hits) {
      auto& v = sims[hit.id];
      v.resize(static_cast<size_t>(m), 0.f);
      v[r] = hit.score;
    }
  // All eligible items at once: a rule may rank items against each other (SEIZE's rank form).
  FloatMatrix products(static_cast<int64_t>(sims.size()), m);
  std::vector<int64_t> ids;
  ids.reserve(sims.size());
  for (const auto& [id, v] : sims) {
    std::copy(v.begin(), v.end(), products.row(static_cast<int64_t>(ids.size())));
    ids.push_back(id);
  }
  const std::vector<float> scores = compose::score_items(q, products);
  std::vector<index::Hit> ranked;
  ranked.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) ranked.push_back({ids[i], scores[i], 0});
  std::sort(ranked.begin(), ranked.end(), [](const index::Hit& a, const index::Hit& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  });
  index::SearchResult out;
  out.n_live = per_row.n_live;
  out.n_filtered = per_row.n_filtered;
  out.index_key = "exact";
  index::QueryHits qh;
  qh.exact = true;
  qh.n_excluded = per_row.queries.empty() ? 0 : per_row.queries[0].n_excluded;
  for (size_t i = static_cast<size_t>(sr.offset); i < ranked.size() && qh.hits.size() < static_cast<size_t>(sr.k); ++i) {
    ranked[i].rank = static_cast<int>(i + 1);
    if (sr.score_threshold && ranked[i].score < *sr.score_threshold) {
      ++qh.n_below_threshold;
      continue;
    }
    qh.hits.push_back(ranked[i]);
  }
  qh.has_more = ranked.size() > static_cast<size_t>(sr.offset + sr.k);
  out.queries.push_back(qh);
  return out;
}

void Engine::fill_result(const QueryRequest& r, const index::SearchResult& found, QueryResult& out, QueryTimings& t) const {
  const auto t0 = Clock::now();
  const auto& qh = found.queries.at(0);
  out.method = r.method;
  out.n_filtered = found.n_filtered;
  out.n_excluded = qh.n_excluded;
  out.n_below_threshold = qh.n_below_threshold;
  out.has_more = qh.has_more;
  for (const auto& hit : qh.hits) {
    QueryHit h;
    h.id = hit.id;
    h.score = hit.score;
    h.rank = hit.rank;
    if (!r.fetch_items) {
      out.hits.push_back(std::move(h));
      continue;
    }
    if (auto rec = store_->get_item(hit.id)) {
      h.external_id = rec->external_id;
      h.caption = rec->caption;
      for (auto& [k, v] : rec->metadata)
        if (!is_hidden_key(k)) h.metadata.emplace(k, v);
      h.path = gallery_root_.empty() ? rec->external_id : (fs::path(gallery_root_) / rec->external_id).string();
    }
    out.hits.push_back(std::move(h));
  }
  t.fetch += ms_since(t0);
}

// Inner products of `rows` with every live item, one column per item in id order: what methods
// whose query depends on the gallery read (LDRE's adaptive weights).
FloatMatrix Engine::gallery_scores(const FloatMatrix& rows) const {
  index::SearchRequest all;
  all.k = static_cast<int>(std::max<int64_t>(1, store_->count()));
  all.exact = true;
  const index::SearchResult found = store_->search(rows, all);
  std::map<int64_t, int64_t> column;
  for (const auto& q : found.queries)
    for (const auto& h : q.hits) column.emplace(h.id, 0);
  int64_t c = 0;
  for (auto& [id, col] : column) col = c++;
  FloatMatrix out(rows.rows, c);
  for (int64_t r = 0; r < rows.rows; ++r)
    for (const auto& h : found.queries[static_cast<size_t>(r)].hits) out.row(r)[column.at(h.id)] = h.score;
  return out;
}

namespace {

// The earliest deadline of a batch's requests (a batch shares its stages).
std::optional<Clock::time_point> batch_deadline(const std::vector<QueryRequest>& requests) {
  std::optional<Clock::time_point> earliest;
  for (const auto& r : requests)
    if (r.deadline && (!earliest || *r.deadline < *earliest)) earliest = r.deadline;
  return earliest;
}

// Checked between stages: a stage in flight runs to its end, the next one does not start.
void check_deadline(const std::optional<Clock::time_point>& deadline, const char* stage, Clock::time_point started) {
  if (deadline && Clock::now() > *deadline)
    throw Error(ErrorCode::kIo, std::string("query deadline passed during ") + stage + " (after " +
                                    std::to_string(static_cast<int64_t>(ms_since(started))) +
                                    " ms); send a smaller query or raise the server's --request-timeout");
}

}  // namespace

std::vector<QueryResult> Engine::query_batch(const std::vector<QueryRequest>& requests) const {
  std::vector<QueryResult> results(requests.size());
  QueryTimings t;
  const auto started = Clock::now();
  const auto deadline = batch_deadline(requests);
  check_deadline(deadline, "admission", started);
  const int embed_dim = encoder_->spec().embed_dim;
  compose::ComposeContext context;
  context.embed_dim = embed_dim;
  context.model = encoder_->clip_model();  // null for BLIP-2: CLIP-only methods refuse
  context.tokenizer = encoder_->clip_tokenizer();
  context.slots = encoder_->slot_layout();
  if (context.slots.multi_vector())
    context.encode_text_states = [&](const std::vector<std::string>& texts, bool all_tokens) {
      const auto t0 = Clock::now();
      auto states = encoder_->encode_text_states(texts, all_tokens);
      t.encode_text += ms_since(t0);
      return states;
    };
  if (!context.slots.multi_vector()) {
    context.gallery_scores = [this](const FloatMatrix& rows) { return gallery_scores(rows); };
    // Changes with adds/removes (count) and with every flush (updated_at): cached
    // gallery-derived values are recomputed then.
    context.gallery_key = store_->dir() + "|" + std::to_string(store_->count()) + "|" + store_->manifest().updated_at;
  }
  context.encode_texts = [&](const std::vector<std::string>& texts) {
    const auto t0 = Clock::now();
    FloatMatrix f = encoder_->encode_texts(texts);
    t.encode_text += ms_since(t0);
    return f;
  };
  if (encoder_->fuses_reference())
    context.encode_composed = [&](const std::vector<compose::ComposeInput>& group) {
      std::vector<image::ImageU8> references;
      std::vector<std::string> texts;
      for (const auto& in : group) {
        references.push_back(*in.reference_image);
        texts.push_back(in.texts.at(0));
      }
      const auto t0 = Clock::now();
      FloatMatrix rows = encoder_->encode_composed(references, texts);
      t.encode_image += ms_since(t0);
      return rows;
    };

  // 1. Inputs per request.
  std::vector<compose::ComposeInput> inputs(requests.size());
  std::vector<std::optional<int64_t>> reference_ids(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    auto& in = inputs[i];
    if (!r.reference.empty()) {
      // Multi-vector models: fetch or encode the reference's rows once; the single query row
      // the baselines use derives from them.
      auto rows = encoder_->slot_layout().multi_vector() ? reference_rows(r.reference, t) : std::nullopt;
      if (rows) {
        in.reference = encoder_->image_query_row(rows->data.data(), rows->rows);
        in.reference_slots = std::move(rows);
      } else {
        in.reference = reference_feature(r.reference, t);
      }
    }
    if (!r.reference.empty() && encoder_->fuses_reference())
      in.reference_image = decode_reference(*store_, gallery_root_, *encoder_, r.reference);
    if (!r.reference.gallery_id.empty())
      if (auto rec = store_->find_by_external_id(r.reference.gallery_id)) reference_ids[i] = rec->id;
    in.texts = r.texts;
    in.negative_texts = r.negative_texts;
    in.image_weight = r.image_weight;
    in.text_weight = r.text_weight;
    in.negative_weight = r.negative_weight;
    for (const auto& term : r.terms) {
      ReferenceImage img;
      if (!term.text.empty()) {
        in.extra_terms.emplace_back(context.encode_texts({term.text}).data, term.weight);
        continue;
      }
      if (term.image_path.rfind("id:", 0) == 0)
        img.gallery_id = term.image_path.substr(3);
      else
        img.path = term.image_path;
      in.extra_terms.emplace_back(reference_feature(img, t), term.weight);
    }
  }

  check_deadline(deadline, "reference encoding", started);

  // Generated texts (SEIZE, LDRE, CIReVL without a captions file), before composing.
  attach_generations(requests, inputs, results);
  check_deadline(deadline, "generation", started);

  // 2. Compose, grouping requests by method (and options) so each method sees one batch.
  FloatMatrix queries(static_cast<int64_t>(requests.size()), embed_dim);
  std::vector<std::optional<compose::ScoringQuery>> scoring(requests.size());
  std::map<std::pair<std::string, std::map<std::string, std::string>>, std::vector<size_t>> groups;
  for (size_t i = 0; i < requests.size(); ++i) groups[{requests[i].method, requests[i].method_options}].push_back(i);
  for (const auto& [key, members] : groups) {
    const auto method = compose::find_method(key.first);
    encoder_->check_method(key.first);
    compose::ComposeContext ctx = context;
    ctx.options = key.second;
    std::vector<compose::ComposeInput> group;
    for (size_t i : members) {
      group.push_back(inputs[i]);
      ctx.query_keys.push_back(requests[i].reference.gallery_id);
    }
    const auto t0 = Clock::now();
    if (method->uses_scoring()) {
      auto qs = method->compose_scoring(group, ctx);
      for (size_t g = 0; g < members.size(); ++g) scoring[members[g]] = std::move(qs.at(g));
    } else {
      const FloatMatrix q = method->compose(group, ctx);
      for (size_t g = 0; g < members.size(); ++g)
        std::copy_n(q.row(static_cast<int64_t>(g)), embed_dim, queries.row(static_cast<int64_t>(members[g])));
    }
    t.compose += ms_since(t0);
    check_deadline(deadline, "composition", started);
  }
  // Text encoding happens inside compose; report it once, not twice.
  t.compose = std::max(0.0, t.compose - t.encode_text);

  // 3. Search and 4. fetch, per request (each has its own k, filter and exclusions).
  for (size_t i = 0; i < requests.size(); ++i) {
    check_deadline(deadline, "search", started);
    const index::SearchRequest sr = search_request(requests[i], reference_ids[i]);
    const auto t0 = Clock::now();
    index::SearchResult found;
    if (scoring[i] && scoring[i]->combine_slots) {
      found = slot_search(*scoring[i], sr);
    } else if (scoring[i]) {
      found = scored_search(*scoring[i], sr);
    } else {
      FloatMatrix one(1, embed_dim);
      std::copy_n(queries.row(static_cast<int64_t>(i)), embed_dim, one.row(0));
      found = store_->search(one, sr);
    }
    t.search += ms_since(t0);
    fill_result(requests[i], found, results[i], t);
  }
  for (auto& r : results) r.took_ms = t;
  return results;
}

}  // namespace cir::engine
