// `cir eval`: run a benchmark through the engine; `cir eval score`: score any tool's rankings.
#include <iostream>
#include <sstream>

#include "cir/engine.h"
#include "cir/evaluate.h"
#include "cli_common.h"

namespace cir::cli {
namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ','))
    if (!part.empty()) out.push_back(part);
  return out;
}

void print_metrics(const eval::MetricReport& report) {
  for (const auto& [name, value] : report.metrics) std::cout << "  " << name << " = " << value << "\n";
  if (!report.unit.empty()) std::cout << "  (" << report.unit << ")\n";
}

void register_score(CLI::App* parent) {
  struct Args {
    std::string benchmark, root, split, predictions;
    int max_queries = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = parent->add_subcommand("score", "Score a ranking file (e.g. a CIRR/CIRCO submission) against a split");
  cmd->add_option("--benchmark", a->benchmark, "Benchmark name")->required();
  cmd->add_option("--root", a->root, "Benchmark root (annotations)")->required();
  cmd->add_option("--split", a->split, "Split (default: the scored one)");
  cmd->add_option("--predictions", a->predictions, "Submission / prediction JSON")->required();
  cmd->add_option("--max-queries", a->max_queries,
                  "Score only the first N queries (a file written by cir eval --max-queries N)");
  cmd->callback([a] {
    auto split = evaluate::read_any_benchmark(a->benchmark, a->root, a->split);
    if (a->max_queries > 0 && static_cast<size_t>(a->max_queries) < split.queries.size())
      split.queries.resize(static_cast<size_t>(a->max_queries));
    const auto report = eval::score_predictions(split, a->predictions);
    std::cout << a->benchmark << " " << split.split << ": " << split.queries.size() << " queries\n";
    print_metrics(report);
  });
}

}  // namespace

void register_eval_command(CLI::App& app) {
  struct Args {
    evaluate::EvalOptions options;
    std::string methods = "sum";
    std::vector<std::string> method_options;
    GenerationFlags generation;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("eval", "Evaluate methods on a benchmark with the official metrics");
  cmd->require_subcommand(0, 1);
  cmd->add_option("--benchmark", a->options.benchmark,
                  "cirr | circo | fashioniq-dress|shirt|toptee | lasco | focus-coir | triplets | shapes | shapes-captions");
  cmd->add_option("--root", a->options.root, "Benchmark root (annotations and images; a shapes world directory)");
  cmd->add_option("--model", a->options.model, "Model directory or .pt");
  cmd->add_option("--method", a->methods, "Method(s), comma-separated")->capture_default_str();
  cmd->add_option("--method-opt", a->method_options, "Method setting key=value; repeat the flag")->allow_extra_args(false);
  cmd->add_option("--split", a->options.split, "Split (default: the benchmark's scored split)");
  cmd->add_option("--caption-convention", a->options.caption_convention, "plain | clip4cir | searle")->capture_default_str();
  cmd->add_option("--index", a->options.index_dir, "Gallery index cache (default ~/.cache/cir/eval/...)");
  cmd->add_option("-k", a->options.k, "Ranking depth (0 = whole gallery)")->capture_default_str();
  cmd->add_option("--max-queries", a->options.max_queries, "Evaluate only the first N queries");
  cmd->add_option("--submission", a->options.submission, "Write the test-server file (cirr, circo)");
  cmd->add_option("--report", a->options.report, "Write REPORT.md, REPORT.json and REPORT.svg");
  cmd->add_option("--threads", a->options.n_threads, "Threads (0 = all cores)");
  add_generation_flags(cmd, a->generation);
  register_score(cmd);
  cmd->callback([a, cmd] {
    if (!cmd->get_subcommands().empty()) return;  // `cir eval score` ran
    auto& o = a->options;
    if (o.benchmark.empty() || o.root.empty() || o.model.empty())
      throw Error(ErrorCode::kInvalidArgument, "cir eval needs --benchmark, --root and --model");
    o.methods = split_commas(a->methods);
    for (const auto& kv : a->method_options) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos) throw Error(ErrorCode::kInvalidArgument, "--method-opt wants key=value, got '" + kv + "'");
      o.method_options[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    // Replay unless --llm / --captioner / --editor: stored texts only, zero model calls.
    o.generation = generation_options(a->generation, o.index_dir);
    // run_eval reports progress on stderr itself (a bar on a terminal, periodic lines in logs).
    const auto run = evaluate::run_eval(o);
    std::cout << evaluate::report_markdown(run);
    if (!o.report.empty()) std::cout << "\nreport: " << o.report << ".md, .json, .svg\n";
  });
}

}  // namespace cir::cli
