#include "cli_common.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "cir/image.h"

namespace cir::cli {

std::string provider_usage_line(const gen::ProviderStats& st) {
  return "provider: " + std::to_string(st.requests) + " requests (" + std::to_string(st.generations) + " calls, " +
         std::to_string(st.cache_hits) + " from the cache, " + std::to_string(st.retries) + " retries, " +
         std::to_string(st.failures) + " failed), " + std::to_string(st.usage.prompt_tokens) + " prompt + " +
         std::to_string(st.usage.completion_tokens) + " completion tokens";
}

std::vector<std::string> read_lines(const std::string& path) {
  const std::string text = read_file_text(path);
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

std::vector<std::string> read_texts(const std::string& path) {
  auto lines = read_lines(path);
  if (!path.ends_with(".jsonl")) return lines;
  std::vector<std::string> texts;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find_first_not_of(" \t") == std::string::npos) continue;
    check_json_depth(lines[i], path + " line " + std::to_string(i + 1));
    const auto j = nlohmann::json::parse(lines[i], nullptr, false);
    if (j.is_string()) {
      texts.push_back(j.get<std::string>());
    } else if (j.is_object() && j.contains("text") && j["text"].is_string()) {
      texts.push_back(j["text"].get<std::string>());
    } else {
      throw Error(ErrorCode::kInvalidArgument, "'" + path + "' line " + std::to_string(i + 1) +
                                                   ": expected a JSON string or an object with a string \"text\"");
    }
  }
  return texts;
}

std::vector<std::string> expand_image_paths(const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  for (const auto& input : inputs) {
    std::error_code ec;
    if (fs::is_directory(input, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(input, fs::directory_options::skip_permission_denied, ec);
           it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (it->is_regular_file(ec) && image::has_image_extension(it->path().string())) found.push_back(it->path().string());
      }
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else if (fs::exists(input, ec)) {
      out.push_back(input);
    } else {
      throw Error(ErrorCode::kNotFound, "image path '" + input + "' does not exist");
    }
  }
  return out;
}

}  // namespace cir::cli
