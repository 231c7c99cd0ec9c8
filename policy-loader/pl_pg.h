/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * PostgreSQL: connection, transaction and COPY streaming; the fields'
 * text format is parsed by pl_pg_text.[ch].
 */

#ifndef PL_PG_H
#define PL_PG_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <libpq-fe.h>

#include "pl_log.h"
#include "pl_pg_text.h"


/*
 * Called once per COPY row with its fields unescaped in place; a NULL
 * field (\N) is a NULL pointer.  Returns PL_OK, or PL_ERR to stop the
 * COPY: the callback keeps its own error and pl_pg_copy() fails with
 * err PL_EDATA.
 */
typedef int (*pl_pg_row_pt)(void *data, char **fields);

typedef struct {
    int          err;
    char         errstr[PL_ERRSTR_LEN];
    char        *conninfo;
    PGconn      *conn;
    int          in_tx;
    int          listening;     /* LISTEN succeeded on this connection */
    int          standby;       /* connected to a hot standby */
} pl_pg_t;


pl_pg_t *pl_pg_new(const char *conninfo);
void pl_pg_free(pl_pg_t *pg);
int pl_pg_connect(pl_pg_t *pg);
void pl_pg_close(pl_pg_t *pg);
int pl_pg_connected(pl_pg_t *pg);

int pl_pg_listen(pl_pg_t *pg, const char *channel);
int pl_pg_wait(pl_pg_t *pg, unsigned ms, const sigset_t *mask);
int pl_pg_standby_lag(pl_pg_t *pg, int *known, uint64_t *lag);

int pl_pg_begin(pl_pg_t *pg);
int pl_pg_commit(pl_pg_t *pg);
void pl_pg_rollback(pl_pg_t *pg);
int pl_pg_query_u64(pl_pg_t *pg, const char *sql, uint64_t *v, int n);
char *pl_pg_query_text(pl_pg_t *pg, const char *sql);
int pl_pg_copy(pl_pg_t *pg, const char *select, int nfields,
    pl_pg_row_pt row, void *data);

#endif /* PL_PG_H */
