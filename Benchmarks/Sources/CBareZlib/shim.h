#ifndef ECHORD_BENCH_CBAREZLIB_H
#define ECHORD_BENCH_CBAREZLIB_H
#include <zlib.h>

/// The macros `inflateInit2` and `deflateInit2`, callable from Swift.
static inline int bench_inflateInit2(z_streamp stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}

static inline int bench_deflateInit2(z_streamp stream, int level, int windowBits, int memLevel) {
    return deflateInit2(stream, level, Z_DEFLATED, windowBits, memLevel, Z_DEFAULT_STRATEGY);
}
#endif
