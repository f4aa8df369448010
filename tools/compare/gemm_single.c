// One library's single-threaded sgemm on the per-thread halves of the engine's GEMM shapes
// (FastVim-T, 224 px, batch 8, rows split over two threads). Multiply-add = 1 FLOP. Link it
// once against each library and run the binaries alternately. Not part of the build:
//   gcc -O2 tools/compare/gemm_single.c -o /tmp/g_openblas -I/usr/include/x86_64-linux-gnu/openblas-pthread -lopenblas
//   gcc -O2 tools/compare/gemm_single.c -o /tmp/g_blis -I/usr/include/blis \
//       /usr/lib/x86_64-linux-gnu/blis-serial/libblis.so.4 -Wl,-rpath,/usr/lib/x86_64-linux-gnu/blis-serial
//   for i in 1 2; do OPENBLAS_NUM_THREADS=1 /tmp/g_openblas openblas; /tmp/g_blis blis; done
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cblas.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
    // in_proj, out_proj, x_proj and dt_proj, each half of a batch-8 pass.
    int shapes[][3] = {{784, 768, 192}, {784, 192, 384}, {56, 44, 384}, {56, 384, 12}};
    const char* library = argc > 1 ? argv[1] : "?";
    for (int s = 0; s < 4; s++) {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * n * k), *c = malloc(sizeof(float) * m * n);
        for (int i = 0; i < m * k; i++) a[i] = (i % 7) * 0.1f;
        for (int i = 0; i < n * k; i++) b[i] = (i % 5) * 0.1f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, a, k, b, k, 0, c, n);
        int runs = 0;
        double t0 = now(), t;
        do {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, a, k, b, k, 0, c, n);
            runs++;
            t = now() - t0;
        } while (t < 0.4);
        printf("%s m %d n %d k %d: %.1f GFLOP/s (multiply-add = 1), %.1f us per call\n", library, m, n, k,
               (double)m * n * k * runs / t / 1e9, t / runs * 1e6);
        free(a); free(b); free(c);
    }
}
