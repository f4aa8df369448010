// JPEG through libjpeg(-turbo), as Pillow decodes it: default ISLOW IDCT and fancy
// upsampling, libjpeg's own colour-space guess from the JFIF/Adobe markers, grayscale
// replicated to RGB, CMYK/YCCK converted the way Pillow's convert("RGB") does it
// (samples inverted, Adobe convention, then r = 255 - c' - k' style MULDIV255 maths).
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "decoder_internal.h"

typedef struct {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr err;
    struct jpeg_source_mgr src;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    CImageCodecs_Decoder *owner;
    int created;
    int truncated;      // set by the source manager when the data runs out
    int scans_exceeded; // set by the progress monitor
} JpegState;

static JpegState *state_of(j_common_ptr cinfo) {
    // cinfo is the first member, so the state starts at the same address.
    return (JpegState *)cinfo;
}

static void on_error_exit(j_common_ptr cinfo) {
    JpegState *s = state_of(cinfo);
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    int code = cinfo->err->msg_code;
    int status = CImageCodecs_ERR_CORRUPT;
    if (s->truncated || code == JERR_INPUT_EOF || code == JERR_INPUT_EMPTY) {
        status = CImageCodecs_ERR_TRUNCATED;
        snprintf(text, sizeof text, "JPEG data ends before the image is complete");
    } else if (s->scans_exceeded) {
        status = CImageCodecs_ERR_LIMIT;
    } else if (code == JERR_OUT_OF_MEMORY) {
        status = CImageCodecs_ERR_NOMEM;
    } else if (code == JERR_BAD_PRECISION || code == JERR_NOT_COMPILED ||
               code == JERR_CONVERSION_NOTIMPL || code == JERR_ARITH_NOTIMPL) {
        status = CImageCodecs_ERR_UNSUPPORTED;
    }
    CImageCodecs_fail(s->owner, status, "JPEG: %s", text);
    longjmp(s->jump, 1);
}

// libjpeg's default prints to stderr; a server keeps warnings with the request instead.
static void on_output_message(j_common_ptr cinfo) {
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    CImageCodecs_warn(state_of(cinfo)->owner, text);
}

static void on_emit_message(j_common_ptr cinfo, int level) {
    if (level < 0) {  // warnings only; trace messages (level >= 1) are noise
        if (cinfo->err->num_warnings++ < 8) on_output_message(cinfo);
    }
}

static void src_init(j_decompress_ptr cinfo) { (void)cinfo; }

// The whole file is in memory: needing more means it is truncated. libjpeg's own memory
// source would insert a fake EOI and hand back a grey-filled image; Pillow refuses such
// files ("image file is truncated"), and so do we.
static boolean src_fill(j_decompress_ptr cinfo) {
    JpegState *s = state_of((j_common_ptr)cinfo);
    s->truncated = 1;
    ERREXIT(cinfo, JERR_INPUT_EOF);
    return FALSE;
}

static void src_skip(j_decompress_ptr cinfo, long count) {
    struct jpeg_source_mgr *src = cinfo->src;
    if (count <= 0) return;
    if ((size_t)count > src->bytes_in_buffer) src_fill(cinfo);
    src->next_input_byte += count;
    src->bytes_in_buffer -= (size_t)count;
}

static void src_term(j_decompress_ptr cinfo) { (void)cinfo; }

static void on_progress(j_common_ptr cinfo) {
    JpegState *s = state_of(cinfo);
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (cinfo->is_decompressor && d->input_scan_number > (int)s->owner->limits.max_jpeg_scans) {
        s->scans_exceeded = 1;
        CImageCodecs_fail(s->owner, CImageCodecs_ERR_LIMIT, "JPEG has more than %u scans",
                          s->owner->limits.max_jpeg_scans);
        longjmp(s->jump, 1);
    }
}

int CImageCodecs_jpeg_create(CImageCodecs_Decoder *d) {
    JpegState *s = calloc(1, sizeof *s);
    if (!s) return CImageCodecs_ERR_NOMEM;
    d->codec = s;
    s->owner = d;
    s->cinfo.err = jpeg_std_error(&s->err);
    s->err.error_exit = on_error_exit;
    s->err.output_message = on_output_message;
    s->err.emit_message = on_emit_message;
    if (setjmp(s->jump)) return d->status;
    jpeg_create_decompress(&s->cinfo);
    s->created = 1;
    s->src.init_source = src_init;
    s->src.fill_input_buffer = src_fill;
    s->src.skip_input_data = src_skip;
    s->src.resync_to_restart = jpeg_resync_to_restart;
    s->src.term_source = src_term;
    s->src.next_input_byte = d->data;
    s->src.bytes_in_buffer = d->size;
    s->cinfo.src = &s->src;
    s->progress.progress_monitor = on_progress;
    s->cinfo.progress = &s->progress;
    if (d->limits.max_codec_memory) s->cinfo.mem->max_memory_to_use = (long)d->limits.max_codec_memory;
    return CImageCodecs_OK;
}

int CImageCodecs_jpeg_header(CImageCodecs_Decoder *d) {
    JpegState *s = d->codec;
    if (setjmp(s->jump)) return d->status;
    jpeg_read_header(&s->cinfo, TRUE);
    struct jpeg_decompress_struct *c = &s->cinfo;
    d->header.width = c->image_width;
    d->header.height = c->image_height;
    d->header.components = c->num_components;
    d->header.bit_depth = c->data_precision;
    d->header.progressive = c->progressive_mode ? 1 : 0;
    switch (c->jpeg_color_space) {
    case JCS_GRAYSCALE: d->header.color = CImageCodecs_COLOR_GRAY; break;
    case JCS_RGB: d->header.color = CImageCodecs_COLOR_RGB; break;
    case JCS_YCbCr: d->header.color = CImageCodecs_COLOR_YCBCR; break;
    case JCS_CMYK: d->header.color = CImageCodecs_COLOR_CMYK; break;
    case JCS_YCCK: d->header.color = CImageCodecs_COLOR_YCCK; break;
    default:
        // Two-component and other exotic layouts: Pillow refuses them too.
        return CImageCodecs_fail(d, CImageCodecs_ERR_UNSUPPORTED,
                                 "JPEG with %d components in an unknown colour space", c->num_components);
    }
    if (c->data_precision != 8) {
        return CImageCodecs_fail(d, CImageCodecs_ERR_UNSUPPORTED, "JPEG with %d-bit samples", c->data_precision);
    }
    return CImageCodecs_OK;
}

static inline uint8_t muldiv255(int a, int b) {
    int t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

// Pillow opens 4-component JPEGs as "CMYK;I" (inverted samples, Adobe polarity) and then
// converts with r = clip(nk - c*nk/255), nk = 255 - k.
static void cmyk_row_to_rgb(const uint8_t *in, uint8_t *out, size_t width) {
    for (size_t x = 0; x < width; x++, in += 4, out += 3) {
        int c = 255 - in[0], m = 255 - in[1], y = 255 - in[2], nk = in[3];  // nk = 255 - (255 - in[3])
        int r = nk - muldiv255(c, nk), g = nk - muldiv255(m, nk), b = nk - muldiv255(y, nk);
        out[0] = (uint8_t)(r < 0 ? 0 : r);
        out[1] = (uint8_t)(g < 0 ? 0 : g);
        out[2] = (uint8_t)(b < 0 ? 0 : b);
    }
}

int CImageCodecs_jpeg_decode(CImageCodecs_Decoder *d, uint8_t *pixels) {
    JpegState *s = d->codec;
    struct jpeg_decompress_struct *c = &s->cinfo;
    if (setjmp(s->jump)) return d->status;
    int color = d->header.color;
    int cmyk = color == CImageCodecs_COLOR_CMYK || color == CImageCodecs_COLOR_YCCK;
    int gray = color == CImageCodecs_COLOR_GRAY;
    c->out_color_space = cmyk ? JCS_CMYK : gray ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(c);
    if (c->output_width != d->header.width || c->output_height != d->header.height) {
        return CImageCodecs_fail(d, CImageCodecs_ERR_CORRUPT, "JPEG output size differs from its header");
    }
    size_t width = c->output_width;
    JSAMPARRAY scratch = NULL;
    if (cmyk) {
        // Freed with the decompressor, so a longjmp cannot leak it.
        scratch = (*c->mem->alloc_sarray)((j_common_ptr)c, JPOOL_IMAGE, (JDIMENSION)(width * 4), 1);
    }
    while (c->output_scanline < c->output_height) {
        uint8_t *row = pixels + (size_t)c->output_scanline * width * 3;
        if (cmyk) {
            if (jpeg_read_scanlines(c, scratch, 1) != 1) break;
            cmyk_row_to_rgb(scratch[0], row, width);
        } else {
            JSAMPROW rows[1] = {row};
            if (jpeg_read_scanlines(c, rows, 1) != 1) break;
            if (gray) CImageCodecs_gray_to_rgb_inplace(row, width);
        }
    }
    if (c->output_scanline < c->output_height) {
        return CImageCodecs_fail(d, CImageCodecs_ERR_TRUNCATED, "JPEG data ends before the image is complete");
    }
    // Trailing garbage after the last scan is harmless; abort rather than finish so that a
    // missing EOI is not reported as an error (Pillow accepts such files too).
    jpeg_abort_decompress(c);
    return CImageCodecs_OK;
}

void CImageCodecs_jpeg_destroy(CImageCodecs_Decoder *d) {
    JpegState *s = d->codec;
    if (!s) return;
    if (s->created) jpeg_destroy_decompress(&s->cinfo);
    free(s);
    d->codec = NULL;
}
