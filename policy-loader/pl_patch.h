/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Publishing a change without reading every table again: the live
 * snapshot copied, the changed card records rewritten, resealed.
 */

#ifndef PL_PATCH_H
#define PL_PATCH_H

#include <stddef.h>
#include <stdint.h>

#include "pl_log.h"
#include "pl_pg.h"
#include "pl_build.h"
#include "pl_publish.h"


/* pl_patch_publish(): not a change a patch can apply, build in full */
#define PL_PATCH_FULL       1


typedef struct {
    int          err;
    char         errstr[PL_ERRSTR_LEN];
    uint64_t     live;          /* the generation b->synced describes */
    const char  *why;           /* why the last change needed a build */

    /* the change being applied */
    uint64_t    *cards;         /* card ids changed, sorted */
    uint8_t     *done;          /* per cards[]: its row was rewritten */
    size_t       ncards;
    uint64_t    *holders;       /* holder ids changed */
    size_t       nholders;
    uint64_t     patched;       /* card records rewritten */
    uco_snap_t   snap;          /* the copy being patched */
    pl_build_t  *build;
} pl_patch_t;


pl_patch_t *pl_patch_new(void);
void pl_patch_free(pl_patch_t *pt);
int pl_patch_publish(pl_patch_t *pt, pl_build_t *b, pl_pg_t *pg,
    pl_publish_t *pub);

#endif /* PL_PATCH_H */
