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


#define PL_JOURNAL_BATCH    256


/* records on their way: raw msgpack and decoded */
typedef struct {
    size_t              n;
    const uint8_t      *raw[PL_JOURNAL_BATCH];
    uint32_t            len[PL_JOURNAL_BATCH];
    uco_journal_rec_t   rec[PL_JOURNAL_BATCH];
} pl_jbatch_t;


int pl_journal_main(int argc, char **argv);

#endif /* PL_JOURNAL_H */
