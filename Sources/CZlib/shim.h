#pragma once
// Debian: zlib1g-dev (pkg-config "zlib").
#include <zlib.h>

// inflateInit2 / deflateInit2 are function-like macros, which Swift does not import.
static inline int czlib_inflateInit2(z_streamp strm, int windowBits) {
    return inflateInit2(strm, windowBits);
}
static inline int czlib_deflateInit2(z_streamp strm, int level, int windowBits) {
    return deflateInit2(strm, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
}
