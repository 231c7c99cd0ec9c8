/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The journal's PostgreSQL sink.  A batch is one transaction: its
 * months' partitions are made sure of, the rows are COPYed into a
 * temporary table and inserted with ON CONFLICT DO NOTHING, so that a
 * batch delivered twice (a loader killed before it acknowledged the
 * ring, a spool replayed) stores each decision once.  Any failure rolls
 * the whole batch back and drops the connection; the caller spools.
 * Hourly, before a batch, uco.decision_maintain() makes the coming
 * months' partitions and drops those past the retention.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pl_journal_pg.h"
#include "pl_loop.h"


#define PL_JOURNAL_PG_ROW   512

static const char  pl_journal_pg_stage[] =
    "CREATE TEMP TABLE IF NOT EXISTS decision_in "
    "(LIKE uco.decision INCLUDING DEFAULTS) ON COMMIT DELETE ROWS";

static const char  pl_journal_pg_copy[] =
    "COPY decision_in (decision_id, decided_at, node, partner_id, "
    "terminal, card_id, programme_id, decision, reason, discount, amount, "
    "generation) FROM STDIN";

static const char  pl_journal_pg_insert[] =
    "INSERT INTO uco.decision SELECT * FROM decision_in "
    "ON CONFLICT DO NOTHING";


static int pl_journal_pg_exec(pl_journal_pg_t *jp, const char *sql);
static int pl_journal_pg_partitions(pl_journal_pg_t *jp,
    const pl_jbatch_t *b);
static int pl_journal_pg_maintain(pl_journal_pg_t *jp);
static char *pl_journal_pg_u64(char *p, uint64_t v);
static char *pl_journal_pg_opt(char *p, uint64_t v, int null);
static char *pl_journal_pg_str(char *p, const char *s);
static size_t pl_journal_pg_row(pl_journal_pg_t *jp, char *p,
    const uco_journal_rec_t *r);
static void pl_journal_pg_fail(pl_journal_pg_t *jp, const char *what);


pl_journal_pg_t *
pl_journal_pg_new(const char *conninfo, unsigned retention)
{
    pl_journal_pg_t  *jp;

    jp = calloc(1, sizeof(pl_journal_pg_t));
    if (jp == NULL) {
        return NULL;
    }

    jp->retention = retention;
    jp->ts_sec = -1;
    jp->size = PL_JOURNAL_BATCH * PL_JOURNAL_PG_ROW;
    jp->buf = malloc(jp->size);
    jp->pg = pl_pg_new(conninfo);

    if (jp->buf == NULL || jp->pg == NULL) {
        pl_journal_pg_free(jp);
        return NULL;
    }

    return jp;
}


void
pl_journal_pg_free(pl_journal_pg_t *jp)
{
    if (jp == NULL) {
        return;
    }

    pl_pg_free(jp->pg);
    free(jp->buf);
    free(jp);
}


static void
pl_journal_pg_fail(pl_journal_pg_t *jp, const char *what)
{
    const char  *msg;
    size_t       len;

    msg = jp->pg->conn != NULL ? PQerrorMessage(jp->pg->conn) : "";
    len = strcspn(msg, "\n");

    pl_error(jp, pl_pg_connected(jp->pg) ? PL_EQUERY : PL_ECONN,
             "journal: %s: %.*s", what, (int) len, msg);
}


static int
pl_journal_pg_exec(pl_journal_pg_t *jp, const char *sql)
{
    PGresult  *res;

    res = PQexec(jp->pg->conn, sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK
        && PQresultStatus(res) != PGRES_TUPLES_OK)
    {
        PQclear(res);
        pl_journal_pg_fail(jp, sql);
        return PL_ERR;
    }

    PQclear(res);

    return PL_OK;
}


/* months as year * 12 + month, UTC, as uco.decision_partition() cuts */

static int
pl_journal_pg_partitions(pl_journal_pg_t *jp, const pl_jbatch_t *b)
{
    size_t      i, k;
    time_t      t, last;
    int32_t     month;
    struct tm   tm;
    char        sql[128];

    last = -1;

    for (i = 0; i < b->n; i++) {
        t = (time_t) (b->rec[i].time_ms / 1000);

        /* a batch's records mostly share their second */
        if (t == last) {
            continue;
        }

        last = t;
        gmtime_r(&t, &tm);
        month = (tm.tm_year + 1900) * 12 + tm.tm_mon;

        for (k = 0; k < PL_JOURNAL_PG_MONTHS; k++) {
            if (jp->months[k] == month) {
                break;
            }
        }

        if (k < PL_JOURNAL_PG_MONTHS) {
            continue;
        }

        snprintf(sql, sizeof(sql), "SELECT uco.decision_partition("
                 "to_timestamp(%lld))", (long long) t);

        if (pl_journal_pg_exec(jp, sql) != PL_OK) {
            return PL_ERR;
        }

        memmove(&jp->months[1], &jp->months[0],
                sizeof(jp->months) - sizeof(jp->months[0]));
        jp->months[0] = month;
    }

    return PL_OK;
}


/*
 * Partitions ahead and retention, in a transaction of their own.  Only
 * a lost connection fails the batch: a schema without the function
 * (migration 0005 not applied) or a role without EXECUTE is logged and
 * tried again an hour later.
 */

static int
pl_journal_pg_maintain(pl_journal_pg_t *jp)
{
    int        i;
    PGresult  *res;
    char       sql[96];

    jp->maintain_at = pl_loop_now() + PL_JOURNAL_PG_MAINTAIN;

    snprintf(sql, sizeof(sql), "SELECT * FROM uco.decision_maintain(%u, %d)",
             jp->retention, PL_JOURNAL_PG_AHEAD);

    res = PQexec(jp->pg->conn, sql);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        pl_journal_pg_fail(jp, "uco.decision_maintain()");

        if (!pl_pg_connected(jp->pg)) {
            return PL_ERR;
        }

        pl_log(PL_LOG_WARN, "%s; partitions are not made ahead%s, next "
               "try in an hour", jp->errstr,
               jp->retention ? " nor dropped" : "");
        return PL_OK;
    }

    for (i = 0; i < PQntuples(res); i++) {
        pl_log(PL_LOG_INFO, "journal: partition maintenance: %s",
               PQgetvalue(res, i, 0));
    }

    PQclear(res);

    /* a dropped month comes back if a late record needs it */
    memset(jp->months, 0, sizeof(jp->months));

    return PL_OK;
}


/*
 * One COPY text row, formatted by hand: snprintf was a quarter of the
 * delivery's CPU.  Terminals are [A-Za-z0-9._:-] by the module's
 * validation, so they need no escaping; anything else is refused before.
 * A batch's records mostly share their second: its date and time are
 * formatted once.
 */

static char *
pl_journal_pg_u64(char *p, uint64_t v)
{
    char   d[20], *e;

    e = d + sizeof(d);

    do {
        *--e = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);

    memcpy(p, e, (size_t) (d + sizeof(d) - e));

    return p + (d + sizeof(d) - e);
}


/* a tab, then the value or \N */

static char *
pl_journal_pg_opt(char *p, uint64_t v, int null)
{
    *p++ = '\t';

    if (null) {
        *p++ = '\\';
        *p++ = 'N';
        return p;
    }

    return pl_journal_pg_u64(p, v);
}


static char *
pl_journal_pg_str(char *p, const char *s)
{
    size_t  n;

    n = strlen(s);
    *p++ = '\t';
    memcpy(p, s, n);

    return p + n;
}


static size_t
pl_journal_pg_row(pl_journal_pg_t *jp, char *p, const uco_journal_rec_t *r)
{
    char       *s;
    unsigned    ms;
    time_t      t;
    struct tm   tm;

    s = p;
    t = (time_t) (r->time_ms / 1000);

    if ((int64_t) t != jp->ts_sec) {
        gmtime_r(&t, &tm);
        snprintf(jp->ts, sizeof(jp->ts), "%04d-%02d-%02d %02d:%02d:%02d",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
        jp->ts_sec = (int64_t) t;
    }

    p = pl_journal_pg_u64(p, r->id);
    *p++ = '\t';
    memcpy(p, jp->ts, 19);
    p += 19;

    ms = (unsigned) (r->time_ms % 1000);
    *p++ = '.';
    *p++ = (char) ('0' + ms / 100);
    *p++ = (char) ('0' + ms / 10 % 10);
    *p++ = (char) ('0' + ms % 10);
    memcpy(p, "+00", 3);
    p += 3;

    p = pl_journal_pg_opt(p, r->node, 0);
    p = pl_journal_pg_opt(p, r->partner, 0);
    *p++ = '\t';

    if (r->terminal_len != 0) {
        memcpy(p, r->terminal, r->terminal_len);
        p += r->terminal_len;

    } else {
        *p++ = '\\';
        *p++ = 'N';
    }

    p = pl_journal_pg_opt(p, r->card, r->card == 0);
    p = pl_journal_pg_opt(p, r->programme, r->programme == 0);
    p = pl_journal_pg_str(p, uco_snap_decision_name(r->decision));

    if (r->reason) {
        p = pl_journal_pg_str(p, uco_snap_reason_name(r->reason));

    } else {
        p = pl_journal_pg_opt(p, 0, 1);
    }

    p = pl_journal_pg_opt(p, (uint64_t) r->discount, r->discount < 0);
    p = pl_journal_pg_opt(p, (uint64_t) r->amount, r->amount < 0);
    p = pl_journal_pg_opt(p, r->generation, 0);
    *p++ = '\n';

    return (size_t) (p - s);
}


int
pl_journal_pg_deliver(pl_journal_pg_t *jp, const pl_jbatch_t *b)
{
    size_t     i, len;
    PGresult  *res;

    if (!pl_pg_connected(jp->pg)) {
        jp->staged = 0;

        if (pl_pg_connect(jp->pg) != PL_OK) {
            pl_error(jp, jp->pg->err, "journal: %s", jp->pg->errstr);
            return PL_ERR;
        }

        /* a server that hangs must not hold the ring for ever */
        if (pl_journal_pg_exec(jp, "SET statement_timeout = '30s'")
            != PL_OK)
        {
            goto failed;
        }

        pl_log(PL_LOG_INFO, "journal: connected to the database");
    }

    if (pl_loop_now() >= jp->maintain_at
        && pl_journal_pg_maintain(jp) != PL_OK)
    {
        goto failed;
    }

    if (pl_journal_pg_exec(jp, "BEGIN") != PL_OK) {
        goto failed;
    }

    if (!jp->staged) {
        if (pl_journal_pg_exec(jp, pl_journal_pg_stage) != PL_OK) {
            goto failed;
        }
    }

    if (pl_journal_pg_partitions(jp, b) != PL_OK) {
        goto failed;
    }

    res = PQexec(jp->pg->conn, pl_journal_pg_copy);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        PQclear(res);
        pl_journal_pg_fail(jp, "COPY");
        goto failed;
    }

    PQclear(res);

    len = 0;

    for (i = 0; i < b->n; i++) {
        len += pl_journal_pg_row(jp, jp->buf + len, &b->rec[i]);
    }

    if (PQputCopyData(jp->pg->conn, jp->buf, (int) len) != 1
        || PQputCopyEnd(jp->pg->conn, NULL) != 1)
    {
        pl_journal_pg_fail(jp, "COPY");
        goto failed;
    }

    res = PQgetResult(jp->pg->conn);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        PQclear(res);
        pl_journal_pg_fail(jp, "COPY");
        goto failed;
    }

    PQclear(res);

    while ((res = PQgetResult(jp->pg->conn)) != NULL) {
        PQclear(res);
    }

    if (pl_journal_pg_exec(jp, pl_journal_pg_insert) != PL_OK
        || pl_journal_pg_exec(jp, "COMMIT") != PL_OK)
    {
        goto failed;
    }

    jp->staged = 1;

    return PL_OK;

failed:

    /* the session's state is unknown: start afresh */
    pl_pg_close(jp->pg);
    memset(jp->months, 0, sizeof(jp->months));

    return PL_ERR;
}
