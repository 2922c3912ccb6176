// libpng encode/decode in memory. See include/cpng.h for the contract.
//
// Every libpng call that can fail happens between a setjmp and the matching cleanup in this
// file. Locals used after a longjmp are either assigned before setjmp and never changed, or
// declared volatile.
#include "cpng.h"

#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *buf;
    size_t len;
} err_ctx;

static void set_msg(err_ctx *ctx, const char *fmt, ...) {
    if (!ctx || !ctx->buf || ctx->len == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->buf, ctx->len, fmt, ap);
    va_end(ap);
}

static void on_error(png_structp png, png_const_charp msg) {
    err_ctx *ctx = (err_ctx *)png_get_error_ptr(png);
    set_msg(ctx, "libpng: %s", msg ? msg : "unknown error");
    png_longjmp(png, 1); // back to the setjmp in this file, never into Swift
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; // keywords are validated before libpng sees them; other warnings are harmless
}

// MARK: encode

static void buffer_write(png_structp png, png_bytep data, size_t len) {
    cpng_buffer *b = (cpng_buffer *)png_get_io_ptr(png);
    if (len > SIZE_MAX - b->size) png_error(png, "output too large");
    if (b->size + len > b->capacity) {
        size_t cap = b->capacity ? b->capacity : 16384;
        while (cap < b->size + len) {
            if (cap > SIZE_MAX / 2) png_error(png, "output too large");
            cap *= 2;
        }
        uint8_t *p = (uint8_t *)realloc(b->data, cap);
        if (!p) png_error(png, "out of memory");
        b->data = p;
        b->capacity = cap;
    }
    memcpy(b->data + b->size, data, len);
    b->size += len;
}

static void buffer_flush(png_structp png) { (void)png; }

void cpng_buffer_free(cpng_buffer *buffer) {
    if (!buffer) return;
    free(buffer->data);
    buffer->data = NULL;
    buffer->size = 0;
    buffer->capacity = 0;
}

// The loops below are written to stay fast when this file is built without optimisation
// (SwiftPM's debug configuration): no calls per pixel, and opaque pixels skip the division.
// cairo's ARGB32 rows are arrays of native-endian 32-bit words (cairo aligns its strides).

static int is_opaque(const uint8_t *pixels, uint32_t width, uint32_t height, size_t stride,
                     int format) {
    for (uint32_t y = 0; y < height; y++) {
        const uint8_t *row = pixels + (size_t)y * stride;
        if (format == CPNG_FORMAT_RGBA8) {
            for (const uint8_t *p = row + 3, *end = row + 4 * (size_t)width; p < end; p += 4) {
                if (*p != 255) return 0;
            }
        } else {
            const uint32_t *w = (const uint32_t *)(const void *)row;
            for (const uint32_t *end = w + width; w < end; w++) {
                if ((*w >> 24) != 255) return 0;
            }
        }
    }
    return 1;
}

// One row of cairo ARGB32 with some translucent pixels to straight RGBA bytes.
static void unpremultiply_row(const uint8_t *src, uint8_t *dst, uint32_t width) {
    const uint32_t *w = (const uint32_t *)(const void *)src;
    for (const uint32_t *end = w + width; w < end; w++, dst += 4) {
        const uint32_t p = *w, a = p >> 24;
        uint32_t r = (p >> 16) & 0xff, g = (p >> 8) & 0xff, b = p & 0xff;
        if (a == 0) {
            r = g = b = 0;
        } else if (a != 255) { // undo the premultiplication, rounding to nearest
            r = (r * 255 + a / 2) / a;
            g = (g * 255 + a / 2) / a;
            b = (b * 255 + a / 2) / a;
        }
        dst[0] = (uint8_t)r;
        dst[1] = (uint8_t)g;
        dst[2] = (uint8_t)b;
        dst[3] = (uint8_t)a;
    }
}

static int little_endian(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

int cpng_encode(const uint8_t *pixels, uint32_t width, uint32_t height, size_t stride,
                int format, int alpha_mode, const cpng_text *texts, int text_count, int compression_level,
                cpng_buffer *out, char *errbuf, size_t errbuf_len) {
    err_ctx ctx = {errbuf, errbuf_len};
    if (errbuf && errbuf_len) errbuf[0] = '\0';
    if (!pixels || !out || width == 0 || height == 0) {
        set_msg(&ctx, "invalid arguments: empty image or null buffer");
        return CPNG_EINVAL;
    }
    if (format != CPNG_FORMAT_RGBA8 && format != CPNG_FORMAT_CAIRO_ARGB32) {
        set_msg(&ctx, "invalid arguments: unknown pixel format %d", format);
        return CPNG_EINVAL;
    }
    const size_t row_stride = stride ? stride : (size_t)width * 4;
    if (row_stride < (size_t)width * 4) {
        set_msg(&ctx, "invalid arguments: row stride %zu is shorter than %u pixels", row_stride,
                (unsigned)width);
        return CPNG_EINVAL;
    }
    if (alpha_mode < CPNG_ALPHA_AUTO || alpha_mode > CPNG_ALPHA_OPAQUE) {
        set_msg(&ctx, "invalid arguments: unknown alpha mode %d", alpha_mode);
        return CPNG_EINVAL;
    }
    if (text_count < 0 || (text_count > 0 && !texts)) {
        set_msg(&ctx, "invalid arguments: text chunks");
        return CPNG_EINVAL;
    }
    for (int i = 0; i < text_count; i++) {
        size_t n = texts[i].key ? strlen(texts[i].key) : 0;
        if (n < 1 || n > 79 || !texts[i].text) {
            set_msg(&ctx, "invalid text chunk %d: keyword must have 1 to 79 bytes", i);
            return CPNG_EINVAL;
        }
    }
    cpng_buffer_free(out);

    const int opaque = alpha_mode == CPNG_ALPHA_OPAQUE ||
                       (alpha_mode == CPNG_ALPHA_AUTO &&
                        is_opaque(pixels, width, height, row_stride, format));
    // Only translucent cairo pixels need converting here; every other case is a libpng
    // transformation of the caller's rows (byte order, dropping the alpha byte).
    const int convert = !opaque && format == CPNG_FORMAT_CAIRO_ARGB32;
    png_bytep row = convert ? (png_bytep)malloc((size_t)width * 4) : NULL;
    png_textp ptext = text_count > 0 ? (png_textp)calloc((size_t)text_count, sizeof(png_text))
                                     : NULL;
    if ((convert && !row) || (text_count > 0 && !ptext)) {
        free(row);
        free(ptext);
        set_msg(&ctx, "out of memory");
        return CPNG_ENOMEM;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(png ? &png : NULL, NULL);
        free(row);
        free(ptext);
        set_msg(&ctx, "out of memory creating the libpng writer");
        return CPNG_ENOMEM;
    }

    if (setjmp(png_jmpbuf(png))) {
        // Every libpng error lands here; on_error has filled errbuf.
        png_destroy_write_struct(&png, &info);
        free(row);
        free(ptext);
        cpng_buffer_free(out);
        return CPNG_ELIBPNG;
    }

    png_set_write_fn(png, out, buffer_write, buffer_flush);
    if (compression_level >= 0 && compression_level <= 9) {
        png_set_compression_level(png, compression_level);
    }
    // Figures are flat colours and anti-aliased edges: without row filters the files are as
    // small as with libpng's adaptive choice (often smaller) and encoding is about twice as fast.
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
    png_set_IHDR(png, info, width, height, 8,
                 opaque ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGB_ALPHA,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    for (int i = 0; i < text_count; i++) {
        ptext[i].key = (png_charp)texts[i].key;
        ptext[i].text = (png_charp)texts[i].text;
        if (texts[i].utf8) {
            ptext[i].compression = PNG_ITXT_COMPRESSION_NONE;
            ptext[i].itxt_length = strlen(texts[i].text);
        } else {
            ptext[i].compression = PNG_TEXT_COMPRESSION_NONE;
            ptext[i].text_length = strlen(texts[i].text);
        }
    }
    if (text_count > 0) png_set_text(png, info, ptext, text_count);

    png_write_info(png, info);
    if (format == CPNG_FORMAT_CAIRO_ARGB32 && !convert) {
        // Words 0xAARRGGBB: bytes B, G, R, A in memory on little-endian, A, R, G, B on big-endian.
        if (little_endian()) {
            png_set_bgr(png);
            png_set_filler(png, 0, PNG_FILLER_AFTER);
        } else {
            png_set_filler(png, 0, PNG_FILLER_BEFORE);
        }
    } else if (format == CPNG_FORMAT_RGBA8 && opaque) {
        png_set_filler(png, 0, PNG_FILLER_AFTER);
    }
    for (uint32_t y = 0; y < height; y++) {
        const uint8_t *src = pixels + (size_t)y * row_stride;
        if (convert) {
            unpremultiply_row(src, row, width);
            png_write_row(png, row);
        } else {
            png_write_row(png, (png_const_bytep)src);
        }
    }
    png_write_end(png, NULL);

    png_destroy_write_struct(&png, &info);
    free(row);
    free(ptext);
    return CPNG_OK;
}

// MARK: decode

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t pos;
} read_source;

static void source_read(png_structp png, png_bytep dst, size_t len) {
    read_source *s = (read_source *)png_get_io_ptr(png);
    if (len > s->size - s->pos) png_error(png, "unexpected end of data");
    memcpy(dst, s->data + s->pos, len);
    s->pos += len;
}

void cpng_decoded_free(cpng_decoded *d) {
    if (!d) return;
    for (int i = 0; i < d->text_count; i++) {
        if (d->keys) free(d->keys[i]);
        if (d->texts) free(d->texts[i]);
    }
    free(d->keys);
    free(d->texts);
    free(d->text_is_utf8);
    free(d->pixels);
    memset(d, 0, sizeof *d);
}

static char *copy_string(png_structp png, const char *s) {
    size_t n = s ? strlen(s) : 0;
    char *c = (char *)malloc(n + 1);
    if (!c) png_error(png, "out of memory");
    if (n) memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

int cpng_decode(const uint8_t *data, size_t size, cpng_decoded *out, char *errbuf,
                size_t errbuf_len) {
    err_ctx ctx = {errbuf, errbuf_len};
    if (errbuf && errbuf_len) errbuf[0] = '\0';
    if (!data || !out) {
        set_msg(&ctx, "invalid arguments");
        return CPNG_EINVAL;
    }
    memset(out, 0, sizeof *out);
    if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        set_msg(&ctx, "not a PNG file (bad signature)");
        return CPNG_EINVAL;
    }
    read_source src = {data, size, 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        set_msg(&ctx, "out of memory creating the libpng reader");
        return CPNG_ENOMEM;
    }
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;

    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pixels);
        free(rows);
        cpng_decoded_free(out);
        return CPNG_ELIBPNG;
    }

    png_set_read_fn(png, &src, source_read);
    png_read_info(png, info);
    const png_uint_32 w = png_get_image_width(png, info);
    const png_uint_32 h = png_get_image_height(png, info);
    const int color = png_get_color_type(png, info);
    const int depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_strip_16(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    if (!(color & PNG_COLOR_MASK_ALPHA) && !png_get_valid(png, info, PNG_INFO_tRNS)) {
        png_set_filler(png, 0xff, PNG_FILLER_AFTER);
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 4) png_error(png, "unexpected row size");

    pixels = (uint8_t *)malloc((size_t)w * (size_t)h * 4);
    rows = (png_bytep *)malloc((size_t)h * sizeof(png_bytep));
    if (!pixels || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = pixels + (size_t)y * w * 4;
    png_read_image(png, rows);
    png_read_end(png, info);

    png_textp text = NULL;
    int n = png_get_text(png, info, &text, NULL);
    if (n > 0) {
        out->keys = (char **)calloc((size_t)n, sizeof(char *));
        out->texts = (char **)calloc((size_t)n, sizeof(char *));
        out->text_is_utf8 = (int *)calloc((size_t)n, sizeof(int));
        if (!out->keys || !out->texts || !out->text_is_utf8) png_error(png, "out of memory");
        out->text_count = n;
        for (int i = 0; i < n; i++) {
            out->keys[i] = copy_string(png, text[i].key);
            out->texts[i] = copy_string(png, text[i].text);
            out->text_is_utf8[i] = text[i].compression >= PNG_ITXT_COMPRESSION_NONE;
        }
    }

    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    out->pixels = pixels;
    out->width = w;
    out->height = h;
    return CPNG_OK;
}

const char *cpng_libpng_version(void) { return png_get_libpng_ver(NULL); }
