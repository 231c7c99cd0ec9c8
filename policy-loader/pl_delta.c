/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The delta path.  A full build publishes a base; every change after it
 * is published as a delta over that base: the current rows of every card
 * touched since the base (a deleted one as a tombstone), all of those
 * cards' identifiers, the category sets (the base's first), and the
 * partner family once any of it changed.  Each delta is self-contained
 * against its base, so the module needs the base and the newest delta
 * only, and the work is proportional to the cards touched since the
 * base, not to the table.  Past max_cards touched cards the caller
 * builds a new base (PL_DELTA_FULL).
 *
 * Which rows changed is exact: those of uco.change_log that the last
 * publication's snapshot did not see (pg_visible_in_snapshot() against
 * its pg_current_snapshot() text), read in the new transaction, so a
 * transaction that took an older change-log id and committed late is
 * included.  An identifier moved to another card logs both cards
 * (sql/migrations/0004_freshness.sql), so both are in the overlay.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "pl_delta.h"


/* "-9223372036854775808," */
#define PL_DELTA_ID_LEN     21

/*
 * Past max_cards a new base is built in the background while deltas go
 * on; past PL_DELTA_HARD times that (the background build cannot keep
 * up), one is built at once.  More change-log rows than this in one
 * tick would not fit either.
 */
#define PL_DELTA_HARD       4
#define PL_DELTA_MAX_ROWS(d)  (PL_DELTA_HARD * (d)->max_cards + 1000)


static int pl_delta_changes(pl_delta_t *d, pl_build_t *b, pl_pg_t *pg);
static int pl_delta_change(void *data, char **f);
static int pl_delta_holders(pl_delta_t *d, pl_pg_t *pg);
static int pl_delta_holder_card(void *data, char **f);
static int pl_delta_merge(pl_delta_t *d);
static int pl_delta_rows(pl_delta_t *d, pl_pg_t *pg);
static int pl_delta_card(void *data, char **f);
static void pl_delta_tombstones(pl_delta_t *d, uint64_t below);
static int pl_delta_ident(void *data, char **f);
static int pl_delta_family(pl_delta_t *d, pl_pg_t *pg, pl_publish_t *pub,
    uco_snap_counts_t *c, void **live, size_t *live_len);
static int pl_delta_family_copy(void *buf, const void *live);
static int pl_delta_fill(pl_delta_t *d, void *buf, uco_snap_counts_t *c);
static int pl_delta_sets_init(pl_delta_t *d);
static int pl_delta_set(pl_delta_t *d, uint64_t mask, uint16_t *index);
static char *pl_delta_sql(const char *head, const uint64_t *ids, size_t n,
    const char *tail);
static int pl_delta_push(uint64_t **a, size_t *n, size_t *cap, uint64_t v);
static int pl_delta_map(pl_publish_t *pub, uint64_t gen, void **map,
    size_t *len, uco_snap_t *s);
static int pl_delta_cmp(const void *a, const void *b);


pl_delta_t *
pl_delta_new(uint64_t max_cards)
{
    pl_delta_t  *d;

    d = calloc(1, sizeof(pl_delta_t));
    if (d == NULL) {
        return NULL;
    }

    d->max_cards = max_cards;

    return d;
}


void
pl_delta_free(pl_delta_t *d)
{
    if (d == NULL) {
        return;
    }

    if (d->base_map != NULL) {
        munmap(d->base_map, d->base_len);
    }

    free(d->touched);
    free(d->ids);
    free(d->holders);
    free(d->cards);
    free(d->overrides);
    free(d->idents);
    free(d->sets);
    free(d->set_keys);
    free(d->set_index);
    free(d);
}


/*
 * Generation gen, just published in full, is the base of the deltas
 * that follow.  PL_ERR: it cannot be mapped; deltas stay off (every
 * change a full build) until the next base.
 */

int
pl_delta_rebased(pl_delta_t *d, pl_publish_t *pub, uint64_t gen)
{
    if (d->base_map != NULL) {
        munmap(d->base_map, d->base_len);
        d->base_map = NULL;
    }

    d->base_gen = 0;
    d->ntouched = 0;
    d->family = 0;
    d->live = gen;

    if (d->max_cards == 0) {
        return PL_OK;
    }

    if (pl_delta_map(pub, gen, &d->base_map, &d->base_len, &d->base)
        != PL_OK)
    {
        d->base_map = NULL;
        pl_error(d, PL_EIO, "base generation %llu cannot be mapped, "
                 "publishing in full", (unsigned long long) gen);
        return PL_ERR;
    }

    if (d->base.delta != NULL) {
        munmap(d->base_map, d->base_len);
        d->base_map = NULL;
        pl_error(d, PL_EINVALID, "generation %llu is a delta, not a base",
                 (unsigned long long) gen);
        return PL_ERR;
    }

    d->base_gen = gen;

    return PL_OK;
}


/*
 * A restarted loader goes on from the live generation gen instead of
 * building in full: a base is the base; a delta gives its base, its
 * cards (the touched set) and whether it carries the partners.  PL_ERR
 * (d->errstr): not possible, build in full.
 */

int
pl_delta_resume(pl_delta_t *d, pl_publish_t *pub, uint64_t gen)
{
    int          family;
    void        *map;
    size_t       len, i, n;
    uint8_t      checksum[32];
    uint64_t     base, base_size, *ids;
    uco_snap_t   s;

    if (d->max_cards == 0) {
        pl_error(d, PL_EINVALID, "deltas are off");
        return PL_ERR;
    }

    if (pl_delta_map(pub, gen, &map, &len, &s) != PL_OK) {
        pl_error(d, PL_EINVALID, "generation %llu cannot be read",
                 (unsigned long long) gen);
        return PL_ERR;
    }

    if (s.delta == NULL) {
        munmap(map, len);
        return pl_delta_rebased(d, pub, gen);
    }

    n = s.ncards;
    base = s.delta->base_generation;
    base_size = s.delta->base_size;
    family = (s.delta->flags & UCO_SNAP_DELTA_PARTNERS) != 0;
    memcpy(checksum, s.delta->base_checksum, 32);
    ids = malloc((n ? n : 1) * sizeof(uint64_t));

    if (ids == NULL) {
        munmap(map, len);
        pl_error(d, PL_ENOMEM, "out of memory");
        return PL_ERR;
    }

    for (i = 0; i < n; i++) {
        ids[i] = uco_snap_card_id(&s, (uint32_t) i);
    }

    munmap(map, len);

    if (pl_delta_rebased(d, pub, base) != PL_OK) {
        free(ids);
        return PL_ERR;
    }

    if (d->base_len != base_size
        || memcmp(d->base.header->checksum, checksum, 32) != 0)
    {
        free(ids);
        d->base_gen = 0;
        pl_error(d, PL_EINVALID, "base generation %llu is not the one "
                 "generation %llu was built over",
                 (unsigned long long) base, (unsigned long long) gen);
        return PL_ERR;
    }

    free(d->touched);
    d->touched = ids;
    d->ntouched = n;
    d->family = family;
    d->live = gen;

    return PL_OK;
}


/*
 * PL_OK: published as pub->gen.  PL_DELTA_FULL: not for a delta (why in
 * d->why), nothing done.  PL_ERR: failed (d->err), nothing published.
 */

int
pl_delta_publish(pl_delta_t *d, pl_build_t *b, pl_pg_t *pg,
    pl_publish_t *pub)
{
    int                rc;
    void              *buf, *live;
    size_t             size, live_len;
    uco_snap_delta_t   dh;
    uco_snap_counts_t  c;

    d->err = 0;
    d->why = NULL;
    d->build = b;
    live = NULL;
    live_len = 0;

    if (d->base_gen == 0 || d->live == 0 || !b->have_synced
        || b->synced.snapshot == NULL
        || __atomic_load_n(&pub->ctl->generation, __ATOMIC_ACQUIRE)
           != d->live)
    {
        d->why = d->max_cards == 0 ? "deltas are off (delta-max-cards 0)"
                                   : "no live generation of this loader";
        return PL_DELTA_FULL;
    }

    if (pl_pg_begin(pg) != PL_OK) {
        pl_error(d, pg->err, "%s", pg->errstr);
        return PL_ERR;
    }

    rc = pl_build_mark(b, pg);
    if (rc != PL_OK) {
        pl_error(d, b->err, "%s", b->errstr);
        goto failed;
    }

    rc = pl_delta_changes(d, b, pg);
    if (rc == PL_OK) {
        rc = pl_delta_holders(d, pg);
    }

    if (rc == PL_OK) {
        rc = pl_delta_merge(d);
    }

    if (rc == PL_OK) {
        rc = pl_delta_rows(d, pg);
    }

    if (rc != PL_OK) {
        goto failed;
    }

    memset(&c, 0, sizeof(uco_snap_counts_t));

    rc = pl_delta_family(d, pg, pub, &c, &live, &live_len);
    if (rc != PL_OK) {
        goto failed;
    }

    if (pl_delta_fill(d, NULL, &c) != PL_OK) {
        rc = PL_ERR;
        goto failed;
    }

    size = uco_snap_delta_size(&c);
    if (size == 0) {
        d->why = "too many records for a delta";
        rc = PL_DELTA_FULL;
        goto failed;
    }

    if (pl_publish_begin(pub, size, &buf) != PL_OK) {
        pl_error(d, pub->err, "%s", pub->errstr);
        rc = PL_ERR;
        goto failed;
    }

    memset(&dh, 0, sizeof(uco_snap_delta_t));
    dh.base_generation = d->base_gen;
    dh.base_size = d->base_len;
    memcpy(dh.base_checksum, d->base.header->checksum, 32);
    dh.flags = d->family_changed || d->family ? UCO_SNAP_DELTA_PARTNERS : 0;

    rc = uco_snap_init_delta(buf, size, &c, &dh);
    if (rc != UCO_SNAP_OK) {
        pl_error(d, PL_EDATA, "delta layout: %s", uco_snap_strerror(rc));
        rc = PL_ERR;
        goto failed;
    }

    rc = pl_delta_fill(d, buf, &c);

    if (rc == PL_OK && (dh.flags & UCO_SNAP_DELTA_PARTNERS)) {
        if (live != NULL) {
            /* unchanged since the live delta: its sections as they are */
            if (pl_delta_family_copy(buf, live) != PL_OK) {
                pl_error(d, PL_EDATA, "delta: copying the partners of "
                         "generation %llu failed",
                         (unsigned long long) d->live);
                rc = PL_ERR;
            }

        } else if (pl_build_fill_family(b, pg, buf) != PL_OK) {
            pl_error(d, b->err, "%s", b->errstr);
            rc = PL_ERR;
        }
    }

    if (rc != PL_OK) {
        goto failed;
    }

    if (pl_pg_commit(pg) != PL_OK) {
        pl_error(d, pg->err, "%s", pg->errstr);
        rc = PL_ERR;
        goto failed;
    }

    b->buf = buf;

    if (pl_build_seal(b, pub->gen) != PL_OK) {
        pl_error(d, b->err, "%s", b->errstr);
        rc = PL_ERR;
        goto failed;
    }

    if (pl_publish_commit(pub) != PL_OK) {
        pl_error(d, pub->err, "%s", pub->errstr);
        rc = PL_ERR;
        goto failed;
    }

    if (live != NULL) {
        munmap(live, live_len);
    }

    /* ids[] is now every card of the published overlay */
    free(d->touched);
    d->touched = d->ids;
    d->ntouched = d->nids;
    d->ids = NULL;
    d->nids = 0;
    d->ids_cap = 0;
    d->family = (dh.flags & UCO_SNAP_DELTA_PARTNERS) != 0;
    d->live = pub->gen;

    return PL_OK;

failed:

    if (live != NULL) {
        munmap(live, live_len);
    }

    pl_publish_abort(pub);
    pl_pg_rollback(pg);

    return rc;
}


/* the rows of the change log the last publication did not see */

static int
pl_delta_changes(pl_delta_t *d, pl_build_t *b, pl_pg_t *pg)
{
    int      rc;
    char    *sql;
    size_t   len;

    d->nids = 0;
    d->nholders = 0;
    d->nrows = 0;
    d->family_changed = 0;

    /* the snapshot text is digits, colons and commas: safe to quote */
    len = strlen(b->synced.snapshot) + 256;
    sql = malloc(len);
    if (sql == NULL) {
        pl_error(d, PL_ENOMEM, "delta: out of memory");
        return PL_ERR;
    }

    /* more rows than that would make a delta past the limit anyway */
    snprintf(sql, len,
             "SELECT tbl, row_key FROM uco.change_log WHERE id > %llu "
             "AND NOT pg_visible_in_snapshot(txid, '%s'::pg_snapshot) "
             "LIMIT %llu",
             (unsigned long long) b->synced.floor, b->synced.snapshot,
             (unsigned long long) PL_DELTA_MAX_ROWS(d));

    rc = pl_pg_copy(pg, sql, 2, pl_delta_change, d);
    free(sql);

    if (rc != PL_OK) {
        if (d->why != NULL) {
            return PL_DELTA_FULL;
        }

        if (d->err == 0) {
            pl_error(d, pg->err, "delta: reading the change log: %s",
                     pg->errstr);
        }

        return PL_ERR;
    }

    if (d->nrows >= PL_DELTA_MAX_ROWS(d)) {
        d->why = "too many changes for a delta";
        return PL_DELTA_FULL;
    }

    return PL_OK;
}


static int
pl_delta_change(void *data, char **f)
{
    int64_t      id;
    pl_delta_t  *d;
    const char  *t;

    d = data;
    t = f[0];
    d->nrows++;

    if (t == NULL || pl_pg_int(f[1], 1, INT64_MAX, &id) != PL_OK) {
        d->why = "a change-log row without a key";
        return PL_ERR;
    }

    if (strcmp(t, "card") == 0 || strcmp(t, "card_identifier") == 0) {
        if (pl_delta_push(&d->ids, &d->nids, &d->ids_cap, (uint64_t) id)
            != PL_OK)
        {
            goto nomem;
        }

    } else if (strcmp(t, "holder") == 0) {
        if (pl_delta_push(&d->holders, &d->nholders, &d->holders_cap,
                          (uint64_t) id)
            != PL_OK)
        {
            goto nomem;
        }

    } else if (strcmp(t, "partner") == 0
               || strcmp(t, "partner_terminal") == 0
               || strcmp(t, "programme") == 0
               || strcmp(t, "partner_certificate") == 0)
    {
        d->family_changed = 1;

    } else if (strcmp(t, "category") != 0) {
        /* category rows name bits; snapshots hold masks only */
        d->why = "a change of a table deltas do not know";
        return PL_ERR;
    }

    return PL_OK;

nomem:

    pl_error(d, PL_ENOMEM, "delta: out of memory");
    return PL_ERR;
}


/* a holder's categories are in each of its cards' records */

static int
pl_delta_holders(pl_delta_t *d, pl_pg_t *pg)
{
    int    rc;
    char  *sql;

    if (d->nholders == 0) {
        return PL_OK;
    }

    sql = pl_delta_sql("SELECT id FROM uco.card WHERE holder_id = ANY ('{",
                       d->holders, d->nholders, "}'::bigint[])");
    if (sql == NULL) {
        pl_error(d, PL_ENOMEM, "delta: out of memory");
        return PL_ERR;
    }

    rc = pl_pg_copy(pg, sql, 1, pl_delta_holder_card, d);
    free(sql);

    if (rc != PL_OK) {
        if (d->err == 0) {
            pl_error(d, pg->err, "delta: reading holders' cards: %s",
                     pg->errstr);
        }

        return PL_ERR;
    }

    return PL_OK;
}


static int
pl_delta_holder_card(void *data, char **f)
{
    int64_t      id;
    pl_delta_t  *d;

    d = data;

    if (pl_pg_int(f[0], 1, INT64_MAX, &id) != PL_OK) {
        pl_error(d, PL_EDATA, "delta: bad card id");
        return PL_ERR;
    }

    if (pl_delta_push(&d->ids, &d->nids, &d->ids_cap, (uint64_t) id)
        != PL_OK)
    {
        pl_error(d, PL_ENOMEM, "delta: out of memory");
        return PL_ERR;
    }

    return PL_OK;
}


/* ids[] becomes touched[] and this change's cards, sorted, unique */

static int
pl_delta_merge(pl_delta_t *d)
{
    size_t  i, k;

    for (i = 0; i < d->ntouched; i++) {
        if (pl_delta_push(&d->ids, &d->nids, &d->ids_cap, d->touched[i])
            != PL_OK)
        {
            pl_error(d, PL_ENOMEM, "delta: out of memory");
            return PL_ERR;
        }
    }

    if (d->nids > 1) {
        qsort(d->ids, d->nids, sizeof(uint64_t), pl_delta_cmp);
    }

    for (i = 0, k = 0; i < d->nids; i++) {
        if (k == 0 || d->ids[k - 1] != d->ids[i]) {
            d->ids[k++] = d->ids[i];
        }
    }

    d->nids = k;

    /* a new base is built in the background meanwhile (pl_rebase.c) */
    d->want_base = d->nids > d->max_cards;

    if (d->nids > PL_DELTA_HARD * d->max_cards) {
        d->why = "the delta grew past 4 x delta-max-cards: a new base now";
        return PL_DELTA_FULL;
    }

    return PL_OK;
}


/* the current rows of the overlay's cards and all their identifiers */

static int
pl_delta_rows(pl_delta_t *d, pl_pg_t *pg)
{
    int                  rc;
    char                *sql;
    uco_snap_card_in_t  *cards;

    if (d->cards_cap < d->nids) {
        cards = realloc(d->cards, d->nids * sizeof(uco_snap_card_in_t));
        if (cards == NULL) {
            pl_error(d, PL_ENOMEM, "delta: out of memory");
            return PL_ERR;
        }

        d->cards = cards;
        d->cards_cap = d->nids;
    }

    d->ncards = 0;
    d->deleted = 0;
    d->nidents = 0;

    if (pl_delta_sets_init(d) != PL_OK) {
        return PL_ERR;
    }

    sql = pl_delta_sql(PL_BUILD_SQL_CARD_ROWS " WHERE c.id = ANY ('{",
                       d->ids, d->nids, "}'::bigint[]) ORDER BY c.id");
    if (sql == NULL) {
        pl_error(d, PL_ENOMEM, "delta: out of memory");
        return PL_ERR;
    }

    rc = pl_pg_copy(pg, sql, 5, pl_delta_card, d);
    free(sql);

    if (rc != PL_OK) {
        goto failed;
    }

    /* the rest were deleted */
    pl_delta_tombstones(d, UINT64_MAX);

    sql = pl_delta_sql(PL_BUILD_SQL_IDENTS " WHERE card_id = ANY ('{",
                       d->ids, d->nids, "}'::bigint[])");
    if (sql == NULL) {
        pl_error(d, PL_ENOMEM, "delta: out of memory");
        return PL_ERR;
    }

    rc = pl_pg_copy(pg, sql, 3, pl_delta_ident, d);
    free(sql);

    if (rc == PL_OK) {
        return PL_OK;
    }

failed:

    if (d->err == 0) {
        if (d->build->err != 0) {
            pl_error(d, d->build->err, "%s", d->build->errstr);

        } else {
            pl_error(d, pg->err, "delta: reading cards: %s", pg->errstr);
        }
    }

    return PL_ERR;
}


/* rows come in id order, as ids[] is: a gap is a deleted card */

static int
pl_delta_card(void *data, char **f)
{
    uint16_t             set;
    uint64_t             cats;
    pl_delta_t          *d;
    uco_snap_card_in_t   c;

    d = data;
    d->build->err = 0;

    if (pl_build_card_row(d->build, f, &c, &cats) != PL_OK) {
        return PL_ERR;
    }

    pl_delta_tombstones(d, c.id);

    if (d->ncards == d->nids || d->ids[d->ncards] != c.id) {
        pl_error(d, PL_EDATA, "card %llu: not asked for, or out of order",
                 (unsigned long long) c.id);
        return PL_ERR;
    }

    if (pl_delta_set(d, cats, &set) != PL_OK) {
        return PL_ERR;
    }

    pl_build_card_set(&c, set);
    d->cards[d->ncards++] = c;

    return PL_OK;
}


static void
pl_delta_tombstones(pl_delta_t *d, uint64_t below)
{
    uco_snap_card_in_t  *c;

    while (d->ncards < d->nids && d->ids[d->ncards] < below) {
        c = &d->cards[d->ncards];
        c->id = d->ids[d->ncards++];
        c->summary = UCO_SNAP_SUM_TOMBSTONE;
        c->set = 0;
        d->deleted++;
    }
}


static int
pl_delta_ident(void *data, char **f)
{
    int64_t            card;
    pl_delta_t        *d;
    pl_delta_ident_t  *e;

    d = data;

    if (d->nidents == d->idents_cap) {
        d->idents_cap = d->idents_cap ? d->idents_cap * 2 : 256;
        e = realloc(d->idents, d->idents_cap * sizeof(pl_delta_ident_t));
        if (e == NULL) {
            pl_error(d, PL_ENOMEM, "delta: out of memory");
            return PL_ERR;
        }

        d->idents = e;
    }

    e = &d->idents[d->nidents];

    if (pl_build_ident_key(d->build, f, e->key, &card) != PL_OK) {
        pl_error(d, PL_EDATA, "%s", d->build->errstr);
        return PL_ERR;
    }

    e->card = (uint64_t) card;
    d->nidents++;

    return PL_OK;
}


/*
 * The partner family's counts.  Changed now: counted in this
 * transaction, read later.  Carried by the live delta and unchanged:
 * *live maps it, and its sections are copied.  Else the base's serve.
 */

static int
pl_delta_family(pl_delta_t *d, pl_pg_t *pg, pl_publish_t *pub,
    uco_snap_counts_t *c, void **live, size_t *live_len)
{
    uint64_t    v[4];
    uco_snap_t  s;

    if (d->family_changed) {
        if (pl_pg_query_u64(pg, "SELECT " PL_BUILD_SQL_FAMILY_COUNTS, v, 4)
            != PL_OK)
        {
            pl_error(d, pg->err, "delta: counting partners: %s",
                     pg->errstr);
            return PL_ERR;
        }

    } else if (d->family) {
        if (pl_delta_map(pub, d->live, live, live_len, &s) != PL_OK) {
            d->why = "the live delta cannot be read";
            return PL_DELTA_FULL;
        }

        v[0] = s.npartners;
        v[1] = s.nterminals;
        v[2] = s.nprogrammes;
        v[3] = s.ncerts;

    } else {
        return PL_OK;
    }

    c->partners = v[0];
    c->terminals = v[1];
    c->programmes = v[2];
    c->certs = v[3];

    d->build->counts.partners = v[0];
    d->build->counts.terminals = v[1];
    d->build->counts.programmes = v[2];
    d->build->counts.certs = v[3];

    return PL_OK;
}


/* the four sections of the live delta into the new one, same counts */

static int
pl_delta_family_copy(void *buf, const void *live)
{
    unsigned                   id;
    uco_snap_t                 s;
    const uco_snap_section_t  *from, *to;

    if (uco_snap_open(&s, live, ((const uco_snap_header_t *) live)
                                    ->file_size) != UCO_SNAP_OK)
    {
        return PL_ERR;
    }

    for (id = UCO_SNAP_SEC_PARTNERS; id <= UCO_SNAP_SEC_CERTS; id++) {
        if (id == UCO_SNAP_SEC_CATEGORY_SETS
            || id == UCO_SNAP_SEC_SHORT_IDENTS)
        {
            continue;
        }

        from = &s.header->sections[id - 1];
        to = &((const uco_snap_header_t *) buf)->sections[id - 1];

        if (from->id != id || to->id != id || from->size != to->size) {
            return PL_ERR;
        }

        memcpy((uint8_t *) buf + to->offset,
               (const uint8_t *) live + from->offset, to->size);
    }

    return PL_OK;
}


/*
 * With buf NULL: the counts of cards, identifiers, sets and overrides
 * (the base indices of the overlay's cards the base has, ascending as
 * the ids are).  Else the overlay into buf: cards, sets, overrides,
 * identifiers by the card's index.  Every identifier of every overlay
 * card is here (pl_delta_rows() reads them by card), which is what lets
 * a base identifier of an overridden card be unknown.
 */

static int
pl_delta_fill(pl_delta_t *d, void *buf, uco_snap_counts_t *c)
{
    int                rc;
    size_t             i;
    uint32_t           j, *o;
    uint64_t          *hit;
    pl_delta_ident_t  *e;

    if (buf == NULL) {
        o = realloc(d->overrides, (d->ncards ? d->ncards : 1)
                                  * sizeof(uint32_t));
        if (o == NULL) {
            pl_error(d, PL_ENOMEM, "delta: out of memory");
            return PL_ERR;
        }

        d->overrides = o;
        d->noverrides = 0;

        for (i = 0; i < d->ncards; i++) {
            if (uco_snap_find_card_id(&d->base, d->cards[i].id, &j)) {
                d->overrides[d->noverrides++] = j;
            }
        }

        uco_snap_cards_count(d->cards, d->ncards, c);
        c->overrides = d->noverrides;
        c->idents = d->nidents;
        c->category_sets = d->nsets;
        c->short_idents = 0;

        for (i = 0; i < d->nidents; i++) {
            c->short_idents += uco_snap_key_is_short(d->idents[i].key);
        }

        c->long_idents = d->nidents - c->short_idents;

        return PL_OK;
    }

    /* an empty overlay (a new base, nothing since) has no array yet */
    if (d->ncards != 0) {
        rc = uco_snap_cards_put(buf, d->cards);
        if (rc != UCO_SNAP_OK) {
            pl_error(d, PL_EDATA, "delta: cards: %s", uco_snap_strerror(rc));
            return PL_ERR;
        }

        memcpy(uco_snap_section(buf, UCO_SNAP_SEC_OVERRIDES), d->overrides,
               d->noverrides * sizeof(uint32_t));
    }

    memcpy(uco_snap_section(buf, UCO_SNAP_SEC_CATEGORY_SETS), d->sets,
           d->nsets * sizeof(uint64_t));

    for (i = 0; i < d->nidents; i++) {
        e = &d->idents[i];
        hit = bsearch(&e->card, d->ids, d->nids, sizeof(uint64_t),
                      pl_delta_cmp);

        if (hit == NULL) {
            pl_error(d, PL_EDATA, "card %llu: identifier of a card not in "
                     "the delta", (unsigned long long) e->card);
            return PL_ERR;
        }

        rc = uco_snap_ident_add(buf, e->key, (uint32_t) (hit - d->ids));
        if (rc != UCO_SNAP_OK) {
            pl_error(d, PL_EDATA, "card %llu: identifier: %s",
                     (unsigned long long) e->card, uco_snap_strerror(rc));
            return PL_ERR;
        }
    }

    return PL_OK;
}


/* the base's sets, in order, then new masks as cards bring them */

static int
pl_delta_sets_init(pl_delta_t *d)
{
    size_t    cap, i;
    uint16_t  index;

    cap = d->base.ncategory_sets + d->nids + 16;

    if (d->sets_cap < cap) {
        free(d->sets);
        d->sets = malloc(cap * sizeof(uint64_t));
        d->sets_cap = d->sets != NULL ? cap : 0;
    }

    for (d->set_mask = 15; d->set_mask < 2 * cap;
         d->set_mask = d->set_mask * 2 + 1)
    { /* void */ }

    free(d->set_keys);
    free(d->set_index);
    d->set_keys = malloc((d->set_mask + 1) * sizeof(uint64_t));
    d->set_index = calloc(d->set_mask + 1, sizeof(uint32_t));

    if (d->sets == NULL || d->set_keys == NULL || d->set_index == NULL) {
        pl_error(d, PL_ENOMEM, "delta: out of memory for category sets");
        return PL_ERR;
    }

    d->nsets = 0;

    for (i = 0; i < d->base.ncategory_sets; i++) {
        if (pl_delta_set(d, d->base.category_sets[i], &index) != PL_OK) {
            return PL_ERR;
        }
    }

    return PL_OK;
}


static int
pl_delta_set(pl_delta_t *d, uint64_t mask, uint16_t *index)
{
    uint64_t  h;

    h = mask * 0x9e3779b97f4a7c15ULL;
    h = (h ^ (h >> 29)) & d->set_mask;

    while (d->set_index[h] != 0) {
        if (d->set_keys[h] == mask) {
            *index = (uint16_t) (d->set_index[h] - 1);
            return PL_OK;
        }

        h = (h + 1) & d->set_mask;
    }

    if (d->nsets >= UCO_SNAP_MAX_CATEGORY_SETS || d->nsets == d->sets_cap) {
        pl_error(d, PL_EDATA, "more than %d distinct category sets",
                 UCO_SNAP_MAX_CATEGORY_SETS);
        return PL_ERR;
    }

    d->set_keys[h] = mask;
    d->set_index[h] = (uint32_t) ++d->nsets;
    d->sets[d->nsets - 1] = mask;
    *index = (uint16_t) (d->nsets - 1);

    return PL_OK;
}


static char *
pl_delta_sql(const char *head, const uint64_t *ids, size_t n,
    const char *tail)
{
    char    *sql, *p;
    size_t   i;

    sql = malloc(strlen(head) + strlen(tail) + 1 + n * PL_DELTA_ID_LEN);
    if (sql == NULL) {
        return NULL;
    }

    p = stpcpy(sql, head);

    for (i = 0; i < n; i++) {
        p += sprintf(p, "%s%llu", i ? "," : "", (unsigned long long) ids[i]);
    }

    strcpy(p, tail);

    return sql;
}


static int
pl_delta_push(uint64_t **a, size_t *n, size_t *cap, uint64_t v)
{
    size_t     c;
    uint64_t  *p;

    if (*n == *cap) {
        c = *cap ? *cap * 2 : 256;
        p = realloc(*a, c * sizeof(uint64_t));
        if (p == NULL) {
            return PL_ERR;
        }

        *a = p;
        *cap = c;
    }

    (*a)[(*n)++] = v;

    return PL_OK;
}


/* a published generation mapped read-only, its header checked */

static int
pl_delta_map(pl_publish_t *pub, uint64_t gen, void **map, size_t *len,
    uco_snap_t *s)
{
    int          fd;
    char         name[64];
    void        *p;
    struct stat  st;

    snprintf(name, sizeof(name), UCO_SNAP_FILE_FMT,
             (unsigned long long) gen);

    fd = openat(pub->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return PL_ERR;
    }

    if (fstat(fd, &st) == -1 || st.st_size == 0) {
        close(fd);
        return PL_ERR;
    }

    p = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);

    if (p == MAP_FAILED) {
        return PL_ERR;
    }

    if (uco_snap_open(s, p, (size_t) st.st_size) != UCO_SNAP_OK
        || s->header->generation != gen)
    {
        munmap(p, (size_t) st.st_size);
        return PL_ERR;
    }

    *map = p;
    *len = (size_t) st.st_size;

    return PL_OK;
}


static int
pl_delta_cmp(const void *a, const void *b)
{
    uint64_t  x, y;

    x = *(const uint64_t *) a;
    y = *(const uint64_t *) b;

    return x < y ? -1 : (x > y ? 1 : 0);
}
