// The ZIRACLE methods on a multi-vector (BLIP-2) index (docs/methods.md section 1):
//  "ziracle"        w = softmax(<n(q_i), n(t_cls)> / tau) over the reference's Q-Former slots,
//                   score = (1/n^2) <sum_i w_i n(q_i), sum_j w_j n(d_j)>;
//  "ziracle-image"  the paper's image-only baseline (ExpBlip2Base): uniform weights, no text.
// Both are slot-form scoring queries: the score factorises to sum_j w_j <v, n(d_j)> with
// v = (1/n^2) sum_i w_i n(q_i), so the query is one row [0 | v] (zero over the projected
// feature columns, v over the query-embedding columns) and the candidate's per-slot inner
// products are weighted by w. The store keeps n(d_j) in those columns, as the reference
// normalises them.
//
// Options (--method-opt): temperature=<tau> (default 0.001), text_tokens=cls|mean (mean: the
// mean-over-text-tokens variant, the weights use every real token of the text).
#include <algorithm>
#include <cmath>

#include "compose/methods.h"
#include "compose/ziracle.h"

namespace cir::compose {
namespace {

// The reference's slot states (n_slots x state_dim), cut out of its stored rows.
std::vector<float> slot_states(const FloatMatrix& rows, const SlotLayout& layout) {
  std::vector<float> states(static_cast<size_t>(rows.rows) * layout.state_dim);
  for (int64_t i = 0; i < rows.rows; ++i)
    std::copy_n(rows.row(i) + layout.feature_dim, layout.state_dim, states.data() + i * layout.state_dim);
  return states;
}

class ZiracleMethod : public Method {
 public:
  ZiracleMethod(std::string name, bool use_text, std::string description)
      : name_(std::move(name)), use_text_(use_text), description_(std::move(description)) {}
  std::string name() const override { return name_; }
  std::string description() const override { return description_; }
  bool needs_reference() const override { return true; }
  bool needs_text() const override { return use_text_; }
  bool uses_scoring() const override { return true; }

  FloatMatrix compose(const std::vector<ComposeInput>&, const ComposeContext&) const override {
    throw Error(ErrorCode::kUnsupported, "method '" + name_ + "' weights the gallery's slots; it has no single query row");
  }

  std::vector<ScoringQuery> compose_scoring(const std::vector<ComposeInput>& inputs,
                                            const ComposeContext& context) const override {
    const SlotLayout& layout = context.slots;
    if (!layout.multi_vector() || !context.encode_text_states)
      throw Error(ErrorCode::kUnsupported, "method '" + name_ +
                                               "' needs a BLIP-2 index (32 Q-Former query outputs per image); this "
                                               "index holds one vector per image (build it with --model <BLIP-2 checkpoint>)");
    const float temperature = static_cast<float>(
        detail::number_option(context, name_, "temperature", ziracle::kDefaultTemperature));
    if (!(temperature > 0.f))
      throw Error(ErrorCode::kInvalidArgument, "method '" + name_ + "': temperature must be > 0, found " +
                                                   std::to_string(temperature));
    const bool all_tokens = text_token_mode(context) == "mean";

    std::vector<std::string> texts;
    for (const auto& in : inputs) {
      check_input(in, layout);
      if (use_text_) texts.insert(texts.end(), in.texts.begin(), in.texts.end());
    }
    const std::vector<FloatMatrix> states = texts.empty() ? std::vector<FloatMatrix>{}
                                                          : context.encode_text_states(texts, all_tokens);
    std::vector<ScoringQuery> out;
    size_t cursor = 0;
    for (const auto& in : inputs) {
      const int64_t n_slots = in.reference_slots->rows;
      const std::vector<float> q = slot_states(*in.reference_slots, layout);
      std::vector<float> weights(static_cast<size_t>(n_slots), 1.f);
      if (use_text_) {
        // Several texts: their token rows together (the mean runs over all of them).
        std::vector<float> text_rows;
        for (size_t t = 0; t < in.texts.size(); ++t) {
          const FloatMatrix& s = states.at(cursor + t);
          text_rows.insert(text_rows.end(), s.data.begin(), s.data.end());
        }
        cursor += in.texts.size();
        weights = ziracle::slot_weights(q.data(), n_slots, layout.state_dim, text_rows.data(),
                                        static_cast<int64_t>(text_rows.size()) / layout.state_dim, temperature);
      }
      out.push_back(scoring_query(q, weights, layout));
    }
    return out;
  }

 private:
  std::string text_token_mode(const ComposeContext& context) const {
    const std::string mode = detail::find_option(context, "text_tokens").value_or("cls");
    if (mode != "cls" && mode != "mean")
      throw Error(ErrorCode::kInvalidArgument, "method '" + name_ + "': text_tokens must be cls or mean, found '" + mode + "'");
    return mode;
  }

  void check_input(const ComposeInput& in, const SlotLayout& layout) const {
    if (!in.reference_slots)
      throw Error(ErrorCode::kInvalidArgument, "method '" + name_ +
                                                   "' needs a reference image (a file or gallery id: a raw embedding "
                                                   "carries no Q-Former slots)");
    if (in.reference_slots->rows < 1 || in.reference_slots->cols != layout.row_dim())
      throw Error(ErrorCode::kInvalidArgument, "method '" + name_ + "': reference rows are " +
                                                   std::to_string(in.reference_slots->rows) + " x " +
                                                   std::to_string(in.reference_slots->cols) + ", expected n x " +
                                                   std::to_string(layout.row_dim()));
    if (use_text_ && in.texts.empty())
      throw Error(ErrorCode::kInvalidArgument, "method '" + name_ + "' needs a text (the component to focus on)");
  }

  // One row [0 | v], v = (1/n^2) sum_i w_i n(q_i); the item's score is sum_j w_j <v, n(d_j)>.
  static ScoringQuery scoring_query(const std::vector<float>& q, const std::vector<float>& weights,
                                    const SlotLayout& layout) {
    const int64_t n_slots = static_cast<int64_t>(weights.size());
    const std::vector<float> sum = ziracle::weighted_slot_sum(q.data(), n_slots, layout.state_dim, weights);
    const double scale = 1.0 / static_cast<double>(n_slots * n_slots);
    ScoringQuery sq;
    sq.vectors = FloatMatrix(1, layout.row_dim());
    for (int k = 0; k < layout.state_dim; ++k)
      sq.vectors.row(0)[layout.feature_dim + k] = static_cast<float>(sum[static_cast<size_t>(k)] * scale);
    // Slots beyond the query's (an item with fewer vectors) get no weight.
    sq.combine_slots = [weights](const float* products, int n_vectors) {
      double score = 0;
      const size_t n = std::min(weights.size(), static_cast<size_t>(n_vectors));
      for (size_t j = 0; j < n; ++j) score += static_cast<double>(weights[j]) * products[j];
      return static_cast<float>(score);
    };
    return sq;
  }

  std::string name_;
  bool use_text_;
  std::string description_;
};

}  // namespace

std::shared_ptr<const Method> make_ziracle() {
  return std::make_shared<ZiracleMethod>(
      "ziracle", true, "ZIRACLE (BLIP-2 index): Q-Former slots weighted by softmax(<q_i, t_cls> / tau), tau 0.001");
}

std::shared_ptr<const Method> make_ziracle_image() {
  return std::make_shared<ZiracleMethod>(
      "ziracle-image", false, "ZIRACLE's image-only baseline (BLIP-2 index): mean over slot pairs <q_i, d_j>");
}

}  // namespace cir::compose
