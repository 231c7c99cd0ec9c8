/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * policy-loader: builds uco snapshots from PostgreSQL and publishes them
 * for the nginx module.  One thread: each tick asks the change log
 * whether anything changed, rebuilds if so, and otherwise marks the live
 * snapshot as still in sync.  A change is published as a delta over the
 * last full build (pl_delta.c) until the delta grows past
 * --delta-max-cards; then a new base is built.  A tick runs every
 * --interval, and at once when a NOTIFY on PL_MAIN_CHANNEL (sent by the
 * change-log trigger) arrives; polling alone still works where NOTIFY
 * does not reach, as on a streaming replica.  Failures back off and
 * retry while the last good snapshot stays published.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>

#include "uco_snap.h"
#include "pl_log.h"
#include "pl_config.h"
#include "pl_pg.h"
#include "pl_build.h"
#include "pl_publish.h"
#include "pl_delta.h"
#include "pl_rebase.h"
#include "pl_inspect.h"
#include "pl_metrics.h"
#include "pl_journal.h"
#include "pl_loop.h"


/* the channel uco.log_change() notifies, sql/migrations/0001_core.sql */
#define PL_MAIN_CHANNEL     "uco_change"

#define PL_EXIT_OK          0
#define PL_EXIT_FAILED      1
#define PL_EXIT_USAGE       2


typedef struct {
    int              err;
    char             errstr[PL_ERRSTR_LEN];
    pl_config_t      cf;
    pl_pg_t         *pg;
    pl_build_t      *build;
    pl_publish_t    *pub;
    pl_delta_t      *delta;
    pl_rebase_t     *rebase;    /* a new base built in the background */
    pl_metrics_t    *metrics;   /* NULL without --metrics-file */
    int              in_sync;   /* the live snapshot matches the data */
    int              resumed;   /* went on from the live generation */
} pl_main_t;


static int pl_main_mode(pl_main_t *m);
static void pl_main_metrics(pl_main_t *m, int force);
static int pl_main_run(pl_main_t *m);
static int pl_main_daemon(pl_main_t *m);
static int pl_main_tick(pl_main_t *m);
static void pl_main_listen(pl_main_t *m);
static int pl_main_confirm(pl_main_t *m);
static int pl_main_build(pl_main_t *m);
static int pl_main_delta(pl_main_t *m);
static void pl_main_rebased(pl_main_t *m);
static int pl_main_adopt(pl_main_t *m);
static void pl_main_resume(pl_main_t *m);
static void pl_main_mark(pl_main_t *m);
static long pl_main_ms(const struct timespec *since);
static void pl_main_sleep(pl_main_t *m, unsigned ms, int wake);
static int pl_main_wait(void *ctx, unsigned ms, const sigset_t *mask);


int
main(int argc, char **argv)
{
    int         rc;
    pl_main_t   m;

    /* the journal's companion process has options of its own */
    if (argc > 1 && strcmp(argv[1], "journal") == 0) {
        return pl_journal_main(argc - 1, argv + 1);
    }

    memset(&m, 0, sizeof(pl_main_t));
    pl_config_init(&m.cf);

    if (pl_config_parse(&m.cf, argc, argv) != PL_OK) {
        fprintf(stderr, "policy-loader: %s\n"
                "try 'policy-loader --help'\n", m.cf.errstr);
        pl_config_free(&m.cf);
        return PL_EXIT_USAGE;
    }

    rc = pl_main_mode(&m);

    pl_metrics_free(m.metrics);
    pl_publish_free(m.pub);
    pl_delta_free(m.delta);
    pl_rebase_free(m.rebase);
    pl_build_free(m.build);
    pl_pg_free(m.pg);
    pl_config_free(&m.cf);

    return rc;
}


static int
pl_main_mode(pl_main_t *m)
{
    switch (m->cf.mode) {

    case PL_MODE_HELP:
        pl_config_usage(stdout);
        return PL_EXIT_OK;

    case PL_MODE_VERSION:
        printf("policy-loader " PL_VERSION "\n");
        return PL_EXIT_OK;

    case PL_MODE_INSPECT:
        pl_log_init(m->cf.run.log_level, 0);
        return pl_inspect(m->cf.inspect, stdout) == PL_OK ? PL_EXIT_OK
                                                         : PL_EXIT_FAILED;

    default:
        break;
    }

    if (pl_config_prepare_dir(&m->cf) != PL_OK) {
        fprintf(stderr, "policy-loader: %s\n", m->cf.errstr);
        return PL_EXIT_USAGE;
    }

    pl_log_init(m->cf.run.log_level, m->cf.run.syslog);

    if (m->cf.run.metrics_file != NULL) {
        m->metrics = pl_metrics_new(m->cf.run.metrics_file);
        if (m->metrics == NULL) {
            pl_log(PL_LOG_ERROR, "out of memory");
            return PL_EXIT_FAILED;
        }
    }

    return pl_main_run(m);
}


static int
pl_main_run(pl_main_t *m)
{
    if (pl_loop_signals() != PL_OK) {
        pl_log(PL_LOG_ERROR, "sigaction: %s", strerror(errno));
        return PL_EXIT_FAILED;
    }

    m->pub = pl_publish_new(m->cf.dir, m->cf.file_mode, m->cf.keep);
    m->pg = pl_pg_new(m->cf.conninfo);
    m->build = pl_build_new(&pl_loop_stop);
    m->delta = pl_delta_new(m->cf.delta_max_cards);
    m->rebase = pl_rebase_new();

    if (m->pub == NULL || m->pg == NULL || m->build == NULL
        || m->delta == NULL || m->rebase == NULL)
    {
        pl_log(PL_LOG_ERROR, "out of memory");
        return PL_EXIT_FAILED;
    }

    if (pl_publish_open(m->pub) != PL_OK) {
        pl_log(PL_LOG_ERROR, "%s", m->pub->errstr);
        return PL_EXIT_FAILED;
    }

    switch (m->cf.mode) {

    case PL_MODE_ROLLBACK:
        if (pl_publish_rollback(m->pub, m->cf.rollback) != PL_OK) {
            pl_log(PL_LOG_ERROR, "rollback refused: %s", m->pub->errstr);
            return PL_EXIT_FAILED;
        }

        pl_log(PL_LOG_INFO, "rolled back to generation %llu",
               (unsigned long long) m->cf.rollback);
        return PL_EXIT_OK;

    case PL_MODE_ONCE:
        if (pl_pg_connect(m->pg) != PL_OK) {
            pl_log(PL_LOG_ERROR, "%s", m->pg->errstr);
            return PL_EXIT_FAILED;
        }

        if (pl_main_build(m) != PL_OK) {
            pl_log(PL_LOG_ERROR, "build failed: %s", m->errstr);
            pl_metrics_error(m->metrics, m->err);
            pl_main_metrics(m, 1);
            return PL_EXIT_FAILED;
        }

        pl_main_metrics(m, 1);
        return PL_EXIT_OK;

    default:
        return pl_main_daemon(m);
    }
}


static int
pl_main_daemon(pl_main_t *m)
{
    unsigned  backoff, wait;

    pl_log(PL_LOG_INFO, "started %s, directory %s, next generation %llu",
           PL_VERSION, m->cf.dir, (unsigned long long) m->pub->next);

    backoff = 0;

    while (!pl_loop_stop) {

        if (pl_main_tick(m) == PL_OK) {
            backoff = 0;
            wait = m->cf.interval;

        } else {
            if (m->err == PL_ESTOP) {
                pl_log(PL_LOG_INFO, "build interrupted, temp file removed");
                break;
            }

            if (!pl_pg_connected(m->pg)) {
                pl_pg_close(m->pg);
            }

            backoff = pl_loop_backoff(backoff);

            pl_log(m->err == PL_ECONN ? PL_LOG_WARN : PL_LOG_ERROR,
                   "%s; retrying in %u.%u s", m->errstr, backoff / 1000,
                   backoff % 1000 / 100);

            wait = backoff;
            pl_metrics_error(m->metrics, m->err);
        }

        pl_main_metrics(m, 0);

        /* a background build is collected soon after it ends */
        if (pl_rebase_running(m->rebase) && wait > 200) {
            wait = 200;
        }

        pl_main_sleep(m, wait, backoff == 0);
    }

    pl_rebase_cancel(m->rebase, m->pub);
    pl_log(PL_LOG_INFO, "stopping");

    return PL_EXIT_OK;
}


/*
 * PL_ERR means retry after a back-off.  A build refused for its data is
 * not such a failure: the same data would be refused again, so it waits
 * for the next change while the last good snapshot stays live.
 */

static int
pl_main_tick(pl_main_t *m)
{
    int  changed;

    if (!pl_pg_connected(m->pg)) {
        if (pl_pg_connect(m->pg) != PL_OK) {
            pl_error(m, m->pg->err, "%s", m->pg->errstr);
            return PL_ERR;
        }

        pl_log(PL_LOG_INFO, "connected to the database");
        pl_main_listen(m);
    }

    if (!m->resumed) {
        m->resumed = 1;

        if (!m->cf.full) {
            pl_main_resume(m);
        }
    }

    if (pl_build_changed(m->build, m->pg, &changed) != PL_OK) {
        pl_error(m, m->build->err, "%s", m->build->errstr);
        return PL_ERR;
    }

    /* a new base from the background: a delta over it, at once */
    changed |= pl_main_adopt(m);

    if (!changed) {
        return m->in_sync ? pl_main_confirm(m) : PL_OK;
    }

    switch (pl_main_delta(m)) {

    case PL_OK:
        pl_build_accept(m->build);
        m->in_sync = 1;

        if (m->delta->want_base
            && pl_rebase_start(m->rebase, m->cf.conninfo, m->build, m->pub)
               != PL_OK)
        {
            pl_log(PL_LOG_WARN, "%s", m->rebase->errstr);
        }

        return PL_OK;

    case PL_DELTA_FULL:
        break;

    default:
        if (!pl_pg_connected(m->pg)) {
            pl_error(m, m->delta->err, "%s", m->delta->errstr);
            return PL_ERR;
        }

        pl_log(PL_LOG_WARN, "delta failed, building in full: %s",
               m->delta->errstr);
    }

    /* a full build now supersedes one in the background */
    pl_rebase_cancel(m->rebase, m->pub);

    if (pl_main_build(m) == PL_OK) {
        pl_build_accept(m->build);
        pl_main_rebased(m);
        m->in_sync = 1;
        return PL_OK;
    }

    m->delta->live = 0;

    if (m->err == PL_EDATA || m->err == PL_EINVALID) {
        pl_log(PL_LOG_ERROR, "build refused, keeping generation %llu: %s",
               (unsigned long long) m->pub->ctl->generation, m->errstr);
        pl_build_accept(m->build);
        m->in_sync = 0;
        return PL_OK;
    }

    return PL_ERR;
}


/* LISTEN where NOTIFY arrives; say once why not elsewhere */

static void
pl_main_listen(pl_main_t *m)
{
    if (m->cf.no_listen) {
        pl_log(PL_LOG_INFO, "not listening (--no-listen): polling "
               "every %u ms", m->cf.interval);

    } else if (m->pg->standby) {
        pl_log(PL_LOG_INFO, "the database is a hot standby "
               "(pg_is_in_recovery): NOTIFY does not arrive there, "
               "not listening, polling every %u ms", m->cf.interval);

    } else if (pl_pg_listen(m->pg, PL_MAIN_CHANNEL) != PL_OK) {
        pl_log(PL_LOG_WARN, "%s; not listening, polling every %u ms",
               m->pg->errstr, m->cf.interval);
    }
}


/*
 * Nothing changed: the live snapshot is in sync with the database as of
 * now, or, read from a hot standby, as of what the standby has replayed
 * (pl_pg_standby_lag()), so that a lagging replica makes answers stale
 * by uco_max_staleness as a cut-off loader does.
 */

static int
pl_main_confirm(pl_main_t *m)
{
    int       known;
    uint64_t  lag, now;

    if (!m->pg->standby) {
        pl_publish_touch(m->pub);
        pl_metrics_synced(m->metrics);
        return PL_OK;
    }

    if (pl_pg_standby_lag(m->pg, &known, &lag) != PL_OK) {
        pl_error(m, m->pg->err, "reading the standby's lag: %s",
                 m->pg->errstr);
        return PL_ERR;
    }

    if (!m->pg->standby) {
        pl_log(PL_LOG_INFO, "the database has left recovery (promoted)");
        pl_main_listen(m);
    }

    now = (uint64_t) time(NULL);

    if (known && lag <= now) {
        pl_publish_touch_at(m->pub, now - lag);

        if (lag == 0) {
            pl_metrics_synced(m->metrics);
        }
    }

    return PL_OK;
}


/* one consistent cut, straight into a new file, then publish */

static int
pl_main_build(pl_main_t *m)
{
    void              *buf;
    size_t             size;
    pl_build_t        *b;
    struct timespec    t0;

    b = m->build;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    if (pl_pg_begin(m->pg) != PL_OK) {
        pl_error(m, m->pg->err, "%s", m->pg->errstr);
        goto failed;
    }

    if (pl_build_mark(b, m->pg) != PL_OK
        || pl_build_count(b, m->pg) != PL_OK)
    {
        pl_error(m, b->err, "%s", b->errstr);
        goto failed;
    }

    size = uco_snap_size(&b->counts);
    if (size == 0) {
        pl_error(m, PL_EDATA, "too many records for one snapshot");
        goto failed;
    }

    if (pl_publish_begin(m->pub, size, &buf) != PL_OK) {
        pl_error(m, m->pub->err, "%s", m->pub->errstr);
        goto failed;
    }

    if (pl_build_fill(b, m->pg, buf, size) != PL_OK) {
        pl_error(m, b->err, "%s", b->errstr);
        goto failed;
    }

    if (pl_pg_commit(m->pg) != PL_OK) {
        pl_error(m, m->pg->err, "%s", m->pg->errstr);
        goto failed;
    }

    if (pl_build_seal(b, m->pub->gen) != PL_OK) {
        pl_error(m, b->err, "%s", b->errstr);
        goto failed;
    }

    if (pl_publish_commit(m->pub) != PL_OK) {
        pl_error(m, m->pub->err, "%s", m->pub->errstr);
        goto failed;
    }

    pl_log(PL_LOG_INFO, "published generation %llu (cards=%llu, "
           "idents=%llu, partners=%llu, programmes=%llu, bytes=%zu, "
           "ms=%ld)",
           (unsigned long long) m->pub->gen,
           (unsigned long long) b->counts.cards,
           (unsigned long long) b->counts.idents,
           (unsigned long long) b->counts.partners,
           (unsigned long long) b->counts.programmes, size,
           pl_main_ms(&t0));

    pl_log(PL_LOG_DEBUG, "generation %llu: terminals=%llu, watermark=%llu",
           (unsigned long long) m->pub->gen,
           (unsigned long long) b->counts.terminals,
           (unsigned long long) b->mark.watermark);

    pl_metrics_build(m->metrics, PL_METRICS_PUBLISHED, pl_main_ms(&t0));
    pl_main_mark(m);
    pl_metrics_published(m->metrics, m->pub->gen, &b->counts, size,
                         b->mark.watermark);

    return PL_OK;

failed:

    pl_metrics_build(m->metrics,
                     (m->err == PL_EDATA || m->err == PL_EINVALID)
                     ? PL_METRICS_REFUSED : PL_METRICS_FAILED,
                     pl_main_ms(&t0));

    pl_publish_abort(m->pub);
    pl_pg_rollback(m->pg);

    return PL_ERR;
}


/* a change since the base: a delta (pl_delta.c) */

static int
pl_main_delta(pl_main_t *m)
{
    int               rc;
    pl_delta_t       *d;
    struct timespec   t0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    d = m->delta;

    rc = pl_delta_publish(d, m->build, m->pg, m->pub);

    if (rc == PL_DELTA_FULL) {
        pl_log(PL_LOG_INFO, "full build: %s", d->why);
        return rc;
    }

    if (rc != PL_OK) {
        pl_metrics_build(m->metrics, PL_METRICS_FAILED, pl_main_ms(&t0));
        return rc;
    }

    pl_log(PL_LOG_INFO, "published generation %llu (delta over base %llu: "
           "cards=%zu, deleted=%zu, idents=%zu, partners=%s, bytes=%zu, "
           "ms=%ld)",
           (unsigned long long) m->pub->gen,
           (unsigned long long) d->base_gen, d->ncards, d->deleted,
           d->nidents, d->family ? "own" : "base's", m->pub->size,
           pl_main_ms(&t0));

    pl_metrics_build(m->metrics, PL_METRICS_PUBLISHED, pl_main_ms(&t0));
    pl_main_mark(m);
    pl_metrics_published(m->metrics, m->pub->gen, &m->build->counts,
                         m->pub->size, m->build->mark.watermark);
    pl_metrics_delta(m->metrics, d->base_gen, d->ncards);

    return PL_OK;
}


/*
 * At the daemon's start: the live generation, if this loader's mark in
 * the control file describes it and the change log still holds every
 * row after that mark (its oldest row is at or below the mark's floor),
 * is kept, and the first tick publishes what changed since as a delta.
 * Else the first tick builds in full, as always.
 */

static void
pl_main_resume(pl_main_t *m)
{
    uint64_t            v[1];
    pl_build_mark_t     mk;
    pl_publish_mark_t   pm;

    if (m->cf.delta_max_cards == 0
        || pl_publish_read_mark(m->pub, &pm) != PL_OK)
    {
        return;
    }

    if (pl_pg_query_u64(m->pg, "SELECT coalesce(min(id), 0) "
                        "FROM uco.change_log", v, 1) != PL_OK)
    {
        pl_log(PL_LOG_WARN, "reading the change log: %s; building in full",
               m->pg->errstr);
        return;
    }

    if (v[0] == 0 ? pm.watermark != 0 : v[0] > pm.floor + 1) {
        pl_log(PL_LOG_INFO, "the change log no longer holds every change "
               "after generation %llu (oldest row %llu, needed %llu): "
               "building in full", (unsigned long long) pm.generation,
               (unsigned long long) v[0],
               (unsigned long long) pm.floor + 1);
        return;
    }

    if (pl_delta_resume(m->delta, m->pub, pm.generation) != PL_OK) {
        pl_log(PL_LOG_INFO, "not going on from generation %llu: %s; "
               "building in full", (unsigned long long) pm.generation,
               m->delta->errstr);
        m->delta->live = 0;
        return;
    }

    mk.watermark = pm.watermark;
    mk.floor = pm.floor;
    mk.seen = pm.seen;
    mk.xmax = pm.xmax;
    mk.snapshot = strdup(pm.snapshot);

    if (mk.snapshot == NULL) {
        m->delta->live = 0;
        return;
    }

    pl_build_resync(m->build, &mk);
    m->in_sync = 1;

    pl_log(PL_LOG_INFO, "going on from generation %llu (%s %llu, "
           "watermark %llu): catching up from the change log",
           (unsigned long long) pm.generation,
           m->delta->live != m->delta->base_gen ? "a delta over base"
                                                 : "the base",
           (unsigned long long) m->delta->base_gen,
           (unsigned long long) pm.watermark);
}


/* where the generation just published stands in the change log */

static void
pl_main_mark(pl_main_t *m)
{
    pl_build_mark_t  *mk;

    mk = &m->build->mark;
    pl_publish_mark(m->pub, m->pub->gen, mk->watermark, mk->floor,
                    mk->seen, mk->xmax, mk->snapshot);
}


/*
 * A base built in the background is in place: the deltas go over it
 * from now on, and the next one holds every change its build did not
 * see.  Returns 1 when there is such a delta to publish.
 */

static int
pl_main_adopt(pl_main_t *m)
{
    int       rc;
    uint64_t  live;

    rc = pl_rebase_poll(m->rebase, m->pub);

    if (rc == PL_REBASE_IDLE) {
        return 0;
    }

    if (rc != PL_OK) {
        pl_log(PL_LOG_ERROR, "%s; deltas continue over base %llu",
               m->rebase->errstr,
               (unsigned long long) m->delta->base_gen);
        return 0;
    }

    live = m->delta->live;

    if (pl_delta_rebased(m->delta, m->pub, m->rebase->gen) != PL_OK) {
        pl_log(PL_LOG_WARN, "%s", m->delta->errstr);
        m->delta->live = 0;
        return 1;
    }

    /* the live generation is still this loader's own */
    m->delta->live = live;
    pl_build_resync(m->build, &m->rebase->mark);

    return 1;
}


/* a full build just published: the base of the next deltas */

static void
pl_main_rebased(pl_main_t *m)
{
    if (pl_delta_rebased(m->delta, m->pub, m->pub->gen) != PL_OK) {
        pl_log(PL_LOG_WARN, "%s", m->delta->errstr);
    }
}


/* a metrics file that cannot be written is logged, not fatal */

static void
pl_main_metrics(pl_main_t *m, int force)
{
    if (pl_metrics_flush(m->metrics, force) != PL_OK) {
        pl_log(PL_LOG_WARN, "%s", m->metrics->errstr);
    }
}


static long
pl_main_ms(const struct timespec *since)
{
    struct timespec  now;

    clock_gettime(CLOCK_MONOTONIC, &now);

    return (long) (now.tv_sec - since->tv_sec) * 1000
           + (now.tv_nsec - since->tv_nsec) / 1000000;
}


/*
 * With wake, a notification from the database ends the sleep too; a
 * back-off is not cut short by one.
 */

static void
pl_main_sleep(pl_main_t *m, unsigned ms, int wake)
{
    if (pl_loop_sleep(ms, wake ? pl_main_wait : NULL, m->pg)) {
        pl_log(PL_LOG_DEBUG, "woken by the database");
    }
}


static int
pl_main_wait(void *ctx, unsigned ms, const sigset_t *mask)
{
    return pl_pg_wait(ctx, ms, mask);
}
