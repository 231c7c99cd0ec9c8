/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * PostgreSQL through libpq.  Tables are streamed with COPY ... TO STDOUT
 * in text format, one row per PQgetCopyData() call, so that the loader
 * never holds a result set; the row callback sees unescaped fields
 * (pl_pg_text.c parses them).
 */

#include <stdlib.h>
#include <string.h>
#include <poll.h>

#include "pl_pg.h"


static void pl_pg_fail(pl_pg_t *pg, const char *what, PGresult *res);
static int pl_pg_exec(pl_pg_t *pg, const char *sql);
static void pl_pg_cancel(pl_pg_t *pg);
static int pl_pg_drain(pl_pg_t *pg);


pl_pg_t *
pl_pg_new(const char *conninfo)
{
    pl_pg_t  *pg;

    pg = calloc(1, sizeof(pl_pg_t));
    if (pg == NULL) {
        return NULL;
    }

    pg->conninfo = strdup(conninfo);
    if (pg->conninfo == NULL) {
        free(pg);
        return NULL;
    }

    return pg;
}


void
pl_pg_free(pl_pg_t *pg)
{
    if (pg == NULL) {
        return;
    }

    pl_pg_close(pg);
    free(pg->conninfo);
    free(pg);
}


/*
 * Our defaults come before "dbname": libpq expands the user's conninfo
 * (a key=value string or a URI) there and lets it override them.  The
 * keepalives make a dead server mid-COPY an error within a minute
 * instead of a hang; they do not apply to Unix sockets.
 */

int
pl_pg_connect(pl_pg_t *pg)
{
    uint64_t            standby;
    const char         *values[7];
    static const char  *keys[] = {
        "connect_timeout", "keepalives_idle", "keepalives_interval",
        "keepalives_count", "application_name", "dbname", NULL
    };

    pl_pg_close(pg);

    values[0] = "5";
    values[1] = "30";
    values[2] = "10";
    values[3] = "3";
    values[4] = "policy-loader";
    values[5] = pg->conninfo;
    values[6] = NULL;

    pg->conn = PQconnectdbParams(keys, values, 1);
    if (pg->conn == NULL) {
        pl_error(pg, PL_ENOMEM, "cannot connect: out of memory");
        return PL_ERR;
    }

    if (PQstatus(pg->conn) != CONNECTION_OK) {
        pl_pg_fail(pg, "cannot connect", NULL);
        goto failed;
    }

    /* bytea as \x..., whatever the server's default */
    if (pl_pg_exec(pg, "SET bytea_output = 'hex'") != PL_OK) {
        goto failed;
    }

    /* whole-table reads: JIT compiling costs more than it gains */
    if (pl_pg_exec(pg, "SET jit = off") != PL_OK) {
        goto failed;
    }

    /* a hot standby: no LISTEN, and its data may lag the primary's */
    if (pl_pg_query_u64(pg, "SELECT pg_is_in_recovery()::int", &standby, 1)
        != PL_OK)
    {
        goto failed;
    }

    pg->standby = (standby != 0);

    return PL_OK;

failed:

    pl_pg_close(pg);
    return PL_ERR;
}


void
pl_pg_close(pl_pg_t *pg)
{
    if (pg->conn != NULL) {
        PQfinish(pg->conn);
        pg->conn = NULL;
    }

    pg->in_tx = 0;
    pg->listening = 0;
    pg->standby = 0;
}


int
pl_pg_connected(pl_pg_t *pg)
{
    return pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK;
}


/* the first line of libpq's message: the rest are hints */

static void
pl_pg_fail(pl_pg_t *pg, const char *what, PGresult *res)
{
    int          code;
    char        *p;
    const char  *msg;

    msg = res != NULL ? PQresultErrorMessage(res) : "";
    if (*msg == '\0') {
        msg = pg->conn != NULL ? PQerrorMessage(pg->conn) : "no connection";
    }

    code = pl_pg_connected(pg) ? PL_EQUERY : PL_ECONN;

    pl_error(pg, code, "%s: %s", what, msg);

    p = strchr(pg->errstr, '\n');
    if (p != NULL) {
        *p = '\0';
    }
}


static int
pl_pg_exec(pl_pg_t *pg, const char *sql)
{
    PGresult  *res;

    res = PQexec(pg->conn, sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pl_pg_fail(pg, sql, res);
        PQclear(res);
        return PL_ERR;
    }

    PQclear(res);

    return PL_OK;
}


/*
 * LISTEN makes a commit that writes the change log wake the loader at
 * once.  A hot standby refuses LISTEN and never delivers NOTIFY, so a
 * failure here is not fatal: the caller keeps polling.
 */

int
pl_pg_listen(pl_pg_t *pg, const char *channel)
{
    char  sql[128];

    snprintf(sql, sizeof(sql), "LISTEN %s", channel);

    if (pl_pg_exec(pg, sql) != PL_OK) {
        return PL_ERR;
    }

    pg->listening = 1;

    return PL_OK;
}


/*
 * Sleeps up to ms, or until a notification arrives, the connection
 * breaks or a signal in the caller's blocked set is unblocked by mask.
 * Returns 1 if woken by the database (a notification, or a broken
 * connection that the next query will report), 0 otherwise.
 * Notifications carry no data the loader needs: the change log is the
 * truth, read after the wake-up, so they are only counted and dropped.
 */

int
pl_pg_wait(pl_pg_t *pg, unsigned ms, const sigset_t *mask)
{
    int              n;
    struct pollfd    pfd;
    struct timespec  ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long) (ms % 1000) * 1000000;

    if (pg->conn == NULL || !pg->listening || PQsocket(pg->conn) < 0) {
        (void) ppoll(NULL, 0, &ts, mask);
        return 0;
    }

    /* queued while a query ran: the socket will not say so again */
    if (pl_pg_drain(pg) != 0) {
        return 1;
    }

    pfd.fd = PQsocket(pg->conn);
    pfd.events = POLLIN;
    pfd.revents = 0;

    n = ppoll(&pfd, 1, &ts, mask);
    if (n <= 0) {
        return 0;
    }

    if (PQconsumeInput(pg->conn) == 0) {
        return 1;
    }

    return pl_pg_drain(pg) != 0;
}


/*
 * How far a hot standby's data is behind its primary, in seconds, as far
 * as the standby can tell: 0 while its WAL receiver runs and it has
 * replayed everything received; otherwise the age of the last
 * transaction it replayed (replay paused, stalled by a conflict, or the
 * receiver down).  Unknown (known 0) before it has replayed any.  The
 * difference is taken by the server, so clock skew does not matter; a
 * primary that is cut off from the standby is noticed by its receiver
 * after wal_receiver_timeout (60 s by default), not at once.  A standby
 * promoted meanwhile is a primary from then on: pg->standby is cleared,
 * the lag is 0.
 */

int
pl_pg_standby_lag(pl_pg_t *pg, int *known, uint64_t *lag)
{
    uint64_t  v[3];

    if (pl_pg_query_u64(pg,
             "SELECT pg_is_in_recovery()::int, (l IS NOT NULL)::int, "
             "coalesce(l, 0) FROM "
             "(SELECT CASE WHEN NOT pg_is_in_recovery() "
             "OR (pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn() "
             "AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver)) THEN 0 "
             "ELSE greatest(0, ceil(extract(epoch FROM now() "
             "- pg_last_xact_replay_timestamp())))::bigint END AS l) s",
             v, 3)
        != PL_OK)
    {
        return PL_ERR;
    }

    pg->standby = (v[0] != 0);
    *known = (v[1] != 0);
    *lag = v[2];

    return PL_OK;
}


static int
pl_pg_drain(pl_pg_t *pg)
{
    int        n;
    PGnotify  *nf;

    n = 0;

    while ((nf = PQnotifies(pg->conn)) != NULL) {
        PQfreemem(nf);
        n++;
    }

    return n;
}


/* one consistent cut of every table */

int
pl_pg_begin(pl_pg_t *pg)
{
    if (pl_pg_exec(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        != PL_OK)
    {
        return PL_ERR;
    }

    pg->in_tx = 1;

    return PL_OK;
}


int
pl_pg_commit(pl_pg_t *pg)
{
    pg->in_tx = 0;

    return pl_pg_exec(pg, "COMMIT");
}


/* best effort: a broken connection ends the transaction anyway */

void
pl_pg_rollback(pl_pg_t *pg)
{
    PGresult  *res;

    if (pg->in_tx && pl_pg_connected(pg)) {
        res = PQexec(pg->conn, "ROLLBACK");
        PQclear(res);
    }

    pg->in_tx = 0;
}


/* a query that returns one row of n non-negative integers */

int
pl_pg_query_u64(pl_pg_t *pg, const char *sql, uint64_t *v, int n)
{
    int        i;
    PGresult  *res;

    res = PQexec(pg->conn, sql);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pl_pg_fail(pg, "query", res);
        goto failed;
    }

    if (PQntuples(res) != 1 || PQnfields(res) != n) {
        pl_error(pg, PL_EQUERY, "query: %d rows of %d fields, expected "
                 "1 of %d", PQntuples(res), PQnfields(res), n);
        goto failed;
    }

    for (i = 0; i < n; i++) {
        if (PQgetisnull(res, 0, i)
            || pl_pg_u64(PQgetvalue(res, 0, i), &v[i]) != PL_OK)
        {
            pl_error(pg, PL_EQUERY, "query: field %d is not a "
                     "non-negative integer", i + 1);
            goto failed;
        }
    }

    PQclear(res);

    return PL_OK;

failed:

    PQclear(res);
    return PL_ERR;
}


/* a query that returns one non-NULL text value, malloc()ed */

char *
pl_pg_query_text(pl_pg_t *pg, const char *sql)
{
    char      *v;
    PGresult  *res;

    v = NULL;
    res = PQexec(pg->conn, sql);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pl_pg_fail(pg, "query", res);

    } else if (PQntuples(res) != 1 || PQnfields(res) != 1
               || PQgetisnull(res, 0, 0))
    {
        pl_error(pg, PL_EQUERY, "query: expected one value");

    } else {
        v = strdup(PQgetvalue(res, 0, 0));
        if (v == NULL) {
            pl_error(pg, PL_ENOMEM, "query: out of memory");
        }
    }

    PQclear(res);

    return v;
}


/*
 * COPY (select) TO STDOUT.  When the callback stops, the statement is
 * cancelled and the rest of the stream drained: COPY OUT cannot be
 * abandoned half way on a connection that is to be used again.
 */

int
pl_pg_copy(pl_pg_t *pg, const char *select, int nfields, pl_pg_row_pt row,
    void *data)
{
    int        n, stopped;
    char      *buf, *sql, *fields[PL_PG_MAX_FIELDS];
    size_t     len;
    PGresult  *res;

    if (nfields < 1 || nfields > PL_PG_MAX_FIELDS) {
        pl_error(pg, PL_EQUERY, "copy: bad field count %d", nfields);
        return PL_ERR;
    }

    len = strlen(select) + sizeof("COPY () TO STDOUT");
    sql = malloc(len);
    if (sql == NULL) {
        pl_error(pg, PL_ENOMEM, "copy: out of memory");
        return PL_ERR;
    }

    snprintf(sql, len, "COPY (%s) TO STDOUT", select);
    res = PQexec(pg->conn, sql);
    free(sql);

    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        pl_pg_fail(pg, "copy", res);
        PQclear(res);
        return PL_ERR;
    }

    PQclear(res);

    stopped = 0;

    for ( ;; ) {
        n = PQgetCopyData(pg->conn, &buf, 0);
        if (n < 0) {
            break;
        }

        if (!stopped) {
            if (pl_pg_split(buf, n, fields, nfields) != PL_OK) {
                pl_error(pg, PL_EDATA, "copy: malformed row, expected %d "
                         "fields", nfields);
                stopped = 1;

            } else if (row(data, fields) != PL_OK) {
                pl_error(pg, PL_EDATA, "copy: stopped by the row callback");
                stopped = 1;
            }

            if (stopped) {
                pl_pg_cancel(pg);
            }
        }

        PQfreemem(buf);
    }

    /* n == -2 is a stream error: the results below say which */

    while ((res = PQgetResult(pg->conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && !stopped) {
            pl_pg_fail(pg, "copy", res);
            stopped = 1;
        }

        PQclear(res);
    }

    if (n == -2 && !stopped) {
        pl_pg_fail(pg, "copy", NULL);
        stopped = 1;
    }

    return stopped ? PL_ERR : PL_OK;
}


static void
pl_pg_cancel(pl_pg_t *pg)
{
    char       buf[256];
    PGcancel  *c;

    c = PQgetCancel(pg->conn);
    if (c == NULL) {
        return;
    }

    (void) PQcancel(c, buf, sizeof(buf));
    PQfreeCancel(c);
}
