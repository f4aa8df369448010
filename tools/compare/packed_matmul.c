/* oneDNN's dnnl_sgemm (packs the weight on every call) against its matmul primitive over a
 * weight packed once (brgemm on AVX-512), one thread, on FastVim-T's per-image shapes at
 * 224 px: in_proj (196 x 192 . 192 x 768) and out_proj (196 x 384 . 384 x 192), over 24
 * distinct weights of each (one per block, as a pass reads them), four images, in two
 * orders: image-major (each image through every block, as the plain pass runs) and
 * block-major (each block's weights over the four images in turn). Also: the largest
 * difference between the two results (the same sums in the same order give 0). Not part of
 * the build:
 *   apt-get install libdnnl-dev
 *   gcc -O2 tools/compare/packed_matmul.c -o /tmp/packed_matmul -ldnnl -fopenmp && /tmp/packed_matmul */
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHECK(x) do { dnnl_status_t s_ = (x); if (s_ != dnnl_success) { printf("oneDNN error %d at line %d\n", s_, __LINE__); exit(1); } } while (0)
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static dnnl_engine_t engine;
static dnnl_stream_t stream;

typedef struct { dnnl_primitive_desc_t pd; dnnl_primitive_t p; } Matmul;

static Matmul make(int m, int k, int n) {
    Matmul r;
    dnnl_memory_desc_t a, w, c;
    dnnl_dims_t da = {m, k}, dw = {k, n}, dc = {m, n};
    CHECK(dnnl_memory_desc_init_by_tag(&a, 2, da, dnnl_f32, dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&w, 2, dw, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&c, 2, dc, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t d;
    CHECK(dnnl_matmul_desc_init(&d, &a, &w, NULL, &c));
    CHECK(dnnl_primitive_desc_create(&r.pd, &d, NULL, engine, NULL));
    CHECK(dnnl_primitive_create(&r.p, r.pd));
    return r;
}

static const dnnl_memory_desc_t *md(Matmul m, dnnl_query_t what) { return dnnl_primitive_desc_query_md(m.pd, what, 0); }

static void *pack(Matmul m, const float *w, int k, int n) {
    dnnl_memory_desc_t plain;
    dnnl_dims_t d = {k, n};
    CHECK(dnnl_memory_desc_init_by_tag(&plain, 2, d, dnnl_f32, dnnl_ab));
    size_t bytes = (dnnl_memory_desc_get_size(md(m, dnnl_query_weights_md)) + 63) / 64 * 64;
    void *out = aligned_alloc(64, bytes);
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t r;
    dnnl_memory_t from, to;
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, &plain, engine, md(m, dnnl_query_weights_md), engine, NULL));
    CHECK(dnnl_primitive_create(&r, rpd));
    CHECK(dnnl_memory_create(&from, &plain, engine, (void *)w));
    CHECK(dnnl_memory_create(&to, md(m, dnnl_query_weights_md), engine, out));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    CHECK(dnnl_primitive_execute(r, stream, 2, args));
    CHECK(dnnl_stream_wait(stream));
    return out;
}

static void run(Matmul m, const float *a, void *w, float *c) {
    dnnl_memory_t am, wm, cm;
    CHECK(dnnl_memory_create(&am, md(m, dnnl_query_src_md), engine, (void *)a));
    CHECK(dnnl_memory_create(&wm, md(m, dnnl_query_weights_md), engine, w));
    CHECK(dnnl_memory_create(&cm, md(m, dnnl_query_dst_md), engine, c));
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, cm}};
    CHECK(dnnl_primitive_execute(m.p, stream, 3, args));
    dnnl_memory_destroy(am); dnnl_memory_destroy(wm); dnnl_memory_destroy(cm);
}

static float *random_floats(size_t n) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = (float)rand() / RAND_MAX - 0.5f;
    return p;
}

enum { M = 196, D = 192, E = 384, BLOCKS = 24, IMAGES = 4 };

int main(void) {
    omp_set_num_threads(1);
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    Matmul in = make(M, D, 2 * E), out = make(M, E, D);
    const char *impl;
    CHECK(dnnl_primitive_desc_query(in.pd, dnnl_query_impl_info_str, 0, &impl));
    float *win[BLOCKS], *wout[BLOCKS];
    void *pin[BLOCKS], *pout[BLOCKS];
    for (int l = 0; l < BLOCKS; l++) {
        win[l] = random_floats(D * 2 * E); wout[l] = random_floats(E * D);
        pin[l] = pack(in, win[l], D, 2 * E); pout[l] = pack(out, wout[l], E, D);
    }
    float *a = random_floats(IMAGES * M * D), *g = random_floats(IMAGES * M * E);
    float *xz = malloc(4 * IMAGES * M * 2 * E), *o = malloc(4 * IMAGES * M * D);
    float *xz2 = malloc(4 * IMAGES * M * 2 * E), *o2 = malloc(4 * IMAGES * M * D);
    const double flop = (double)IMAGES * BLOCKS * M * (D * 2.0 * E + E * D);
    printf("matmul kernel: %s; GFLOP/s (multiply-add = 1) over %d blocks x %d images\n", impl, BLOCKS, IMAGES);
    for (int round = 0; round < 5; round++) {
        double r[4], t;
        for (int order = 0; order < 2; order++) {
            t = now();
            for (int x = 0; x < BLOCKS * IMAGES; x++) {
                int i = order ? x % IMAGES : x / BLOCKS, l = order ? x / IMAGES : x % BLOCKS;
                dnnl_sgemm('N', 'N', M, 2 * E, D, 1, a + i * M * D, D, win[l], 2 * E, 0, xz + i * M * 2 * E, 2 * E);
                dnnl_sgemm('N', 'N', M, D, E, 1, g + i * M * E, E, wout[l], D, 0, o + i * M * D, D);
            }
            r[2 * order] = flop / (now() - t) / 1e9;
            t = now();
            for (int x = 0; x < BLOCKS * IMAGES; x++) {
                int i = order ? x % IMAGES : x / BLOCKS, l = order ? x / IMAGES : x % BLOCKS;
                run(in, a + i * M * D, pin[l], xz2 + i * M * 2 * E);
                run(out, g + i * M * E, pout[l], o2 + i * M * D);
            }
            r[2 * order + 1] = flop / (now() - t) / 1e9;
        }
        float diff = 0;
        for (int i = 0; i < IMAGES * M * 2 * E; i++) diff = fmaxf(diff, fabsf(xz[i] - xz2[i]));
        for (int i = 0; i < IMAGES * M * D; i++) diff = fmaxf(diff, fabsf(o[i] - o2[i]));
        printf("image-major: sgemm %6.1f packed %6.1f | block-major: sgemm %6.1f packed %6.1f | max difference %g\n",
               r[0], r[1], r[2], r[3], diff);
    }
    return 0;
}
