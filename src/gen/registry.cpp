// gen.h's string-keyed registry of captioners and editors (architecture.md habit 2). Built-ins
// are added on first use; layers above gen add theirs (the shapes oracle, test fakes).
#include <mutex>

#include "gen/builtins.h"

namespace cir::gen {

namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, CaptionerFactory> captioners;
  std::map<std::string, EditorFactory> editors;

  Registry() {
    captioners["provider_vlm"] = make_provider_vlm;
    for (auto& [name, factory] : builtin_editors()) editors[name] = std::move(factory);
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

template <typename Map>
std::string joined_names(const Map& map) {
  std::string names;
  for (const auto& [name, factory] : map) names += (names.empty() ? "" : ", ") + name;
  return names;
}

template <typename Map>
std::vector<std::string> names_of(const Map& map) {
  std::vector<std::string> names;
  for (const auto& [name, factory] : map) names.push_back(name);
  return names;
}

}  // namespace

std::shared_ptr<const Captioner> make_captioner(const std::string& name, std::shared_ptr<Provider> provider,
                                                const CaptionerOptions& options) {
  CaptionerFactory factory;
  {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    auto it = r.captioners.find(name);
    if (it == r.captioners.end())
      throw Error(ErrorCode::kNotFound, "captioner '" + name + "' does not exist (known: " + joined_names(r.captioners) + ")");
    factory = it->second;
  }
  return factory(std::move(provider), options);
}

std::shared_ptr<const Editor> make_editor(const std::string& name, std::shared_ptr<Provider> provider,
                                          const SamplingOptions* sampling) {
  EditorFactory factory;
  {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    auto it = r.editors.find(name);
    if (it == r.editors.end())
      throw Error(ErrorCode::kNotFound, "editor '" + name + "' does not exist (known: " + joined_names(r.editors) + ")");
    factory = it->second;
  }
  return factory(std::move(provider), sampling);
}

void register_captioner(const std::string& name, CaptionerFactory factory) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.captioners[name] = std::move(factory);
}

void register_editor(const std::string& name, EditorFactory factory) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.editors[name] = std::move(factory);
}

std::vector<std::string> captioner_names() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  return names_of(r.captioners);
}

std::vector<std::string> editor_names() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  return names_of(r.editors);
}

}  // namespace cir::gen
