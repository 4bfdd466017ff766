// The subset of pickle protocol 2 that torch.save writes (see torch_pickle.h).
#include "compose/torch_pickle.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <cstring>

#include "cir/core.h"

namespace cir::compose::detail {
namespace {

using P = std::shared_ptr<PyValue>;

P make(PyValue::Kind k) {
  auto v = std::make_shared<PyValue>();
  v->kind = k;
  return v;
}

at::ScalarType storage_dtype(const std::string& name) {
  static const std::map<std::string, at::ScalarType> types = {
      {"FloatStorage", at::kFloat}, {"DoubleStorage", at::kDouble}, {"HalfStorage", at::kHalf},
      {"BFloat16Storage", at::kBFloat16}, {"LongStorage", at::kLong}, {"IntStorage", at::kInt},
      {"ShortStorage", at::kShort}, {"CharStorage", at::kChar}, {"ByteStorage", at::kByte}, {"BoolStorage", at::kBool}};
  const auto dot = name.rfind('.');
  const auto it = types.find(dot == std::string::npos ? name : name.substr(dot + 1));
  if (it == types.end()) throw Error(ErrorCode::kUnsupported, "unsupported tensor storage type '" + name + "'");
  return it->second;
}

std::vector<int64_t> int_tuple(const P& v) {
  std::vector<int64_t> out;
  for (const auto& x : v->items) out.push_back(x->i);
  return out;
}

class Unpickler {
 public:
  Unpickler(const char* data, size_t size, caffe2::serialize::PyTorchStreamReader& reader)
      : begin_(data), p_(data), end_(data + size), reader_(reader) {}

  // Every failure names the byte of data.pkl it happened at (callers add the file).
  P run() {
    try {
      return run_opcodes();
    } catch (const Error& e) {
      throw Error(e.code(), "data.pkl at byte " + std::to_string(offset()) + ": " + e.what());
    }
  }

 private:
  size_t offset() const { return static_cast<size_t>(p_ - begin_); }

  P run_opcodes() {
    while (true) {
      const uint8_t op = byte();
      switch (op) {
        case 0x80: byte(); break;  // PROTO
        case 0x95: skip(8); break;  // FRAME
        case '}': push(make(PyValue::Kind::kDict)); break;
        case ']': push(make(PyValue::Kind::kList)); break;
        case ')': push(make(PyValue::Kind::kTuple)); break;
        case 'N': push(make(PyValue::Kind::kNone)); break;
        case 0x88: case 0x89: { auto v = make(PyValue::Kind::kBool); v->i = op == 0x88; push(v); break; }
        case 'K': push_int(byte()); break;
        case 'M': push_int(static_cast<int64_t>(le(2))); break;
        case 'J': push_int(static_cast<int32_t>(le(4))); break;
        case 0x8a: { const int n = byte(); push_int(static_cast<int64_t>(n == 0 ? 0 : le_signed(n))); break; }
        case 'G': { uint64_t bits = 0; for (int k = 0; k < 8; ++k) bits = (bits << 8) | byte(); auto v = make(PyValue::Kind::kFloat); std::memcpy(&v->f, &bits, 8); push(v); break; }
        case 'X': push_string(le(4)); break;
        case 0x8c: push_string(byte()); break;  // SHORT_BINUNICODE
        case 'U': push_string(byte()); break;   // SHORT_BINSTRING
        case 'q': memo_[byte()] = top(); break;
        case 'r': memo_[le(4)] = top(); break;
        case 'h': push(memo_get(byte())); break;
        case 'j': push(memo_get(le(4))); break;
        case '(': marks_.push_back(stack_.size()); break;
        case 't': { auto v = make(PyValue::Kind::kTuple); v->items = pop_mark(); push(v); break; }
        case 0x85: case 0x86: case 0x87: tuple_n(op - 0x84); break;
        case 'a': { auto x = pop(); top()->items.push_back(x); break; }
        case 'e': { auto xs = pop_mark(); auto& l = top()->items; l.insert(l.end(), xs.begin(), xs.end()); break; }
        case 's': { auto v = pop(); auto k = pop(); top()->dict.emplace_back(k, v); break; }
        case 'u': { auto xs = pop_mark(); for (size_t k = 0; k + 1 < xs.size(); k += 2) top()->dict.emplace_back(xs[k], xs[k + 1]); break; }
        case 'c': {  // GLOBAL "module\nname\n" (read in order: operand order of + is unspecified)
          auto v = make(PyValue::Kind::kGlobal);
          const std::string module = line();
          v->s = module + "." + line();
          push(v);
          break;
        }
        case 'Q': push(persistent(pop())); break;
        case 'R': { auto args = pop(); auto fn = pop(); push(reduce(fn, args)); break; }
        case 'b': pop(); break;  // BUILD: object state (OrderedDict _metadata, ...) is not needed
        case '.': return pop();
        default:
          throw Error(ErrorCode::kCorrupt, "unsupported pickle opcode 0x" + hex(op));
      }
    }
  }

  static std::string hex(uint8_t b) {
    const char* d = "0123456789abcdef";
    return std::string{d[b >> 4], d[b & 15]};
  }
  void need(size_t n) const {
    if (static_cast<size_t>(end_ - p_) < n) throw Error(ErrorCode::kCorrupt, "pickle ends early");
  }
  uint8_t byte() { need(1); return static_cast<uint8_t>(*p_++); }
  void skip(size_t n) { need(n); p_ += n; }
  uint64_t le(int n) { uint64_t x = 0; for (int k = 0; k < n; ++k) x |= uint64_t(byte()) << (8 * k); return x; }
  int64_t le_signed(int n) {
    const uint64_t x = le(n);
    if (n < 8 && (x >> (8 * n - 1)) & 1) return static_cast<int64_t>(x | (~uint64_t(0) << (8 * n)));
    return static_cast<int64_t>(x);
  }
  std::string line() {
    std::string s;
    while (true) { const char c = static_cast<char>(byte()); if (c == '\n') return s; s += c; }
  }
  // BINGET/LONG_BINGET of an index never PUT: the pickle is damaged (std::map::at would throw
  // std::out_of_range past the callers, which translate only cir::Error and c10::Error).
  P memo_get(uint64_t index) const {
    const auto it = memo_.find(index);
    if (it == memo_.end()) throw Error(ErrorCode::kCorrupt, "pickle refers to memo entry " + std::to_string(index) + " that was never stored");
    return it->second;
  }
  void push(P v) { stack_.push_back(std::move(v)); }
  void push_int(int64_t x) { auto v = make(PyValue::Kind::kInt); v->i = x; push(v); }
  void push_string(uint64_t n) { need(n); auto v = make(PyValue::Kind::kString); v->s.assign(p_, n); p_ += n; push(v); }
  P pop() { if (stack_.empty()) throw Error(ErrorCode::kCorrupt, "pickle stack underflow"); auto v = stack_.back(); stack_.pop_back(); return v; }
  P top() { if (stack_.empty()) throw Error(ErrorCode::kCorrupt, "pickle stack underflow"); return stack_.back(); }
  std::vector<P> pop_mark() {
    if (marks_.empty()) throw Error(ErrorCode::kCorrupt, "pickle MARK missing");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<P> xs(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return xs;
  }
  void tuple_n(int n) {
    auto v = make(PyValue::Kind::kTuple);
    v->items.resize(static_cast<size_t>(n));
    for (int k = n - 1; k >= 0; --k) v->items[static_cast<size_t>(k)] = pop();
    push(v);
  }
  // ('storage', <storage type global>, key, location, numel) -> the record data/<key>.
  P persistent(const P& pid) {
    if (pid->kind != PyValue::Kind::kTuple || pid->items.size() < 5)
      throw Error(ErrorCode::kCorrupt, "unexpected persistent id in pickle");
    const std::string key = pid->items[2]->s;
    const at::ScalarType dtype = storage_dtype(pid->items[1]->s);
    auto [data, size] = reader_.getRecord("data/" + key);
    const int64_t numel = static_cast<int64_t>(size / at::elementSize(dtype));
    auto v = make(PyValue::Kind::kStorage);
    v->s = key;
    v->tensor = torch::from_blob(data.get(), {numel}, at::TensorOptions().dtype(dtype)).clone();
    return v;
  }
  P reduce(const P& fn, const P& args) {
    const std::string name = fn->kind == PyValue::Kind::kGlobal ? fn->s : "";
    if (name == "collections.OrderedDict") return make(PyValue::Kind::kDict);
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      const auto& a = args->items;
      if (a.size() < 4 || a[0]->kind != PyValue::Kind::kStorage) throw Error(ErrorCode::kCorrupt, "bad tensor record in pickle");
      auto v = make(PyValue::Kind::kTensor);
      v->tensor = a[0]->tensor.as_strided(int_tuple(a[2]), int_tuple(a[3]), a[1]->i).clone();
      return v;
    }
    // libtorch's pickle_save tags typed containers: restore_type_tag(dict, "Dict[str, Tensor]").
    if ((name == "torch._utils._rebuild_parameter" || name == "torch.jit._pickle.restore_type_tag") && !args->items.empty())
      return args->items[0];
    auto v = make(PyValue::Kind::kOther);
    v->s = name;
    return v;
  }

  const char* begin_;  // declared before p_: members initialise in declaration order
  const char* p_;
  const char* end_;
  caffe2::serialize::PyTorchStreamReader& reader_;
  std::vector<P> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, P> memo_;
};

}  // namespace

std::string PyValue::kind_name() const {
  static const char* names[] = {"None", "bool", "int", "float", "str", "tuple", "list", "dict", "tensor", "global", "storage", "object"};
  return kind == Kind::kOther ? s : names[static_cast<int>(kind)];
}

std::shared_ptr<PyValue> load_torch_pickle(const std::string& path) {
  caffe2::serialize::PyTorchStreamReader reader(path);
  auto [data, size] = reader.getRecord("data.pkl");
  Unpickler u(static_cast<const char*>(data.get()), size, reader);
  return u.run();
}

}  // namespace cir::compose::detail
