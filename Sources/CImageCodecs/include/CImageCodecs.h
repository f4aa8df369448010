// Thin C layer over libjpeg(-turbo) and libpng.
//
// Both libraries report fatal errors by longjmp, which must never cross a Swift frame, so
// every setjmp/longjmp pair lives inside the functions below and errors come back as a
// status code plus a message kept in the decoder. Decoding is two-step (header, then
// pixels) so that the caller can check the dimensions against its limits before it
// allocates the output.
#ifndef CIMAGECODECS_H
#define CIMAGECODECS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CImageCodecs_OK = 0,
    CImageCodecs_ERR_CORRUPT = 1,
    CImageCodecs_ERR_TRUNCATED = 2,
    CImageCodecs_ERR_UNSUPPORTED = 3,
    CImageCodecs_ERR_LIMIT = 4,
    CImageCodecs_ERR_NOMEM = 5,
    CImageCodecs_ERR_USAGE = 6,
} CImageCodecs_Status;

typedef enum {
    CImageCodecs_FORMAT_JPEG = 1,
    CImageCodecs_FORMAT_PNG = 2,
} CImageCodecs_Format;

/// How the samples are stored in the file (after libjpeg's colour-space guess).
typedef enum {
    CImageCodecs_COLOR_GRAY = 1,
    CImageCodecs_COLOR_GRAY_ALPHA = 2,
    CImageCodecs_COLOR_RGB = 3,
    CImageCodecs_COLOR_RGBA = 4,
    CImageCodecs_COLOR_PALETTE = 5,
    CImageCodecs_COLOR_YCBCR = 6,
    CImageCodecs_COLOR_CMYK = 7,
    CImageCodecs_COLOR_YCCK = 8,
} CImageCodecs_Color;

typedef struct {
    uint32_t max_side;          // width and height, each
    uint64_t max_pixels;        // width * height
    uint32_t max_jpeg_scans;    // progressive JPEGs with thousands of scans are a CPU bomb
    uint32_t max_png_chunk;     // largest ancillary chunk libpng may allocate (bytes)
    uint32_t max_png_chunks;    // how many ancillary chunks libpng may cache
    uint64_t max_codec_memory;  // libjpeg's own working memory (bytes)
} CImageCodecs_Limits;

typedef struct {
    uint32_t width;
    uint32_t height;
    int32_t components;   // samples per pixel as stored
    int32_t bit_depth;    // bits per sample as stored
    int32_t color;        // CImageCodecs_Color
    int32_t progressive;  // JPEG: progressive / multi-scan; PNG: Adam7 interlaced
} CImageCodecs_Header;

typedef struct CImageCodecs_Decoder CImageCodecs_Decoder;

/// Returns NULL only when out of memory. `data` must stay valid until destroy.
CImageCodecs_Decoder *CImageCodecs_decoder_create(
    int format, const uint8_t *data, size_t size, const CImageCodecs_Limits *limits);

/// Reads the header only: no image-sized allocation happens here.
int CImageCodecs_read_header(CImageCodecs_Decoder *decoder, CImageCodecs_Header *header);

/// Decodes into `pixels`: width * height * 3 bytes, RGB interleaved, rows packed.
int CImageCodecs_decode_rgb8(CImageCodecs_Decoder *decoder, uint8_t *pixels, size_t capacity);

/// Decodes a grayscale PNG (gray or gray+alpha, any bit depth, interlaced or not; alpha is
/// dropped) at full precision into `out`: width * height floats, rows packed, each
/// sample / (2^bit_depth - 1) for the file's own bit depth, so in [0, 1]. `capacity` counts
/// floats. JPEG and palette/RGB/RGBA PNGs are refused with CImageCodecs_ERR_UNSUPPORTED.
int CImageCodecs_decode_gray_float(CImageCodecs_Decoder *decoder, float *out, size_t capacity);

/// Last error message (empty when none); valid until the decoder is destroyed.
const char *CImageCodecs_error_message(const CImageCodecs_Decoder *decoder);

/// Warnings the libraries emitted, newline separated (empty when none).
const char *CImageCodecs_warnings(const CImageCodecs_Decoder *decoder);

void CImageCodecs_decoder_destroy(CImageCodecs_Decoder *decoder);

#ifdef __cplusplus
}
#endif

#endif
