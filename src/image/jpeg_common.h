// Private to cir_image: the libjpeg error manager shared by the JPEG decoder and encoder.
//
// libjpeg's default error_exit prints and calls exit(); we longjmp back to the function that
// called setjmp instead, which then throws cir::Error. The jump crosses only libjpeg's C frames
// and our C-style callbacks, so no C++ destructor is skipped.
#pragma once

#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE and size_t declared first

#include <jerror.h>
#include <jpeglib.h>

namespace cir::image::detail {

struct JpegErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg casts cinfo->err back to this struct
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

extern "C" inline void cir_jpeg_error_exit(j_common_ptr cinfo) {
  auto* manager = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, manager->message);
  std::longjmp(manager->jump, 1);
}

// Pillow silences libjpeg's warnings (its output_message is empty); so do we. Premature end of
// data is not a warning here: our source manager raises it as an error (see decode_jpeg.cpp).
extern "C" inline void cir_jpeg_output_message(j_common_ptr) {}

/// Installs the longjmp error manager on `manager` and returns it for cinfo.err.
inline jpeg_error_mgr* install_jpeg_error_manager(JpegErrorManager& manager) {
  jpeg_std_error(&manager.pub);
  manager.pub.error_exit = cir_jpeg_error_exit;
  manager.pub.output_message = cir_jpeg_output_message;
  manager.message[0] = '\0';
  return &manager.pub;
}

}  // namespace cir::image::detail
