/* A server's decoding without the server: two threads that together decode a JPEG RATE
 * times a second (libjpeg, whole image to RGB, as the server does per upload), or, with
 * "spin", burn the same CPU time per event in registers without touching memory. Run a
 * `fastvim bench` beside each to tell how much of the engine's slowdown in a server is the
 * cores' time taken (both modes) and how much is decoding's traffic through the caches
 * (decode beyond spin). Runs until killed; prints the measured decode time first. Not part
 * of the build:
 *   gcc -O2 tools/compare/background_load.c -o /tmp/background_load -ljpeg -lpthread
 *   /tmp/background_load Tests/Fixtures/images/coffee.jpg decode 115 & sleep 0.5
 *   .build/release/fastvim bench --models Tests/Fixtures/fastvim_t.pth --resolutions 224 --batch 8 --iterations 30; kill %1 */
#include <stdio.h>  /* before jpeglib.h, which uses FILE and size_t */
#include <stdlib.h>
#include <jpeglib.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

static unsigned char *file;
static long file_size;
static int spin;
static double rate, decode_seconds;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static void decode(unsigned char *out) {
    struct jpeg_decompress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_decompress(&c);
    jpeg_mem_src(&c, file, file_size);
    jpeg_read_header(&c, TRUE);
    c.out_color_space = JCS_RGB;
    jpeg_start_decompress(&c);
    while (c.output_scanline < c.output_height) {
        JSAMPROW row[1] = {out + (size_t)c.output_scanline * c.output_width * 3};
        jpeg_read_scanlines(&c, row, 1);
    }
    jpeg_finish_decompress(&c);
    jpeg_destroy_decompress(&c);
}

static void *worker(void *unused) {
    (void)unused;
    unsigned char *out = malloc((size_t)64 << 20);
    volatile double x = 1;
    double next = now();
    for (;;) {
        if (spin) {
            double t = now();
            while (now() - t < decode_seconds) x = x * 1.0000001;
        } else {
            decode(out);
        }
        next += 2.0 / rate;  // two threads share the rate
        double wait = next - now();
        if (wait > 0) {
            struct timespec s = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
            nanosleep(&s, NULL);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[2], "decode") && strcmp(argv[2], "spin")) || atof(argv[3]) <= 0) {
        fprintf(stderr, "usage: %s FILE.jpg decode|spin RATE\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    fseek(f, 0, SEEK_END);
    file_size = ftell(f);
    rewind(f);
    file = malloc(file_size);
    if (fread(file, 1, file_size, f) != (size_t)file_size) { fprintf(stderr, "short read\n"); return 1; }
    fclose(f);
    spin = !strcmp(argv[2], "spin");
    rate = atof(argv[3]);
    unsigned char *out = malloc((size_t)64 << 20);
    double t = now();
    for (int i = 0; i < 200; i++) decode(out);
    decode_seconds = (now() - t) / 200;
    fprintf(stderr, "decode %.3f ms\n", decode_seconds * 1e3);
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) pthread_create(&threads[i], NULL, worker, NULL);
    pthread_join(threads[0], NULL);
    return 0;
}
