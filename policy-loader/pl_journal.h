/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * policy-loader journal: the companion process that drains the decision
 * journal ring into Redis and PostgreSQL (docs/journal.md).
 */

#ifndef PL_JOURNAL_H
#define PL_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "uco_journal.h"


/*
 * Records per batch: one PostgreSQL statement, one Redis pipeline, whose
 * fixed cost (task switches, system calls) this many records share
 */
#define PL_JOURNAL_BATCH    4096

/* slots the reader fetches ahead of the one it decodes */
#define PL_JOURNAL_AHEAD    8

/* records a wait between two reads of the ring aims to gather */
#define PL_JOURNAL_GATHER   (PL_JOURNAL_BATCH / 2)


/* records on their way: raw msgpack and decoded */
typedef struct {
    size_t              n;
    const uint8_t      *raw[PL_JOURNAL_BATCH];
    uint32_t            len[PL_JOURNAL_BATCH];
    uco_journal_rec_t   rec[PL_JOURNAL_BATCH];
} pl_jbatch_t;


int pl_journal_main(int argc, char **argv);
/* v's decimal digits at p; returns their end (no NUL) */
char *pl_journal_u64(char *p, uint64_t v);

#endif /* PL_JOURNAL_H */
