// Cleaning, HTML unescaping, Unicode helpers and the pre-tokenizer, each against what the
// Python reference (ftfy 6.3.1, html.unescape, str.lower, the `regex` module) produces.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cir/text.h"
#include "text/clean.h"
#include "text/html_unescape.h"
#include "text/pretokenize.h"
#include "text/unicode.h"

namespace {

using cir::text::clean_text;
using cir::text::detail::CodePoints;

CodePoints cps(std::string_view utf8) {
  CodePoints out;
  cir::text::detail::decode_utf8(utf8, out);
  return out;
}

std::string html_unescape(std::string_view utf8) {
  return cir::text::detail::encode_utf8(cir::text::detail::python_html_unescape(cps(utf8)));
}

std::vector<std::string> pieces(std::string_view utf8) {
  const CodePoints text = cps(utf8);
  std::vector<cir::text::detail::Piece> found;
  cir::text::detail::pretokenize(text, found);
  std::vector<std::string> out;
  for (const auto& p : found) {
    std::string s;
    cir::text::detail::append_utf8(text.data() + p.begin, text.data() + p.end, s);
    out.push_back(s);
  }
  return out;
}

TEST(Utf8Decode, ReplacesMaximalInvalidSubpartsLikePython) {
  // b"\xe2\x82a\xff\xed\xa0\x80\xf0\x9f\x98".decode("utf-8", "replace")
  EXPECT_EQ(cps("\xe2\x82"
                "a\xff\xed\xa0\x80\xf0\x9f\x98"),
            (CodePoints{0xFFFD, U'a', 0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD}));
  EXPECT_EQ(cps("\xc3\xa9\xc0\xaf"), (CodePoints{0xE9, 0xFFFD, 0xFFFD}));
  EXPECT_EQ(cps("\xf4\x90\x80\x80"), (CodePoints{0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD}));
  EXPECT_EQ(cps("\xf0\x9f\x90\xb6"), (CodePoints{0x1F436}));
}

TEST(Lowercase, MatchesPythonStrLower) {
  auto lower = [](std::string_view s) {
    CodePoints t = cps(s);
    cir::text::detail::to_lower_python(t);
    return cir::text::detail::encode_utf8(t);
  };
  EXPECT_EQ(lower("ABC Déjà"), "abc déjà");
  EXPECT_EQ(lower("ΟΔΟΣ ΣΑ"), "οδος σα");                    // final sigma only at a word end
  EXPECT_EQ(lower("ΑΣ.Σ ΑΣ\xcc\x81x"), "ασ.ς ασ\xcc\x81x");  // 'ΑΣ.Σ ΑΣ\u0301x'.lower()
  EXPECT_EQ(lower("\xc4\xb0"), "i\xcc\x87");                 // 'İ'.lower() == 'i̇'
}

TEST(HtmlUnescape, MatchesPythonHtmlUnescape) {
  EXPECT_EQ(html_unescape("fish &amp; chips"), "fish & chips");
  EXPECT_EQ(html_unescape("&amp"), "&");               // legacy name without ';'
  EXPECT_EQ(html_unescape("&ampfoo"), "&foo");         // longest legacy prefix
  EXPECT_EQ(html_unescape("&notit;"), "\xc2\xacit;");  // "¬it;"
  EXPECT_EQ(html_unescape("&nosuch;"), "&nosuch;");
  EXPECT_EQ(html_unescape("&#65;&#x42;&#X43"), "ABC");
  EXPECT_EQ(html_unescape("&#0;"), "\xef\xbf\xbd");
  EXPECT_EQ(html_unescape("&#x110000;&#xD800;&#99999999999999999999;"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(html_unescape("a&#1;b&#xFFFF;c"), "abc");  // invalid code points vanish
  EXPECT_EQ(html_unescape("&#150;"), "\xe2\x80\x93");  // C1 read as windows-1252: en dash
  EXPECT_EQ(html_unescape("&#13;"), "\r");
  EXPECT_EQ(html_unescape("&#;&#x;&"), "&#;&#x;&");
  EXPECT_EQ(html_unescape("&Jscr;&lt&gt;"), "\xf0\x9d\x92\xa5<>");
  EXPECT_EQ(html_unescape("&amp;amp;"), "&amp;");
}

TEST(FtfyUnescape, OnlyUnambiguousEntities) {
  auto ftfy = [](std::string_view s) {
    CodePoints t = cps(s);
    cir::text::detail::ftfy_unescape_html(t);
    return cir::text::detail::encode_utf8(t);
  };
  EXPECT_EQ(ftfy("P&EACUTE;REZ &eacute;"), "P\xc3\x89REZ \xc3\xa9");
  EXPECT_EQ(ftfy("this&not that"), "this&not that");  // needs the ';'
  EXPECT_EQ(ftfy("&#x41;&#65abc;"), "A&#65abc;");     // partly decodable references stay
  EXPECT_EQ(ftfy("&ntilde; &Ntilde; &NTILDE; &nTILDE;"), "\xc3\xb1 \xc3\x91 \xc3\x91 &nTILDE;");
  EXPECT_EQ(ftfy("BUNDESSTRA&SZLIG;E"), "BUNDESSTRASSE");
}

TEST(CleanText, FtfyFixesThatChangeIds) {
  EXPECT_EQ(clean_text("\xe2\x80\x9c"
                       "Hello\xe2\x80\x9d \xe2\x80\x98world\xe2\x80\x99"),
            "\"hello\" 'world'");
  EXPECT_EQ(clean_text("\xef\xac\x81ne \xef\xac\x82our"), "fine flour");                           // ﬁ ﬂ
  EXPECT_EQ(clean_text("\xef\xbc\xa1\xef\xbc\xa2\xe3\x80\x80\xef\xbd\x84\xef\xbc\x91"), "ab d1");  // ＡＢ　ｄ１
  EXPECT_EQ(clean_text("e\xcc\x81"), "\xc3\xa9");                                                  // NFC
  EXPECT_EQ(clean_text("\xc2\x93quoted\xc2\x94"), "\"quoted\"");                                   // C1 as cp1252
  EXPECT_EQ(clean_text("a\x01"
                       "b\x7f"
                       "c\xef\xbb\xbf"
                       "d"),
            "abcd");                                     // controls, BOM
  EXPECT_EQ(clean_text("x\x1b[31mred\x1b[0m"), "xred");  // terminal escapes
  EXPECT_EQ(clean_text("a\x0b"
                       "b\x0c"
                       "c"),
            "ab c");  // VT is a removed control, FF is whitespace
}

TEST(CleanText, HtmlEntitiesFollowFtfyThenHtmlUnescape) {
  EXPECT_EQ(clean_text("fish &amp; chips"), "fish & chips");
  EXPECT_EQ(clean_text("&ldquo;hi&rdquo;"), "\"hi\"");  // ftfy unescapes, then uncurls
  EXPECT_EQ(clean_text("&amp;ldquo;hi"), "\"hi");       // ftfy repeats until stable
  EXPECT_EQ(clean_text("&lt;b&gt;"), "<b>");
  // A literal '<' turns ftfy's unescaping off; html.unescape still runs but nothing uncurls.
  EXPECT_EQ(clean_text("<b>&ldquo;hi&rdquo;</b>"), "<b>\xe2\x80\x9chi\xe2\x80\x9d</b>");
  // ... but only from the line holding the '<' on.
  EXPECT_EQ(clean_text("&ldquo;a\n<&ldquo;b"),
            "\"a <\xe2\x80\x9c"
            "b");
  EXPECT_EQ(clean_text("&notit; &NTILDE;"), "\xc2\xacit; \xc3\xb1");
  EXPECT_EQ(clean_text("a&#0;b"),
            "a\xef\xbf\xbd"
            "b");
}

TEST(CleanText, WhitespaceAndCase) {
  EXPECT_EQ(clean_text("  Many   SPACES\t\nhere\r\n "), "many spaces here");
  EXPECT_EQ(clean_text("a\xc2\xa0"
                       "b\xe2\x80\x83"
                       "c\xe3\x80\x80"
                       "d"),
            "a b c d");  // NBSP, em space, ideographic
  EXPECT_EQ(clean_text(""), "");
  EXPECT_EQ(clean_text(" \t\n "), "");
}

TEST(Pretokenize, MatchesRegexModuleFindall) {
  using V = std::vector<std::string>;
  EXPECT_EQ(pieces("don't won't it's we're"), (V{"don", "'t", "won", "'t", "it", "'s", "we", "'re"}));
  EXPECT_EQ(pieces("hello-world_test foo.bar"), (V{"hello", "-", "world", "_", "test", "foo", ".", "bar"}));
  EXPECT_EQ(pieces("12345 3.14"), (V{"1", "2", "3", "4", "5", "3", ".", "1", "4"}));
  EXPECT_EQ(pieces("x<|endoftext|>y"), (V{"x", "<|endoftext|>", "y"}));
  EXPECT_EQ(pieces(",<|endoftext|>"), (V{",<|", "endoftext", "|>"}));
  EXPECT_EQ(pieces("''s 'sam"), (V{"''", "s", "'s", "am"}));
  EXPECT_EQ(pieces("'\xc5\xbf"), (V{"'\xc5\xbf"}));  // IGNORECASE: 'ſ matches 's
  EXPECT_EQ(pieces("a\xcd\x85"
                   "b"),
            (V{"a", "b"}));  // U+0345 matches nothing
  EXPECT_EQ(pieces("caf\xc3\xa9 \xf0\x9f\x90\xb6\xf0\x9f\x94\xa5!"),
            (V{"caf\xc3\xa9", "\xf0\x9f\x90\xb6\xf0\x9f\x94\xa5!"}));
  EXPECT_EQ(pieces("e\xcc\x81"
                   "x"),
            (V{"e", "\xcc\x81", "x"}));                                        // a mark is not a letter
  EXPECT_EQ(pieces("\xe2\x85\xa0\xc2\xbd"), (V{"\xe2\x85\xa0", "\xc2\xbd"}));  // Nl and No are numbers
}

}  // namespace
