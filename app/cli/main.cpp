// The `cir` binary: subcommands are thin adapters over engine/eval calls. Errors are mapped to
// exit codes here, in one place: 0 ok, 1 runtime error, 2 usage error.
#include <iostream>

#include "cli_common.h"

namespace {

int exit_code_for(cir::ErrorCode code) {
  return code == cir::ErrorCode::kInvalidArgument ? 2 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cir: composed image retrieval (reference image + modification text)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("cir ") + "0.1.0");
  cir::cli::register_model_command(app);
  cir::cli::register_embed_command(app);
  cir::cli::register_tokenize_command(app);
  cir::cli::register_synth_command(app);
  cir::cli::register_train_command(app);
  cir::cli::register_index_command(app);
  cir::cli::register_search_command(app);
  cir::cli::register_eval_command(app);
  cir::cli::register_serve_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const cir::Error& e) {
    std::cerr << "cir: error (" << cir::error_code_name(e.code()) << "): " << e.what() << "\n";
    return exit_code_for(e.code());
  } catch (const std::exception& e) {
    std::cerr << "cir: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
