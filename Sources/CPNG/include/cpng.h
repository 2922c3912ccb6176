#pragma once
// A small libpng shim for the Figures module. libpng reports errors by longjmp-ing out of the
// failing call; every setjmp lives in cpng.c, so no longjmp ever crosses a Swift frame. Swift
// sees return codes and a message copied into a caller-provided buffer.
//
// The shim encodes to and decodes from memory only. Files are written by the Swift side
// (temporary file in the target folder, then rename), so this code never creates, truncates or
// removes a path.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Return codes of cpng_encode / cpng_decode.
enum {
    CPNG_OK = 0,
    CPNG_EINVAL = 1,    ///< bad arguments (null pointer, zero size, bad keyword)
    CPNG_ENOMEM = 2,    ///< allocation failed
    CPNG_ELIBPNG = 3,   ///< libpng raised an error (message in errbuf)
};

/// Pixel layouts accepted by cpng_encode.
enum {
    /// 8-bit R, G, B, A bytes, straight (not premultiplied) alpha.
    CPNG_FORMAT_RGBA8 = 0,
    /// cairo's CAIRO_FORMAT_ARGB32: native-endian 32-bit words 0xAARRGGBB, premultiplied alpha.
    CPNG_FORMAT_CAIRO_ARGB32 = 1,
};

/// What cpng_encode does with the alpha channel.
enum {
    /// Store RGB when every pixel is opaque, RGBA otherwise (checks every pixel).
    CPNG_ALPHA_AUTO = 0,
    /// Always store RGBA.
    CPNG_ALPHA_KEEP = 1,
    /// Store RGB and ignore alpha: the caller guarantees every pixel is opaque (for example,
    /// everything was drawn over an opaque background). Skips the per-pixel check.
    CPNG_ALPHA_OPAQUE = 2,
};

/// One text chunk. `key` is a Latin-1 keyword of 1..79 bytes, checked by the caller as well.
/// With `utf8 == 0` the text is Latin-1 and goes into a tEXt chunk; otherwise it is UTF-8 and
/// goes into an uncompressed iTXt chunk.
typedef struct {
    const char *key;
    const char *text;
    int utf8;
} cpng_text;

/// A growable byte buffer owned by C; release with cpng_buffer_free.
typedef struct {
    uint8_t *data;
    size_t size;
    size_t capacity;
} cpng_buffer;

/// Encodes an image as an 8-bit, non-interlaced PNG into `out` (which must start zeroed).
/// The colour type is RGB or RGBA as `alpha_mode` says. Text chunks are
/// written before the image data, in the order given. No tIME chunk is written, so the same
/// pixels and texts always give the same bytes.
/// Returns CPNG_OK, or an error code with a one-line message in `errbuf`; on error `out` is
/// left empty.
int cpng_encode(const uint8_t *pixels, uint32_t width, uint32_t height, size_t stride,
                int format, int alpha_mode, const cpng_text *texts, int text_count, int compression_level,
                cpng_buffer *out, char *errbuf, size_t errbuf_len);

void cpng_buffer_free(cpng_buffer *buffer);

/// A decoded image: straight-alpha RGBA8, `width * 4` bytes per row, plus its text chunks.
typedef struct {
    uint8_t *pixels;
    uint32_t width;
    uint32_t height;
    int text_count;
    char **keys;
    char **texts;
    int *text_is_utf8;
} cpng_decoded;

/// Decodes a PNG held in memory to RGBA8 (palette, grey and 16-bit images are converted).
/// `out` must start zeroed; release it with cpng_decoded_free.
int cpng_decode(const uint8_t *data, size_t size, cpng_decoded *out, char *errbuf,
                size_t errbuf_len);

void cpng_decoded_free(cpng_decoded *decoded);

/// The libpng version the shim runs against.
const char *cpng_libpng_version(void);

#ifdef __cplusplus
}
#endif
