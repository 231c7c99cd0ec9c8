/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * In-process decision cost: identifier key (its slot prefetched at
 * once, as the handler does before it authenticates the partner),
 * partner lookup, card lookup and programme evaluation over a real
 * snapshot file, in the handler's order, without HTTP.  Two passes:
 * every key of the file once in its (shuffled) order, so each lookup
 * lands on memory the previous ones did not touch (cache-cold at
 * millions of cards), and the first 64 keys over and over (cache-hot).
 * Then, after the caches are flushed, the same two passes reading each
 * found card's id after its decision, as the handler does for the
 * answer and the journal (a read of the card record, fetched while the
 * programmes are evaluated).  Consecutive
 * decisions are independent (nothing carries from one to the next but
 * the counters), so the processor may overlap one decision's miss with
 * the next one's, in both passes and in every format alike.  Driven by
 * bench/decide.sh.
 *
 *   bench_decide [-n] [-s] SNAPSHOT KEYS PARTNER [REPEATS]
 *
 * KEYS holds "kind TAB value" lines.  -n skips the checksum and record
 * validation (for callgrind, which would spend minutes hashing the
 * file); bench_decide_loop() is the function to collect.  -s maps the
 * file without the huge-page advice the module gives.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "uco_snap.h"


#define BENCH_HOT_KEYS  64
/* written over between the passes: more than the last-level cache */
#define BENCH_FLUSH     (256 << 20)


typedef struct {
    uco_id_kind_e  kind;
    uint32_t       len;
    const char    *value;
} bench_key_t;


static double bench_now(void);
static void bench_mapping(const void *p);
static bench_key_t *bench_read_keys(const char *path, size_t *n);
static inline uint64_t bench_decide(const uco_snap_t *s,
    const bench_key_t *keys, size_t n, size_t rounds, uint64_t partner,
    const uco_snap_when_t *w, uint64_t counts[UCO_DECISION_CARD_UNKNOWN + 1],
    int ids);
/* not inlined into main(): callgrind collects inside these by name */
__attribute__((noinline)) uint64_t bench_decide_loop(const uco_snap_t *s,
    const bench_key_t *keys, size_t n, size_t rounds, uint64_t partner,
    const uco_snap_when_t *w, uint64_t counts[UCO_DECISION_CARD_UNKNOWN + 1]);
__attribute__((noinline)) uint64_t bench_decide_id_loop(
    const uco_snap_t *s, const bench_key_t *keys, size_t n, size_t rounds,
    uint64_t partner, const uco_snap_when_t *w,
    uint64_t counts[UCO_DECISION_CARD_UNKNOWN + 1]);


static double
bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


/* how much of the mapping at p the kernel maps with 2 MiB pages */

static void
bench_mapping(const void *p)
{
    char           line[256];
    FILE          *f;
    unsigned long  lo, hi, kb;
    int            in;

    f = fopen("/proc/self/smaps", "r");
    if (f == NULL) {
        return;
    }

    in = 0;

    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '/')) {
            in = (unsigned long) p >= lo && (unsigned long) p < hi;

        } else if (in && sscanf(line, "FilePmdMapped: %lu kB", &kb) == 1) {
            printf("mapped with 2 MiB pages: %lu MiB\n", kb / 1024);
        }
    }

    fclose(f);
}


static bench_key_t *
bench_read_keys(const char *path, size_t *n)
{
    char         *buf, *p, *tab, *nl;
    long          size;
    FILE         *f;
    size_t        cap;
    bench_key_t  *keys;

    f = fopen(path, "r");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        perror(path);
        exit(2);
    }

    buf = malloc(size + 1);
    if (buf == NULL || fread(buf, 1, size, f) != (size_t) size) {
        perror(path);
        exit(2);
    }

    fclose(f);
    buf[size] = '\0';

    cap = 1024;
    keys = malloc(cap * sizeof(bench_key_t));
    *n = 0;

    for (p = buf; keys != NULL && *p != '\0'; p = nl + 1) {
        nl = strchr(p, '\n');
        tab = strchr(p, '\t');

        if (nl == NULL || tab == NULL || tab > nl) {
            fprintf(stderr, "%s: a line is not \"kind TAB value\"\n", path);
            exit(2);
        }

        *nl = '\0';

        if (*n == cap) {
            cap *= 2;
            keys = realloc(keys, cap * sizeof(bench_key_t));
            if (keys == NULL) {
                break;
            }
        }

        keys[*n].kind = strncmp(p, "hashpan", 7) == 0 ? UCO_ID_HASHPAN
                                                      : UCO_ID_SOCIAL;
        keys[*n].value = tab + 1;
        keys[*n].len = (uint32_t) (nl - tab - 1);
        (*n)++;
    }

    if (keys == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }

    return keys;
}


/*
 * What the handler does per request once the query is parsed: the
 * decision (lookup and evaluation), and with ids the card's id after it.
 */

static inline uint64_t
bench_decide(const uco_snap_t *s, const bench_key_t *keys, size_t n,
    size_t rounds, uint64_t partner, const uco_snap_when_t *w,
    uint64_t counts[UCO_DECISION_CARD_UNKNOWN + 1], int ids)
{
    size_t                     i, r;
    uint8_t                    key[UCO_SNAP_KEY_LEN];
    uint64_t                   sum, h;
    uco_snap_ref_t             card;
    uco_snap_result_t          res;
    const uco_snap_partner_t  *p;

    sum = 0;

    for (r = 0; r < rounds; r++) {
        for (i = 0; i < n; i++) {
            /* the query's key first, its slot fetched meanwhile */
            if (uco_snap_key(keys[i].kind, keys[i].value, keys[i].len, key)
                != UCO_SNAP_OK)
            {
                continue;
            }

            h = uco_snap_prefetch(s, key);

            p = uco_snap_find_partner(s, partner);

            if (p == NULL) {
                continue;
            }

            /* as the module does: a base alone, or a delta over one */
            (void) uco_snap_lookup_hash(s, key, h, &card);
            uco_snap_decide(s, p, &card, w, 150000, &res);

            counts[res.decision]++;
            sum += res.discount;

            if (ids) {
                sum += uco_snap_ref_id(&card);
            }
        }
    }

    return sum;
}


/* the decision alone: the loop of make test-cost's budget */

uint64_t
bench_decide_loop(const uco_snap_t *s, const bench_key_t *keys, size_t n,
    size_t rounds, uint64_t partner, const uco_snap_when_t *w,
    uint64_t counts[UCO_DECISION_CARD_UNKNOWN + 1])
{
    return bench_decide(s, keys, n, rounds, partner, w, counts, 0);
}


uint64_t
bench_decide_id_loop(const uco_snap_t *s, const bench_key_t *keys,
    size_t n, size_t rounds, uint64_t partner, const uco_snap_when_t *w,
    uint64_t counts[UCO_DECISION_CARD_UNKNOWN + 1])
{
    return bench_decide(s, keys, n, rounds, partner, w, counts, 1);
}


int
main(int argc, char **argv)
{
    int                rc, fd, verify, huge;
    void              *p, *flush;
    double             t0, t1, t2, t3, t4, t5;
    size_t             n, hot, rounds, i;
    uint64_t           partner, sum, idsum;
    uint64_t           counts[UCO_DECISION_CARD_UNKNOWN + 1];
    uint64_t           idcounts[UCO_DECISION_CARD_UNKNOWN + 1];
    uco_snap_t         s;
    struct stat        st;
    bench_key_t       *keys;
    uco_snap_when_t    w;

    verify = 1;
    huge = 1;

    while (argc > 1 && argv[1][0] == '-') {
        if (strcmp(argv[1], "-n") == 0) {
            verify = 0;

        } else if (strcmp(argv[1], "-s") == 0) {
            huge = 0;
        }

        argc--;
        argv++;
    }

    if (argc < 4) {
        fprintf(stderr, "usage: bench_decide [-n] [-s] SNAPSHOT KEYS "
                "PARTNER [REPEATS]\n");
        return 2;
    }

    partner = strtoull(argv[3], NULL, 10);
    rounds = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;

    fd = open(argv[1], O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(argv[1]);
        return 2;
    }

    p = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 2;
    }

    /* as the module maps it (ngx_http_uco_snapshot.c), unless -s */
    if (huge) {
        (void) madvise(p, st.st_size, MADV_HUGEPAGE);
    }

    /* the pages a long-running worker has touched: no faults timed */
    for (i = 0; i < (size_t) st.st_size; i += 4096) {
        (void) ((volatile const uint8_t *) p)[i];
    }

    rc = verify ? uco_snap_check(&s, p, st.st_size)
                : uco_snap_open(&s, p, st.st_size);
    if (rc != UCO_SNAP_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], uco_snap_strerror(rc));
        return 1;
    }

    keys = bench_read_keys(argv[2], &n);
    hot = n < BENCH_HOT_KEYS ? n : BENCH_HOT_KEYS;

    if (rounds == 0) {
        rounds = n / hot;
    }

    /* Wednesday 2026-11-25 10:00 local: weekday windows are open */
    uco_snap_when(20782 * 86400LL + 36000, &w);

    memset(counts, 0, sizeof(counts));
    memset(idcounts, 0, sizeof(idcounts));

    flush = malloc(BENCH_FLUSH);
    if (flush == NULL) {
        fprintf(stderr, "out of memory\n");
        return 2;
    }

    t0 = bench_now();
    sum = bench_decide_loop(&s, keys, n, 1, partner, &w, counts);
    t1 = bench_now();
    sum += bench_decide_loop(&s, keys, hot, rounds, partner, &w, counts);
    t2 = bench_now();

    /* the slots and cards of the first passes out of every cache */
    for (i = 0; i < BENCH_FLUSH; i += 64) {
        ((volatile uint8_t *) flush)[i] = (uint8_t) i;
    }

    t3 = bench_now();
    idsum = bench_decide_id_loop(&s, keys, n, 1, partner, &w, idcounts);
    t4 = bench_now();
    idsum += bench_decide_id_loop(&s, keys, hot, rounds, partner, &w,
                                  idcounts);
    t5 = bench_now();

    free(flush);

    printf("cards %llu, identifier slots %llu + %llu short, file %lld "
           "bytes, %s\n", (unsigned long long) s.ncards,
           (unsigned long long) s.nidents,
           (unsigned long long) s.nshort_idents, (long long) st.st_size,
           huge ? "huge-page advice" : "no huge-page advice");
    bench_mapping(p);
    printf("random keys (cache-cold): %zu decisions, %.1f ns/decision\n",
           n, (t1 - t0) * 1e9 / n);
    printf("repeated keys (%zu, cache-hot): %zu decisions, "
           "%.1f ns/decision\n", hot, hot * rounds,
           (t2 - t1) * 1e9 / (hot * rounds));
    printf("decision + card id, random keys (cache-cold): %.1f ns, "
           "repeated keys: %.1f ns (id checksum %llu)\n",
           (t4 - t3) * 1e9 / n, (t5 - t4) * 1e9 / (hot * rounds),
           (unsigned long long) (idsum - sum));
    printf("decisions: eligible %llu, not_eligible %llu, blocked %llu, "
           "expired %llu, replaced %llu, unknown %llu (checksum %llu)\n",
           (unsigned long long) counts[UCO_DECISION_ELIGIBLE],
           (unsigned long long) counts[UCO_DECISION_NOT_ELIGIBLE],
           (unsigned long long) counts[UCO_DECISION_CARD_BLOCKED],
           (unsigned long long) counts[UCO_DECISION_CARD_EXPIRED],
           (unsigned long long) counts[UCO_DECISION_CARD_REPLACED],
           (unsigned long long) counts[UCO_DECISION_CARD_UNKNOWN],
           (unsigned long long) sum);

    return 0;
}
