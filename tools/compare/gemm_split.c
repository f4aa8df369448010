// Side by side in one process: the engine's GEMM shapes (FastVim-T, 224 px, batch 8) through
// (a) OpenBLAS's own threads on the whole matrix and (b) the engine's split, rows halved over
// two threads each running single-threaded OpenBLAS (BLIS: gemm_single.c). Multiply-add = 1
// FLOP. Not part of the build:
//   gcc -O2 -pthread tools/compare/gemm_split.c -o /tmp/gemm_split \
//       -I/usr/include/x86_64-linux-gnu/openblas-pthread -lopenblas && /tmp/gemm_split
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cblas.h>

void openblas_set_num_threads(int);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct { int m, n, k; const float *a, *b; float *c; } Job;

static void* half(void* p) {
    Job* j = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->m, j->n, j->k, 1, j->a, j->k, j->b, j->k, 0, j->c, j->n);
    return NULL;
}

static void split(int m, int n, int k, const float* a, const float* b, float* c) {
    int top = m / 2;
    Job jobs[2] = {{top, n, k, a, b, c}, {m - top, n, k, a + (size_t)top * k, b, c + (size_t)top * n}};
    pthread_t t;
    pthread_create(&t, NULL, half, &jobs[1]);
    half(&jobs[0]);
    pthread_join(t, NULL);
}

static double rate(int mode, int m, int n, int k, const float* a, const float* b, float* c) {
    openblas_set_num_threads(mode == 0 ? 2 : 1);
    int runs = 0;
    double t0 = now(), t;
    do {
        if (mode == 0) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, a, k, b, k, 0, c, n);
        else split(m, n, k, a, b, c);
        runs++;
        t = now() - t0;
    } while (t < 0.3);
    return (double)m * n * k * runs / t / 1e9;
}

int main(void) {
    // in_proj, out_proj, x_proj and dt_proj of one block (both directions share shapes).
    int shapes[][3] = {{1568, 768, 192}, {1568, 192, 384}, {112, 44, 384}, {112, 384, 12}};
    const char* names[] = {"in_proj", "out_proj", "x_proj", "dt_proj"};
    for (int round = 0; round < 3; round++) {
        for (int s = 0; s < 4; s++) {
            int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * n * k), *c = malloc(sizeof(float) * m * n);
            for (int i = 0; i < m * k; i++) a[i] = (i % 7) * 0.1f;
            for (int i = 0; i < n * k; i++) b[i] = (i % 5) * 0.1f;
            double threaded = rate(0, m, n, k, a, b, c), halves = rate(1, m, n, k, a, b, c);
            printf("round %d %-8s m %4d n %3d k %3d: OpenBLAS 2 threads %5.1f GFLOP/s, rows split over 2 threads %5.1f GFLOP/s\n",
                   round + 1, names[s], m, n, k, threaded, halves);
            free(a); free(b); free(c);
        }
    }
}
