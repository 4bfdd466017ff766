// CLIP4Cir stage 2 on the shapes world (methods.md section 4.2): the CLIP stays frozen, so its
// features are computed once and every step is a few small matmuls.
#include <torch/torch.h>

#include "compose/checkpoint.h"
#include "compose/heads.h"
#include "train/head_data.h"

namespace cir::train {

HeadTrainReport train_combiner(const HeadTrainOptions& options, const HeadProgressFn& on_progress) {
  detail::validate_head_options(options, "combiner");
  HeadTrainOptions o = options;
  if (o.n_threads <= 0) o.n_threads = default_thread_count();
  if (o.learning_rate <= 0) o.learning_rate = 2e-5;
  model::set_torch_threads(o.n_threads);
  model::ModelOptions mo;
  mo.n_threads = o.n_threads;
  mo.hash_weights = false;
  const auto clip = model::ClipModel::load(o.model_dir, mo);
  if (on_progress) on_progress({"features", 0, o.steps, 0, 0});
  const detail::EncodedWorld world = detail::encode_train_split(o.world_dir, *clip, o.n_threads);
  const int64_t d = world.images.size(1);
  const at::Tensor targets_bank = torch::nn::functional::normalize(world.images, torch::nn::functional::NormalizeFuncOptions().dim(-1));

  torch::manual_seed(o.seed);
  compose::detail::Combiner combiner(d, o.projection_dim > 0 ? o.projection_dim : 4 * d, o.hidden_dim > 0 ? o.hidden_dim : 8 * d);
  torch::optim::Adam optimizer(combiner->parameters(), torch::optim::AdamOptions(o.learning_rate));
  const int64_t n_triplets = static_cast<int64_t>(world.triplets.size());
  auto loss_at = [&](int step) {
    std::vector<int64_t> q(static_cast<size_t>(o.batch_size)), ref(q.size()), tgt(q.size());
    for (int i = 0; i < o.batch_size; ++i) {
      const uint64_t key = detail::sample_key(o.seed, step, i, 0xc0b1);
      q[i] = static_cast<int64_t>(key % static_cast<uint64_t>(n_triplets));
      const auto& t = world.triplets[static_cast<size_t>(q[i])];
      ref[i] = t.reference;
      tgt[i] = t.targets[detail::mix(key) % t.targets.size()];
    }
    const at::Tensor query = combiner->forward(world.images.index_select(0, torch::tensor(ref)),
                                               world.texts.index_select(0, torch::tensor(q)));
    const at::Tensor logits = 100.0 * query.matmul(targets_bank.index_select(0, torch::tensor(tgt)).t());
    return torch::nn::functional::cross_entropy(logits, torch::arange(o.batch_size, at::kLong));
  };
  HeadTrainReport report = detail::run_steps(o, *combiner, optimizer, loss_at, on_progress);
  compose::detail::write_state_dict(o.out, "Combiner", compose::detail::module_state(*combiner), report.steps);
  detail::finish_checkpoints(o);
  report.learning_rate = o.learning_rate;
  return report;
}

}  // namespace cir::train
