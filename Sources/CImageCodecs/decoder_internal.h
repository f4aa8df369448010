// State shared by the codec files; never exported to Swift.
#ifndef CIMAGECODECS_DECODER_INTERNAL_H
#define CIMAGECODECS_DECODER_INTERNAL_H

#include "CImageCodecs.h"

#define CIMAGECODECS_MESSAGE_CAP 256
#define CIMAGECODECS_WARNINGS_CAP 1024

enum { STAGE_NEW = 0, STAGE_HEADER = 1, STAGE_DONE = 2, STAGE_FAILED = 3 };

struct CImageCodecs_Decoder {
    int format;
    const uint8_t *data;
    size_t size;
    CImageCodecs_Limits limits;
    int stage;
    int status;  // of the first failure
    CImageCodecs_Header header;
    char message[CIMAGECODECS_MESSAGE_CAP];
    char warnings[CIMAGECODECS_WARNINGS_CAP];
    void *codec;  // the format's own state, owned by its file
};

int CImageCodecs_fail(CImageCodecs_Decoder *d, int status, const char *fmt, ...);
void CImageCodecs_warn(CImageCodecs_Decoder *d, const char *text);
int CImageCodecs_check_limits(CImageCodecs_Decoder *d);

// One set per format.
int CImageCodecs_jpeg_create(CImageCodecs_Decoder *d);
int CImageCodecs_jpeg_header(CImageCodecs_Decoder *d);
int CImageCodecs_jpeg_decode(CImageCodecs_Decoder *d, uint8_t *pixels);
void CImageCodecs_jpeg_destroy(CImageCodecs_Decoder *d);

int CImageCodecs_png_create(CImageCodecs_Decoder *d);
int CImageCodecs_png_header(CImageCodecs_Decoder *d);
int CImageCodecs_png_decode(CImageCodecs_Decoder *d, uint8_t *pixels);
int CImageCodecs_png_decode_gray(CImageCodecs_Decoder *d, float *out);
void CImageCodecs_png_destroy(CImageCodecs_Decoder *d);

// Expands `count` gray bytes at the start of `row` to RGB triples in place; walking
// backwards keeps every source byte unread-over until it has been used.
static inline void CImageCodecs_gray_to_rgb_inplace(uint8_t *row, size_t count) {
    for (size_t i = count; i-- > 0;) {
        uint8_t v = row[i];
        row[3 * i] = v;
        row[3 * i + 1] = v;
        row[3 * i + 2] = v;
    }
}

#endif
