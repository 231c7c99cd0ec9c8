/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The cost of journaling one decision as a worker pays it: a decision_id,
 * the msgpack encoding on the stack, a slot claimed and filled.  P
 * processes append at once to one shared ring (anonymous MAP_SHARED, as
 * the file mapping behaves), while this process plays the loader and
 * releases what they published.
 *
 *   build/bench_journal_append [processes=2] [appends per process=2000000]
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "uco_journal.h"


#define NSLOTS  (1u << 16)


static double now_ns(void);
static int producer(uco_journal_t *j, unsigned node, long n);


static double
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e9 + ts.tv_nsec;
}


static int
producer(uco_journal_t *j, unsigned node, long n)
{
    long               i, full;
    size_t             len;
    double             t0, t1;
    uco_journal_rec_t  r;
    uint8_t            buf[UCO_JOURNAL_RECORD_MAX];

    memset(&r, 0, sizeof(r));
    r.partner = 100042;
    r.card = 7654321;
    r.programme = 10000001;
    r.decision = UCO_DECISION_ELIGIBLE;
    r.discount = 15000;
    r.amount = 150000;
    r.generation = 12;
    r.node = node;
    r.terminal_len = 6;
    memcpy(r.terminal, "till-7", 6);

    full = 0;
    t0 = now_ns();

    for (i = 0; i < n; i++) {
        r.time_ms = 1795596823118ULL + (uint64_t) i / 1000;
        r.id = uco_journal_next_id(j, r.time_ms, node);
        len = uco_journal_encode(&r, buf, sizeof(buf));

        if (uco_journal_append(j, buf, len) != UCO_JOURNAL_OK) {
            full++;
        }
    }

    t1 = now_ns();

    printf("producer %u: %ld appends, %.0f ns each (%ld found the ring "
           "full), record %zu bytes\n", node, n, (t1 - t0) / n, full, len);

    return 0;
}


int
main(int argc, char **argv)
{
    int             p, procs, status;
    long            n;
    size_t          len, size;
    uint64_t        pos, done;
    void           *mem;
    const void     *rec;
    uco_journal_t   j;

    procs = argc > 1 ? atoi(argv[1]) : 2;
    n = argc > 2 ? atol(argv[2]) : 2000000;

    if (procs < 1 || procs > 64 || n < 1) {
        fprintf(stderr, "usage: %s [processes] [appends per process]\n",
                argv[0]);
        return 2;
    }

    size = uco_journal_size(NSLOTS);
    mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
               -1, 0);

    if (mem == MAP_FAILED || uco_journal_init(mem, size, NSLOTS) != 0
        || uco_journal_open(&j, mem, size) != 0)
    {
        perror("ring");
        return 1;
    }

    for (p = 0; p < procs; p++) {
        if (fork() == 0) {
            return producer(&j, (unsigned) p, n);
        }
    }

    /* the consumer: release in batches, as the loader does */
    pos = 0;
    done = 0;

    while (done < (uint64_t) procs) {
        while (uco_journal_read(&j, pos, &rec, &len) == UCO_JOURNAL_OK) {
            pos++;

            if (pos % 256 == 0) {
                uco_journal_release(&j, pos);
            }
        }

        uco_journal_release(&j, pos);

        if (waitpid(-1, &status, WNOHANG) > 0) {
            done++;
        }
    }

    printf("consumer: %llu records read; appended %llu\n",
           (unsigned long long) pos, (unsigned long long) j.header->head);

    return 0;
}
