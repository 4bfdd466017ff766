// The subset of the pickle protocol (2 to 4) that torch.save writes (see torch_pickle.h), as a
// stack machine over an arena of values. Python's own rules are followed where they decide
// what a damaged pickle may do: a MARK opens a fresh stack frame that pops cannot cross, memo
// references must have been stored, and STOP returns the one value left.
#include "model/torch_pickle.h"

#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <optional>

#include "cir/core.h"

namespace cir::model::detail {
namespace {

using Kind = PyValue::Kind;

// torch.<Name>Storage -> element type. Only the class name counts: torch writes the legacy
// typed-storage globals (torch.FloatStorage) from 1.6 to 2.x.
std::optional<StorageDtype> storage_dtype_of(const std::string& global) {
  static const std::map<std::string, StorageDtype> kTypes = {
      {"FloatStorage", StorageDtype::kFloat32}, {"DoubleStorage", StorageDtype::kFloat64},
      {"HalfStorage", StorageDtype::kFloat16},  {"BFloat16Storage", StorageDtype::kBFloat16},
      {"LongStorage", StorageDtype::kInt64},    {"IntStorage", StorageDtype::kInt32},
      {"ShortStorage", StorageDtype::kInt16},   {"CharStorage", StorageDtype::kInt8},
      {"ByteStorage", StorageDtype::kUInt8},    {"BoolStorage", StorageDtype::kBool}};
  const size_t dot = global.rfind('.');
  const auto it = kTypes.find(dot == std::string::npos ? global : global.substr(dot + 1));
  if (it == kTypes.end()) return std::nullopt;
  return it->second;
}

bool is_sequence(const PyValue& v) { return v.kind == Kind::kTuple || v.kind == Kind::kList; }

class Unpickler {
 public:
  explicit Unpickler(std::string_view data) : data_(data) {}

  // Every failure names the byte of data.pkl it happened at (callers add the file).
  PyTree run() {
    try {
      while (step()) {
      }
      if (stack_.size() != 1) corrupt("the pickle left " + std::to_string(stack_.size()) + " values on the stack");
    } catch (const Error& e) {
      throw Error(e.code(), "data.pkl at byte " + std::to_string(pos_) + ": " + e.what());
    }
    const PyValue* root = stack_.back();
    return PyTree(std::move(values_), root);
  }

 private:
  [[noreturn]] static void corrupt(const std::string& what) { throw Error(ErrorCode::kCorrupt, what); }

  // --- reading the byte stream
  uint8_t byte() {
    if (pos_ >= data_.size()) corrupt("the pickle ends early");
    return static_cast<uint8_t>(data_[pos_++]);
  }
  std::string_view bytes(uint64_t n) {
    if (n > data_.size() - pos_) corrupt("a length of " + std::to_string(n) + " runs past the end");
    const std::string_view out = data_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return out;
  }
  uint64_t little_endian(size_t n) {
    const std::string_view b = bytes(n);
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= static_cast<uint64_t>(static_cast<uint8_t>(b[k])) << (8 * k);
    return v;
  }
  // LONG1: a two's-complement little-endian integer of n bytes (n <= 8 fits int64).
  int64_t long1() {
    const size_t n = byte();
    if (n > 8) corrupt("LONG1 of " + std::to_string(n) + " bytes does not fit 64 bits");
    if (n == 0) return 0;
    uint64_t v = little_endian(n);
    if (n < 8 && ((v >> (8 * n - 1)) & 1)) v |= ~uint64_t{0} << (8 * n);  // sign-extend
    return static_cast<int64_t>(v);
  }
  double binfloat() {  // big-endian IEEE double
    const std::string_view b = bytes(8);
    uint64_t bits = 0;
    for (const char c : b) bits = (bits << 8) | static_cast<uint8_t>(c);
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  std::string line() {
    const size_t end = data_.find('\n', pos_);
    if (end == std::string_view::npos) corrupt("unterminated GLOBAL line");
    std::string out(data_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return out;
  }

  // --- values (owned by values_, so cycles through memo references cannot leak)
  PyValue* make(Kind kind) {
    values_.push_back(std::make_unique<PyValue>());
    values_.back()->kind = kind;
    return values_.back().get();
  }
  PyValue* make_int(Kind kind, int64_t v) {
    PyValue* p = make(kind);
    p->i = v;
    return p;
  }
  PyValue* make_string(std::string_view s) {
    PyValue* p = make(Kind::kString);
    p->s.assign(s.data(), s.size());
    return p;
  }
  PyValue* make_sequence(Kind kind, std::vector<PyValue*> items) {
    PyValue* p = make(kind);
    p->items = std::move(items);
    return p;
  }

  // --- the stack: a MARK starts a frame that pops cannot cross (Python's metastack)
  size_t frame_start() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(PyValue* v) { stack_.push_back(v); }
  PyValue* top() const {
    if (stack_.size() <= frame_start()) corrupt("stack underflow");
    return stack_.back();
  }
  PyValue* pop() {
    PyValue* v = top();
    stack_.pop_back();
    return v;
  }
  std::vector<PyValue*> pop_to_mark() {
    if (marks_.empty()) corrupt("no MARK on the stack");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PyValue*> out(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return out;
  }
  void push_tuple_of(size_t n) {
    std::vector<PyValue*> items(n);
    for (size_t k = n; k-- > 0;) items[k] = pop();
    push(make_sequence(Kind::kTuple, std::move(items)));
  }

  // --- memo
  void memo_put(uint64_t key) { memo_[key] = top(); }
  PyValue* memo_get(uint64_t key) const {
    const auto it = memo_.find(key);
    if (it == memo_.end()) corrupt("memo entry " + std::to_string(key) + " was never stored");
    return it->second;
  }

  // --- containers. Opaque objects (kOther) take items too: Python would call their own
  // append / __setitem__, and nothing reads them.
  void append(PyValue* list, const std::vector<PyValue*>& xs) {
    if (list->kind != Kind::kList && list->kind != Kind::kOther) corrupt("APPEND(S) on a " + list->kind_name());
    list->items.insert(list->items.end(), xs.begin(), xs.end());
  }
  void set_items(PyValue* dict, const std::vector<PyValue*>& kv) {
    if (dict->kind != Kind::kDict && dict->kind != Kind::kOther) corrupt("SETITEM(S) on a " + dict->kind_name());
    if (kv.size() % 2 != 0) corrupt("SETITEMS with an odd number of values");
    for (size_t k = 0; k + 1 < kv.size(); k += 2) dict->dict.emplace_back(kv[k], kv[k + 1]);
  }
  static int64_t as_int(const PyValue& v, const std::string& what) {
    if (v.kind != Kind::kInt) corrupt(what + " is " + v.kind_name() + ", expected an integer");
    return v.i;
  }
  static std::vector<int64_t> int_sequence(const PyValue& v, const std::string& what) {
    if (!is_sequence(v)) corrupt(what + " is " + v.kind_name() + ", expected a tuple of integers");
    std::vector<int64_t> out;
    for (const PyValue* item : v.items) {
      const int64_t x = as_int(*item, what + " entry");
      if (x < 0) corrupt(what + " entry " + std::to_string(x) + " is negative");
      out.push_back(x);
    }
    return out;
  }

  // --- torch
  PyValue* persistent_load(const PyValue& pid);
  PyValue* reduce(const PyValue& callable, const PyValue& args);
  PyValue* rebuild_tensor(const std::string& name, const PyValue& args);
  PyValue* rebuild_parameter(const std::string& name, const PyValue& args);
  bool step();

  std::string_view data_;
  size_t pos_ = 0;
  std::vector<std::unique_ptr<PyValue>> values_;
  std::vector<PyValue*> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, PyValue*> memo_;
};

// pid = ("storage", storage type, key, location, numel): the record data/<key> holds the bytes.
PyValue* Unpickler::persistent_load(const PyValue& pid) {
  if (pid.kind != Kind::kTuple || pid.items.size() < 5) corrupt("persistent id is not a storage tuple");
  const PyValue& type = *pid.items[1];
  const PyValue& key = *pid.items[2];
  if (type.kind != Kind::kGlobal || key.kind != Kind::kString) corrupt("malformed storage id");
  const std::optional<StorageDtype> dtype = storage_dtype_of(type.s);
  if (!dtype) throw Error(ErrorCode::kUnsupported, "storage type " + type.s + " is not supported");
  const int64_t numel = as_int(*pid.items[4], "storage numel");
  int64_t n_bytes = 0;
  if (numel < 0 || __builtin_mul_overflow(numel, element_size(*dtype), &n_bytes))
    corrupt("storage '" + key.s + "' claims " + std::to_string(numel) + " elements");
  PyValue* storage = make(Kind::kStorage);
  storage->tensor.storage_key = key.s;
  storage->tensor.storage_type = type.s;
  storage->tensor.dtype = *dtype;
  storage->tensor.storage_numel = numel;
  return storage;
}

// _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) and the
// older _rebuild_tensor(storage, offset, size, stride). Every element the view reaches must
// lie inside the storage, so the torch side can take the view without further checks.
PyValue* Unpickler::rebuild_tensor(const std::string& name, const PyValue& args) {
  if (args.kind != Kind::kTuple || args.items.size() < 4)
    corrupt(name + " with " + std::to_string(args.items.size()) + " arguments");
  const PyValue& storage = *args.items[0];
  if (storage.kind != Kind::kStorage) corrupt(name + " without a storage");
  TensorRecord t = storage.tensor;
  t.storage_offset = as_int(*args.items[1], "tensor offset");
  t.sizes = int_sequence(*args.items[2], "tensor size");
  t.strides = int_sequence(*args.items[3], "tensor stride");
  if (args.items.size() > 4 && args.items[4]->kind == Kind::kBool) t.requires_grad = args.items[4]->i != 0;
  if (t.sizes.size() != t.strides.size()) corrupt(name + " with sizes and strides of different ranks");
  if (t.storage_offset < 0) corrupt(name + " with a negative storage offset");
  int64_t numel = 1, n_bytes = 0;
  for (const int64_t size : t.sizes)
    if (__builtin_mul_overflow(numel, size, &numel)) corrupt(name + " with a size whose element count overflows");
  if (__builtin_mul_overflow(numel, element_size(t.dtype), &n_bytes)) corrupt(name + " with a size whose byte count overflows");
  // The last element reached: offset + sum((size - 1) * stride), or the offset alone (which may
  // sit at the storage's end) for an empty tensor.
  int64_t last = t.storage_offset;
  bool inside = numel == 0 ? t.storage_offset <= t.storage_numel : true;
  for (size_t d = 0; numel > 0 && d < t.sizes.size(); ++d) {
    int64_t step = 0;
    if (__builtin_mul_overflow(t.sizes[d] - 1, t.strides[d], &step) || __builtin_add_overflow(last, step, &last)) {
      inside = false;
      break;
    }
  }
  if (numel > 0) inside = inside && last < t.storage_numel;
  if (!inside) corrupt(name + " reaches past its storage of " + std::to_string(t.storage_numel) + " elements");
  PyValue* tensor = make(Kind::kTensor);
  tensor->tensor = std::move(t);
  return tensor;
}

// _rebuild_parameter(data, requires_grad, hooks) / Parameter(data, requires_grad): the tensor.
PyValue* Unpickler::rebuild_parameter(const std::string& name, const PyValue& args) {
  if (args.kind != Kind::kTuple || args.items.empty() || args.items[0]->kind != Kind::kTensor)
    corrupt(name + " without a tensor");
  PyValue* parameter = make(Kind::kTensor);
  parameter->tensor = args.items[0]->tensor;  // a copy: the data tensor may be shared via the memo
  if (args.items.size() > 1 && args.items[1]->kind == Kind::kBool) parameter->tensor.requires_grad = args.items[1]->i != 0;
  return parameter;
}

PyValue* Unpickler::reduce(const PyValue& callable, const PyValue& args) {
  const std::string name = callable.kind == Kind::kGlobal ? callable.s : "";
  if (name == "collections.OrderedDict" || name == "builtins.dict") return make(Kind::kDict);
  if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") return rebuild_tensor(name, args);
  if (name == "torch._utils._rebuild_parameter" || name == "torch.nn.parameter.Parameter")
    return rebuild_parameter(name, args);
  // libtorch's pickle_save tags typed containers: restore_type_tag(dict, "Dict[str, Tensor]").
  if (name == "torch.jit._pickle.restore_type_tag" && args.kind == Kind::kTuple && !args.items.empty())
    return args.items[0];
  PyValue* opaque = make(Kind::kOther);
  opaque->s = name;
  return opaque;
}

// Executes one opcode; false at STOP.
bool Unpickler::step() {
  const uint8_t op = byte();
  switch (op) {
    case 0x80: byte(); break;                          // PROTO
    case 0x95: little_endian(8); break;                // FRAME (protocol 4)
    case '.': return false;                            // STOP
    case '(': marks_.push_back(stack_.size()); break;  // MARK
    case '}': push(make(Kind::kDict)); break;          // EMPTY_DICT
    case ']': push(make(Kind::kList)); break;          // EMPTY_LIST
    case ')': push(make(Kind::kTuple)); break;         // EMPTY_TUPLE
    case 'N': push(make(Kind::kNone)); break;          // NONE
    case 0x88: push(make_int(Kind::kBool, 1)); break;  // NEWTRUE
    case 0x89: push(make_int(Kind::kBool, 0)); break;  // NEWFALSE
    case 'J': push(make_int(Kind::kInt, static_cast<int32_t>(little_endian(4)))); break;  // BININT
    case 'K': push(make_int(Kind::kInt, byte())); break;                                 // BININT1
    case 'M': push(make_int(Kind::kInt, static_cast<int64_t>(little_endian(2)))); break; // BININT2
    case 0x8a: push(make_int(Kind::kInt, long1())); break;                               // LONG1
    case 'G': {                                                                          // BINFLOAT
      PyValue* f = make(Kind::kFloat);
      f->f = binfloat();
      push(f);
      break;
    }
    case 'X': push(make_string(bytes(little_endian(4)))); break;   // BINUNICODE
    case 0x8c: push(make_string(bytes(byte()))); break;            // SHORT_BINUNICODE
    case 0x8d: push(make_string(bytes(little_endian(8)))); break;  // BINUNICODE8
    case 'T': push(make_string(bytes(little_endian(4)))); break;   // BINSTRING
    case 'U': push(make_string(bytes(byte()))); break;             // SHORT_BINSTRING
    case 'c': {                                                    // GLOBAL "module\nname\n"
      PyValue* g = make(Kind::kGlobal);
      const std::string module = line();  // two statements: operand order of + is unspecified
      g->s = module + "." + line();
      push(g);
      break;
    }
    case 0x93: {                                                   // STACK_GLOBAL
      const PyValue* name = pop();
      const PyValue* module = pop();
      if (name->kind != Kind::kString || module->kind != Kind::kString) corrupt("STACK_GLOBAL of non-strings");
      PyValue* g = make(Kind::kGlobal);
      g->s = module->s + "." + name->s;
      push(g);
      break;
    }
    case 'q': memo_put(byte()); break;               // BINPUT
    case 'r': memo_put(little_endian(4)); break;     // LONG_BINPUT
    case 0x94: memo_put(memo_.size()); break;        // MEMOIZE
    case 'h': push(memo_get(byte())); break;         // BINGET
    case 'j': push(memo_get(little_endian(4))); break;  // LONG_BINGET
    case 't': push(make_sequence(Kind::kTuple, pop_to_mark())); break;  // TUPLE
    case 0x85: case 0x86: case 0x87: push_tuple_of(op - 0x84u); break;  // TUPLE1..3
    case 'l': push(make_sequence(Kind::kList, pop_to_mark())); break;   // LIST
    case 'a': {                                                        // APPEND
      PyValue* v = pop();
      append(top(), {v});
      break;
    }
    case 'e': {                                                        // APPENDS
      const std::vector<PyValue*> vs = pop_to_mark();
      append(top(), vs);
      break;
    }
    case 'd': {                                                        // DICT
      const std::vector<PyValue*> kv = pop_to_mark();
      PyValue* d = make(Kind::kDict);
      set_items(d, kv);
      push(d);
      break;
    }
    case 's': {                                                        // SETITEM
      PyValue* value = pop();
      PyValue* key = pop();
      set_items(top(), {key, value});
      break;
    }
    case 'u': {                                                        // SETITEMS
      const std::vector<PyValue*> kv = pop_to_mark();
      set_items(top(), kv);
      break;
    }
    case 'R': {                                                        // REDUCE
      const PyValue* args = pop();
      const PyValue* callable = pop();
      push(reduce(*callable, *args));
      break;
    }
    case 'b':  // BUILD: object state (OrderedDict._metadata) is not needed; the object stays
      pop();
      top();
      break;
    case 'Q': push(persistent_load(*pop())); break;                    // BINPERSID
    default: {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", op);
      corrupt(std::string("pickle opcode ") + hex + " is not supported (not a plain state dict?)");
    }
  }
  return true;
}

}  // namespace

int64_t element_size(StorageDtype dtype) {
  switch (dtype) {
    case StorageDtype::kFloat64: case StorageDtype::kInt64: return 8;
    case StorageDtype::kFloat32: case StorageDtype::kInt32: return 4;
    case StorageDtype::kFloat16: case StorageDtype::kBFloat16: case StorageDtype::kInt16: return 2;
    case StorageDtype::kInt8: case StorageDtype::kUInt8: case StorageDtype::kBool: return 1;
  }
  return 1;
}

std::string_view dtype_name(StorageDtype dtype) {
  switch (dtype) {
    case StorageDtype::kFloat32: return "float32";
    case StorageDtype::kFloat64: return "float64";
    case StorageDtype::kFloat16: return "float16";
    case StorageDtype::kBFloat16: return "bfloat16";
    case StorageDtype::kInt64: return "int64";
    case StorageDtype::kInt32: return "int32";
    case StorageDtype::kInt16: return "int16";
    case StorageDtype::kInt8: return "int8";
    case StorageDtype::kUInt8: return "uint8";
    case StorageDtype::kBool: return "bool";
  }
  return "?";
}

int64_t TensorRecord::numel() const {
  int64_t n = 1;
  for (const int64_t size : sizes) n *= size;  // cannot overflow: checked when unpickled
  return n;
}

std::string PyValue::kind_name() const {
  static const char* names[] = {"None", "bool", "int", "float", "str", "tuple", "list", "dict", "tensor", "global", "storage", "object"};
  if (kind == Kind::kOther) return s.empty() ? "object" : s;
  return names[static_cast<int>(kind)];
}

PyTree unpickle_torch_save(std::string_view pickle) { return Unpickler(pickle).run(); }

}  // namespace cir::model::detail
