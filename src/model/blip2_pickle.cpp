// Reading torch.save checkpoints (the zip format of torch >= 1.6) without Python: the archive's
// records come from libtorch's PyTorchStreamReader, and data.pkl is interpreted by the small
// unpickler below. libtorch 1.13's own unpickler (behind torch::pickle_load and
// readArchiveAndTensors) cannot be used: it lacks the SETITEM opcode, which Python's pickler
// emits for every one-entry dict, e.g. LAVIS's {"model": state_dict}.
//
// Only what state dicts hold is understood: dicts (OrderedDict included), lists, tuples, strings,
// numbers, booleans, None, and tensors (torch._utils._rebuild_tensor_v2 / _rebuild_parameter over
// persistent-id storages). Any other callable yields an opaque value, an error only if a tensor
// is built from it.
#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/blip2_net.h"

namespace cir::model::detail {
namespace {

struct PyValue;
using PyPtr = std::shared_ptr<PyValue>;

struct PyValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kGlobal, kStorage, kTensor, kOpaque };
  Kind kind = Kind::kNone;
  int64_t integer = 0;
  double number = 0;
  std::string text;                             // string; "module.name" for globals
  std::vector<PyPtr> items;                     // tuple / list
  std::vector<std::pair<PyPtr, PyPtr>> entries;  // dict, in insertion order
  at::Tensor tensor;                            // storage (1-D) or tensor
};

PyPtr make(PyValue::Kind kind) {
  auto v = std::make_shared<PyValue>();
  v->kind = kind;
  return v;
}

class Unpickler {
 public:
  Unpickler(const std::string& path, caffe2::serialize::PyTorchStreamReader& reader, std::string data, bool read_tensors)
      : path_(path), reader_(reader), data_(std::move(data)), read_tensors_(read_tensors) {}

  PyPtr run();

 private:
  [[noreturn]] void corrupt(const std::string& what) const {
    throw Error(ErrorCode::kCorrupt, "'" + path_ + "' data.pkl at byte " + std::to_string(pos_) + ": " + what);
  }
  uint8_t byte() {
    if (pos_ >= data_.size()) corrupt("unexpected end of the pickle");
    return static_cast<uint8_t>(data_[pos_++]);
  }
  std::string bytes(size_t n) {
    if (n > data_.size() - pos_) corrupt("a length of " + std::to_string(n) + " runs past the end");
    std::string out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  uint64_t little_endian(size_t n) {
    const std::string b = bytes(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(b[i])) << (8 * i);
    return v;
  }
  std::string line() {
    const size_t end = data_.find('\n', pos_);
    if (end == std::string::npos) corrupt("unterminated GLOBAL line");
    std::string out = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return out;
  }
  PyPtr pop() {
    if (stack_.empty()) corrupt("stack underflow");
    PyPtr v = stack_.back();
    stack_.pop_back();
    return v;
  }
  std::vector<PyPtr> pop_to_mark() {
    if (marks_.empty()) corrupt("no MARK on the stack");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PyPtr> out(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return out;
  }
  PyPtr top() {
    if (stack_.empty()) corrupt("stack underflow");
    return stack_.back();
  }
  PyPtr integer(int64_t v) {
    PyPtr p = make(PyValue::Kind::kInt);
    p->integer = v;
    return p;
  }
  PyPtr string_value(std::string s) {
    PyPtr p = make(PyValue::Kind::kString);
    p->text = std::move(s);
    return p;
  }
  PyPtr tuple(std::vector<PyPtr> items) {
    PyPtr p = make(PyValue::Kind::kTuple);
    p->items = std::move(items);
    return p;
  }
  void set_items(const PyPtr& dict, const std::vector<PyPtr>& kv) {
    if (dict->kind != PyValue::Kind::kDict) corrupt("SETITEM(S) on a non-dict");
    for (size_t i = 0; i + 1 < kv.size(); i += 2) dict->entries.emplace_back(kv[i], kv[i + 1]);
  }
  int64_t as_int(const PyPtr& v, const char* what) {
    if (v->kind != PyValue::Kind::kInt) corrupt(std::string(what) + " is not an integer");
    return v->integer;
  }
  std::vector<int64_t> int_tuple(const PyPtr& v, const char* what) {
    std::vector<int64_t> out;
    for (const PyPtr& item : v->items) out.push_back(as_int(item, what));
    return out;
  }
  PyPtr load_storage(const PyPtr& pid);
  PyPtr reduce(const PyPtr& callable, const PyPtr& args);
  bool step();

  std::string path_;
  caffe2::serialize::PyTorchStreamReader& reader_;
  std::string data_;
  bool read_tensors_ = true;  // false: storages become meta tensors (shapes and dtypes, no bytes)
  size_t pos_ = 0;
  std::vector<PyPtr> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, PyPtr> memo_;
  std::map<std::string, PyPtr> storages_;
};

// torch.<Type>Storage -> element type.
at::ScalarType storage_dtype(const std::string& global) {
  static const std::map<std::string, at::ScalarType> kTypes = {
      {"torch.FloatStorage", at::kFloat},   {"torch.HalfStorage", at::kHalf},   {"torch.BFloat16Storage", at::kBFloat16},
      {"torch.DoubleStorage", at::kDouble}, {"torch.LongStorage", at::kLong},   {"torch.IntStorage", at::kInt},
      {"torch.ShortStorage", at::kShort},   {"torch.CharStorage", at::kChar},   {"torch.ByteStorage", at::kByte},
      {"torch.BoolStorage", at::kBool}};
  const auto it = kTypes.find(global);
  return it == kTypes.end() ? at::ScalarType::Undefined : it->second;
}

// pid = ("storage", storage type, key, location, numel): the record data/<key> holds the bytes.
PyPtr Unpickler::load_storage(const PyPtr& pid) {
  if (pid->kind != PyValue::Kind::kTuple || pid->items.size() < 5) corrupt("persistent id is not a storage tuple");
  const PyPtr& type = pid->items[1];
  const PyPtr& key = pid->items[2];
  if (type->kind != PyValue::Kind::kGlobal || key->kind != PyValue::Kind::kString) corrupt("malformed storage id");
  if (auto it = storages_.find(key->text); it != storages_.end()) return it->second;
  const at::ScalarType dtype = storage_dtype(type->text);
  if (dtype == at::ScalarType::Undefined)
    throw Error(ErrorCode::kUnsupported, "'" + path_ + "': storage type " + type->text + " is not supported");
  const int64_t numel = as_int(pid->items[4], "storage numel");
  const std::string record = "data/" + key->text;
  if (!reader_.hasRecord(record)) corrupt("storage record '" + record + "' is missing from the archive");
  if (!read_tensors_) {
    PyPtr storage = make(PyValue::Kind::kStorage);
    storage->tensor = at::empty({numel}, at::TensorOptions().dtype(dtype).device(c10::kMeta));
    storages_[key->text] = storage;
    return storage;
  }
  auto [data, size] = reader_.getRecord(record);
  const size_t need = static_cast<size_t>(numel) * at::elementSize(dtype);
  if (size < need) corrupt("storage '" + record + "' holds " + std::to_string(size) + " bytes, expected " + std::to_string(need));
  PyPtr storage = make(PyValue::Kind::kStorage);
  storage->tensor = at::empty({numel}, at::TensorOptions().dtype(dtype));
  if (need > 0) std::memcpy(storage->tensor.data_ptr(), data.get(), need);
  storages_[key->text] = storage;
  return storage;
}

PyPtr Unpickler::reduce(const PyPtr& callable, const PyPtr& args) {
  const std::string name = callable->kind == PyValue::Kind::kGlobal ? callable->text : "";
  if (name == "collections.OrderedDict" || name == "builtins.dict") return make(PyValue::Kind::kDict);
  if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
    if (args->items.size() < 4) corrupt(name + " with " + std::to_string(args->items.size()) + " arguments");
    const PyPtr& storage = args->items[0];
    if (storage->kind != PyValue::Kind::kStorage) corrupt(name + " without a storage");
    PyPtr t = make(PyValue::Kind::kTensor);
    const int64_t offset = as_int(args->items[1], "tensor offset");
    const std::vector<int64_t> sizes = int_tuple(args->items[2], "tensor size");
    const std::vector<int64_t> strides = int_tuple(args->items[3], "tensor stride");
    if (sizes.size() != strides.size()) corrupt(name + " with sizes and strides of different ranks");
    int64_t last = offset;
    for (size_t d = 0; d < sizes.size(); ++d) last += sizes[d] > 0 ? (sizes[d] - 1) * strides[d] : 0;
    if (offset < 0 || last >= std::max<int64_t>(storage->tensor.numel(), 1))
      corrupt(name + " reaches past its storage of " + std::to_string(storage->tensor.numel()) + " elements");
    t->tensor = storage->tensor.as_strided(sizes, strides, offset).clone();
    return t;
  }
  if (name == "torch._utils._rebuild_parameter" || name == "torch.nn.parameter.Parameter") {
    if (args->items.empty() || args->items[0]->kind != PyValue::Kind::kTensor) corrupt(name + " without a tensor");
    return args->items[0];
  }
  // libtorch's pickle_save (cir's own torch.save writer) tags typed containers:
  // restore_type_tag(dict, "Dict[str, Tensor]"); the value is the first argument.
  if (name == "torch.jit._pickle.restore_type_tag") {
    if (args->items.empty()) corrupt(name + " without a value");
    return args->items[0];
  }
  PyPtr opaque = make(PyValue::Kind::kOpaque);
  opaque->text = name;
  return opaque;
}

// Executes one opcode; false at STOP.
bool Unpickler::step() {
  using K = PyValue::Kind;
  const uint8_t op = byte();
  switch (op) {
    case 0x80: byte(); break;                       // PROTO
    case 0x95: little_endian(8); break;             // FRAME (protocol 4)
    case '.': return false;                         // STOP
    case '(': marks_.push_back(stack_.size()); break;  // MARK
    case '}': stack_.push_back(make(K::kDict)); break;
    case ']': stack_.push_back(make(K::kList)); break;
    case ')': stack_.push_back(tuple({})); break;
    case 'N': stack_.push_back(make(K::kNone)); break;
    case 0x88: case 0x89: {                         // NEWTRUE / NEWFALSE
      PyPtr b = make(K::kBool);
      b->integer = op == 0x88;
      stack_.push_back(b);
      break;
    }
    case 'J': stack_.push_back(integer(static_cast<int32_t>(little_endian(4)))); break;  // BININT
    case 'K': stack_.push_back(integer(byte())); break;                                 // BININT1
    case 'M': stack_.push_back(integer(static_cast<int64_t>(little_endian(2)))); break; // BININT2
    case 0x8a: {                                    // LONG1
      const size_t n = byte();
      if (n > 8) corrupt("LONG1 of " + std::to_string(n) + " bytes");
      uint64_t v = n ? little_endian(n) : 0;
      if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
      stack_.push_back(integer(static_cast<int64_t>(v)));
      break;
    }
    case 'G': {                                     // BINFLOAT, big-endian
      const std::string b = bytes(8);
      uint64_t bits = 0;
      for (const char c : b) bits = (bits << 8) | static_cast<uint8_t>(c);
      PyPtr f = make(K::kFloat);
      std::memcpy(&f->number, &bits, sizeof bits);
      stack_.push_back(f);
      break;
    }
    case 'X': stack_.push_back(string_value(bytes(little_endian(4)))); break;  // BINUNICODE
    case 0x8c: stack_.push_back(string_value(bytes(byte()))); break;           // SHORT_BINUNICODE
    case 0x8d: stack_.push_back(string_value(bytes(little_endian(8)))); break; // BINUNICODE8
    case 'T': stack_.push_back(string_value(bytes(little_endian(4)))); break;  // BINSTRING
    case 'U': stack_.push_back(string_value(bytes(byte()))); break;            // SHORT_BINSTRING
    case 'c': {                                                                // GLOBAL
      PyPtr g = make(K::kGlobal);
      const std::string module = line();
      g->text = module + "." + line();
      stack_.push_back(g);
      break;
    }
    case 0x93: {                                                               // STACK_GLOBAL
      const PyPtr name = pop(), module = pop();
      PyPtr g = make(K::kGlobal);
      g->text = module->text + "." + name->text;
      stack_.push_back(g);
      break;
    }
    case 'q': memo_[byte()] = top(); break;                   // BINPUT
    case 'r': memo_[little_endian(4)] = top(); break;         // LONG_BINPUT
    case 0x94: memo_[memo_.size()] = top(); break;            // MEMOIZE
    case 'h': case 'j': {                                     // BINGET / LONG_BINGET
      const uint64_t key = op == 'h' ? byte() : little_endian(4);
      const auto it = memo_.find(key);
      if (it == memo_.end()) corrupt("memo key " + std::to_string(key) + " is unset");
      stack_.push_back(it->second);
      break;
    }
    case 't': stack_.push_back(tuple(pop_to_mark())); break;  // TUPLE
    case 0x85: case 0x86: case 0x87: {                        // TUPLE1..3
      std::vector<PyPtr> items(static_cast<size_t>(op - 0x84));
      for (size_t i = items.size(); i-- > 0;) items[i] = pop();
      stack_.push_back(tuple(std::move(items)));
      break;
    }
    case 'l': {                                               // LIST
      PyPtr l = make(K::kList);
      l->items = pop_to_mark();
      stack_.push_back(l);
      break;
    }
    case 'a': {                                               // APPEND
      const PyPtr v = pop();
      top()->items.push_back(v);
      break;
    }
    case 'e': {                                               // APPENDS
      const std::vector<PyPtr> vs = pop_to_mark();
      const PyPtr l = top();
      l->items.insert(l->items.end(), vs.begin(), vs.end());
      break;
    }
    case 'd': {                                               // DICT
      const std::vector<PyPtr> kv = pop_to_mark();
      PyPtr d = make(K::kDict);
      set_items(d, kv);
      stack_.push_back(d);
      break;
    }
    case 's': {                                               // SETITEM
      const PyPtr value = pop(), key = pop();
      set_items(top(), {key, value});
      break;
    }
    case 'u': {                                               // SETITEMS
      const std::vector<PyPtr> kv = pop_to_mark();
      set_items(top(), kv);
      break;
    }
    case 'R': {                                               // REDUCE
      const PyPtr args = pop(), callable = pop();
      stack_.push_back(reduce(callable, args));
      break;
    }
    case 'b': pop(); break;  // BUILD: object state (OrderedDict._metadata); not needed
    case 'Q': stack_.push_back(load_storage(pop())); break;   // BINPERSID
    default: {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", op);
      corrupt(std::string("pickle opcode ") + hex + " is not supported (not a plain state dict?)");
    }
  }
  return true;
}

PyPtr Unpickler::run() {
  while (step()) {
  }
  if (stack_.size() != 1) corrupt("the pickle left " + std::to_string(stack_.size()) + " values on the stack");
  return stack_.back();
}

}  // namespace

TorchCheckpoint read_torch_checkpoint(const std::string& path, bool read_tensors) {
  if (!file_exists(path)) throw Error(ErrorCode::kNotFound, "checkpoint '" + path + "' does not exist");
  PyPtr root;
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    if (!reader.hasRecord("data.pkl"))
      throw Error(ErrorCode::kCorrupt, "'" + path + "' is a zip without data.pkl: not a torch.save checkpoint");
    auto [data, size] = reader.getRecord("data.pkl");
    Unpickler unpickler(path, reader, std::string(static_cast<const char*>(data.get()), size), read_tensors);
    root = unpickler.run();
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kCorrupt, "'" + path + "' is not a readable torch.save checkpoint (zip format, torch >= 1.6): " +
                                         e.what_without_backtrace());
  }
  TorchCheckpoint out;
  out.path = path;
  if (root->kind != PyValue::Kind::kDict) return out;
  for (const auto& [key, value] : root->entries) {
    if (key->kind != PyValue::Kind::kString) continue;
    out.top_keys.push_back(key->text);
    if (value->kind == PyValue::Kind::kInt) out.integers[key->text] = value->integer;
    if (value->kind == PyValue::Kind::kTensor) out.root_tensors.emplace_back(key->text, value->tensor);
    if (value->kind != PyValue::Kind::kDict) continue;
    auto& tensors = out.state_dicts[key->text];
    for (const auto& [name, item] : value->entries)
      if (name->kind == PyValue::Kind::kString && item->kind == PyValue::Kind::kTensor) tensors.emplace_back(name->text, item->tensor);
  }
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> read_lavis_state_dict(const std::string& path) {
  if (!file_exists(path)) throw Error(ErrorCode::kNotFound, "LAVIS checkpoint '" + path + "' does not exist");
  TorchCheckpoint checkpoint = read_torch_checkpoint(path, /*read_tensors=*/true);
  const auto model = checkpoint.state_dicts.find("model");
  if (model == checkpoint.state_dicts.end())
    throw Error(ErrorCode::kCorrupt, "'" + path + "' has no \"model\" state dict (expected torch.save({\"model\": state_dict}))");
  return std::move(model->second);
}

}  // namespace cir::model::detail
