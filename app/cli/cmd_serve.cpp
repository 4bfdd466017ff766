// `cir serve --index name=DIR ... [--host] [--port] [--threads] [--queries FILE]`: the HTTP API
// and web page (src/server). Runs until SIGINT/SIGTERM.
#include <filesystem>

#include "cir/engine.h"
#include "cir/server.h"
#include "cli_common.h"

namespace cir::cli {
namespace {

struct ServeArgs {
  std::vector<std::string> indexes;
  server::ServerOptions options;
  GenerationFlags generation;
  int64_t max_body_mb = 20;
};

void run_serve(ServeArgs& args) {
  for (const auto& spec : args.indexes) {
    const auto eq = spec.find('=');
    // A bare DIR is served under its folder name.
    const std::string dir = eq == std::string::npos ? spec : spec.substr(eq + 1);
    std::string name = eq == std::string::npos ? std::filesystem::path(dir).filename().string() : spec.substr(0, eq);
    if (name.empty()) name = "default";
    if (!args.options.indexes.emplace(name, dir).second)
      throw Error(ErrorCode::kInvalidArgument, "--index: the name '" + name + "' is given twice");
  }
  args.options.max_body_bytes = args.max_body_mb << 20;
  // "" index dir: the server puts each index's response cache beside it.
  args.options.generation = generation_options(args.generation, "");
  server::serve(args.options);
}

}  // namespace

void register_serve_command(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand("serve", "HTTP API (v1 + clip-retrieval compatible) and web page");
  cmd->add_option("--index", args->indexes, "name=DIR of an index to serve (repeatable)")->required();
  cmd->add_option("--host", args->options.host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", args->options.port, "port (0 = any free port)")->capture_default_str()->check(CLI::Range(0, 65535));
  cmd->add_option("--threads", args->options.threads, "requests doing index/model work at once (0 = cores)")
      ->capture_default_str();
  cmd->add_option("--encoder-threads", args->options.encoder_threads, "threads per model call (0 = default)");
  cmd->add_option("--model", args->options.model, "model override for every index (default: the manifest's)");
  cmd->add_option("--queries", args->options.queries_file, "shapes-world queries/<split>.jsonl: mark ground truth");
  cmd->add_flag("--writable", args->options.writable, "open indexes writable: enables POST/DELETE items");
  cmd->add_option("--max-body-mb", args->max_body_mb, "largest request body (MB)")->capture_default_str();
  cmd->add_option("--max-image-pixels", args->options.max_image_pixels, "largest image accepted (pixels)")->capture_default_str();
  cmd->add_option("--max-limit", args->options.max_limit, "largest limit per query")->capture_default_str();
  cmd->add_option("--max-batch", args->options.max_batch, "most searches per batch / items per upload")->capture_default_str();
  cmd->add_option("--max-texts", args->options.max_texts, "most texts (text + negative_text) per query")->capture_default_str();
  cmd->add_option("--max-text-bytes", args->options.max_text_bytes, "longest text (bytes)")->capture_default_str();
  cmd->add_option("--max-ids", args->options.max_ids, "most ids in exclude_ids, candidate_ids, /metadata, DELETE")
      ->capture_default_str();
  cmd->add_option("--max-json-depth", args->options.max_json_depth, "deepest JSON nesting of a request body")
      ->capture_default_str();
  cmd->add_option("--max-connections", args->options.max_connections, "open connections served at once")
      ->capture_default_str();
  cmd->add_option("--max-connections-per-ip", args->options.max_connections_per_ip,
                  "open connections per client address (0 = no cap, e.g. behind a proxy)")
      ->capture_default_str();
  cmd->add_option("--header-timeout", args->options.header_timeout_seconds, "seconds for a request's headers to arrive")
      ->capture_default_str();
  cmd->add_option("--body-timeout", args->options.body_timeout_seconds, "seconds for a request's body to arrive")
      ->capture_default_str();
  cmd->add_option("--request-timeout", args->options.request_timeout_seconds,
                  "seconds a request may wait for a work slot before 503")
      ->capture_default_str();
  cmd->add_option("--shutdown-timeout", args->options.shutdown_timeout_seconds,
                  "seconds in-flight requests get after SIGTERM before the process exits")
      ->capture_default_str();
  cmd->add_option("--thumbnail-size", args->options.thumbnail_size, "thumbnail longest side (px)")->capture_default_str();
  add_generation_flags(cmd, args->generation);
  cmd->callback([args] { run_serve(*args); });
}

}  // namespace cir::cli
