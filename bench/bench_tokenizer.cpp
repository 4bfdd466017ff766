// Tokenizer throughput on the 51,306 real CIRR / FashionIQ / CIRCO query strings of the shared
// fixtures, one thread, clip.tokenize framing (context 77). "cold" empties the word cache before
// each pass (every distinct word goes through BPE once); "warm" re-runs on a filled cache, the
// steady state of a server. A third row times clean_text alone as the floor under both.
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "cir/text.h"

namespace {

std::vector<std::string> read_texts(const std::string& path) {
  std::vector<std::string> texts;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) texts.push_back(nlohmann::json::parse(line)["text"].get<std::string>());
  return texts;
}

}  // namespace

int main() {
  const std::string shared = CIR_SHARED_DIR;
  const std::string vocab_dir = shared + "/fixtures/clip/vit/hf";
  const std::string captions = shared + "/fixtures/clip/tokens_benchmarks.jsonl";
  if (!std::ifstream(captions) || !std::ifstream(vocab_dir + "/vocab.json")) {
    std::cerr << "bench_tokenizer: skipped, shared fixtures not found under '" << shared
              << "/fixtures/clip' (place ../shared beside the checkout)\n";
    return 0;
  }
  const auto tokenizer = cir::text::ClipTokenizer::from_directory(vocab_dir);
  const std::vector<std::string> texts = read_texts(captions);
  const auto n = static_cast<double>(texts.size());
  constexpr int kRepeats = 5;

  // Cold: the cache is emptied outside the timed region before every pass.
  double cold = 1e30;
  for (int i = 0; i < kRepeats; ++i) {
    tokenizer.clear_cache();
    const auto t0 = std::chrono::steady_clock::now();
    const cir::TokenBatch batch = tokenizer.tokenize(texts, 77);
    cold = std::min(cold, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (batch.n_texts != static_cast<int64_t>(texts.size())) return 1;
  }
  const double warm = cir::bench::best_seconds(kRepeats, [&] { tokenizer.tokenize(texts, 77); });
  const double clean_only = cir::bench::best_seconds(kRepeats, [&] {
    size_t total = 0;
    for (const auto& t : texts) total += cir::text::clean_text(t).size();
    if (total == 0) std::abort();
  });

  const nlohmann::json common = {
      {"threads", 1}, {"n_captions", texts.size()}, {"context_length", 77}, {"vocab", "fixtures/clip/vit/hf"}};
  auto row = [&](const char* cache, double seconds) {
    nlohmann::json fields = common;
    fields["cache"] = cache;
    fields["captions_per_s"] = n / seconds;
    fields["seconds"] = seconds;
    cir::bench::emit_row("tokenizer", fields);
  };
  row("cold", cold);
  row("warm", warm);
  row("clean_text_only", clean_only);
  return 0;
}
