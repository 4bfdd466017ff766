// The one registry of composition methods: adding a method is one factory and one line here.
#include <algorithm>
#include <map>
#include <mutex>

#include "baselines.h"
#include "compose/methods.h"
#include "compose/ziracle.h"

namespace cir::compose {
namespace {

using Factory = std::function<std::shared_ptr<const Method>()>;

struct Registry {
  std::mutex mutex;
  std::map<std::string, Factory> factories;
  std::map<std::string, std::shared_ptr<const Method>> instances;

  Registry() {
    factories["image"] = make_image_only;
    factories["text"] = make_text_only;
    factories["sum"] = make_sum;
    factories["raw-sum"] = make_raw_sum;
    factories["searle"] = make_searle;
    factories["searle-oti"] = make_searle_oti;
    factories["pic2word"] = make_pic2word;
    factories["seize"] = make_seize;
    factories["ldre"] = make_ldre;
    factories["cirevl"] = make_cirevl;
    factories["combiner"] = make_combiner;
    factories["spn"] = make_spn;
    factories["sprc"] = make_sprc;
    factories["ziracle"] = make_ziracle;
    factories["ziracle-image"] = make_ziracle_image;
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

void register_method(const std::string& name, Factory factory) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.factories[name] = std::move(factory);
  r.instances.erase(name);
}

std::vector<std::string> method_names() {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& [name, _] : r.factories) names.push_back(name);
  return names;
}

std::shared_ptr<const Method> find_method(const std::string& name) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (auto it = r.instances.find(name); it != r.instances.end()) return it->second;
  auto it = r.factories.find(name);
  if (it == r.factories.end()) {
    std::string known;
    for (const auto& [n, _] : r.factories) known += (known.empty() ? "" : ", ") + n;
    throw Error(ErrorCode::kNotFound, "unknown method '" + name + "' (known: " + known + ")");
  }
  auto method = it->second();
  r.instances[name] = method;
  return method;
}

}  // namespace cir::compose
