// PNG through libpng, reproducing Pillow's open + convert("RGB"): palette expanded
// (tRNS ignored), gray of 1/2/4 bits scaled to 8, alpha dropped (never composited),
// 16-bit colour/gray+alpha reduced to the high byte (Pillow's "RGB;16B"/"LA;16B"),
// and 16-bit gray clamped to 255 (Pillow opens it as "I;16" and its I;16 -> RGB
// conversion saturates instead of scaling). Gamma, sBIT and colour profiles are ignored,
// as Pillow ignores them.
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "decoder_internal.h"

typedef struct {
    png_structp png;
    png_infop info;
    CImageCodecs_Decoder *owner;
    size_t pos;
    int truncated;
    int gray16;  // decoded by us from 16-bit rows, see above
} PngState;

static void on_error(png_structp png, png_const_charp text) {
    PngState *s = png_get_error_ptr(png);
    int status = s->truncated ? CImageCodecs_ERR_TRUNCATED : CImageCodecs_ERR_CORRUPT;
    if (!s->truncated && (strstr(text, "user limit") || strstr(text, "too large") || strstr(text, "exceeds"))) {
        status = CImageCodecs_ERR_LIMIT;
    } else if (!s->truncated && strstr(text, "memory")) {
        status = CImageCodecs_ERR_NOMEM;
    }
    CImageCodecs_fail(s->owner, status, "PNG: %s", s->truncated ? "data ends before the image is complete" : text);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp text) {
    PngState *s = png_get_error_ptr(png);
    CImageCodecs_warn(s->owner, text);
}

static void read_bytes(png_structp png, png_bytep out, size_t count) {
    PngState *s = png_get_io_ptr(png);
    CImageCodecs_Decoder *d = s->owner;
    if (count > d->size - s->pos) {
        s->truncated = 1;
        png_error(png, "truncated");
    }
    memcpy(out, d->data + s->pos, count);
    s->pos += count;
}

int CImageCodecs_png_create(CImageCodecs_Decoder *d) {
    PngState *s = calloc(1, sizeof *s);
    if (!s) return CImageCodecs_ERR_NOMEM;
    d->codec = s;
    s->owner = d;
    s->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, on_error, on_warning);
    if (!s->png) return CImageCodecs_ERR_NOMEM;
    s->info = png_create_info_struct(s->png);
    if (!s->info) return CImageCodecs_ERR_NOMEM;
    if (setjmp(png_jmpbuf(s->png))) return d->status;
    png_set_read_fn(s->png, s, read_bytes);
    png_set_user_limits(s->png, d->limits.max_side, d->limits.max_side);
    png_set_chunk_cache_max(s->png, d->limits.max_png_chunks);
    png_set_chunk_malloc_max(s->png, d->limits.max_png_chunk);
    // Text, profiles and other metadata play no part in the pixels; skipping them avoids
    // decompressing zTXt/iCCP payloads at all.
    static const png_byte ignored[] = "tEXt\0zTXt\0iTXt\0iCCP\0eXIf\0sPLT\0tIME\0hIST\0pCAL\0sCAL\0";
    png_set_keep_unknown_chunks(s->png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    png_set_keep_unknown_chunks(s->png, PNG_HANDLE_CHUNK_NEVER, ignored, (int)(sizeof ignored / 5));
    return CImageCodecs_OK;
}

int CImageCodecs_png_header(CImageCodecs_Decoder *d) {
    PngState *s = d->codec;
    if (setjmp(png_jmpbuf(s->png))) return d->status;
    png_read_info(s->png, s->info);
    png_uint_32 width, height;
    int depth, type, interlace;
    png_get_IHDR(s->png, s->info, &width, &height, &depth, &type, &interlace, NULL, NULL);
    d->header.width = width;
    d->header.height = height;
    d->header.bit_depth = depth;
    d->header.components = png_get_channels(s->png, s->info);
    d->header.progressive = interlace != PNG_INTERLACE_NONE;
    switch (type) {
    case PNG_COLOR_TYPE_GRAY: d->header.color = CImageCodecs_COLOR_GRAY; break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: d->header.color = CImageCodecs_COLOR_GRAY_ALPHA; break;
    case PNG_COLOR_TYPE_RGB: d->header.color = CImageCodecs_COLOR_RGB; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: d->header.color = CImageCodecs_COLOR_RGBA; break;
    case PNG_COLOR_TYPE_PALETTE: d->header.color = CImageCodecs_COLOR_PALETTE; break;
    default: return CImageCodecs_fail(d, CImageCodecs_ERR_CORRUPT, "PNG colour type %d", type);
    }
    return CImageCodecs_OK;
}

// 16-bit gray rows arrive big-endian, 2 bytes per pixel, at the start of an RGB row slot
// (3 bytes per pixel, so they fit); widen in place from the end.
static void gray16_row_to_rgb(uint8_t *row, size_t width) {
    for (size_t i = width; i-- > 0;) {
        uint8_t hi = row[2 * i], lo = row[2 * i + 1];
        uint8_t v = hi ? 255 : lo;
        row[3 * i] = v;
        row[3 * i + 1] = v;
        row[3 * i + 2] = v;
    }
}

int CImageCodecs_png_decode(CImageCodecs_Decoder *d, uint8_t *pixels) {
    PngState *s = d->codec;
    png_structp png = s->png;
    png_infop info = s->info;
    size_t width = d->header.width, height = d->header.height;
    png_bytepp rows = calloc(height, sizeof *rows);
    if (!rows) return CImageCodecs_fail(d, CImageCodecs_ERR_NOMEM, "PNG: out of memory");
    if (setjmp(png_jmpbuf(png))) {
        free(rows);  // `rows` is not modified after setjmp, so its value is reliable here
        return d->status;
    }
    int type = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    s->gray16 = type == PNG_COLOR_TYPE_GRAY && depth == 16;
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16 && !s->gray16) png_set_strip_16(png);  // keeps the high byte, like Pillow
    // Unconditional: palette expansion turns tRNS into an alpha channel, which Pillow's
    // convert("RGB") simply ignores.
    png_set_strip_alpha(png);
    if ((type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) && !s->gray16) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes > width * 3) {
        png_error(png, "unexpected row size after transformations");
    }
    for (size_t y = 0; y < height; y++) rows[y] = pixels + y * width * 3;
    png_read_image(png, rows);
    if (s->gray16) {
        for (size_t y = 0; y < height; y++) gray16_row_to_rgb(rows[y], width);
    }
    free(rows);
    return CImageCodecs_OK;
}

// Gray or gray+alpha at full precision. Each row is read into the start of its own float
// slot (at most 2 bytes per pixel in a 4-byte slot) and widened in place from the end, as
// gray16_row_to_rgb does, so no second image-sized buffer is needed. Bit depths 1/2/4 are
// expanded to 8 by libpng, which scales by 255 / (2^depth - 1) exactly, so v8 / 255 equals
// v / (2^depth - 1) (both quotients are correctly rounded from the same real number).
int CImageCodecs_png_decode_gray(CImageCodecs_Decoder *d, float *out) {
    PngState *s = d->codec;
    png_structp png = s->png;
    png_infop info = s->info;
    size_t width = d->header.width, height = d->header.height;
    png_bytepp rows = calloc(height, sizeof *rows);
    if (!rows) return CImageCodecs_fail(d, CImageCodecs_ERR_NOMEM, "PNG: out of memory");
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        return d->status;
    }
    int depth = png_get_bit_depth(png, info);
    if (depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t bytes = depth == 16 ? 2 : 1;
    if (png_get_rowbytes(png, info) != width * bytes || png_get_channels(png, info) != 1) {
        png_error(png, "unexpected row size after transformations");
    }
    for (size_t y = 0; y < height; y++) rows[y] = (png_bytep)(out + y * width);
    png_read_image(png, rows);
    for (size_t y = 0; y < height; y++) {
        const uint8_t *src = rows[y];  // aliases dst: walk backwards, read before write
        float *dst = out + y * width;
        if (bytes == 2) {
            for (size_t i = width; i-- > 0;) dst[i] = (float)((unsigned)src[2 * i] << 8 | src[2 * i + 1]) / 65535.0f;
        } else {
            for (size_t i = width; i-- > 0;) dst[i] = (float)src[i] / 255.0f;
        }
    }
    free(rows);
    return CImageCodecs_OK;
}

void CImageCodecs_png_destroy(CImageCodecs_Decoder *d) {
    PngState *s = d->codec;
    if (!s) return;
    if (s->png) png_destroy_read_struct(&s->png, s->info ? &s->info : NULL, NULL);
    free(s);
    d->codec = NULL;
}
