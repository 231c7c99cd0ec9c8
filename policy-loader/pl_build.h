/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Building a snapshot: the tables of one consistent cut streamed into a
 * zeroed buffer of uco_snap_size() bytes, and the change log mark that
 * tells whether a built snapshot is still in sync with the database.
 */

#ifndef PL_BUILD_H
#define PL_BUILD_H

#include <signal.h>
#include <stdint.h>

#include "uco_snap.h"
#include "pl_log.h"
#include "pl_pg.h"


/*
 * Where a snapshot stands in uco.change_log.  Ids come from a sequence
 * at insert time, but transactions commit in any order: a change with an
 * id below the watermark may become visible after the build.  So the
 * mark also counts the rows seen in (floor, watermark]; a later commit
 * into that range changes the count.  Once every transaction that was
 * running during the build has ended, the remaining holes are rollbacks
 * and the floor moves up to the watermark.
 */
/* the card columns of a snapshot, for a full build or a patch */
#define PL_BUILD_SQL_CARD_ROWS                                              \
    "SELECT c.id, c.kind, c.status, "                                       \
    "CASE WHEN isfinite(c.valid_until) "                                    \
    "THEN c.valid_until - date '1970-01-01' "                               \
    "WHEN c.valid_until > date '1970-01-01' THEN 2147483647 "               \
    "ELSE -2147483648 END, h.categories "                                   \
    "FROM uco.card c JOIN uco.holder h ON h.id = c.holder_id"

/* identifiers: a full build's, or a delta's with a WHERE */
#define PL_BUILD_SQL_IDENTS                                                 \
    "SELECT kind, value, card_id FROM uco.card_identifier"

/* the partner family's counts, in the order of uco_snap_counts_t */
#define PL_BUILD_SQL_FAMILY_COUNTS                                          \
    "(SELECT count(*) FROM uco.partner), "                                  \
    "(SELECT count(*) FROM uco.partner_terminal), "                         \
    "(SELECT count(*) FROM uco.programme WHERE active), "                   \
    "(SELECT count(*) FROM uco.partner_certificate)"

typedef struct {
    uint64_t  watermark;        /* max(change_log.id) in the snapshot */
    uint64_t  floor;            /* ids at or below it are settled */
    uint64_t  seen;             /* rows seen in (floor, watermark] */
    uint64_t  xmax;             /* the build snapshot's xmax */
    char     *snapshot;         /* pg_current_snapshot() as text */
} pl_build_mark_t;

typedef struct {
    int                     err;
    char                    errstr[PL_ERRSTR_LEN];
    volatile sig_atomic_t  *stop;       /* set by a signal handler */
    uco_snap_counts_t       counts;
    pl_build_mark_t         mark;       /* of the build in progress */
    pl_build_mark_t         synced;     /* of the last accepted build */
    int                     have_synced;

    /* while filling */
    void                   *buf;
    uco_snap_card_in_t     *cards;      /* read, sorted, then freed */
    uco_snap_partner_t     *partners;
    uco_snap_cert_t        *certs;
    uco_snap_programme_t   *programmes;
    uco_snap_terminal_t    *terminals;
    uint64_t               *category_sets;      /* the file's, in use */
    uint64_t                ncategory_sets;
    uint64_t               *category_keys;      /* mask -> set, by hash */
    uint32_t               *category_index;     /* set + 1, 0 = free */
    uint64_t                category_cap;
    uint64_t                n;          /* rows of the current table */
    int                     cards_sorted;   /* arrived in id order */
    uint32_t               *card_at;    /* id - first id -> card, or NULL */
    uint64_t                card_span;  /* last id - first id */
    uint64_t                partner;    /* cursor into partners */
} pl_build_t;


pl_build_t *pl_build_new(volatile sig_atomic_t *stop);
void pl_build_free(pl_build_t *b);
int pl_build_mark(pl_build_t *b, pl_pg_t *pg);
int pl_build_count(pl_build_t *b, pl_pg_t *pg);
int pl_build_card_row(pl_build_t *b, char **f, uco_snap_card_in_t *c,
    uint64_t *categories);
int pl_build_fill(pl_build_t *b, pl_pg_t *pg, void *buf, size_t size);
int pl_build_fill_family(pl_build_t *b, pl_pg_t *pg, void *buf);
int pl_build_ident_key(pl_build_t *b, char **f,
    uint8_t key[UCO_SNAP_KEY_LEN], int64_t *card);
int pl_build_seal(pl_build_t *b, uint64_t generation);
void pl_build_accept(pl_build_t *b);
void pl_build_resync(pl_build_t *b, pl_build_mark_t *m);
int pl_build_changed(pl_build_t *b, pl_pg_t *pg, int *changed);


/* a card of pl_build_card_row() gets its category set */
static inline void
pl_build_card_set(uco_snap_card_in_t *c, uint32_t set)
{
    c->set = set;
    c->summary |= (set < UCO_SNAP_SUM_ESCAPE ? set : UCO_SNAP_SUM_ESCAPE)
                  << 20;
}

#endif /* PL_BUILD_H */
