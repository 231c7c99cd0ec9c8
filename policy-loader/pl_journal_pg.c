/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The journal's PostgreSQL sink.  A batch is one statement, so one
 * round trip and one implicit transaction: the batch's columns go as
 * twelve array parameters of a prepared INSERT ... SELECT FROM unnest()
 * ... ON CONFLICT DO NOTHING, so that a batch delivered twice (a loader
 * killed before it acknowledged the ring, a spool replayed) stores each
 * decision once.  Before it, a month not yet seen on this connection
 * has its partition made sure of (once per month).  Any failure rolls
 * the whole batch back and drops the connection; the caller spools.
 * Hourly, before a batch, uco.decision_maintain() makes the coming
 * months' partitions and drops those past the retention.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <endian.h>

#include "pl_journal_pg.h"
#include "pl_loop.h"


/*
 * The twelve columns' binary arrays, each in a part of buf: a 20-byte
 * header, then per element a length and at most a terminal (32 bytes).
 */
#define PL_JOURNAL_PG_COLS      12
#define PL_JOURNAL_PG_COL_SIZE  (20 + PL_JOURNAL_BATCH                   \
                                 * (4 + UCO_SNAP_TERMINAL_LEN))
#define PL_JOURNAL_PG_STMT      "uco_journal_insert"

/* pg_type's OIDs of the elements */
#define PL_PG_INT2              21
#define PL_PG_INT8              20
#define PL_PG_TEXT              25

/*
 * decided_at: the record's unix milliseconds after the epoch, exact
 * (interval arithmetic is in integer microseconds).
 */
static const char  pl_journal_pg_insert[] =
    "INSERT INTO uco.decision (decision_id, decided_at, node, partner_id, "
    "terminal, card_id, programme_id, decision, reason, discount, amount, "
    "generation) "
    "SELECT id, timestamptz 'epoch' + ms * interval '1 millisecond', "
    "node, partner, terminal, card, programme, decision, reason, "
    "discount, amount, generation "
    "FROM unnest($1::bigint[], $2::bigint[], $3::smallint[], "
    "$4::bigint[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], "
    "$9::text[], $10::bigint[], $11::bigint[], $12::bigint[]) "
    "AS r (id, ms, node, partner, terminal, card, programme, decision, "
    "reason, discount, amount, generation) "
    "ON CONFLICT DO NOTHING";


static int pl_journal_pg_exec(pl_journal_pg_t *jp, const char *sql);
static int pl_journal_pg_session(pl_journal_pg_t *jp);
static int pl_journal_pg_partitions(pl_journal_pg_t *jp,
    const pl_jbatch_t *b);
static int pl_journal_pg_maintain(pl_journal_pg_t *jp);
static uint8_t *pl_journal_pg_head(uint8_t *p, uint32_t oid, size_t n);
static uint8_t *pl_journal_pg_int8(uint8_t *p, uint64_t v, int null);
static uint8_t *pl_journal_pg_text(uint8_t *p, const void *s, size_t n);
static void pl_journal_pg_arrays(pl_journal_pg_t *jp, const pl_jbatch_t *b,
    const char **values, int *lengths);
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
    jp->size = PL_JOURNAL_PG_COLS * PL_JOURNAL_PG_COL_SIZE;
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


/*
 * Months as year * 12 + month, UTC, as uco.decision_partition() cuts.
 * The last month checked is kept as a range of milliseconds: a record
 * in it costs two comparisons.
 */

static int
pl_journal_pg_partitions(pl_journal_pg_t *jp, const pl_jbatch_t *b)
{
    size_t      i, k;
    time_t      t;
    int32_t     month;
    uint64_t    ms;
    struct tm   tm;
    char        sql[128];

    for (i = 0; i < b->n; i++) {
        ms = b->rec[i].time_ms;

        if (ms >= jp->month_lo && ms < jp->month_hi) {
            continue;
        }

        t = (time_t) (ms / 1000);
        gmtime_r(&t, &tm);
        month = (tm.tm_year + 1900) * 12 + tm.tm_mon;

        for (k = 0; k < PL_JOURNAL_PG_MONTHS; k++) {
            if (jp->months[k] == month) {
                break;
            }
        }

        if (k == PL_JOURNAL_PG_MONTHS) {
            snprintf(sql, sizeof(sql), "SELECT uco.decision_partition("
                     "to_timestamp(%lld))", (long long) t);

            if (pl_journal_pg_exec(jp, sql) != PL_OK) {
                return PL_ERR;
            }

            memmove(&jp->months[1], &jp->months[0],
                    sizeof(jp->months) - sizeof(jp->months[0]));
            jp->months[0] = month;
        }

        tm.tm_mday = 1;
        tm.tm_hour = 0;
        tm.tm_min = 0;
        tm.tm_sec = 0;
        jp->month_lo = (uint64_t) timegm(&tm) * 1000;
        tm.tm_mon++;
        jp->month_hi = (uint64_t) timegm(&tm) * 1000;
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
    jp->month_lo = 0;
    jp->month_hi = 0;

    return PL_OK;
}


/*
 * The batch as twelve array literals, written by hand (snprintf was a
 * quarter of the delivery's CPU), each into its own part of buf:
 * "{1,2,NULL}".
 */

/*
 * Binary array parameters, array_send()'s format, big-endian: the
 * dimensions, the element type, then each element's length (-1: NULL)
 * and bytes.  No digits to write, none for the server to parse.
 */

static uint8_t *
pl_journal_pg_head(uint8_t *p, uint32_t oid, size_t n)
{
    uint32_t  h[5];

    h[0] = htobe32(1);              /* dimensions */
    h[1] = htobe32(1);              /* may hold NULLs */
    h[2] = htobe32(oid);
    h[3] = htobe32((uint32_t) n);
    h[4] = htobe32(1);              /* lower bound */
    memcpy(p, h, sizeof(h));

    return p + sizeof(h);
}


static uint8_t *
pl_journal_pg_int8(uint8_t *p, uint64_t v, int null)
{
    uint32_t  len;

    if (null) {
        len = htobe32(UINT32_MAX);
        memcpy(p, &len, 4);
        return p + 4;
    }

    len = htobe32(8);
    v = htobe64(v);
    memcpy(p, &len, 4);
    memcpy(p + 4, &v, 8);

    return p + 12;
}


static uint8_t *
pl_journal_pg_text(uint8_t *p, const void *s, size_t n)
{
    uint32_t  len;

    if (s == NULL) {
        len = htobe32(UINT32_MAX);
        memcpy(p, &len, 4);
        return p + 4;
    }

    len = htobe32((uint32_t) n);
    memcpy(p, &len, 4);
    memcpy(p + 4, s, n);

    return p + 4 + n;
}


static void
pl_journal_pg_arrays(pl_journal_pg_t *jp, const pl_jbatch_t *b,
    const char **values, int *lengths)
{
    int                       c;
    size_t                    i;
    uint16_t                  node;
    uint32_t                  len;
    uint8_t                  *p[PL_JOURNAL_PG_COLS];
    const char               *n;
    const uco_journal_rec_t  *r;

    static const uint32_t  oids[PL_JOURNAL_PG_COLS] = {
        PL_PG_INT8, PL_PG_INT8, PL_PG_INT2, PL_PG_INT8, PL_PG_TEXT,
        PL_PG_INT8, PL_PG_INT8, PL_PG_TEXT, PL_PG_TEXT, PL_PG_INT8,
        PL_PG_INT8, PL_PG_INT8
    };

    for (c = 0; c < PL_JOURNAL_PG_COLS; c++) {
        values[c] = (char *) jp->buf + c * PL_JOURNAL_PG_COL_SIZE;
        p[c] = pl_journal_pg_head((uint8_t *) values[c], oids[c], b->n);
    }

    len = htobe32(2);

    for (i = 0; i < b->n; i++) {
        r = &b->rec[i];

        p[0] = pl_journal_pg_int8(p[0], r->id, 0);
        p[1] = pl_journal_pg_int8(p[1], r->time_ms, 0);

        node = htobe16((uint16_t) r->node);
        memcpy(p[2], &len, 4);
        memcpy(p[2] + 4, &node, 2);
        p[2] += 6;

        p[3] = pl_journal_pg_int8(p[3], r->partner, 0);
        p[4] = pl_journal_pg_text(p[4], r->terminal_len ? r->terminal : NULL,
                                  r->terminal_len);
        p[5] = pl_journal_pg_int8(p[5], r->card, r->card == 0);
        p[6] = pl_journal_pg_int8(p[6], r->programme, r->programme == 0);

        n = uco_snap_decision_name(r->decision);
        p[7] = pl_journal_pg_text(p[7], n, strlen(n));
        n = r->reason != UCO_REASON_NONE ? uco_snap_reason_name(r->reason)
                                         : NULL;
        p[8] = pl_journal_pg_text(p[8], n, n != NULL ? strlen(n) : 0);

        p[9] = pl_journal_pg_int8(p[9], (uint64_t) r->discount,
                                  r->discount < 0);
        p[10] = pl_journal_pg_int8(p[10], (uint64_t) r->amount,
                                   r->amount < 0);
        p[11] = pl_journal_pg_int8(p[11], r->generation, 0);
    }

    for (c = 0; c < PL_JOURNAL_PG_COLS; c++) {
        lengths[c] = (int) (p[c] - (const uint8_t *) values[c]);
    }
}


/*
 * A new connection: a statement timeout, so that a server that hangs
 * cannot hold the ring for ever, and the INSERT prepared once.
 */

static int
pl_journal_pg_session(pl_journal_pg_t *jp)
{
    PGresult  *res;

    if (pl_pg_connect(jp->pg) != PL_OK) {
        pl_error(jp, jp->pg->err, "journal: %s", jp->pg->errstr);
        return PL_ERR;
    }

    if (pl_journal_pg_exec(jp, "SET statement_timeout = '30s'") != PL_OK) {
        return PL_ERR;
    }

    res = PQprepare(jp->pg->conn, PL_JOURNAL_PG_STMT, pl_journal_pg_insert,
                    0, NULL);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        PQclear(res);
        pl_journal_pg_fail(jp, "PREPARE");
        return PL_ERR;
    }

    PQclear(res);

    pl_log(PL_LOG_INFO, "journal: connected to the database");

    return PL_OK;
}


int
pl_journal_pg_deliver(pl_journal_pg_t *jp, const pl_jbatch_t *b)
{
    int          lengths[PL_JOURNAL_PG_COLS];
    PGresult    *res;
    const char  *values[PL_JOURNAL_PG_COLS];

    static const int  binary[PL_JOURNAL_PG_COLS] = {
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
    };

    if (!pl_pg_connected(jp->pg) && pl_journal_pg_session(jp) != PL_OK) {
        goto failed;
    }

    if (pl_loop_now() >= jp->maintain_at
        && pl_journal_pg_maintain(jp) != PL_OK)
    {
        goto failed;
    }

    if (pl_journal_pg_partitions(jp, b) != PL_OK) {
        goto failed;
    }

    pl_journal_pg_arrays(jp, b, values, lengths);

    res = PQexecPrepared(jp->pg->conn, PL_JOURNAL_PG_STMT,
                         PL_JOURNAL_PG_COLS, values, lengths, binary, 0);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        PQclear(res);
        pl_journal_pg_fail(jp, "INSERT");
        goto failed;
    }

    PQclear(res);

    return PL_OK;

failed:

    /* the session's state is unknown: start afresh */
    pl_pg_close(jp->pg);
    memset(jp->months, 0, sizeof(jp->months));
    jp->month_lo = 0;
    jp->month_hi = 0;

    return PL_ERR;
}
