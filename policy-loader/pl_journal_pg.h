/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The journal's PostgreSQL sink: a batch is one prepared INSERT ...
 * SELECT FROM unnest(arrays) ... ON CONFLICT DO NOTHING into the
 * partitioned uco.decision.
 */

#ifndef PL_JOURNAL_PG_H
#define PL_JOURNAL_PG_H

#include "pl_log.h"
#include "pl_pg.h"
#include "pl_journal.h"


#define PL_JOURNAL_PG_MONTHS  4

/* uco.decision_maintain(): hourly, partitions made 2 months ahead */
#define PL_JOURNAL_PG_MAINTAIN  3600000     /* ms */
#define PL_JOURNAL_PG_AHEAD     2


typedef struct {
    int        err;
    char       errstr[PL_ERRSTR_LEN];
    pl_pg_t   *pg;
    int32_t    months[PL_JOURNAL_PG_MONTHS];    /* partitions known */
    uint64_t   month_lo;    /* the last month checked, unix ms */
    uint64_t   month_hi;
    unsigned   retention;   /* months; 0: keep for ever */
    long long  maintain_at; /* monotonic ms; 0: at once */
    char      *buf;         /* the batch's column arrays */
    size_t     size;
} pl_journal_pg_t;


pl_journal_pg_t *pl_journal_pg_new(const char *conninfo,
    unsigned retention);
void pl_journal_pg_free(pl_journal_pg_t *jp);
int pl_journal_pg_deliver(pl_journal_pg_t *jp, const pl_jbatch_t *b);

#endif /* PL_JOURNAL_PG_H */
