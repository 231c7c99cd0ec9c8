/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The cost of one dependent cache miss on this machine: a pointer chase
 * through a random cycle of cache lines in a mapping of MIB MiB with
 * the huge-page advice the module gives its snapshots, every load
 * waiting for the one before (as a card record waits for its slot).
 * Read beside bench_decide's cache-cold figure (docs/performance.md).
 *
 *   bench_chase [MIB=512] [LOADS=2000000]
 */

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include <sys/mman.h>


int
main(int argc, char **argv)
{
    size_t            mib, loads, n, i, j, t, *perm;
    uint64_t          x;
    double            t0, t1;
    struct timespec   ts;
    volatile size_t  *p;

    mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 512;
    loads = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000000;
    n = (mib << 20) / 64;

    p = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    perm = malloc(n * sizeof(size_t));
    if (p == MAP_FAILED || perm == NULL || n < 2) {
        fprintf(stderr, "bench_chase: no memory for %zu MiB\n", mib);
        return 2;
    }

    (void) madvise((void *) p, mib << 20, MADV_HUGEPAGE);

    /* a random order of the lines (Fisher-Yates), chained into a cycle */
    x = 88172645463325252ULL;

    for (i = 0; i < n; i++) {
        perm[i] = i;
    }

    for (i = n - 1; i > 0; i--) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        j = x % (i + 1);
        t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }

    for (i = 0; i < n; i++) {
        p[perm[i] * 8] = perm[(i + 1) % n] * 8;
    }

    free(perm);

    j = 0;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t0 = ts.tv_sec + ts.tv_nsec / 1e9;

    for (i = 0; i < loads; i++) {
        j = p[j];
    }

    clock_gettime(CLOCK_MONOTONIC, &ts);
    t1 = ts.tv_sec + ts.tv_nsec / 1e9;

    printf("pointer chase over %zu MiB: %.1f ns per dependent load "
           "(%zu loads, end %zu)\n", mib, (t1 - t0) * 1e9 / loads, loads,
           j);

    return 0;
}
