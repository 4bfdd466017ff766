// Private to cir_text: ftfy's "sloppy-windows-1252" single-byte decoding, used for C1 control
// characters (ftfy's fix_c1_controls) and for numeric HTML references in the C1 range.
#pragma once

#include <cstdint>

namespace cir::text::detail {

/// Code point of byte `b` in windows-1252, with the five bytes windows-1252 leaves undefined
/// (0x81, 0x8D, 0x8F, 0x90, 0x9D) passed through as the same Latin-1 code point.
inline char32_t windows_1252_to_unicode(uint8_t b) {
  static constexpr char16_t kHigh[32] = {
      0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
      0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
  };
  return b >= 0x80 && b <= 0x9F ? static_cast<char32_t>(kHigh[b - 0x80]) : static_cast<char32_t>(b);
}

}  // namespace cir::text::detail
