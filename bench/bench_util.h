// Shared by cir's benchmarks: every figure is printed as one JSON row (commit, machine, and the
// measurement), so runs can be compared and a baseline measured in the same run sits beside it.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

namespace cir::bench {

inline std::string machine_description() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model = "unknown";
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  return model + " x" + std::to_string(std::thread::hardware_concurrency());
}

inline std::string commit_id() {
  if (const char* env = std::getenv("CIR_COMMIT")) return env;
  std::string out;
  if (FILE* p = popen("git -C " CIR_SOURCE_DIR " rev-parse --short HEAD 2>/dev/null", "r")) {
    char buf[64];
    if (fgets(buf, sizeof buf, p)) out = buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out.empty() ? "unknown" : out;
}

/// Prints {"bench": name, "commit", "machine", ...fields} as one line on stdout.
inline void emit_row(const std::string& bench, nlohmann::json fields) {
  static const std::string machine = machine_description();
  static const std::string commit = commit_id();
  nlohmann::json row = {{"bench", bench}, {"commit", commit}, {"machine", machine}};
  row.update(fields);
  std::cout << row.dump() << std::endl;
}

/// Wall-clock seconds of fn(), best of `repeats` after one warm-up call.
template <typename Fn>
double best_seconds(int repeats, Fn&& fn) {
  fn();
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace cir::bench
