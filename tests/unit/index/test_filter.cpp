// The filter language, its JSON form, and filter semantics against a store.
#include <gtest/gtest.h>

#include <set>

#include "index_test_util.h"

namespace cir::index {
namespace {

using cir::testing::TempDir;
using testing::make_items;
using testing::make_manifest;
using testing::random_unit;

std::string parse_error(const std::string& expr) {
  try {
    parse_filter(expr);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  ADD_FAILURE() << "expected '" << expr << "' to be rejected";
  return "";
}

TEST(IndexFilter, ParsesTheDocumentedExample) {
  const Filter f = parse_filter("color=red AND size>=3 AND shape in (circle, square) AND NOT tag=\"on sale\"");
  ASSERT_EQ(f.kind, Filter::Kind::kAnd);
  ASSERT_EQ(f.children.size(), 4u);
  EXPECT_EQ(f.children[0].condition.key, "color");
  EXPECT_EQ(std::get<std::string>(f.children[0].condition.values[0]), "red");
  EXPECT_EQ(f.children[1].condition.op, Condition::Op::kGe);
  EXPECT_EQ(std::get<double>(f.children[1].condition.values[0]), 3.0);
  EXPECT_EQ(f.children[2].condition.op, Condition::Op::kIn);
  EXPECT_EQ(f.children[2].condition.values.size(), 2u);
  EXPECT_EQ(f.children[3].kind, Filter::Kind::kNot);
  EXPECT_EQ(std::get<std::string>(f.children[3].children[0].condition.values[0]), "on sale");
}

TEST(IndexFilter, PrecedenceParenthesesAndSpellings) {
  // AND binds tighter than OR.
  Filter f = parse_filter("a=1 or b=2 and c=3");
  ASSERT_EQ(f.kind, Filter::Kind::kOr);
  EXPECT_EQ(f.children[1].kind, Filter::Kind::kAnd);
  f = parse_filter("(a=1 || b=2) && !c EXISTS");
  ASSERT_EQ(f.kind, Filter::Kind::kAnd);
  EXPECT_EQ(f.children[0].kind, Filter::Kind::kOr);
  EXPECT_EQ(f.children[1].kind, Filter::Kind::kNot);
  EXPECT_EQ(f.children[1].children[0].condition.op, Condition::Op::kExists);
  f = parse_filter("date = 2020-01-01");  // not a number: text
  EXPECT_EQ(std::get<std::string>(f.condition.values[0]), "2020-01-01");
  f = parse_filter("code = '42'");  // quoted: text
  EXPECT_EQ(std::get<std::string>(f.condition.values[0]), "42");
  f = parse_filter("x != -2.5e1");
  EXPECT_EQ(f.condition.op, Condition::Op::kNe);
  EXPECT_EQ(std::get<double>(f.condition.values[0]), -25.0);
  f = parse_filter("shape NOT IN (circle)");
  EXPECT_EQ(f.condition.op, Condition::Op::kNotIn);
  EXPECT_TRUE(parse_filter("").is_all());
  EXPECT_TRUE(parse_filter("   ").is_all());
  f = parse_filter("\"weird key\" == \"a \\\"quoted\\\" value\"");
  EXPECT_EQ(f.condition.key, "weird key");
  EXPECT_EQ(std::get<std::string>(f.condition.values[0]), "a \"quoted\" value");
}

TEST(IndexFilter, RejectsBadExpressionsWithPositions) {
  EXPECT_NE(parse_error("color=").find("column 7"), std::string::npos);
  EXPECT_NE(parse_error("color=").find("end of input"), std::string::npos);
  EXPECT_NE(parse_error("size >= big").find("number"), std::string::npos);
  EXPECT_NE(parse_error("color red").find("operator"), std::string::npos);
  EXPECT_NE(parse_error("(a=1").find("')'"), std::string::npos);
  EXPECT_NE(parse_error("a=1 b=2").find("AND, OR"), std::string::npos);
  EXPECT_NE(parse_error("a in ()").find("value"), std::string::npos);
  EXPECT_NE(parse_error("a in (1,").find("value"), std::string::npos);
  EXPECT_NE(parse_error("a = 'open").find("closing"), std::string::npos);
  EXPECT_NE(parse_error("a = 1 AND").find("end of input"), std::string::npos);
  EXPECT_NE(parse_error("a ~ 1").find("'~'"), std::string::npos);
  EXPECT_NE(parse_error("AND = 1").find("key"), std::string::npos);
  EXPECT_NE(parse_error("a NOT = 1").find("IN after NOT"), std::string::npos);
}

std::string repeat(const std::string& piece, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += piece;
  return out;
}

// A Qdrant filter nested `depth` levels through `clause` around one condition.
std::string nested_json(const std::string& clause, int depth) {
  return repeat("{\"" + clause + "\":[", depth) + R"({"key":"color","match":{"value":"red"}})" + repeat("]}", depth);
}

// The audit's remote crash: these overflowed the stack (SIGSEGV) before the depth bound.
TEST(IndexFilter, RefusesHostileNestingWithTheLimitNamed) {
  const std::string limit = std::to_string(kMaxFilterDepth);
  for (const std::string& expr : {repeat("(", 8000) + "color=red" + repeat(")", 8000), repeat("!", 30000) + "color=red",
                                  repeat("NOT ", 30000) + "color=red"}) {
    const std::string message = parse_error(expr);
    EXPECT_NE(message.find("nested deeper than " + limit), std::string::npos) << message.substr(0, 300);
    EXPECT_LT(message.size(), 400u) << "the message quotes a shortened filter";
  }
  for (const char* clause : {"must", "must_not", "should"}) {
    try {
      parse_filter_json(nested_json(clause, 10000));
      ADD_FAILURE() << clause << " nested 10,000 deep was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("nested deeper than"), std::string::npos) << e.what();
    }
  }
}

TEST(IndexFilter, NestingUpToTheLimitParses) {
  const int n = kMaxFilterDepth;
  Filter f = parse_filter(repeat("(", n) + "color=red" + repeat(")", n));
  EXPECT_EQ(f.kind, Filter::Kind::kCondition);
  f = parse_filter(repeat("NOT ", n) + "color=red");
  EXPECT_EQ(parse_filter(f.to_string()).to_string(), f.to_string());
  EXPECT_NE(parse_error(repeat("NOT ", n + 1) + "color=red").find("nested deeper"), std::string::npos);
  // Flat breadth is not depth: a long AND chain stays fine.
  EXPECT_EQ(parse_filter("a=1" + repeat(" AND a=1", 5000)).children.size(), 5001u);
  EXPECT_EQ(parse_filter_json(nested_json("must_not", n)).kind, Filter::Kind::kNot);
}

TEST(IndexFilter, ToStringRoundTrips) {
  for (const char* expr : {"color=red AND size>=3 AND shape IN (circle, square)", "NOT (a=1 OR b<2.5)",
                           "\"two words\"=\"x y\" OR k EXISTS", "code=\"42\" AND n NOT IN (1, 2)"}) {
    const Filter f = parse_filter(expr);
    const std::string s = f.to_string();
    EXPECT_EQ(parse_filter(s).to_string(), s) << expr;
  }
}

TEST(IndexFilter, QdrantJson) {
  const Filter f = parse_filter_json(R"({
      "must": [{"key": "color", "match": {"value": "red"}}, {"key": "size", "range": {"gte": 3, "lt": 10}}],
      "should": [{"key": "shape", "match": {"any": ["circle", "square"]}}],
      "must_not": [{"key": "tag", "match": {"except": ["a"]}}]})");
  EXPECT_EQ(f.kind, Filter::Kind::kAnd);
  EXPECT_TRUE(parse_filter_json("{}").is_all());
  for (const char* bad : {R"({"must": [{"key": 1, "match": {"value": 1}}]})",
                          R"({"must": [{"key": "a", "range": {"gte": "x"}}]})",
                          R"({"must": [{"key": "a", "match": {"value": true}}]})", R"({"filter": []})", "[1]",
                          "{oops"}) {
    try {
      parse_filter_json(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    }
  }
  try {
    parse_filter_json(R"({"must": [{"key": "a", "range": {"gte": "x"}}]})");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("$.must[0].range.gte"), std::string::npos) << e.what();
  }
}

// Items i = 0..59: color red/green/blue by i % 3, size = i % 10 (number), year "20xx" as text for
// even i, no "year" for odd i.
class FilterOnStore : public ::testing::Test {
 protected:
  void SetUp() override {
    vecs_ = random_unit(60, 8, 31);
    store_ = Store::create(tmp_.str("idx"), make_manifest(8));
    auto items = make_items("f", 0, 60, vecs_);
    static const char* kColors[] = {"red", "green", "blue"};
    for (int i = 0; i < 60; ++i) {
      items[i].metadata["color"] = std::string(kColors[i % 3]);
      items[i].metadata["size"] = static_cast<double>(i % 10);
      if (i % 2 == 0) items[i].metadata["year"] = std::to_string(2000 + i % 4);
    }
    ids_ = store_->add_items(items);
  }
  std::set<int> matching(const std::string& expr) {
    ListRequest req;
    req.limit = 1000;
    req.filter = parse_filter(expr);
    std::set<int> out;
    for (const ItemRecord& r : store_->list_items(req)) out.insert(static_cast<int>(r.id - ids_[0]));
    return out;
  }
  std::set<int> expected(const std::function<bool(int)>& pred) {
    std::set<int> out;
    for (int i = 0; i < 60; ++i)
      if (pred(i)) out.insert(i);
    return out;
  }
  TempDir tmp_;
  FloatMatrix vecs_;
  std::unique_ptr<Store> store_;
  std::vector<int64_t> ids_;
};

TEST_F(FilterOnStore, Semantics) {
  EXPECT_EQ(matching("color=red"), expected([](int i) { return i % 3 == 0; }));
  EXPECT_EQ(matching("color!=red"), expected([](int i) { return i % 3 != 0; }));
  EXPECT_EQ(matching("size>=7"), expected([](int i) { return i % 10 >= 7; }));
  EXPECT_EQ(matching("size<2"), expected([](int i) { return i % 10 < 2; }));
  EXPECT_EQ(matching("size>3 AND size<=5"), expected([](int i) { return i % 10 > 3 && i % 10 <= 5; }));
  EXPECT_EQ(matching("size=3"), expected([](int i) { return i % 10 == 3; }));
  EXPECT_EQ(matching("color in (red, blue)"), expected([](int i) { return i % 3 != 1; }));
  EXPECT_EQ(matching("color not in (red, blue)"), expected([](int i) { return i % 3 == 1; }));
  EXPECT_EQ(matching("year EXISTS"), expected([](int i) { return i % 2 == 0; }));
  // A number matches text spelled as that number; != keeps items lacking the key.
  EXPECT_EQ(matching("year=2002"), expected([](int i) { return i % 2 == 0 && i % 4 == 2; }));
  EXPECT_EQ(matching("year!=2002"), expected([](int i) { return !(i % 2 == 0 && i % 4 == 2); }));
  EXPECT_EQ(matching("color=red OR size=1"), expected([](int i) { return i % 3 == 0 || i % 10 == 1; }));
  EXPECT_EQ(matching("NOT (color=red OR size=1)"), expected([](int i) { return !(i % 3 == 0 || i % 10 == 1); }));
  EXPECT_TRUE(matching("color=purple").empty());
  EXPECT_TRUE(matching("nokey=1").empty());
  // Removed items never match.
  store_->remove_items({ids_[0]});
  EXPECT_EQ(matching("color=red").count(0), 0u);
}

}  // namespace
}  // namespace cir::index
