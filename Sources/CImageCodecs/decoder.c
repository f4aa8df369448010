// Format-independent part of the decoder: lifecycle, dispatch, messages, limits.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoder_internal.h"

int CImageCodecs_fail(CImageCodecs_Decoder *d, int status, const char *fmt, ...) {
    // The first error is the informative one; later ones are usually consequences.
    if (d->message[0] == '\0') {
        va_list args;
        va_start(args, fmt);
        vsnprintf(d->message, sizeof d->message, fmt, args);
        va_end(args);
    }
    if (d->stage != STAGE_FAILED) d->status = status;
    d->stage = STAGE_FAILED;
    return d->status;
}

void CImageCodecs_warn(CImageCodecs_Decoder *d, const char *text) {
    size_t used = strlen(d->warnings);
    size_t room = sizeof d->warnings - used;
    if (room > 1) {
        snprintf(d->warnings + used, room, "%s%s", used ? "\n" : "", text);
    }
}

int CImageCodecs_check_limits(CImageCodecs_Decoder *d) {
    uint64_t w = d->header.width, h = d->header.height;
    if (w == 0 || h == 0) {
        return CImageCodecs_fail(d, CImageCodecs_ERR_CORRUPT, "image has zero width or height");
    }
    if (w > d->limits.max_side || h > d->limits.max_side) {
        return CImageCodecs_fail(d, CImageCodecs_ERR_LIMIT, "image is %llux%llu, larger than %u pixels on a side",
                                 (unsigned long long)w, (unsigned long long)h, d->limits.max_side);
    }
    if (w * h > d->limits.max_pixels) {
        return CImageCodecs_fail(d, CImageCodecs_ERR_LIMIT, "image is %llux%llu, more than %llu pixels",
                                 (unsigned long long)w, (unsigned long long)h,
                                 (unsigned long long)d->limits.max_pixels);
    }
    return CImageCodecs_OK;
}

CImageCodecs_Decoder *CImageCodecs_decoder_create(
    int format, const uint8_t *data, size_t size, const CImageCodecs_Limits *limits) {
    CImageCodecs_Decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->format = format;
    d->data = data;
    d->size = size;
    d->limits = *limits;
    int status;
    switch (format) {
    case CImageCodecs_FORMAT_JPEG: status = CImageCodecs_jpeg_create(d); break;
    case CImageCodecs_FORMAT_PNG: status = CImageCodecs_png_create(d); break;
    default: status = CImageCodecs_fail(d, CImageCodecs_ERR_USAGE, "unknown format code %d", format);
    }
    if (status == CImageCodecs_ERR_NOMEM) {
        CImageCodecs_decoder_destroy(d);
        return NULL;
    }
    return d;  // other failures are reported by read_header, with their message
}

int CImageCodecs_read_header(CImageCodecs_Decoder *d, CImageCodecs_Header *header) {
    if (d->stage == STAGE_FAILED) return d->status;
    if (d->stage != STAGE_NEW) return CImageCodecs_fail(d, CImageCodecs_ERR_USAGE, "header already read");
    int status = d->format == CImageCodecs_FORMAT_JPEG ? CImageCodecs_jpeg_header(d) : CImageCodecs_png_header(d);
    if (status != CImageCodecs_OK) return status;
    d->stage = STAGE_HEADER;
    *header = d->header;
    return CImageCodecs_check_limits(d);
}

int CImageCodecs_decode_rgb8(CImageCodecs_Decoder *d, uint8_t *pixels, size_t capacity) {
    if (d->stage != STAGE_HEADER) return CImageCodecs_fail(d, CImageCodecs_ERR_USAGE, "decode called out of order");
    if (!pixels || capacity / 3 / d->header.width < d->header.height) {
        return CImageCodecs_fail(d, CImageCodecs_ERR_USAGE, "output buffer too small");
    }
    int status = d->format == CImageCodecs_FORMAT_JPEG ? CImageCodecs_jpeg_decode(d, pixels)
                                                      : CImageCodecs_png_decode(d, pixels);
    if (status == CImageCodecs_OK) d->stage = STAGE_DONE;
    return status;
}

int CImageCodecs_decode_gray_float(CImageCodecs_Decoder *d, float *out, size_t capacity) {
    if (d->stage != STAGE_HEADER) return CImageCodecs_fail(d, CImageCodecs_ERR_USAGE, "decode called out of order");
    int color = d->header.color;
    if (d->format != CImageCodecs_FORMAT_PNG ||
        (color != CImageCodecs_COLOR_GRAY && color != CImageCodecs_COLOR_GRAY_ALPHA)) {
        static const char *names[] = {"?", "gray", "gray+alpha", "RGB", "RGBA", "palette", "YCbCr", "CMYK", "YCCK"};
        const char *name = color >= 1 && color <= 8 ? names[color] : "?";
        return CImageCodecs_fail(d, CImageCodecs_ERR_UNSUPPORTED, "channel images must be grayscale PNG (got %s %s)",
                                 d->format == CImageCodecs_FORMAT_PNG ? "PNG" : "JPEG", name);
    }
    if (!out || capacity / d->header.width < d->header.height) {
        return CImageCodecs_fail(d, CImageCodecs_ERR_USAGE, "output buffer too small");
    }
    int status = CImageCodecs_png_decode_gray(d, out);
    if (status == CImageCodecs_OK) d->stage = STAGE_DONE;
    return status;
}

const char *CImageCodecs_error_message(const CImageCodecs_Decoder *d) { return d->message; }

const char *CImageCodecs_warnings(const CImageCodecs_Decoder *d) { return d->warnings; }

void CImageCodecs_decoder_destroy(CImageCodecs_Decoder *d) {
    if (!d) return;
    if (d->format == CImageCodecs_FORMAT_JPEG) CImageCodecs_jpeg_destroy(d);
    if (d->format == CImageCodecs_FORMAT_PNG) CImageCodecs_png_destroy(d);
    free(d);
}
