// libFuzzer harness for Sources/CImageCodecs (JPEG via libjpeg-turbo, PNG via libpng16).
//
// Mirrors what FastVimImages.ImageDecoder does with untrusted bytes: sniff the format by
// its magic bytes, create a decoder, read the header (which applies the limits), and only
// when that succeeds allocate width * height * 3 bytes and decode into them. Everything is
// destroyed afterwards, so LeakSanitizer sees any allocation the C layer loses, including
// on the setjmp/longjmp error paths.
//
// Limits are the server defaults except max_pixels/max_side, which are kept small (4 MP,
// 4096 per side) so that the fuzzer does not spend its time on huge allocations.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "CImageCodecs.h"

// libjpeg and libpng themselves are not instrumented (they are the system libraries), so
// ASan only sees their writes through intercepted calls such as memcpy. A guard area after
// the pixel buffer, checked after the decode, catches a linear overrun by any code.
#define GUARD_BYTES 256
#define GUARD_VALUE 0xA5

#define FUZZ_MAX_SIDE 4096u
#define FUZZ_MAX_PIXELS (4ull * 1000 * 1000)

static int sniff(const uint8_t *data, size_t size) {
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return CImageCodecs_FORMAT_JPEG;
    if (size >= 8 && memcmp(data, png_magic, 8) == 0) return CImageCodecs_FORMAT_PNG;
    return 0;  // the server refuses anything else before it reaches C
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int format = sniff(data, size);
    if (!format) return 0;

    CImageCodecs_Limits limits;
    memset(&limits, 0, sizeof limits);
    limits.max_side = FUZZ_MAX_SIDE;
    limits.max_pixels = FUZZ_MAX_PIXELS;
    limits.max_jpeg_scans = 1000;           // DecodeLimits.default
    limits.max_png_chunk = 8u << 20;        // DecodeLimits.default
    limits.max_png_chunks = 1000;           // DecodeLimits.default
    limits.max_codec_memory = FUZZ_MAX_PIXELS * 8 + (64ull << 20);  // as ImageDecoder.swift

    CImageCodecs_Decoder *d = CImageCodecs_decoder_create(format, data, size, &limits);
    if (!d) return 0;

    CImageCodecs_Header h;
    memset(&h, 0, sizeof h);
    int status = CImageCodecs_read_header(d, &h);
    // Touch the strings: they must always be NUL-terminated.
    volatile size_t sink = strlen(CImageCodecs_error_message(d)) + strlen(CImageCodecs_warnings(d));
    (void)sink;

    if (status == CImageCodecs_OK && h.width > 0 && h.height > 0 && h.width <= FUZZ_MAX_SIDE &&
        h.height <= FUZZ_MAX_SIDE && (uint64_t)h.width * h.height <= FUZZ_MAX_PIXELS) {
        size_t capacity = (size_t)h.width * h.height * 3;
        uint8_t *pixels = malloc(capacity + GUARD_BYTES);
        if (pixels) {
            memset(pixels + capacity, GUARD_VALUE, GUARD_BYTES);
            status = CImageCodecs_decode_rgb8(d, pixels, capacity);
            for (size_t i = 0; i < GUARD_BYTES; i++) {
                if (pixels[capacity + i] != GUARD_VALUE) {
                    fprintf(stderr, "pixel buffer overrun: %ux%u, status %d, guard byte %zu changed\n",
                            h.width, h.height, status, i);
                    abort();
                }
            }
            sink = strlen(CImageCodecs_error_message(d)) + strlen(CImageCodecs_warnings(d));
            if (status == CImageCodecs_OK) {
                // Read the output so that MSan-style tools (and the optimiser) cannot skip it.
                uint8_t acc = 0;
                for (size_t i = 0; i < capacity; i += 4093) acc ^= pixels[i];
                sink = acc;
            }
            free(pixels);
        }
    }
    CImageCodecs_decoder_destroy(d);
    return 0;
}
