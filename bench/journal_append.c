/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The cost of journaling one decision as a worker pays it
 * (ngx_http_uco_journal_record()): a decision_id, a slot claimed, the
 * record encoded into it and published, the appended counter.  P
 * processes append N records each to one shared ring (anonymous
 * MAP_SHARED, as the file mapping behaves) that holds them all, so no
 * append finds it full, twice:
 *
 *   alone      nothing reads the ring meanwhile (the cost of the append
 *              itself, every slot's cache lines cold as in a ring of
 *              megabytes that a loader drained a lap ago);
 *   drained    this process reads and releases behind the producers as
 *              the loader does, so the slots' and head's cache lines
 *              also travel between cores.
 *
 * The ring's pages are all touched before the clock starts (a worker's
 * ring is mapped and faulted in after its first lap).  With -1 it runs
 * one producer, alone, once: for callgrind's --toggle-collect=
 * bench_append_loop.
 *
 *   build/bench_journal_append [-1] [processes=2] [appends each=200000]
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "uco_journal.h"


static double now_ns(void);
long bench_append_loop(uco_journal_t *j, unsigned node, long n);
static int producer(uco_journal_t *j, unsigned node, long n,
    const char *how);
static int run(uco_journal_t *j, int procs, long n, int drain,
    const char *how);


static double
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e9 + ts.tv_nsec;
}


/* the worker's path; not static, so that callgrind can name it */

long
bench_append_loop(uco_journal_t *j, unsigned node, long n)
{
    long                 i, full;
    size_t               len;
    uint64_t             pos;
    uco_journal_rec_t    r;
    uco_journal_slot_t  *s;

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

    for (i = 0; i < n; i++) {
        r.time_ms = 1795596823118ULL + (uint64_t) i / 1000;
        r.id = uco_journal_next_id(j, r.time_ms, node);
        s = uco_journal_claim(j, &pos);

        if (s == NULL) {
            full++;
            continue;
        }

        len = uco_journal_encode(&r, s->data, sizeof(s->data));
        uco_journal_publish(s, pos, len);
        __atomic_fetch_add(&j->header->appended, 1, __ATOMIC_RELAXED);
    }

    return full;
}


static int
producer(uco_journal_t *j, unsigned node, long n, const char *how)
{
    long    full;
    double  t0, t1;

    /* as a worker does at its start */
    uco_journal_touch(j);

    t0 = now_ns();
    full = bench_append_loop(j, node, n);
    t1 = now_ns();

    printf("%s, producer %u: %ld appends, %.0f ns each (%ld found the "
           "ring full)\n", how, node, n, (t1 - t0) / n, full);

    return 0;
}


/* procs producers; the parent drains alongside (drain) or after them */

static int
run(uco_journal_t *j, int procs, long n, int drain, const char *how)
{
    int          p, done, status;
    size_t       len;
    uint64_t     pos, start;
    const void  *rec;

    fflush(stdout);

    for (p = 0; p < procs; p++) {
        if (fork() == 0) {
            exit(producer(j, (unsigned) p, n, how));
        }
    }

    start = j->header->tail;
    pos = start;
    len = 0;
    done = 0;

    while (done < procs) {
        while (drain
               && uco_journal_read(j, pos, &rec, &len) == UCO_JOURNAL_OK)
        {
            pos++;

            if (pos % 256 == 0) {
                uco_journal_release(j, pos);
            }
        }

        uco_journal_release(j, pos);

        if ((drain ? waitpid(-1, &status, WNOHANG) : wait(&status)) > 0) {
            done++;
        }
    }

    while (uco_journal_read(j, pos, &rec, &len) == UCO_JOURNAL_OK) {
        pos++;
    }

    uco_journal_release(j, pos);

    printf("%s: %llu records read, record %zu bytes\n", how,
           (unsigned long long) (pos - start), len);

    return 0;
}


int
main(int argc, char **argv)
{
    int             procs, once;
    long            n;
    size_t          size;
    void           *mem;
    uint64_t        nslots;
    uco_journal_t   j;

    once = argc > 1 && strcmp(argv[1], "-1") == 0;
    argv += once;
    argc -= once;

    procs = argc > 1 ? atoi(argv[1]) : 2;
    n = argc > 2 ? atol(argv[2]) : 200000;

    if (procs < 1 || procs > 64 || n < 1 || n > 4000000) {
        fprintf(stderr, "usage: %s [-1] [processes] [appends each]\n",
                argv[0]);
        return 2;
    }

    for (nslots = UCO_JOURNAL_MIN_SLOTS; nslots < (uint64_t) procs * n;
         nslots *= 2)
    {
        /* the smallest ring that holds every append */
    }

    size = uco_journal_size(nslots);
    mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
               -1, 0);

    /* init writes every slot's seq: every page is touched */
    if (mem == MAP_FAILED || uco_journal_init(mem, size, nslots) != 0
        || uco_journal_open(&j, mem, size) != 0)
    {
        perror("ring");
        return 1;
    }

    if (once) {
        return bench_append_loop(&j, 0, n) != 0;
    }

    printf("ring of %llu slots (%llu MiB), %d producers\n",
           (unsigned long long) nslots, (unsigned long long) (size >> 20),
           procs);

    run(&j, procs, n, 0, "alone");
    run(&j, procs, n, 1, "drained");

    return 0;
}
