/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * policy-loader journal: drains the decision journal ring that nginx
 * workers append to, and delivers each record to a Redis stream and/or
 * PostgreSQL.  One thread, one loop: replay what a sink has spooled,
 * then take a batch from the ring, hand it to every sink (or to the
 * sink's spool when it is down or still replaying), and only then
 * release the ring's slots.  A crash before the release re-reads the
 * batch: delivery is at-least-once, storage idempotent by decision_id.
 * docs/journal.md.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "pl_log.h"
#include "pl_journal.h"
#include "pl_spool.h"
#include "pl_redis.h"
#include "pl_journal_pg.h"
#include "pl_loop.h"


#define PL_JOURNAL_RING         "journal.ring"
#define PL_JOURNAL_STREAM       "uco:decisions"
#define PL_JOURNAL_SPOOL_DIR    "/var/spool/uco"
#define PL_JOURNAL_SPOOL_MAX    (1024ULL * 1024 * 1024)
#define PL_JOURNAL_MAXLEN       10000000ULL
#define PL_JOURNAL_STUCK        5000    /* ms a claimed slot may take */

#define PL_EXIT_OK              0
#define PL_EXIT_FAILED          1
#define PL_EXIT_USAGE           2

enum {
    PL_JOPT_STREAM = 256,
    PL_JOPT_MAXLEN,
    PL_JOPT_MINID_AGE,
    PL_JOPT_SPOOL,
    PL_JOPT_SPOOL_MAX,
    PL_JOPT_TIMEOUT
};


typedef int (*pl_jsink_deliver_pt)(void *ctx, const pl_jbatch_t *b);

/* a destination with its spool and its back-off */
typedef struct {
    const char           *name;
    pl_jsink_deliver_pt   deliver;
    void                 *ctx;
    int                  *err;
    char                 *errstr;
    pl_spool_t           *spool;
    unsigned              backoff;      /* ms */
    long long             retry_at;     /* monotonic ms */
    int                   down;
    int                   full_logged;
} pl_jsink_t;

typedef struct {
    int             err;
    char            errstr[PL_ERRSTR_LEN];

    /* options */
    const char     *ring_dir;
    const char     *conninfo;
    const char     *redis;
    const char     *stream;
    const char     *spool_dir;
    uint64_t        spool_max;
    uint64_t        maxlen;
    uint64_t        minid_age;      /* ms */
    unsigned        interval;       /* ms */
    unsigned        timeout;        /* ms */
    int             verbose;
    int             help;

    /* the ring */
    char           *ring_path;
    uint8_t        *map;
    size_t          map_len;
    ino_t           ino;
    uco_journal_t   ring;
    uint64_t        read;           /* next position to read */
    uint64_t        busy_pos;
    long long       busy_since;
    long long       ring_checked;

    pl_jsink_t      sinks[2];
    unsigned        nsinks;
    pl_redis_t     *rd;
    pl_journal_pg_t *jp;

    pl_jbatch_t     batch;
    uint8_t        *spool_buf;
    size_t          spool_buf_size;
} pl_journal_t;


static int pl_journal_options(pl_journal_t *jn, int argc, char **argv);
static int pl_journal_size(const char *s, uint64_t *v);
static int pl_journal_secs(const char *s, double min, double max,
    unsigned *ms);
static int pl_journal_setup(pl_journal_t *jn);
static void pl_journal_free(pl_journal_t *jn);
static int pl_journal_map(pl_journal_t *jn);
static void pl_journal_unmap(pl_journal_t *jn);
static int pl_journal_tick(pl_journal_t *jn);
static void pl_journal_decode(pl_journal_t *jn, pl_jbatch_t *b,
    const uint8_t *raw, uint32_t len, uint64_t where);
static int pl_journal_replay(pl_journal_t *jn, pl_jsink_t *s);
static int pl_journal_drain(pl_journal_t *jn);
static int pl_journal_take(pl_journal_t *jn, pl_jsink_t *s,
    const pl_jbatch_t *b);
static int pl_journal_try(pl_journal_t *jn, pl_jsink_t *s,
    const pl_jbatch_t *b);
static void pl_journal_stats(pl_journal_t *jn);
static int pl_journal_to_pg(void *ctx, const pl_jbatch_t *b);
static int pl_journal_to_redis(void *ctx, const pl_jbatch_t *b);


static const struct option  pl_journal_options_list[] = {
    { "ring",       required_argument, NULL, 'r' },
    { "db",         required_argument, NULL, 'd' },
    { "redis",      required_argument, NULL, 'R' },
    { "stream",     required_argument, NULL, PL_JOPT_STREAM },
    { "maxlen",     required_argument, NULL, PL_JOPT_MAXLEN },
    { "minid-age",  required_argument, NULL, PL_JOPT_MINID_AGE },
    { "spool",      required_argument, NULL, PL_JOPT_SPOOL },
    { "spool-max",  required_argument, NULL, PL_JOPT_SPOOL_MAX },
    { "interval",   required_argument, NULL, 'i' },
    { "timeout",    required_argument, NULL, PL_JOPT_TIMEOUT },
    { "verbose",    no_argument,       NULL, 'v' },
    { "help",       no_argument,       NULL, 'h' },
    { NULL,         0,                 NULL, 0 }
};


void
pl_journal_usage(FILE *out)
{
    fprintf(out,
        "usage: policy-loader journal --ring DIR [--db CONNINFO]"
        " [--redis HOST[:PORT]] [options]\n"
        "  -r, --ring DIR        nginx's uco_journal directory\n"
        "  -d, --db CONNINFO     deliver to PostgreSQL (uco.decision)\n"
        "  -R, --redis HOST:PORT deliver to a Redis stream\n"
        "      --stream KEY      the stream (default " PL_JOURNAL_STREAM
        ")\n"
        "      --maxlen N        cap the stream at about N entries"
        " (default 10000000)\n"
        "      --minid-age SECS  or drop entries older than SECS\n"
        "      --spool DIR       spool directory (default "
        PL_JOURNAL_SPOOL_DIR ")\n"
        "      --spool-max SIZE  bytes per sink's spool, k/m/g suffix"
        " (default 1g)\n"
        "  -i, --interval SECS   poll interval when idle (default 0.02)\n"
        "      --timeout SECS    Redis connect and I/O timeout"
        " (default 2)\n"
        "  -v, --verbose         debug logging\n"
        "  -h, --help            this help\n");
}


int
pl_journal_main(int argc, char **argv)
{
    int            rc;
    pl_journal_t  *jn;

    jn = calloc(1, sizeof(pl_journal_t));
    if (jn == NULL) {
        fprintf(stderr, "policy-loader journal: out of memory\n");
        return PL_EXIT_FAILED;
    }

    if (pl_journal_options(jn, argc, argv) != PL_OK) {
        fprintf(stderr, "policy-loader journal: %s\n"
                "try 'policy-loader journal --help'\n", jn->errstr);
        free(jn);
        return PL_EXIT_USAGE;
    }

    if (jn->help) {
        pl_journal_usage(stdout);
        free(jn);
        return PL_EXIT_OK;
    }

    pl_log_init(jn->verbose ? PL_LOG_DEBUG : PL_LOG_INFO, 0);

    rc = PL_EXIT_FAILED;

    if (pl_loop_signals() != PL_OK) {
        pl_log(PL_LOG_ERROR, "journal: sigaction: %s", strerror(errno));
        goto done;
    }

    if (pl_journal_setup(jn) != PL_OK) {
        pl_log(PL_LOG_ERROR, "journal: %s", jn->errstr);
        rc = jn->err == PL_EUSAGE ? PL_EXIT_USAGE : PL_EXIT_FAILED;
        goto done;
    }

    pl_log(PL_LOG_INFO, "journal: started, ring %s, sinks:%s%s",
           jn->ring_path, jn->jp ? " postgresql" : "",
           jn->rd ? " redis" : "");

    while (!pl_loop_stop) {
        if (pl_journal_tick(jn) == 0) {
            pl_loop_sleep(jn->interval, NULL, NULL);
        }
    }

    pl_log(PL_LOG_INFO, "journal: stopping");
    rc = PL_EXIT_OK;

done:

    pl_journal_free(jn);

    return rc;
}


/* argv[0] is "journal" */

static int
pl_journal_options(pl_journal_t *jn, int argc, char **argv)
{
    int  c;

    jn->stream = PL_JOURNAL_STREAM;
    jn->spool_dir = PL_JOURNAL_SPOOL_DIR;
    jn->spool_max = PL_JOURNAL_SPOOL_MAX;
    jn->interval = 20;
    jn->timeout = 2000;

    opterr = 0;
    optind = 1;

    while ((c = getopt_long(argc, argv, ":r:d:R:i:vh",
                            pl_journal_options_list, NULL))
           != -1)
    {
        switch (c) {

        case 'r':
            jn->ring_dir = optarg;
            break;

        case 'd':
            jn->conninfo = optarg;
            break;

        case 'R':
            jn->redis = optarg;
            break;

        case PL_JOPT_STREAM:
            if (*optarg == '\0') {
                pl_error(jn, PL_EUSAGE, "--stream: empty key");
                return PL_ERR;
            }

            jn->stream = optarg;
            break;

        case PL_JOPT_MAXLEN:
            if (pl_journal_size(optarg, &jn->maxlen) != PL_OK
                || jn->maxlen == 0)
            {
                pl_error(jn, PL_EUSAGE, "--maxlen: \"%s\" is not a "
                         "positive number", optarg);
                return PL_ERR;
            }
            break;

        case PL_JOPT_MINID_AGE:
            if (pl_journal_size(optarg, &jn->minid_age) != PL_OK
                || jn->minid_age == 0 || jn->minid_age > 100000000)
            {
                pl_error(jn, PL_EUSAGE, "--minid-age: \"%s\" is not a "
                         "number of seconds", optarg);
                return PL_ERR;
            }

            jn->minid_age *= 1000;
            break;

        case PL_JOPT_SPOOL:
            jn->spool_dir = optarg;
            break;

        case PL_JOPT_SPOOL_MAX:
            if (pl_journal_size(optarg, &jn->spool_max) != PL_OK
                || jn->spool_max < 64 * 1024)
            {
                pl_error(jn, PL_EUSAGE, "--spool-max: \"%s\" is not a "
                         "size of at least 64k", optarg);
                return PL_ERR;
            }
            break;

        case 'i':
            if (pl_journal_secs(optarg, 0.001, 10, &jn->interval)
                != PL_OK)
            {
                pl_error(jn, PL_EUSAGE, "--interval: \"%s\" is not a "
                         "number of seconds between 0.001 and 10", optarg);
                return PL_ERR;
            }
            break;

        case PL_JOPT_TIMEOUT:
            if (pl_journal_secs(optarg, 0.01, 60, &jn->timeout) != PL_OK) {
                pl_error(jn, PL_EUSAGE, "--timeout: \"%s\" is not a "
                         "number of seconds between 0.01 and 60", optarg);
                return PL_ERR;
            }
            break;

        case 'v':
            jn->verbose = 1;
            break;

        case 'h':
            jn->help = 1;
            return PL_OK;

        case ':':
            pl_error(jn, PL_EUSAGE, "option %s needs a value",
                     argv[optind - 1]);
            return PL_ERR;

        default:
            pl_error(jn, PL_EUSAGE, "unknown option %s", argv[optind - 1]);
            return PL_ERR;
        }
    }

    if (optind < argc) {
        pl_error(jn, PL_EUSAGE, "unexpected argument \"%s\"", argv[optind]);
        return PL_ERR;
    }

    if (jn->ring_dir == NULL || *jn->ring_dir == '\0') {
        pl_error(jn, PL_EUSAGE, "--ring: the uco_journal directory is "
                 "required");
        return PL_ERR;
    }

    if (jn->conninfo == NULL && jn->redis == NULL) {
        pl_error(jn, PL_EUSAGE, "nowhere to deliver: give --db, --redis "
                 "or both");
        return PL_ERR;
    }

    if (jn->maxlen != 0 && jn->minid_age != 0) {
        pl_error(jn, PL_EUSAGE, "--maxlen and --minid-age exclude each "
                 "other");
        return PL_ERR;
    }

    if (jn->redis != NULL && jn->minid_age == 0 && jn->maxlen == 0) {
        jn->maxlen = PL_JOURNAL_MAXLEN;
    }

    return PL_OK;
}


/* a whole number with an optional k, m or g (powers of 1024) */

static int
pl_journal_size(const char *s, uint64_t *v)
{
    char                *end;
    unsigned long long   n, mul;

    if (*s < '0' || *s > '9') {
        return PL_ERR;
    }

    errno = 0;
    n = strtoull(s, &end, 10);

    mul = 1;

    if (*end == 'k' || *end == 'K') {
        mul = 1024;
        end++;

    } else if (*end == 'm' || *end == 'M') {
        mul = 1024 * 1024;
        end++;

    } else if (*end == 'g' || *end == 'G') {
        mul = 1024 * 1024 * 1024;
        end++;
    }

    if (errno != 0 || *end != '\0' || n > UINT64_MAX / mul) {
        return PL_ERR;
    }

    *v = n * mul;

    return PL_OK;
}


static int
pl_journal_secs(const char *s, double min, double max, unsigned *ms)
{
    char    *end;
    double   secs;

    errno = 0;
    secs = strtod(s, &end);

    if (errno != 0 || end == s || *end != '\0'
        || !(secs >= min && secs <= max))
    {
        return PL_ERR;
    }

    *ms = (unsigned) (secs * 1000 + 0.5);

    return PL_OK;
}


static int
pl_journal_setup(pl_journal_t *jn)
{
    size_t       len;
    pl_jsink_t  *s;

    len = strlen(jn->ring_dir) + sizeof("/" PL_JOURNAL_RING);
    jn->ring_path = malloc(len);
    jn->spool_buf_size = PL_JOURNAL_BATCH
                         * (PL_SPOOL_FRAME_HEADER + UCO_JOURNAL_RECORD_MAX);
    jn->spool_buf = malloc(jn->spool_buf_size);

    if (jn->ring_path == NULL || jn->spool_buf == NULL) {
        pl_error(jn, PL_ENOMEM, "out of memory");
        return PL_ERR;
    }

    snprintf(jn->ring_path, len, "%s/" PL_JOURNAL_RING, jn->ring_dir);

    if (mkdir(jn->spool_dir, 0750) == -1 && errno != EEXIST) {
        pl_error(jn, PL_EIO, "--spool: cannot create %s: %s",
                 jn->spool_dir, strerror(errno));
        return PL_ERR;
    }

    if (jn->conninfo != NULL) {
        jn->jp = pl_journal_pg_new(jn->conninfo);
        s = &jn->sinks[jn->nsinks++];
        s->name = "postgresql";
        s->deliver = pl_journal_to_pg;
        s->ctx = jn->jp;
        s->spool = pl_spool_new(jn->spool_dir, "postgresql",
                                jn->spool_max);

        if (jn->jp == NULL || s->spool == NULL) {
            pl_error(jn, PL_ENOMEM, "out of memory");
            return PL_ERR;
        }

        s->err = &jn->jp->err;
        s->errstr = jn->jp->errstr;
    }

    if (jn->redis != NULL) {
        jn->rd = pl_redis_new(jn->redis, jn->stream, jn->maxlen,
                              jn->minid_age, jn->timeout);
        if (jn->rd == NULL) {
            pl_error(jn, PL_EUSAGE, "--redis: \"%s\" is not HOST[:PORT]",
                     jn->redis);
            return PL_ERR;
        }

        s = &jn->sinks[jn->nsinks++];
        s->name = "redis";
        s->deliver = pl_journal_to_redis;
        s->ctx = jn->rd;
        s->err = &jn->rd->err;
        s->errstr = jn->rd->errstr;
        s->spool = pl_spool_new(jn->spool_dir, "redis", jn->spool_max);

        if (s->spool == NULL) {
            pl_error(jn, PL_ENOMEM, "out of memory");
            return PL_ERR;
        }
    }

    for (s = jn->sinks; s < jn->sinks + jn->nsinks; s++) {
        if (pl_spool_open(s->spool) != PL_OK) {
            pl_error(jn, s->spool->err, "%s", s->spool->errstr);
            return PL_ERR;
        }

        if (s->spool->records != 0) {
            pl_log(PL_LOG_INFO, "journal: %s spool holds %llu records "
                   "(%llu bytes) to replay", s->name,
                   (unsigned long long) s->spool->records,
                   (unsigned long long) pl_spool_pending(s->spool));
        }
    }

    return PL_OK;
}


static void
pl_journal_free(pl_journal_t *jn)
{
    unsigned  i;

    pl_journal_unmap(jn);

    for (i = 0; i < jn->nsinks; i++) {
        pl_spool_free(jn->sinks[i].spool);
    }

    pl_redis_free(jn->rd);
    pl_journal_pg_free(jn->jp);
    free(jn->ring_path);
    free(jn->spool_buf);
    free(jn);
}


/*
 * The ring is nginx's: it may not exist yet, and an operator may have
 * replaced it (a new size).  Its inode is checked once a second.
 */

static int
pl_journal_map(pl_journal_t *jn)
{
    int          fd, rc;
    void        *p;
    long long    now;
    struct stat  st;

    now = pl_loop_now();

    if (jn->map != NULL && now - jn->ring_checked < 1000) {
        return PL_OK;
    }

    jn->ring_checked = now;

    if (jn->map != NULL) {
        if (stat(jn->ring_path, &st) == 0 && st.st_ino == jn->ino) {
            return PL_OK;
        }

        pl_log(PL_LOG_WARN, "journal: %s was replaced, mapping it again",
               jn->ring_path);
        pl_journal_unmap(jn);
    }

    fd = open(jn->ring_path, O_RDWR | O_CLOEXEC);
    if (fd == -1) {
        pl_error(jn, PL_EIO, "%s: %s", jn->ring_path, strerror(errno));
        return PL_ERR;
    }

    if (fstat(fd, &st) == -1 || st.st_size < UCO_JOURNAL_HEADER_SIZE) {
        (void) close(fd);
        pl_error(jn, PL_EINVALID, "%s: not a journal ring (yet)",
                 jn->ring_path);
        return PL_ERR;
    }

    p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    (void) close(fd);

    if (p == MAP_FAILED) {
        pl_error(jn, PL_EIO, "mmap %s: %s", jn->ring_path, strerror(errno));
        return PL_ERR;
    }

    rc = uco_journal_open(&jn->ring, p, st.st_size);

    if (rc != UCO_JOURNAL_OK) {
        (void) munmap(p, st.st_size);
        pl_error(jn, PL_EINVALID, "%s: %s", jn->ring_path,
                 uco_journal_strerror(rc));
        return PL_ERR;
    }

    jn->map = p;
    jn->map_len = st.st_size;
    jn->ino = st.st_ino;
    jn->read = jn->ring.header->tail;

    pl_log(PL_LOG_INFO, "journal: mapped %s, %llu slots, %llu pending",
           jn->ring_path, (unsigned long long) jn->ring.header->nslots,
           (unsigned long long) (jn->ring.header->head - jn->read));

    return PL_OK;
}


static void
pl_journal_unmap(pl_journal_t *jn)
{
    if (jn->map != NULL) {
        (void) munmap(jn->map, jn->map_len);
        jn->map = NULL;
    }
}


/* returns how much work was done: 0 lets the loop sleep */

static int
pl_journal_tick(pl_journal_t *jn)
{
    int        work;
    unsigned   i;

    if (pl_journal_map(jn) != PL_OK) {
        pl_log(PL_LOG_WARN, "journal: %s; retrying", jn->errstr);
        pl_loop_sleep(1000, NULL, NULL);
        return 0;
    }

    jn->ring.header->loader_seen = (uint64_t) time(NULL);

    work = 0;

    for (i = 0; i < jn->nsinks; i++) {
        work += pl_journal_replay(jn, &jn->sinks[i]);
    }

    work += pl_journal_drain(jn);

    pl_journal_stats(jn);

    return work;
}


static void
pl_journal_stats(pl_journal_t *jn)
{
    unsigned   i;
    uint64_t   bytes, records;

    bytes = 0;
    records = 0;

    for (i = 0; i < jn->nsinks; i++) {
        bytes += pl_spool_pending(jn->sinks[i].spool);
        records += jn->sinks[i].spool->records;
    }

    jn->ring.header->spool_bytes = bytes;
    jn->ring.header->spool_records = records;
}


/* decode what the batch holds; a record that does not decode is skipped */

static void
pl_journal_decode(pl_journal_t *jn, pl_jbatch_t *b, const uint8_t *raw,
    uint32_t len, uint64_t where)
{
    if (len == 0) {
        return;
    }

    if (uco_journal_decode(raw, len, &b->rec[b->n]) != UCO_JOURNAL_OK) {
        pl_log(PL_LOG_ERROR, "journal: malformed record at %llu skipped",
               (unsigned long long) where);
        __atomic_fetch_add(&jn->ring.header->skipped, 1, __ATOMIC_RELAXED);
        return;
    }

    b->raw[b->n] = raw;
    b->len[b->n] = len;
    b->n++;
}


/* one batch of a sink's spool, when the sink is due */

static int
pl_journal_replay(pl_journal_t *jn, pl_jsink_t *s)
{
    size_t        i, n;
    uint64_t      next;
    pl_jbatch_t  *b;
    const uint8_t *recs[PL_JOURNAL_BATCH];
    uint32_t      lens[PL_JOURNAL_BATCH];

    if (s->spool->records == 0 || pl_loop_now() < s->retry_at) {
        return 0;
    }

    if (pl_spool_read(s->spool, jn->spool_buf, jn->spool_buf_size, recs,
                      lens, PL_JOURNAL_BATCH, &n, &next)
        != PL_OK)
    {
        pl_log(PL_LOG_ERROR, "journal: %s", s->spool->errstr);
        s->retry_at = pl_loop_now() + PL_LOOP_BACKOFF_MAX;
        return 0;
    }

    b = &jn->batch;
    b->n = 0;

    for (i = 0; i < n; i++) {
        pl_journal_decode(jn, b, recs[i], lens[i], next);
    }

    if (b->n != 0 && pl_journal_try(jn, s, b) != PL_OK) {
        return 0;
    }

    if (pl_spool_consume(s->spool, next, n) != PL_OK) {
        pl_log(PL_LOG_ERROR, "journal: %s", s->spool->errstr);
    }

    if (s->spool->records == 0) {
        pl_log(PL_LOG_INFO, "journal: %s spool replayed", s->name);
    }

    return 1;
}


static int
pl_journal_drain(pl_journal_t *jn)
{
    int           rc;
    size_t        len;
    unsigned      i;
    uint64_t      pos;
    long long     now;
    pl_jsink_t   *s;
    pl_jbatch_t  *b;
    const void   *rec;

    /* a sink that can neither take records nor spool them holds all */
    for (i = 0; i < jn->nsinks; i++) {
        s = &jn->sinks[i];

        if ((s->down || s->spool->records != 0)
            && !pl_spool_room(s->spool, PL_JOURNAL_BATCH,
                              UCO_JOURNAL_RECORD_MAX))
        {
            if (!s->full_logged) {
                pl_log(PL_LOG_ERROR, "journal: %s spool is full "
                       "(%llu bytes); the ring is not drained until %s is "
                       "back", s->name,
                       (unsigned long long) s->spool->size, s->name);
                s->full_logged = 1;
            }

            /* the replay makes room once the sink is back */
            return 0;
        }

        s->full_logged = 0;
    }

    b = &jn->batch;
    b->n = 0;
    pos = jn->read;

    while (b->n < PL_JOURNAL_BATCH) {
        rc = uco_journal_read(&jn->ring, pos, &rec, &len);

        if (rc == UCO_JOURNAL_BUSY) {
            now = pl_loop_now();

            if (jn->busy_pos != pos || jn->busy_since == 0) {
                jn->busy_pos = pos;
                jn->busy_since = now;
                break;
            }

            if (now - jn->busy_since < PL_JOURNAL_STUCK) {
                break;
            }

            pl_log(PL_LOG_WARN, "journal: slot %llu claimed but never "
                   "written (a worker died?), skipped",
                   (unsigned long long) pos);
            uco_journal_skip(&jn->ring, pos);
            jn->busy_since = 0;
            continue;
        }

        if (rc == UCO_JOURNAL_EMPTY) {
            break;
        }

        if (rc == UCO_JOURNAL_OK) {
            pl_journal_decode(jn, b, rec, (uint32_t) len, pos);

        } else {
            pl_log(PL_LOG_ERROR, "journal: slot %llu: %s, skipped",
                   (unsigned long long) pos, uco_journal_strerror(rc));
            __atomic_fetch_add(&jn->ring.header->skipped, 1,
                               __ATOMIC_RELAXED);
        }

        pos++;
    }

    if (pos == jn->read) {
        return 0;
    }

    for (i = 0; i < jn->nsinks; i++) {
        if (b->n != 0 && pl_journal_take(jn, &jn->sinks[i], b) != PL_OK) {
            /* not taken, not spooled: read the batch again later */
            pl_loop_sleep(PL_LOOP_BACKOFF_MIN, NULL, NULL);
            return 0;
        }
    }

    uco_journal_release(&jn->ring, pos);
    __atomic_fetch_add(&jn->ring.header->delivered, pos - jn->read,
                       __ATOMIC_RELAXED);
    jn->read = pos;

    return 1;
}


/*
 * The sink takes the batch, or its spool does: while the spool holds
 * records, new ones queue behind them so that the order is kept.
 */

static int
pl_journal_take(pl_journal_t *jn, pl_jsink_t *s, const pl_jbatch_t *b)
{
    if (s->spool->records == 0 && pl_journal_try(jn, s, b) == PL_OK) {
        return PL_OK;
    }

    if (pl_spool_append(s->spool, b->raw, b->len, b->n) != PL_OK) {
        pl_log(PL_LOG_ERROR, "journal: %s", s->spool->errstr);
        return PL_ERR;
    }

    pl_log(PL_LOG_DEBUG, "journal: %zu records spooled for %s", b->n,
           s->name);

    return PL_OK;
}


static int
pl_journal_try(pl_journal_t *jn, pl_jsink_t *s, const pl_jbatch_t *b)
{
    long long  now;

    (void) jn;

    now = pl_loop_now();

    if (now < s->retry_at) {
        return PL_ERR;
    }

    if (s->deliver(s->ctx, b) == PL_OK) {
        if (s->down) {
            pl_log(PL_LOG_INFO, "journal: %s is back", s->name);
        }

        s->down = 0;
        s->backoff = 0;
        s->retry_at = 0;

        return PL_OK;
    }

    s->backoff = pl_loop_backoff(s->backoff);

    s->retry_at = now + s->backoff;

    pl_log(s->down ? PL_LOG_DEBUG : PL_LOG_WARN, "journal: %s: %s; "
           "spooling, retrying in %u.%u s", s->name, s->errstr,
           s->backoff / 1000, s->backoff % 1000 / 100);

    s->down = 1;

    return PL_ERR;
}


static int
pl_journal_to_pg(void *ctx, const pl_jbatch_t *b)
{
    return pl_journal_pg_deliver(ctx, b);
}


static int
pl_journal_to_redis(void *ctx, const pl_jbatch_t *b)
{
    return pl_redis_deliver(ctx, b);
}

