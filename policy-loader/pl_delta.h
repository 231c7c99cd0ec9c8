/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Publishing a change as a delta over an immutable base snapshot: the
 * cards touched since the base, with every identifier of theirs, in a
 * small file that names its base (docs/snapshot-format.md).
 */

#ifndef PL_DELTA_H
#define PL_DELTA_H

#include <stddef.h>
#include <stdint.h>

#include "uco_snap.h"
#include "pl_log.h"
#include "pl_pg.h"
#include "pl_build.h"
#include "pl_publish.h"


/* pl_delta_publish(): not for a delta, build a new base in full */
#define PL_DELTA_FULL       1


typedef struct {
    uint8_t   key[UCO_SNAP_KEY_LEN];
    uint64_t  card;             /* card id */
} pl_delta_ident_t;

typedef struct {
    int                err;
    char               errstr[PL_ERRSTR_LEN];
    uint64_t           max_cards;   /* re-base beyond this many cards */
    int                want_base;   /* the last delta passed max_cards */
    uint64_t           live;        /* the generation b->synced describes */
    const char        *why;         /* why the last change needed a build */

    /* the base, mapped read-only */
    uint64_t           base_gen;    /* 0: none, deltas off */
    void              *base_map;
    size_t             base_len;
    uco_snap_t         base;

    /* the overlay: card ids touched since the base, sorted, unique */
    uint64_t          *touched;
    size_t             ntouched;
    int                family;      /* the live delta has partners */

    /* the change being applied */
    uint64_t          *ids;         /* card ids of this change, then all */
    size_t             nids;
    size_t             ids_cap;
    size_t             nrows;       /* change-log rows read */
    uint64_t          *holders;
    size_t             nholders;
    size_t             holders_cap;
    int                family_changed;
    uco_snap_card_in_t *cards;      /* per ids[] after the merge */
    size_t             ncards;
    size_t             cards_cap;
    uint32_t          *overrides;   /* base indices of the overlay's cards */
    size_t             noverrides;
    size_t             deleted;
    pl_delta_ident_t  *idents;
    size_t             nidents;
    size_t             idents_cap;
    uint64_t          *sets;        /* the base's sets, then new ones */
    size_t             nsets;
    size_t             sets_cap;
    uint64_t          *set_keys;    /* mask -> index + 1, by hash */
    uint32_t          *set_index;
    size_t             set_mask;
    pl_build_t        *build;
} pl_delta_t;


pl_delta_t *pl_delta_new(uint64_t max_cards);
void pl_delta_free(pl_delta_t *d);
int pl_delta_publish(pl_delta_t *d, pl_build_t *b, pl_pg_t *pg,
    pl_publish_t *pub);
int pl_delta_rebased(pl_delta_t *d, pl_publish_t *pub, uint64_t gen);
int pl_delta_resume(pl_delta_t *d, pl_publish_t *pub, uint64_t gen);

#endif /* PL_DELTA_H */
