/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * A new base built in the background: a child process with its own
 * database connection writes a full snapshot under a reserved
 * generation while the daemon keeps publishing deltas over the old base.
 */

#ifndef PL_REBASE_H
#define PL_REBASE_H

#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include "pl_log.h"
#include "pl_build.h"
#include "pl_publish.h"


/* after a failed background build, the next one waits this long */
#define PL_REBASE_PAUSE     10      /* seconds */

#define PL_REBASE_IDLE      1       /* pl_rebase_poll(): nothing to adopt */


typedef struct {
    int                 err;
    char                errstr[PL_ERRSTR_LEN];
    pid_t               pid;        /* the child, 0 when none runs */
    int                 fd;         /* the result pipe's read end */
    uint64_t            gen;        /* the generation it builds */
    time_t              failed_at;
    long long           started;    /* ms, pl_loop_now() */
    pl_build_mark_t     mark;       /* of the finished base */
    uco_snap_counts_t   counts;
    uint64_t            size;
} pl_rebase_t;


pl_rebase_t *pl_rebase_new(void);
void pl_rebase_free(pl_rebase_t *r);
int pl_rebase_running(const pl_rebase_t *r);
int pl_rebase_start(pl_rebase_t *r, const char *conninfo, pl_build_t *b,
    pl_publish_t *pub);
int pl_rebase_poll(pl_rebase_t *r, pl_publish_t *pub);
void pl_rebase_cancel(pl_rebase_t *r, pl_publish_t *pub);

#endif /* PL_REBASE_H */
