/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * PostgreSQL through libpq.  Tables are streamed with COPY ... TO STDOUT
 * in text format, one row per PQgetCopyData() call, so that the loader
 * never holds a result set; the row callback sees unescaped fields.
 */

#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>

#include "pl_pg.h"


static void pl_pg_fail(pl_pg_t *pg, const char *what, PGresult *res);
static int pl_pg_exec(pl_pg_t *pg, const char *sql);
static void pl_pg_cancel(pl_pg_t *pg);
static int pl_pg_split(char *row, int len, char **f, int nfields);
static void pl_pg_unescape(char *s);
static int pl_pg_u64(const char *s, uint64_t *v);
static int pl_pg_hex(int c);


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


/*
 * Splits a text-format COPY row at tabs, then undoes each field's escapes
 * in place.  A tab inside data is always escaped, so every raw tab is a
 * separator; a field that is exactly \N is NULL.
 */

static int
pl_pg_split(char *row, int len, char **f, int nfields)
{
    int    i, n;
    char  *p, *end;

    end = row + len;
    if (len > 0 && end[-1] == '\n') {
        end--;
    }

    *end = '\0';
    f[0] = row;
    n = 1;

    for (p = row; p < end; p++) {
        if (*p == '\t') {
            if (n == nfields) {
                return PL_ERR;
            }

            *p = '\0';
            f[n++] = p + 1;
        }
    }

    if (n != nfields) {
        return PL_ERR;
    }

    for (i = 0; i < n; i++) {
        if (strcmp(f[i], "\\N") == 0) {
            f[i] = NULL;

        } else {
            pl_pg_unescape(f[i]);
        }
    }

    return PL_OK;
}


/* the backslash escapes of COPY text format; a field only shrinks */

static void
pl_pg_unescape(char *s)
{
    int    c, d, k;
    char  *w;

    w = s;

    while (*s != '\0') {
        if (*s != '\\') {
            *w++ = *s++;
            continue;
        }

        s++;
        if (*s == '\0') {
            break;
        }

        c = (unsigned char) *s++;

        switch (c) {
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'v': c = '\v'; break;

        case 'x':
            c = 0;
            for (k = 0; k < 2 && (d = pl_pg_hex((unsigned char) *s)) >= 0;
                 k++)
            {
                c = c * 16 + d;
                s++;
            }
            break;

        default:
            if (c >= '0' && c <= '7') {
                c -= '0';
                for (k = 1; k < 3 && *s >= '0' && *s <= '7'; k++) {
                    c = c * 8 + (*s++ - '0');
                }
            }
            /* any other character stands for itself */
            break;
        }

        *w++ = (char) c;
    }

    *w = '\0';
}


static int
pl_pg_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


static int
pl_pg_u64(const char *s, uint64_t *v)
{
    char                *end;
    unsigned long long   n;

    if (*s < '0' || *s > '9') {
        return PL_ERR;
    }

    errno = 0;
    n = strtoull(s, &end, 10);

    if (errno != 0 || *end != '\0') {
        return PL_ERR;
    }

    *v = n;

    return PL_OK;
}


/* a decimal integer field, NULL refused, within [min, max] */

int
pl_pg_int(const char *s, int64_t min, int64_t max, int64_t *v)
{
    char       *end;
    long long   n;

    if (s == NULL || *s == '\0') {
        return PL_ERR;
    }

    errno = 0;
    n = strtoll(s, &end, 10);

    if (errno != 0 || *end != '\0' || n < min || n > max) {
        return PL_ERR;
    }

    *v = n;

    return PL_OK;
}


/* a bytea field in hex output ("\x0a1b..."), exactly len bytes */

int
pl_pg_bytea(const char *s, uint8_t *out, size_t len)
{
    int     hi, lo;
    size_t  i;

    if (s == NULL || s[0] != '\\' || s[1] != 'x' || strlen(s) != 2 + 2 * len)
    {
        return PL_ERR;
    }

    s += 2;

    for (i = 0; i < len; i++) {
        hi = pl_pg_hex((unsigned char) s[2 * i]);
        lo = pl_pg_hex((unsigned char) s[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return PL_ERR;
        }

        out[i] = (uint8_t) (hi << 4 | lo);
    }

    return PL_OK;
}
