/* Single-thread copy bandwidth (b[i] = a[i] * 1.0001, read + write counted) at working sets
 * from L2 to DRAM: where a pass's buffers stop fitting in this box's cache.
 *   gcc -O3 -mavx2 tools/compare/copy_bandwidth.c -o /tmp/copy_bandwidth && /tmp/copy_bandwidth
 * The size printed is each of the two buffers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    const size_t sizes[] = {256 << 10, 1 << 20, 4 << 20, 8 << 20, 16 << 20, 64 << 20, 256 << 20};
    for (int s = 0; s < 7; s++) {
        size_t n = sizes[s] / 4;
        float *a = aligned_alloc(64, n * 4), *b = aligned_alloc(64, n * 4);
        memset(a, 1, n * 4);
        memset(b, 0, n * 4);
        int reps = (int)(2e9 / (n * 8));
        if (reps < 3) reps = 3;
        double best = 1e9;
        for (int k = 0; k < 5; k++) {
            double t = now();
            for (int r = 0; r < reps; r++) {
                for (size_t i = 0; i < n; i++) b[i] = a[i] * 1.0001f;
                __asm__ volatile("" ::"r"(b) : "memory");
            }
            t = (now() - t) / reps;
            if (t < best) best = t;
        }
        printf("%8zu KB: %.1f GB/s (read + write)\n", sizes[s] >> 10, n * 8 / best / 1e9);
        free(a);
        free(b);
    }
    return 0;
}
