// manifest.json <-> IndexManifest. Parsing is strict about types and names every bad field, since
// a manifest that silently parses wrong would pair vectors with the wrong model.
#include <nlohmann/json.hpp>

#include "cir/index.h"
#include "index/store_impl.h"

namespace cir::index {
namespace {

using nlohmann::json;

[[noreturn]] void bad_field(const std::string& source, const std::string& field, const std::string& expected,
                            const json* found) {
  std::string got = "nothing (missing)";
  if (found) {
    got = found->dump();
    if (got.size() > 60) got = got.substr(0, 57) + "...";
  }
  throw Error(ErrorCode::kCorrupt,
              "'" + source + "': field '" + field + "': expected " + expected + ", found " + got);
}

const json* child(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string get_string(const json& obj, const std::string& prefix, const char* key, const std::string& source,
                       bool required, std::string fallback = {}) {
  const json* v = child(obj, key);
  if (!v) {
    if (required) bad_field(source, prefix + key, "a string", nullptr);
    return fallback;
  }
  if (!v->is_string()) bad_field(source, prefix + key, "a string", v);
  return v->get<std::string>();
}

int64_t get_int(const json& obj, const std::string& prefix, const char* key, const std::string& source,
                bool required, int64_t fallback, int64_t min_value) {
  const json* v = child(obj, key);
  if (!v) {
    if (required) bad_field(source, prefix + key, "an integer >= " + std::to_string(min_value), nullptr);
    return fallback;
  }
  if (!v->is_number_integer() || v->get<int64_t>() < min_value)
    bad_field(source, prefix + key, "an integer >= " + std::to_string(min_value), v);
  return v->get<int64_t>();
}

std::array<float, 3> get_triple(const json& obj, const std::string& prefix, const char* key,
                                const std::string& source, std::array<float, 3> fallback) {
  const json* v = child(obj, key);
  if (!v) return fallback;
  if (!v->is_array() || v->size() != 3) bad_field(source, prefix + key, "an array of 3 numbers", v);
  std::array<float, 3> out{};
  for (size_t i = 0; i < 3; ++i) {
    if (!(*v)[i].is_number()) bad_field(source, prefix + key, "an array of 3 numbers", v);
    out[i] = (*v)[i].get<float>();
  }
  return out;
}

}  // namespace

std::string_view vector_dtype_name(VectorDType dtype) { return dtype == VectorDType::kFp16 ? "fp16" : "fp32"; }

VectorDType parse_vector_dtype(std::string_view name) {
  if (name == "fp16" || name == "float16" || name == "f2") return VectorDType::kFp16;
  if (name == "fp32" || name == "float32" || name == "f4") return VectorDType::kFp32;
  throw Error(ErrorCode::kInvalidArgument, "unknown vector dtype '" + std::string(name) + "' (expected fp16 or fp32)");
}

std::string manifest_to_json(const IndexManifest& m) {
  json j;
  j["format_version"] = m.format_version;
  j["created_at"] = m.created_at;
  j["updated_at"] = m.updated_at;
  j["cir_version"] = m.cir_version;
  j["model"] = {{"family", m.model.family},
                {"format", m.model.format},
                {"path", m.model.path},
                {"weights_sha256", m.model.weights_sha256}};
  j["preprocess"] = {{"image_size", m.preprocess.image_size},
                     {"resize_mode", std::string(resize_mode_name(m.preprocess.resize_mode))},
                     {"target_pad_ratio", m.preprocess.target_pad_ratio},
                     {"mean", m.preprocess.mean},
                     {"std", m.preprocess.std}};
  j["embed_dim"] = m.embed_dim;
  j["vector_dtype"] = std::string(vector_dtype_name(m.dtype));
  j["vectors_per_item"] = m.vectors_per_item;
  if (!m.row_parts.empty()) {
    json parts = json::array();
    for (const RowPart& part : m.row_parts) parts.push_back({{"name", part.name}, {"dim", part.dim}});
    j["row_parts"] = parts;
  }
  j["index"] = {{"key", m.index_key}, {"metric", "inner_product"}, {"memory_budget_bytes", m.memory_budget_bytes}};
  return j.dump(2) + "\n";
}

IndexManifest manifest_from_json(std::string_view text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kCorrupt, "'" + source + "' is not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(ErrorCode::kCorrupt, "'" + source + "': expected a JSON object at the top level");
  IndexManifest m;
  m.format_version = static_cast<int>(get_int(j, "", "format_version", source, true, 0, 1));
  if (m.format_version > kIndexFormatVersion)
    throw Error(ErrorCode::kUnsupported, "'" + source + "': format_version " + std::to_string(m.format_version) +
                                             " was written by a newer cir; this build reads format_version <= " +
                                             std::to_string(kIndexFormatVersion));
  m.created_at = get_string(j, "", "created_at", source, false);
  m.updated_at = get_string(j, "", "updated_at", source, false);
  m.cir_version = get_string(j, "", "cir_version", source, false);
  if (const json* model = child(j, "model")) {
    if (!model->is_object()) bad_field(source, "model", "an object", model);
    m.model.family = get_string(*model, "model.", "family", source, false);
    m.model.format = get_string(*model, "model.", "format", source, false);
    m.model.path = get_string(*model, "model.", "path", source, false);
    m.model.weights_sha256 = get_string(*model, "model.", "weights_sha256", source, false);
  }
  if (const json* pre = child(j, "preprocess")) {
    if (!pre->is_object()) bad_field(source, "preprocess", "an object", pre);
    m.preprocess.image_size = static_cast<int>(get_int(*pre, "preprocess.", "image_size", source, false, 224, 1));
    const std::string mode = get_string(*pre, "preprocess.", "resize_mode", source, false, "shortest");
    try {
      m.preprocess.resize_mode = parse_resize_mode(mode);
    } catch (const Error&) {
      const json found = mode;
      bad_field(source, "preprocess.resize_mode", "shortest, squash or targetpad", &found);
    }
    if (const json* r = child(*pre, "target_pad_ratio")) {
      if (!r->is_number()) bad_field(source, "preprocess.target_pad_ratio", "a number", r);
      m.preprocess.target_pad_ratio = r->get<double>();
    }
    m.preprocess.mean = get_triple(*pre, "preprocess.", "mean", source, m.preprocess.mean);
    m.preprocess.std = get_triple(*pre, "preprocess.", "std", source, m.preprocess.std);
  }
  m.embed_dim = static_cast<int>(get_int(j, "", "embed_dim", source, true, 0, 1));
  const std::string dtype = get_string(j, "", "vector_dtype", source, false, "fp16");
  if (dtype != "fp16" && dtype != "fp32") {
    const json found = dtype;
    bad_field(source, "vector_dtype", "\"fp16\" or \"fp32\"", &found);
  }
  m.dtype = parse_vector_dtype(dtype);
  m.vectors_per_item = static_cast<int>(get_int(j, "", "vectors_per_item", source, false, 1, 1));
  if (const json* parts = child(j, "row_parts")) {
    if (!parts->is_array()) bad_field(source, "row_parts", "an array of {name, dim}", parts);
    int64_t total = 0;
    for (size_t i = 0; i < parts->size(); ++i) {
      const json& part = (*parts)[i];
      const std::string prefix = "row_parts[" + std::to_string(i) + "].";
      if (!part.is_object()) bad_field(source, "row_parts[" + std::to_string(i) + "]", "an object", &part);
      RowPart rp;
      rp.name = get_string(part, prefix, "name", source, true);
      rp.dim = static_cast<int>(get_int(part, prefix, "dim", source, true, 0, 1));
      total += rp.dim;
      m.row_parts.push_back(std::move(rp));
    }
    if (!m.row_parts.empty() && total != m.embed_dim) {
      const json found = total;
      bad_field(source, "row_parts", "dims summing to embed_dim " + std::to_string(m.embed_dim), &found);
    }
  }
  if (const json* idx = child(j, "index")) {
    if (!idx->is_object()) bad_field(source, "index", "an object", idx);
    m.index_key = get_string(*idx, "index.", "key", source, false, "Flat");
    const std::string metric = get_string(*idx, "index.", "metric", source, false, "inner_product");
    if (metric != "inner_product") {
      const json found = metric;
      bad_field(source, "index.metric", "\"inner_product\"", &found);
    }
    m.memory_budget_bytes =
        get_int(*idx, "index.", "memory_budget_bytes", source, false, m.memory_budget_bytes, 1);
  }
  return m;
}

IndexManifest read_manifest(const std::string& dir) {
  const std::string path = dir + "/" + detail::kManifestFile;
  if (!file_exists(path)) throw Error(ErrorCode::kNotFound, "'" + dir + "' is not a cir index (no manifest.json)");
  return manifest_from_json(read_file_text(path), path);
}

}  // namespace cir::index
