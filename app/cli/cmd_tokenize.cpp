// `cir tokenize`: one JSON array of token ids per input line, up to and including the end token.
#include <iostream>

#include "cir/engine.h"
#include "cir/model.h"
#include "cli_common.h"

namespace cir::cli {

void register_tokenize_command(CLI::App& app) {
  auto model_path = std::make_shared<std::string>();
  auto texts_file = std::make_shared<std::string>();
  auto context = std::make_shared<int>(0);
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of each line of a text file");
  cmd->add_option("--model", *model_path, "Model directory (its tokenizer files)")->required();
  cmd->add_option("--texts-file", *texts_file, "UTF-8 file, one text per line (or .jsonl: one JSON string per line)")->required();
  cmd->add_option("--context-length", *context, "Truncate to this many tokens (default: the model's)");
  cmd->callback([=] {
    int ctx = *context;
    if (ctx <= 0) ctx = model::read_model_spec(*model_path).context_length;
    if (ctx < 2) throw Error(ErrorCode::kInvalidArgument, "--context-length must be at least 2");
    const auto tokenizer = text::ClipTokenizer::from_directory(engine::tokenizer_directory(*model_path));
    const auto texts = read_texts(*texts_file);
    const TokenBatch batch = tokenizer.tokenize(texts, ctx);
    std::string line;
    for (int64_t i = 0; i < batch.n_texts; ++i) {
      line = "[";
      for (int32_t j = 0; j < batch.lengths[i]; ++j) {
        if (j) line += ",";
        line += std::to_string(batch.ids[i * batch.context_length + j]);
      }
      line += "]\n";
      std::cout << line;
    }
  });
}

}  // namespace cir::cli
