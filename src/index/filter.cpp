// Filter trees: builders, the CLI expression language (grammar in include/cir/index.h) and the
// Qdrant-style JSON form. Evaluation against SQLite lives in store_filter.cpp.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "cir/index.h"

namespace cir::index {
namespace {

bool is_word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == ':' || c == '/' || c == '@' ||
         c == '+' || c == '-';
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool is_keyword(const std::string& word) {
  const std::string u = upper(word);
  return u == "AND" || u == "OR" || u == "NOT" || u == "IN" || u == "EXISTS";
}

// A word spelled entirely as a finite number (so "2020-01-01" or "v2" stay text).
std::optional<double> as_number(const std::string& word) {
  if (word.empty()) return std::nullopt;
  const char c = word[0];
  if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.')) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(word.c_str(), &end);
  if (end != word.c_str() + word.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string format_number(double v) {
  char buf[40];
  for (int precision : {15, 17}) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string word_or_quoted(const std::string& s) {
  bool plain = !s.empty() && !is_keyword(s) && !as_number(s);
  for (char c : s) plain = plain && is_word_char(c);
  return plain ? s : quote(s);
}

std::string value_text(const MetaValue& v) {
  if (const double* d = std::get_if<double>(&v)) return format_number(*d);
  return word_or_quoted(std::get<std::string>(v));
}

const char* op_text(Condition::Op op) {
  switch (op) {
    case Condition::Op::kEq: return "=";
    case Condition::Op::kNe: return "!=";
    case Condition::Op::kLt: return "<";
    case Condition::Op::kLe: return "<=";
    case Condition::Op::kGt: return ">";
    case Condition::Op::kGe: return ">=";
    case Condition::Op::kIn: return "IN";
    case Condition::Op::kNotIn: return "NOT IN";
    case Condition::Op::kExists: return "EXISTS";
  }
  return "?";
}

bool is_range(Condition::Op op) {
  return op == Condition::Op::kLt || op == Condition::Op::kLe || op == Condition::Op::kGt || op == Condition::Op::kGe;
}

// Error messages quote the user's filter; a request may carry kilobytes of it, so quotes are cut
// at 120 bytes (on a UTF-8 character boundary, so the message stays valid UTF-8).
std::string shorten(std::string_view text) {
  constexpr size_t kMaxQuoted = 120;
  if (text.size() <= kMaxQuoted) return std::string(text);
  size_t cut = kMaxQuoted;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "... (" + std::to_string(text.size()) + " bytes)";
}

// ---------------------------------------------------------------------------------------------
// Expression language

struct Token {
  enum Kind { kWord, kNumber, kString, kOp, kLParen, kRParen, kComma, kAnd, kOr, kBang, kEnd } kind = kEnd;
  std::string text;
  double number = 0;
  size_t column = 0;  // 1-based
};

class Parser {
 public:
  explicit Parser(std::string_view expr) : expr_(expr) { tokenize(); }

  Filter parse() {
    if (tokens_[0].kind == Token::kEnd) return Filter{};
    Filter f = parse_or();
    if (peek().kind != Token::kEnd) fail("AND, OR or the end of the filter", peek());
    return f;
  }

 private:
  [[noreturn]] void fail(const std::string& expected, const Token& found) const {
    std::string got = found.kind == Token::kEnd ? "end of input" : "'" + shorten(found.text) + "'";
    throw Error(ErrorCode::kInvalidArgument, "filter '" + shorten(expr_) + "': at column " +
                                                 std::to_string(found.column) + ": expected " + expected +
                                                 ", found " + got);
  }

  // Each NOT and each parenthesis nests one level of recursion here and in the tree's
  // evaluation, printing and destruction; a hostile filter ('(' x 8,000 or '!' x 30,000 in a
  // 16 KB request) would otherwise exhaust the stack. The guard counts the levels open.
  class NestingGuard {
   public:
    NestingGuard(Parser& parser, const Token& at) : parser_(parser) {
      if (++parser_.depth_ > kMaxFilterDepth)
        throw Error(ErrorCode::kInvalidArgument,
                    "filter '" + shorten(parser_.expr_) + "': at column " + std::to_string(at.column) +
                        ": nested deeper than " + std::to_string(kMaxFilterDepth) +
                        " levels of NOT and parentheses (the limit)");
    }
    ~NestingGuard() { --parser_.depth_; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;

   private:
    Parser& parser_;
  };

  void tokenize() {
    size_t i = 0;
    while (true) {
      while (i < expr_.size() && std::isspace(static_cast<unsigned char>(expr_[i]))) ++i;
      Token t;
      t.column = i + 1;
      if (i >= expr_.size()) {
        tokens_.push_back(t);
        return;
      }
      const char c = expr_[i];
      if (c == '"' || c == '\'') {
        t.kind = Token::kString;
        size_t j = i + 1;
        bool closed = false;
        for (; j < expr_.size(); ++j) {
          if (expr_[j] == '\\' && j + 1 < expr_.size()) {
            t.text += expr_[++j];
          } else if (expr_[j] == c) {
            closed = true;
            break;
          } else {
            t.text += expr_[j];
          }
        }
        if (!closed) {
          Token end;
          end.column = expr_.size() + 1;
          fail(std::string("a closing ") + c + " for the string opened at column " + std::to_string(i + 1), end);
        }
        i = j + 1;
      } else if (is_word_char(c)) {
        size_t j = i;
        while (j < expr_.size() && is_word_char(expr_[j])) ++j;
        t.text = std::string(expr_.substr(i, j - i));
        if (auto n = as_number(t.text)) {
          t.kind = Token::kNumber;
          t.number = *n;
        } else {
          t.kind = Token::kWord;
        }
        i = j;
      } else if (c == '(' || c == ')' || c == ',') {
        t.kind = c == '(' ? Token::kLParen : c == ')' ? Token::kRParen : Token::kComma;
        t.text = std::string(1, c);
        ++i;
      } else if (expr_.substr(i, 2) == "&&" || expr_.substr(i, 2) == "||") {
        t.kind = c == '&' ? Token::kAnd : Token::kOr;
        t.text = std::string(expr_.substr(i, 2));
        i += 2;
      } else if (c == '=' || c == '<' || c == '>' || c == '!') {
        const bool two = i + 1 < expr_.size() && expr_[i + 1] == '=';
        t.text = std::string(expr_.substr(i, two ? 2 : 1));
        t.kind = (c == '!' && !two) ? Token::kBang : Token::kOp;
        i += two ? 2 : 1;
      } else {
        t.kind = Token::kWord;
        t.text = std::string(1, c);
        fail("a key, value, operator or parenthesis", t);
      }
      tokens_.push_back(t);
    }
  }

  const Token& peek() const { return tokens_[pos_]; }
  const Token& next() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }
  bool peek_keyword(const char* kw) const { return peek().kind == Token::kWord && upper(peek().text) == kw; }

  Filter parse_or() {
    std::vector<Filter> parts{parse_and()};
    while (peek().kind == Token::kOr || peek_keyword("OR")) {
      next();
      parts.push_back(parse_and());
    }
    return parts.size() == 1 ? std::move(parts[0]) : Filter::one_of(std::move(parts));
  }

  Filter parse_and() {
    std::vector<Filter> parts{parse_unary()};
    while (peek().kind == Token::kAnd || peek_keyword("AND")) {
      next();
      parts.push_back(parse_unary());
    }
    return parts.size() == 1 ? std::move(parts[0]) : Filter::all_of(std::move(parts));
  }

  Filter parse_unary() {
    if (peek().kind == Token::kBang || peek_keyword("NOT")) {
      NestingGuard guard(*this, next());
      return Filter::negate(parse_unary());
    }
    if (peek().kind == Token::kLParen) {
      NestingGuard guard(*this, next());
      Filter inner = parse_or();
      if (peek().kind != Token::kRParen) fail("')'", peek());
      next();
      return inner;
    }
    return parse_condition();
  }

  MetaValue parse_value(const std::string& after) {
    const Token& t = next();
    if (t.kind == Token::kNumber) return t.number;
    if (t.kind == Token::kString || (t.kind == Token::kWord && !is_keyword(t.text))) return t.text;
    fail("a value after " + after, t);
  }

  Filter parse_condition() {
    const Token& key_token = peek();
    const bool key_ok = key_token.kind == Token::kString || key_token.kind == Token::kNumber ||
                        (key_token.kind == Token::kWord && !is_keyword(key_token.text));
    if (!key_ok) fail("a metadata key, NOT or '('", key_token);
    const std::string key = next().text;
    if (peek().kind == Token::kOp) {
      const Token op_token = next();
      static const std::map<std::string, Condition::Op> kOps = {
          {"=", Condition::Op::kEq}, {"==", Condition::Op::kEq}, {"!=", Condition::Op::kNe},
          {"<", Condition::Op::kLt}, {"<=", Condition::Op::kLe}, {">", Condition::Op::kGt},
          {">=", Condition::Op::kGe}};
      const Condition::Op op = kOps.at(op_token.text);
      const Token& value_token = peek();
      MetaValue v = parse_value("'" + op_token.text + "'");
      if (is_range(op) && !std::holds_alternative<double>(v))
        fail("a number (operator '" + op_token.text + "' compares numbers)", value_token);
      return Filter::compare(key, op, std::move(v));
    }
    bool negated = false;
    if (peek_keyword("NOT")) {
      next();
      negated = true;
      if (!peek_keyword("IN")) fail("IN after NOT", peek());
    }
    if (peek_keyword("IN")) {
      next();
      if (peek().kind != Token::kLParen) fail("'(' after IN", peek());
      next();
      std::vector<MetaValue> values{parse_value("'('")};
      while (peek().kind == Token::kComma) {
        next();
        values.push_back(parse_value("','"));
      }
      if (peek().kind != Token::kRParen) fail("',' or ')' in the IN list", peek());
      next();
      Filter f = Filter::any_of(key, std::move(values));
      if (negated) f.condition.op = Condition::Op::kNotIn;
      return f;
    }
    if (peek_keyword("EXISTS")) {
      next();
      return Filter::exists(key);
    }
    fail("an operator (=, !=, <, <=, >, >=, IN, NOT IN, EXISTS) after key '" + key + "'", peek());
  }

  std::string_view expr_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;  // NOT / '(' levels open (NestingGuard)
};

// ---------------------------------------------------------------------------------------------
// Qdrant-style JSON

using nlohmann::json;

[[noreturn]] void json_fail(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, "filter JSON at " + path + ": " + what);
}

MetaValue json_value(const json& v, const std::string& path) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.get<double>();
  json_fail(path, "expected a string or number, found " + v.dump());
}

Filter json_filter(const json& j, const std::string& path);

Filter json_condition(const json& j, const std::string& path) {
  if (!j["key"].is_string()) json_fail(path + ".key", "expected a string");
  const std::string key = j["key"].get<std::string>();
  const bool has_match = j.contains("match"), has_range = j.contains("range");
  if (has_match == has_range) json_fail(path, "a condition needs exactly one of \"match\" or \"range\"");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "key" && it.key() != "match" && it.key() != "range")
      json_fail(path + "." + it.key(), "unsupported field (expected key, match, range)");
  if (has_match) {
    const json& m = j["match"];
    const std::string mp = path + ".match";
    if (!m.is_object() || m.size() != 1) json_fail(mp, "expected {\"value\": v}, {\"any\": [...]} or {\"except\": [...]}");
    if (m.contains("value")) return Filter::match(key, json_value(m["value"], mp + ".value"));
    const bool any = m.contains("any");
    if (!any && !m.contains("except")) json_fail(mp, "expected value, any or except");
    const json& list = any ? m["any"] : m["except"];
    const std::string lp = mp + (any ? ".any" : ".except");
    if (!list.is_array() || list.empty()) json_fail(lp, "expected a non-empty array");
    std::vector<MetaValue> values;
    for (size_t i = 0; i < list.size(); ++i) values.push_back(json_value(list[i], lp + "[" + std::to_string(i) + "]"));
    Filter f = Filter::any_of(key, std::move(values));
    if (!any) f.condition.op = Condition::Op::kNotIn;
    return f;
  }
  const json& r = j["range"];
  const std::string rp = path + ".range";
  if (!r.is_object() || r.empty()) json_fail(rp, "expected an object with gt, gte, lt or lte");
  static const std::map<std::string, Condition::Op> kOps = {
      {"gt", Condition::Op::kGt}, {"gte", Condition::Op::kGe}, {"lt", Condition::Op::kLt}, {"lte", Condition::Op::kLe}};
  std::vector<Filter> parts;
  for (auto it = r.begin(); it != r.end(); ++it) {
    auto op = kOps.find(it.key());
    if (op == kOps.end()) json_fail(rp + "." + it.key(), "unknown range bound (expected gt, gte, lt, lte)");
    if (!it.value().is_number()) json_fail(rp + "." + it.key(), "expected a number, found " + it.value().dump());
    parts.push_back(Filter::compare(key, op->second, it.value().get<double>()));
  }
  return parts.size() == 1 ? std::move(parts[0]) : Filter::all_of(std::move(parts));
}

std::vector<Filter> json_list(const json& j, const std::string& path) {
  std::vector<Filter> out;
  if (j.is_object()) {
    out.push_back(json_filter(j, path));
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) out.push_back(json_filter(j[i], path + "[" + std::to_string(i) + "]"));
  } else {
    json_fail(path, "expected an array of conditions");
  }
  return out;
}

Filter json_filter(const json& j, const std::string& path) {
  if (!j.is_object()) json_fail(path, "expected an object, found " + j.dump());
  if (j.contains("key")) return json_condition(j, path);
  std::vector<Filter> parts;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string p = path + "." + it.key();
    if (it.key() == "must") {
      for (Filter& f : json_list(it.value(), p)) parts.push_back(std::move(f));
    } else if (it.key() == "should") {
      auto list = json_list(it.value(), p);
      if (!list.empty()) parts.push_back(Filter::one_of(std::move(list)));
    } else if (it.key() == "must_not") {
      auto list = json_list(it.value(), p);
      if (!list.empty()) parts.push_back(Filter::negate(list.size() == 1 ? std::move(list[0]) : Filter::one_of(std::move(list))));
    } else {
      json_fail(p, "unsupported field (expected must, should, must_not or a condition with key)");
    }
  }
  return Filter::all_of(std::move(parts));
}

}  // namespace

Filter Filter::match(std::string key, MetaValue value) { return compare(std::move(key), Condition::Op::kEq, std::move(value)); }

Filter Filter::compare(std::string key, Condition::Op op, MetaValue value) {
  if (op == Condition::Op::kIn || op == Condition::Op::kNotIn || op == Condition::Op::kExists)
    throw Error(ErrorCode::kInvalidArgument, "Filter::compare takes =, !=, <, <=, >, >=");
  if (is_range(op) && !std::holds_alternative<double>(value))
    throw Error(ErrorCode::kInvalidArgument, "range filter on '" + key + "' needs a number");
  Filter f;
  f.kind = Kind::kCondition;
  f.condition = Condition{std::move(key), op, {std::move(value)}};
  return f;
}

Filter Filter::any_of(std::string key, std::vector<MetaValue> values) {
  if (values.empty()) throw Error(ErrorCode::kInvalidArgument, "IN filter on '" + key + "' needs at least one value");
  Filter f;
  f.kind = Kind::kCondition;
  f.condition = Condition{std::move(key), Condition::Op::kIn, std::move(values)};
  return f;
}

Filter Filter::exists(std::string key) {
  Filter f;
  f.kind = Kind::kCondition;
  f.condition = Condition{std::move(key), Condition::Op::kExists, {}};
  return f;
}

Filter Filter::all_of(std::vector<Filter> filters) {
  std::vector<Filter> kept;
  for (Filter& f : filters)
    if (!f.is_all()) kept.push_back(std::move(f));
  if (kept.empty()) return Filter{};
  if (kept.size() == 1) return std::move(kept[0]);
  Filter f;
  f.kind = Kind::kAnd;
  f.children = std::move(kept);
  return f;
}

Filter Filter::one_of(std::vector<Filter> filters) {
  if (filters.empty()) throw Error(ErrorCode::kInvalidArgument, "an OR filter needs at least one alternative");
  for (const Filter& f : filters)
    if (f.is_all()) return Filter{};
  if (filters.size() == 1) return std::move(filters[0]);
  Filter f;
  f.kind = Kind::kOr;
  f.children = std::move(filters);
  return f;
}

Filter Filter::negate(Filter filter) {
  Filter f;
  f.kind = Kind::kNot;
  f.children.push_back(std::move(filter));
  return f;
}

std::string Filter::to_string() const {
  switch (kind) {
    case Kind::kAll: return "";
    case Kind::kCondition: {
      std::string s = word_or_quoted(condition.key) + " ";
      if (condition.op == Condition::Op::kExists) return s + "EXISTS";
      if (condition.op == Condition::Op::kIn || condition.op == Condition::Op::kNotIn) {
        s += std::string(op_text(condition.op)) + " (";
        for (size_t i = 0; i < condition.values.size(); ++i) s += (i ? ", " : "") + value_text(condition.values[i]);
        return s + ")";
      }
      return word_or_quoted(condition.key) + op_text(condition.op) +
             (condition.values.empty() ? "" : value_text(condition.values[0]));
    }
    case Kind::kAnd:
    case Kind::kOr: {
      std::string s;
      for (size_t i = 0; i < children.size(); ++i) {
        if (i) s += kind == Kind::kAnd ? " AND " : " OR ";
        const bool wrap = children[i].kind == Kind::kOr || children[i].kind == Kind::kAnd;
        if (wrap) s += '(';
        s += children[i].to_string();
        if (wrap) s += ')';
      }
      return s;
    }
    case Kind::kNot: {
      const Filter& c = children.at(0);
      const bool wrap = c.kind != Kind::kCondition && c.kind != Kind::kNot;
      std::string s = wrap ? "NOT (" : "NOT ";
      s += c.to_string();
      if (wrap) s += ')';
      return s;
    }
  }
  return "";
}

Filter parse_filter(std::string_view expression) { return Parser(expression).parse(); }

Filter parse_filter_json(std::string_view text) {
  // A filter level is two JSON levels ({"must": [ ... ]}) and a condition adds up to three
  // ({"match": {"any": [ ... ]}}); deeper documents are refused while parsing, before the
  // recursive reader below (or nlohmann's recursive dump) ever sees them.
  constexpr int kMaxJsonDepth = 2 * kMaxFilterDepth + 4;
  const json::parser_callback_t bound_depth = [](int depth, json::parse_event_t, json&) {
    if (depth > kMaxJsonDepth)
      throw Error(ErrorCode::kInvalidArgument, "filter JSON: nested deeper than " + std::to_string(kMaxJsonDepth) +
                                                   " levels (the limit; " + std::to_string(kMaxFilterDepth) +
                                                   " levels of must/should/must_not)");
    return true;
  };
  json j;
  try {
    j = json::parse(text.begin(), text.end(), bound_depth);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kInvalidArgument, std::string("filter is not valid JSON: ") + e.what());
  }
  return json_filter(j, "$");
}

}  // namespace cir::index
