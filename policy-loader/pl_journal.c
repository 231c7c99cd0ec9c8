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
#include "pl_journal_conf.h"
#include "pl_metrics.h"


#define PL_JOURNAL_RING         "journal.ring"
#define PL_JOURNAL_STUCK        5000    /* ms a claimed slot may take */

#define PL_EXIT_OK              0
#define PL_EXIT_FAILED          1
#define PL_EXIT_USAGE           2

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
    uint64_t              delivered;    /* records, since start */
    uint64_t              spooled;
    uint64_t              failures;
    time_t                last_ok;      /* last delivery, unix time */
} pl_jsink_t;

typedef enum {
    PL_JSINK_DELIVERED = 0,
    PL_JSINK_SPOOLED,
    PL_JSINK_FAILURES,
    PL_JSINK_UP,
    PL_JSINK_SPOOL_BYTES,
    PL_JSINK_SPOOL_RECORDS,
    PL_JSINK_LAST_OK
} pl_jsink_metric_e;

/* a metric with one value per sink */
typedef struct {
    const char          *name;
    const char          *type;
    const char          *help;
    pl_jsink_metric_e    what;
} pl_jsink_metric_t;

typedef struct {
    int             err;
    char            errstr[PL_ERRSTR_LEN];

    pl_jconf_t      cf;
    pl_metrics_t   *metrics;        /* NULL without --metrics-file */
    time_t          started;
    time_t          metrics_at;     /* last written */

    /* the ring */
    char           *ring_path;
    uint8_t        *map;
    size_t          map_len;
    ino_t           ino;
    long long       map_logged;     /* last "cannot map" warning */
    uco_journal_t   ring;
    uint64_t        read;           /* next position to read */
    uint64_t        busy_pos;
    long long       busy_since;
    long long       ring_checked;
    long long       read_at;        /* the last drain's read, ms */
    unsigned        wait;           /* ms, before the next tick */

    pl_jsink_t      sinks[2];
    unsigned        nsinks;
    pl_redis_t     *rd;
    pl_journal_pg_t *jp;

    /* records read by uco_journal_decode_fixed(), by msgpack-c */
    uint64_t        decoded_fixed;
    uint64_t        decoded_other;

    pl_jbatch_t     batch;
    uint8_t        *spool_buf;
    size_t          spool_buf_size;
} pl_journal_t;


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
static void pl_journal_metrics(FILE *f, void *data);
static uint64_t pl_journal_sink_value(pl_jsink_t *s, pl_jsink_metric_e what);
static int pl_journal_to_pg(void *ctx, const pl_jbatch_t *b);
static int pl_journal_to_redis(void *ctx, const pl_jbatch_t *b);


static const pl_jsink_metric_t  pl_journal_sink_metrics[] = {
    { "uco_journal_sink_delivered_total", "counter",
      "Records the sink took since start (directly or from its spool).",
      PL_JSINK_DELIVERED },
    { "uco_journal_sink_spooled_total", "counter",
      "Records written to the sink's spool since start.",
      PL_JSINK_SPOOLED },
    { "uco_journal_sink_failures_total", "counter",
      "Failed deliveries (connection, timeout, AUTH, error reply).",
      PL_JSINK_FAILURES },
    { "uco_journal_sink_up", "gauge",
      "0 while the sink's last delivery failed.", PL_JSINK_UP },
    { "uco_journal_sink_spool_bytes", "gauge",
      "Bytes waiting in the sink's spool.", PL_JSINK_SPOOL_BYTES },
    { "uco_journal_sink_spool_records", "gauge",
      "Records waiting in the sink's spool.", PL_JSINK_SPOOL_RECORDS },
    { "uco_journal_sink_last_delivery_timestamp_seconds", "gauge",
      "Last successful delivery (Unix time, 0: none since start).",
      PL_JSINK_LAST_OK },
    { NULL, NULL, NULL, 0 }
};


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

    if (pl_jconf_parse(&jn->cf, argc, argv) != PL_OK) {
        fprintf(stderr, "policy-loader journal: %s\n"
                "try 'policy-loader journal --help'\n", jn->cf.errstr);
        pl_journal_free(jn);
        return PL_EXIT_USAGE;
    }

    if (jn->cf.help) {
        pl_jconf_usage(stdout);
        pl_journal_free(jn);
        return PL_EXIT_OK;
    }

    pl_log_init(jn->cf.run.log_level, jn->cf.run.syslog);

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
            pl_loop_sleep(jn->wait, NULL, NULL);
        }
    }

    pl_metrics_write(jn->metrics, 1, pl_journal_metrics, jn);

    pl_log(PL_LOG_INFO, "journal: stopping");
    rc = PL_EXIT_OK;

done:

    pl_journal_free(jn);

    return rc;
}


static int
pl_journal_setup(pl_journal_t *jn)
{
    size_t       len;
    pl_jsink_t  *s;

    jn->started = time(NULL);

    len = strlen(jn->cf.ring_dir) + sizeof("/" PL_JOURNAL_RING);
    jn->ring_path = malloc(len);
    jn->spool_buf_size = PL_JOURNAL_BATCH
                         * (PL_SPOOL_FRAME_HEADER + UCO_JOURNAL_RECORD_MAX);
    jn->spool_buf = malloc(jn->spool_buf_size);

    if (jn->ring_path == NULL || jn->spool_buf == NULL) {
        pl_error(jn, PL_ENOMEM, "out of memory");
        return PL_ERR;
    }

    snprintf(jn->ring_path, len, "%s/" PL_JOURNAL_RING, jn->cf.ring_dir);

    if (mkdir(jn->cf.spool_dir, 0750) == -1 && errno != EEXIST) {
        pl_error(jn, PL_EIO, "--spool: cannot create %s: %s",
                 jn->cf.spool_dir, strerror(errno));
        return PL_ERR;
    }

    if (jn->cf.run.metrics_file != NULL) {
        jn->metrics = pl_metrics_new(jn->cf.run.metrics_file);
        if (jn->metrics == NULL) {
            pl_error(jn, PL_ENOMEM, "out of memory");
            return PL_ERR;
        }
    }

    if (jn->cf.conninfo != NULL) {
        jn->jp = pl_journal_pg_new(jn->cf.conninfo,
                                   jn->cf.retention_months);
        s = &jn->sinks[jn->nsinks++];
        s->name = "postgresql";
        s->deliver = pl_journal_to_pg;
        s->ctx = jn->jp;
        s->spool = pl_spool_new(jn->cf.spool_dir, "postgresql",
                                jn->cf.spool_max);

        if (jn->jp == NULL || s->spool == NULL) {
            pl_error(jn, PL_ENOMEM, "out of memory");
            return PL_ERR;
        }

        s->err = &jn->jp->err;
        s->errstr = jn->jp->errstr;
    }

    if (jn->cf.redis != NULL || jn->cf.redis_socket != NULL) {
        jn->rd = pl_redis_new(&jn->cf);
        if (jn->rd == NULL) {
            if (jn->cf.redis_socket != NULL) {
                pl_error(jn, PL_ENOMEM, "out of memory");

            } else {
                pl_error(jn, PL_EUSAGE, "--redis: \"%s\" is not "
                         "HOST[:PORT]", jn->cf.redis);
            }

            return PL_ERR;
        }

        s = &jn->sinks[jn->nsinks++];
        s->name = "redis";
        s->deliver = pl_journal_to_redis;
        s->ctx = jn->rd;
        s->err = &jn->rd->err;
        s->errstr = jn->rd->errstr;
        s->spool = pl_spool_new(jn->cf.spool_dir, "redis",
                                jn->cf.spool_max);

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
    pl_metrics_free(jn->metrics);
    pl_jconf_free(&jn->cf);
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

    /*
     * MAP_POPULATE: the page tables are made once here, not by a fault
     * at each page during the first lap (a tenth of a fresh process's
     * CPU in the benchmark); nginx's workers do the same.
     */
    p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_POPULATE, fd, 0);
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

    /* no page fault in the first lap (uco_journal_touch()) */
    uco_journal_touch(&jn->ring);

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


/*
 * Returns non-zero when more is waiting at once (a full batch was taken,
 * a spool has more to replay): the loop goes on without sleeping.  Zero
 * after a batch that emptied the ring: the loop sleeps jn->wait (the
 * drain sets it), so that records gather into one batch, one round trip
 * per sink, instead of a round trip for the few that arrived during the
 * last one.
 */

static int
pl_journal_tick(pl_journal_t *jn)
{
    int         work;
    unsigned    i;
    long long   now;

    if (pl_journal_map(jn) != PL_OK) {
        /* nginx not started yet, or not allowed: once a minute */
        now = pl_loop_now();

        if (jn->map_logged == 0 || now - jn->map_logged >= 60000) {
            pl_log(PL_LOG_WARN, "journal: %s; retrying every second",
                   jn->errstr);
            jn->map_logged = now;
        }

        pl_loop_sleep(1000, NULL, NULL);
        return 0;
    }

    jn->map_logged = 0;
    jn->wait = jn->cf.interval;

    jn->ring.header->loader_seen = (uint64_t) time(NULL);

    work = 0;

    for (i = 0; i < jn->nsinks; i++) {
        work += pl_journal_replay(jn, &jn->sinks[i]);
    }

    work += pl_journal_drain(jn);

    pl_journal_stats(jn);

    /* once a second: cheap, and a heartbeat node_exporter shows */
    if (jn->metrics != NULL && time(NULL) != jn->metrics_at) {
        jn->metrics_at = time(NULL);

        if (pl_metrics_write(jn->metrics, 1, pl_journal_metrics, jn)
            != PL_OK)
        {
            pl_log(PL_LOG_WARN, "journal: %s", jn->metrics->errstr);
        }
    }

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


/* the journal process's metrics file (docs/journal.md) */

static void
pl_journal_metrics(FILE *f, void *data)
{
    unsigned                    i;
    pl_jsink_t                 *s;
    const pl_jsink_metric_t    *m;
    pl_journal_t               *jn;
    uco_journal_header_t       *h;

    jn = data;
    h = jn->map != NULL ? jn->ring.header : NULL;

    pl_metrics_head(f, "uco_journal_process_start_time_seconds", "gauge",
                    "When the journal process started (Unix time).");
    fprintf(f, "uco_journal_process_start_time_seconds %lld\n",
            (long long) jn->started);

    for (m = pl_journal_sink_metrics; m->name != NULL; m++) {
        pl_metrics_head(f, m->name, m->type, m->help);

        for (i = 0; i < jn->nsinks; i++) {
            s = &jn->sinks[i];
            fprintf(f, "%s{sink=\"%s\"} %llu\n", m->name, s->name,
                    (unsigned long long) pl_journal_sink_value(s, m->what));
        }
    }

    pl_metrics_head(f, "uco_journal_records_decoded_total", "counter",
                    "Records decoded since start, by layout: fixed (the "
                    "module's own), other (read through msgpack-c).");
    fprintf(f, "uco_journal_records_decoded_total{layout=\"fixed\"} %llu\n"
            "uco_journal_records_decoded_total{layout=\"other\"} %llu\n",
            (unsigned long long) jn->decoded_fixed,
            (unsigned long long) jn->decoded_other);

    pl_metrics_head(f, "uco_journal_ring_mapped", "gauge",
                    "1 while the ring file is mapped.");
    fprintf(f, "uco_journal_ring_mapped %d\n", h != NULL);

    if (h == NULL) {
        return;
    }

    pl_metrics_head(f, "uco_journal_ring_lag", "gauge",
                    "Records in the ring not yet taken (head - tail).");
    fprintf(f, "uco_journal_ring_lag %llu\n",
            (unsigned long long) (h->head - h->tail));

    pl_metrics_head(f, "uco_journal_ring_capacity", "gauge",
                    "Records the ring holds.");
    fprintf(f, "uco_journal_ring_capacity %llu\n",
            (unsigned long long) h->nslots);

    pl_metrics_head(f, "uco_journal_ring_records_total", "counter",
                    "The ring's producer counters (kept in the ring file), "
                    "by outcome.");
    fprintf(f, "uco_journal_ring_records_total{outcome=\"appended\"} %llu\n"
            "uco_journal_ring_records_total{outcome=\"dropped\"} %llu\n"
            "uco_journal_ring_records_total{outcome=\"rejected\"} %llu\n"
            "uco_journal_ring_records_total{outcome=\"too_big\"} %llu\n",
            (unsigned long long) h->appended,
            (unsigned long long) h->dropped,
            (unsigned long long) h->rejected,
            (unsigned long long) h->too_big);

    pl_metrics_head(f, "uco_journal_ring_skipped_total", "counter",
                    "Slots given up on (a dead writer, a malformed record).");
    fprintf(f, "uco_journal_ring_skipped_total %llu\n",
            (unsigned long long) h->skipped);
}


static uint64_t
pl_journal_sink_value(pl_jsink_t *s, pl_jsink_metric_e what)
{
    switch (what) {

    case PL_JSINK_DELIVERED:
        return s->delivered;

    case PL_JSINK_SPOOLED:
        return s->spooled;

    case PL_JSINK_FAILURES:
        return s->failures;

    case PL_JSINK_UP:
        return !s->down;

    case PL_JSINK_SPOOL_BYTES:
        return pl_spool_pending(s->spool);

    case PL_JSINK_SPOOL_RECORDS:
        return s->spool->records;

    default:
        return (uint64_t) s->last_ok;
    }
}


/*
 * Decode what the batch holds: the module's own layout directly, any
 * other msgpack map with the fields through msgpack-c (counted: nginx
 * writes only the first, so another writer or a newer module shows in
 * the metrics); a record that decodes neither way is skipped.
 */

static void
pl_journal_decode(pl_journal_t *jn, pl_jbatch_t *b, const uint8_t *raw,
    uint32_t len, uint64_t where)
{
    if (len == 0) {
        return;
    }

    if (uco_journal_decode_fixed(raw, len, &b->rec[b->n])
        == UCO_JOURNAL_OK)
    {
        jn->decoded_fixed++;

    } else if (uco_journal_decode(raw, len, &b->rec[b->n])
               == UCO_JOURNAL_OK)
    {
        jn->decoded_other++;

    } else {
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
        return 0;
    }

    return 1;
}


static int
pl_journal_drain(pl_journal_t *jn)
{
    int           rc, full;
    size_t        len, max, room;
    unsigned      i;
    uint64_t      pos, gather, head, ahead;
    long long     now, since;
    pl_jsink_t   *s;
    pl_jbatch_t  *b;
    const void   *rec;

    /*
     * A sink that is down or replaying spools what it is given: the
     * batch is what its spool has room for, and a sink that can neither
     * take records nor spool them holds all.
     */
    max = PL_JOURNAL_BATCH;

    for (i = 0; i < jn->nsinks; i++) {
        s = &jn->sinks[i];

        if (!s->down && s->spool->records == 0) {
            s->full_logged = 0;
            continue;
        }

        room = pl_spool_room(s->spool, UCO_JOURNAL_RECORD_MAX);

        if (room < max) {
            max = room;
        }

        if (room == 0) {
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
    now = pl_loop_now();
    since = now - jn->read_at;
    jn->read_at = now;

    /* slots below head are claimed: those may be fetched ahead */
    head = __atomic_load_n(&jn->ring.header->head, __ATOMIC_ACQUIRE);

    for (ahead = pos; ahead < head && ahead - pos < PL_JOURNAL_AHEAD;
         ahead++)
    {
        uco_journal_prefetch(&jn->ring, ahead);
    }

    while (pos - jn->read < max) {
        if (ahead < head) {
            uco_journal_prefetch(&jn->ring, ahead++);
        }

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

    /* a full batch: the ring may hold more at once */
    full = pos - jn->read == max;

    /*
     * Else the wait that gathers about PL_JOURNAL_GATHER records at the
     * rate these came in since the last read, at most --interval: few
     * wake-ups when records come fast, --interval when they trickle.
     */
    if (!full) {
        gather = (uint64_t) (since > 0 ? since : 1) * PL_JOURNAL_GATHER
                 / (pos - jn->read);

        if (gather < jn->wait) {
            jn->wait = gather > 0 ? (unsigned) gather : 1;
        }
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

    return full;
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

    s->spooled += b->n;

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
        s->delivered += b->n;
        s->last_ok = time(NULL);

        return PL_OK;
    }

    s->backoff = pl_loop_backoff(s->backoff);
    s->failures++;

    s->retry_at = now + s->backoff;

    pl_log(s->down ? PL_LOG_DEBUG : PL_LOG_WARN, "journal: %s: %s; "
           "spooling, retrying in %u.%u s", s->name, s->errstr,
           s->backoff / 1000, s->backoff % 1000 / 100);

    s->down = 1;

    return PL_ERR;
}


/*
 * For the sinks: digits by hand, two at a time (snprintf was a quarter
 * of the delivery's CPU, a digit at a time an eighth).
 */

char *
pl_journal_u64(char *p, uint64_t v)
{
    char     d[20], *e;
    size_t   n;

    static const char  pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930"
        "31323334353637383940414243444546474849505152535455565758596061"
        "62636465666768697071727374757677787980818283848586878889909192"
        "93949596979899";

    e = d + sizeof(d);

    while (v >= 100) {
        e -= 2;
        memcpy(e, pairs + v % 100 * 2, 2);
        v /= 100;
    }

    if (v >= 10) {
        e -= 2;
        memcpy(e, pairs + v * 2, 2);

    } else {
        *--e = (char) ('0' + v);
    }

    n = (size_t) (d + sizeof(d) - e);
    memcpy(p, e, n);

    return p + n;
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

