/* oneDNN's dnnl_sgemm on one thread for in_proj's shape (N 768, K 192) at M from 64 to 1568
 * rows: whether a whole-image GEMM of 196 rows (the plain pass's) runs slower per FLOP than
 * the two-thread reference's 784 rows per thread. Best of 50 calls each, twice. Not part of
 * the build:
 *   apt-get install libdnnl-dev
 *   gcc -O2 tools/compare/sgemm_rows.c -o /tmp/sgemm_rows -ldnnl -fopenmp && /tmp/sgemm_rows */
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(void) {
    omp_set_num_threads(1);
    const int n = 768, k = 192, rows[] = {64, 128, 196, 256, 392, 784, 1568};
    float *a = malloc(4 * 1568 * k), *b = malloc(4 * k * n), *c = malloc(4 * 1568 * n);
    for (int i = 0; i < 1568 * k; i++) a[i] = (float)rand() / RAND_MAX - 0.5f;
    for (int i = 0; i < k * n; i++) b[i] = (float)rand() / RAND_MAX - 0.5f;
    for (int round = 0; round < 2; round++)
        for (int r = 0; r < 7; r++) {
            int m = rows[r];
            double best = 1e9;
            for (int it = 0; it < 50; it++) {
                double t0 = now();
                dnnl_sgemm('N', 'N', m, n, k, 1, a, k, b, n, 0, c, n);
                double dt = now() - t0;
                if (dt < best) best = dt;
            }
            printf("M %4d: %7.1f us, %6.1f GFLOP/s (multiply-add = 1)\n", m, best * 1e6, (double)m * n * k / best / 1e9);
        }
    return 0;
}
