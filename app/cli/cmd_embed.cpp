// `cir embed`: images or texts to a NumPy .npy of embeddings.
#include <iostream>

#include "cir/engine.h"
#include "cli_common.h"

namespace cir::cli {
namespace {

struct EmbedArgs {
  std::string model;
  std::vector<std::string> images;
  std::string texts_file;
  std::string out;
  bool normalize = false;
  std::string dtype = "fp32";
  int batch_size = 32;
  int threads = 0;
};

void run_embed(const EmbedArgs& a) {
  if (a.images.empty() == a.texts_file.empty())
    throw Error(ErrorCode::kInvalidArgument, "give exactly one of --images or --texts-file");
  engine::EncoderOptions options;
  options.dtype = model::parse_dtype(a.dtype);
  options.batch_size = a.batch_size;
  options.n_threads = a.threads > 0 ? a.threads : default_thread_count();
  if (options.batch_size <= 0) throw Error(ErrorCode::kInvalidArgument, "--batch-size must be positive");
  const auto encoder = engine::Encoder::open(a.model, options);
  FloatMatrix features;
  if (!a.images.empty()) {
    const auto paths = expand_image_paths(a.images);
    features = encoder->encode_image_files(paths);
  } else {
    features = encoder->encode_texts(read_texts(a.texts_file));
  }
  if (a.normalize) normalize_rows(features);
  write_npy_f32(a.out, {features.rows, features.cols}, features.data);
  std::cerr << "cir embed: wrote " << features.rows << " x " << features.cols << " to " << a.out << "\n";
}

}  // namespace

void register_embed_command(CLI::App& app) {
  auto args = std::make_shared<EmbedArgs>();
  auto* cmd = app.add_subcommand("embed", "Encode images or texts to a .npy of embeddings");
  cmd->add_option("--model", args->model, "Model directory or .pt archive")->required();
  cmd->add_option("--images", args->images, "Image files or directories (recursive)");
  cmd->add_option("--texts-file", args->texts_file, "UTF-8 file, one text per line (or .jsonl: one JSON string per line)");
  cmd->add_option("--out", args->out, "Output .npy (float32, n x dim)")->required();
  cmd->add_flag("--normalize", args->normalize, "L2-normalise each row");
  cmd->add_option("--dtype", args->dtype, "fp32 | bf16")->capture_default_str();
  cmd->add_option("--batch-size", args->batch_size, "Items per model call")->capture_default_str();
  cmd->add_option("--threads", args->threads, "Threads (0 = all cores)")->capture_default_str();
  cmd->callback([args] { run_embed(*args); });
}

}  // namespace cir::cli
