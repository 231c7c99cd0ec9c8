/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Tables to snapshot.  Counts and the cards come first, in the same
 * REPEATABLE READ transaction as the COPY streams, so that the file can
 * be sized and mapped before the other rows arrive and they go straight
 * into it.  The cards are held in memory (16 bytes a card) until their
 * identifiers are in: their id runs and set overflow size the file too.
 * Every row is checked; anything that cannot be represented is a build
 * error and the last good snapshot stays published.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <time.h>

#include "pl_build.h"


/*
 * How far below the first watermark a late commit is looked for: a
 * write transaction would have to stay open over this many changes.
 */
#define PL_BUILD_FIRST_WINDOW   1000000

#define PL_BUILD_DAYS(col)                                                  \
    "CASE WHEN isfinite(" col ") THEN " col " - date '1970-01-01' "

/*
 * In the order the server reads them, which is mostly id order: the
 * loader sorts the 16-byte records in memory only when they are not,
 * where ORDER BY made the server sort 10 million joined rows (tens of
 * seconds, spilling to disk).
 */
#define PL_BUILD_SQL_CARDS  PL_BUILD_SQL_CARD_ROWS

/*
 * The identifier tables are sized before any row arrives, by the rule of
 * uco_snap_key_is_short() on the stored values: a social number of up to
 * 14 digits has a short key, a HashPAN a long one.  A kind this does not
 * know is counted for both tables.
 */
#define PL_BUILD_SQL_SHORT      "kind = 'social' AND length(value) <= 14"
#define PL_BUILD_SQL_LONG       "kind = 'hashpan' OR kind = 'social'"

/* an upper bound of the cards' sets: holders without a card count too */
#define PL_BUILD_SQL_CATEGORY_SETS                                          \
    "(SELECT count(*) FROM (SELECT DISTINCT categories "                    \
    "FROM uco.holder) d)"

/* scopes as UCO_SCOPE_* bits; NULL contract dates are open ends */
#define PL_BUILD_SQL_PARTNERS                                               \
    "SELECT id, status, secret_sha256, auth, secret2_sha256, "              \
    "(CASE WHEN 'discount' = ANY (scopes) THEN 1 ELSE 0 END) "              \
    "| (CASE WHEN 'benefit' = ANY (scopes) THEN 2 ELSE 0 END) "             \
    "| (CASE WHEN 'identify' = ANY (scopes) THEN 4 ELSE 0 END), "           \
    PL_BUILD_DAYS("contract_from")                                          \
    "WHEN contract_from > date '1970-01-01' THEN 2147483647 END, "          \
    PL_BUILD_DAYS("contract_to")                                            \
    "WHEN contract_to < date '1970-01-01' THEN -2147483648 END "            \
    "FROM uco.partner ORDER BY id"

/* bytea sorts bytewise, the order lookups rely on */
#define PL_BUILD_SQL_CERTS                                                  \
    "SELECT partner_id, 1, fingerprint_sha256 "                             \
    "FROM uco.partner_certificate WHERE fingerprint_sha256 IS NOT NULL "    \
    "UNION ALL SELECT partner_id, 2, sha256(convert_to(subject, 'UTF8')) "  \
    "FROM uco.partner_certificate WHERE subject IS NOT NULL ORDER BY 3"

/* "C": the bytewise order that lookups of zero-padded ids rely on */
#define PL_BUILD_SQL_TERMINALS                                              \
    "SELECT partner_id, terminal FROM uco.partner_terminal "                \
    "ORDER BY partner_id, terminal COLLATE \"C\""

/* NULL dates are open ends; infinite ones become open ends as well */
#define PL_BUILD_SQL_PROGRAMMES                                             \
    "SELECT id, partner_id, required_categories, discount_type, "           \
    "(discount_percent * 100)::bigint, discount_kopecks, "                  \
    PL_BUILD_DAYS("valid_from")                                             \
    "WHEN valid_from > date '1970-01-01' THEN 2147483647 END, "             \
    PL_BUILD_DAYS("valid_to")                                               \
    "WHEN valid_to < date '1970-01-01' THEN -2147483648 END, "              \
    "card_kind, weekdays, hour_from, hour_to "                              \
    "FROM uco.programme WHERE active ORDER BY partner_id, id"


static int pl_build_copy(pl_build_t *b, pl_pg_t *pg, const char *what,
    const char *sql, int nfields, pl_pg_row_pt row, uint64_t expect);
static long pl_build_ms(const struct timespec *since);
static int pl_build_row(pl_build_t *b, uint64_t count, const char *what);
static int pl_build_cards(pl_build_t *b, pl_pg_t *pg);
static int pl_build_card(void *data, char **f);
static int pl_build_ident(void *data, char **f);
static int pl_build_family(pl_build_t *b, pl_pg_t *pg);
static int pl_build_partner(void *data, char **f);
static int pl_build_terminal(void *data, char **f);
static int pl_build_cert(void *data, char **f);
static int pl_build_programme(void *data, char **f);
static int pl_build_partner_at(pl_build_t *b, const char *field,
    uint64_t *index);
static void pl_build_ranges(pl_build_t *b);
static void pl_build_card_ids(pl_build_t *b);
static void pl_build_card_ids_free(pl_build_t *b);
static int pl_build_card_index(pl_build_t *b, uint64_t id, uint32_t *index);
static int pl_build_card_kind(const char *s);
static int pl_build_category_set(pl_build_t *b, uint64_t categories,
    uint16_t *index);
static void pl_build_category_free(pl_build_t *b);
static int pl_build_sort_cards(pl_build_t *b);
static int pl_build_card_cmp(const void *a, const void *b);


pl_build_t *
pl_build_new(volatile sig_atomic_t *stop)
{
    pl_build_t  *b;

    b = calloc(1, sizeof(pl_build_t));
    if (b == NULL) {
        return NULL;
    }

    b->stop = stop;

    return b;
}


void
pl_build_free(pl_build_t *b)
{
    if (b == NULL) {
        return;
    }

    pl_build_category_free(b);
    pl_build_card_ids_free(b);
    free(b->cards);
    free(b->category_sets);

    if (b->mark.snapshot != b->synced.snapshot) {
        free(b->mark.snapshot);
    }

    free(b->synced.snapshot);
    free(b);
}


/*
 * The first statement of the transaction: it fixes the snapshot that
 * every query after it reads, and places it in the change log.  The
 * snapshot's text lets the next tick list exactly the changes it does
 * not include (pl_patch.c).
 */

int
pl_build_mark(pl_build_t *b, pl_pg_t *pg)
{
    char      floor[64], sql[512];
    uint64_t  v[5];

    b->err = 0;
    b->errstr[0] = '\0';

    if (b->have_synced) {
        snprintf(floor, sizeof(floor), "least(%llu, w.w)",
                 (unsigned long long) b->synced.floor);

    } else {
        snprintf(floor, sizeof(floor), "greatest(w.w - %d, 0)",
                 PL_BUILD_FIRST_WINDOW);
    }

    snprintf(sql, sizeof(sql),
             "SELECT w.w, f.f, "
             "(SELECT count(*) FROM uco.change_log "
             "WHERE id > f.f AND id <= w.w), "
             "pg_snapshot_xmin(pg_current_snapshot()), "
             "pg_snapshot_xmax(pg_current_snapshot()) "
             "FROM (SELECT coalesce(max(id), 0) AS w "
             "FROM uco.change_log) w, "
             "LATERAL (SELECT %s AS f) f", floor);

    if (pl_pg_query_u64(pg, sql, v, 5) != PL_OK) {
        pl_error(b, pg->err, "reading the change log: %s", pg->errstr);
        return PL_ERR;
    }

    b->mark.watermark = v[0];
    b->mark.floor = v[1];
    b->mark.seen = v[2];
    b->mark.xmax = v[4];

    /* no writer was running, or no id is missing: nothing can come late */
    if (v[3] == v[4] || b->mark.seen == b->mark.watermark - b->mark.floor) {
        b->mark.floor = b->mark.watermark;
        b->mark.seen = 0;
    }

    if (b->mark.snapshot != b->synced.snapshot) {
        free(b->mark.snapshot);
    }

    /*
     * A hot standby's snapshot keeps the running transactions out of the
     * list that pg_current_snapshot() prints (PostgreSQL 15 shows
     * "729:731:" where the primary shows "729:731:729"), so its text
     * would call a transaction that commits later seen.  There, every
     * transaction from xmin on counts as not seen: a change read twice
     * is harmless, a change skipped is not (t/093-standby.t).
     */
    b->mark.snapshot = pl_pg_query_text(pg, pg->standby
        ? "SELECT pg_snapshot_xmin(s) || ':' || pg_snapshot_xmin(s) || ':' "
          "FROM pg_current_snapshot() s"
        : "SELECT pg_current_snapshot()::text");
    if (b->mark.snapshot == NULL) {
        pl_error(b, pg->err, "reading the snapshot: %s", pg->errstr);
        return PL_ERR;
    }

    return PL_OK;
}


/* counts size the file; after pl_build_mark(), in its transaction */

int
pl_build_count(pl_build_t *b, pl_pg_t *pg)
{
    uint64_t         v[9];
    struct timespec  t0;

    clock_gettime(CLOCK_MONOTONIC, &t0);

    /*
     * card.holder_id is a NOT NULL foreign key, so every card joins one
     * holder: the cards are counted without the join, which took seconds
     * at millions (the row count after the COPY would catch a mismatch).
     * The identifiers are counted in one scan, per table too.
     */
    if (pl_pg_query_u64(pg,
             "SELECT "
             "(SELECT count(*) FROM uco.card), i.n, "
             "(SELECT count(*) FROM uco.partner), "
             "(SELECT count(*) FROM uco.partner_terminal), "
             "(SELECT count(*) FROM uco.programme WHERE active), "
             PL_BUILD_SQL_CATEGORY_SETS ", i.s, i.l, "
             "(SELECT count(*) FROM uco.partner_certificate) "
             "FROM (SELECT count(*) AS n, "
             "count(*) FILTER (WHERE " PL_BUILD_SQL_SHORT
             " OR NOT (" PL_BUILD_SQL_LONG ")) AS s, "
             "count(*) FILTER (WHERE NOT (" PL_BUILD_SQL_SHORT ")) AS l "
             "FROM uco.card_identifier) i", v, 9)
        != PL_OK)
    {
        pl_error(b, pg->err, "counting: %s", pg->errstr);
        return PL_ERR;
    }

    b->counts.cards = v[0];
    b->counts.idents = v[1];
    b->counts.partners = v[2];
    b->counts.terminals = v[3];
    b->counts.programmes = v[4];
    b->counts.category_sets = v[5];
    b->counts.short_idents = v[6];
    b->counts.long_idents = v[7];
    b->counts.certs = v[8];

    pl_log(PL_LOG_DEBUG, "counted in %ld ms", pl_build_ms(&t0));

    if (v[5] > UCO_SNAP_MAX_CATEGORY_SETS) {
        pl_error(b, PL_EDATA, "%llu distinct category sets: a snapshot "
                 "holds at most %d", (unsigned long long) v[5],
                 UCO_SNAP_MAX_CATEGORY_SETS);
        return PL_ERR;
    }

    return pl_build_cards(b, pg);
}


/*
 * The cards into memory, sorted: the file's size depends on their id
 * runs and on how many name a set past the summary's escape.
 */

static int
pl_build_cards(pl_build_t *b, pl_pg_t *pg)
{
    int              rc;
    struct timespec  t0;

    free(b->cards);
    free(b->category_sets);
    b->cards = malloc((b->counts.cards ? b->counts.cards : 1)
                      * sizeof(uco_snap_card_in_t));
    b->category_sets = malloc((b->counts.category_sets
                               ? b->counts.category_sets : 1)
                              * sizeof(uint64_t));
    b->ncategory_sets = 0;

    if (b->cards == NULL || b->category_sets == NULL) {
        pl_error(b, PL_EDATA, "out of memory for %llu cards",
                 (unsigned long long) b->counts.cards);
        return PL_ERR;
    }

    pl_build_category_free(b);

    /* a power of two at least twice the sets: short probe runs */
    for (b->category_cap = 16;
         b->category_cap < 2 * b->counts.category_sets;
         b->category_cap <<= 1)
    { /* void */ }

    b->category_keys = malloc(b->category_cap * sizeof(uint64_t));
    b->category_index = calloc(b->category_cap, sizeof(uint32_t));

    if (b->category_keys == NULL || b->category_index == NULL) {
        pl_build_category_free(b);
        pl_error(b, PL_EDATA, "out of memory for category sets");
        return PL_ERR;
    }

    b->cards_sorted = 1;

    rc = pl_build_copy(b, pg, "cards", PL_BUILD_SQL_CARDS, 5,
                       pl_build_card, b->counts.cards);

    pl_build_category_free(b);

    if (rc == PL_OK && !b->cards_sorted) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = pl_build_sort_cards(b);
        pl_log(PL_LOG_DEBUG, "sorted the cards in %ld ms", pl_build_ms(&t0));
    }

    if (rc == PL_OK) {
        uco_snap_cards_count(b->cards, b->counts.cards, &b->counts);
    }

    return rc;
}


int
pl_build_fill(pl_build_t *b, pl_pg_t *pg, void *buf, size_t size)
{
    int  rc;

    rc = uco_snap_init(buf, size, &b->counts);
    if (rc != UCO_SNAP_OK) {
        pl_error(b, PL_EDATA, "snapshot layout: %s", uco_snap_strerror(rc));
        return PL_ERR;
    }

    b->buf = buf;
    b->partners = uco_snap_section(buf, UCO_SNAP_SEC_PARTNERS);
    b->programmes = uco_snap_section(buf, UCO_SNAP_SEC_PROGRAMMES);
    b->terminals = uco_snap_section(buf, UCO_SNAP_SEC_TERMINALS);
    b->certs = uco_snap_section(buf, UCO_SNAP_SEC_CERTS);

    if (b->ncategory_sets != 0) {
        memcpy(uco_snap_section(buf, UCO_SNAP_SEC_CATEGORY_SETS),
               b->category_sets, b->ncategory_sets * sizeof(uint64_t));
    }

    /* cards before identifiers, partners before their ranges */

    rc = uco_snap_cards_put(buf, b->cards);
    if (rc != UCO_SNAP_OK) {
        pl_error(b, PL_EDATA, "cards: %s", uco_snap_strerror(rc));
        return PL_ERR;
    }

    pl_build_card_ids(b);
    rc = pl_build_copy(b, pg, "identifiers", PL_BUILD_SQL_IDENTS, 3,
                       pl_build_ident, b->counts.idents);
    pl_build_card_ids_free(b);

    free(b->cards);
    b->cards = NULL;

    if (rc != PL_OK
        || pl_build_family(b, pg) != PL_OK)
    {
        return PL_ERR;
    }

    return PL_OK;
}


/*
 * Partners, terminals, programmes and certificates: after the counts,
 * into buf's sections (a delta's, pl_delta.c, or a full build's).
 */

int
pl_build_fill_family(pl_build_t *b, pl_pg_t *pg, void *buf)
{
    b->buf = buf;
    b->partners = uco_snap_section(buf, UCO_SNAP_SEC_PARTNERS);
    b->programmes = uco_snap_section(buf, UCO_SNAP_SEC_PROGRAMMES);
    b->terminals = uco_snap_section(buf, UCO_SNAP_SEC_TERMINALS);
    b->certs = uco_snap_section(buf, UCO_SNAP_SEC_CERTS);

    return pl_build_family(b, pg);
}


static int
pl_build_family(pl_build_t *b, pl_pg_t *pg)
{
    if (pl_build_copy(b, pg, "partners", PL_BUILD_SQL_PARTNERS, 8,
                         pl_build_partner, b->counts.partners) != PL_OK
        || pl_build_copy(b, pg, "terminals", PL_BUILD_SQL_TERMINALS, 2,
                         pl_build_terminal, b->counts.terminals) != PL_OK
        || pl_build_copy(b, pg, "programmes", PL_BUILD_SQL_PROGRAMMES, 12,
                         pl_build_programme, b->counts.programmes) != PL_OK
        || pl_build_copy(b, pg, "certificates", PL_BUILD_SQL_CERTS, 3,
                         pl_build_cert, b->counts.certs) != PL_OK)
    {
        return PL_ERR;
    }

    pl_build_ranges(b);

    return PL_OK;
}


int
pl_build_seal(pl_build_t *b, uint64_t generation)
{
    int  rc;

    rc = uco_snap_seal(b->buf, generation, (uint64_t) time(NULL),
                       b->mark.watermark);
    if (rc != UCO_SNAP_OK) {
        pl_error(b, PL_EDATA, "sealing: %s", uco_snap_strerror(rc));
        return PL_ERR;
    }

    return PL_OK;
}


/*
 * The build's mark becomes the one changes are compared with: after a
 * publish, and after a build refused for its data, which would only
 * be refused again until something changes.
 */

void
pl_build_accept(pl_build_t *b)
{
    if (b->synced.snapshot != b->mark.snapshot) {
        free(b->synced.snapshot);
    }

    b->synced = b->mark;
    b->have_synced = 1;
}


/*
 * The data is in sync as of mark m, older than the last accepted one (a
 * base built in the background, pl_rebase.c): the next change query
 * lists everything m did not see.  Takes m's snapshot text.
 */

void
pl_build_resync(pl_build_t *b, pl_build_mark_t *m)
{
    if (b->synced.snapshot != b->mark.snapshot) {
        free(b->synced.snapshot);
    }

    b->synced = *m;
    b->have_synced = 1;
    m->snapshot = NULL;
}


/* one cheap query per tick: an index range scan above the floor */

int
pl_build_changed(pl_build_t *b, pl_pg_t *pg, int *changed)
{
    char              sql[512];
    uint64_t          v[3];
    pl_build_mark_t  *m;

    m = &b->synced;

    if (!b->have_synced) {
        *changed = 1;
        return PL_OK;
    }

    snprintf(sql, sizeof(sql),
             "SELECT coalesce(max(id), %llu), "
             "count(*) FILTER (WHERE id <= %llu), "
             "pg_snapshot_xmin(pg_current_snapshot()) "
             "FROM uco.change_log WHERE id > %llu",
             (unsigned long long) m->floor,
             (unsigned long long) m->watermark,
             (unsigned long long) m->floor);

    if (pl_pg_query_u64(pg, sql, v, 3) != PL_OK) {
        pl_error(b, pg->err, "checking for changes: %s", pg->errstr);
        return PL_ERR;
    }

    *changed = 0;

    if (v[0] != m->watermark) {
        pl_log(PL_LOG_DEBUG, "change log moved from %llu to %llu",
               (unsigned long long) m->watermark,
               (unsigned long long) v[0]);
        *changed = 1;

    } else if (v[1] != m->seen) {
        pl_log(PL_LOG_DEBUG, "a change below watermark %llu committed late",
               (unsigned long long) m->watermark);
        *changed = 1;

    } else if (m->floor < m->watermark && v[2] >= m->xmax) {
        /* every writer of the build's time has ended: holes are final */
        m->floor = m->watermark;
        m->seen = 0;
    }

    return PL_OK;
}


static int
pl_build_copy(pl_build_t *b, pl_pg_t *pg, const char *what, const char *sql,
    int nfields, pl_pg_row_pt row, uint64_t expect)
{
    struct timespec  t0;

    b->n = 0;
    b->partner = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    if (pl_pg_copy(pg, sql, nfields, row, b) != PL_OK) {
        /* a callback's own error says more than "stopped by callback" */
        if (b->err == 0) {
            pl_error(b, pg->err, "reading %s: %s", what, pg->errstr);
        }

        return PL_ERR;
    }

    if (b->n != expect) {
        pl_error(b, PL_EDATA, "reading %s: %llu rows, counted %llu", what,
                 (unsigned long long) b->n, (unsigned long long) expect);
        return PL_ERR;
    }

    /* where a full build's time goes (docs/performance.md) */
    pl_log(PL_LOG_DEBUG, "read %llu %s in %ld ms", (unsigned long long) b->n,
           what, pl_build_ms(&t0));

    return PL_OK;
}


static long
pl_build_ms(const struct timespec *since)
{
    struct timespec  now;

    clock_gettime(CLOCK_MONOTONIC, &now);

    return (long) ((now.tv_sec - since->tv_sec) * 1000
                   + (now.tv_nsec - since->tv_nsec) / 1000000);
}


/* checked before every row: room for it, and no stop request */

static int
pl_build_row(pl_build_t *b, uint64_t count, const char *what)
{
    if (*b->stop) {
        pl_error(b, PL_ESTOP, "interrupted");
        return PL_ERR;
    }

    if (b->n >= count) {
        pl_error(b, PL_EDATA, "reading %s: more rows than counted", what);
        return PL_ERR;
    }

    return PL_OK;
}


/* id, kind, status, valid_until days, categories */

static int
pl_build_card(void *data, char **f)
{
    uint16_t             set;
    uint64_t             cats;
    pl_build_t          *b;
    uco_snap_card_in_t  *c;

    b = data;

    if (pl_build_row(b, b->counts.cards, "cards") != PL_OK) {
        return PL_ERR;
    }

    c = &b->cards[b->n];

    if (pl_build_card_row(b, f, c, &cats) != PL_OK) {
        return PL_ERR;
    }

    /* strictly increasing so far, or pl_build_sort_cards() after */
    if (b->n > 0 && b->cards[b->n - 1].id >= c->id) {
        b->cards_sorted = 0;
    }

    if (pl_build_category_set(b, cats, &set) != PL_OK) {
        return PL_ERR;
    }

    pl_build_card_set(c, set);
    b->n++;

    return PL_OK;
}


/*
 * A row of PL_BUILD_SQL_CARD_ROWS into a card, all but its category set:
 * the holder's categories are returned for the caller to map and give
 * to pl_build_card_set().
 */

int
pl_build_card_row(pl_build_t *b, char **f, uco_snap_card_in_t *c,
    uint64_t *categories)
{
    int      kind, status;
    int64_t  id, days, cats;

    if (pl_pg_int(f[0], 1, INT64_MAX, &id) != PL_OK) {
        pl_error(b, PL_EDATA, "card: bad id");
        return PL_ERR;
    }

    kind = pl_build_card_kind(f[1]);

    status = 0;
    if (f[2] != NULL) {
        status = strcmp(f[2], "active") == 0 ? UCO_CARD_ACTIVE
                 : strcmp(f[2], "blocked") == 0 ? UCO_CARD_BLOCKED
                 : strcmp(f[2], "expired") == 0 ? UCO_CARD_EXPIRED
                 : strcmp(f[2], "replaced") == 0 ? UCO_CARD_REPLACED : 0;
    }

    if (kind == 0 || status == 0
        || pl_pg_int(f[3], INT32_MIN, INT32_MAX, &days) != PL_OK
        || pl_pg_int(f[4], INT64_MIN, INT64_MAX, &cats) != PL_OK)
    {
        pl_error(b, PL_EDATA, "card %lld: bad kind, status, valid_until "
                 "or categories", (long long) id);
        return PL_ERR;
    }

    c->id = (uint64_t) id;
    c->summary = uco_snap_summary((int32_t) days, (unsigned) status,
                                  (unsigned) kind, 0);
    c->set = 0;

    /* the bit pattern of the bigint */
    *categories = (uint64_t) cats;

    return PL_OK;
}


/* kind, value, card_id; the value is never logged */

static int
pl_build_ident(void *data, char **f)
{
    int          rc;
    int64_t      card;
    uint8_t      key[UCO_SNAP_KEY_LEN];
    uint32_t     index;
    pl_build_t  *b;

    b = data;

    if (pl_build_row(b, b->counts.idents, "identifiers") != PL_OK
        || pl_build_ident_key(b, f, key, &card) != PL_OK)
    {
        return PL_ERR;
    }

    if (pl_build_card_index(b, (uint64_t) card, &index) != PL_OK) {
        pl_error(b, PL_EDATA, "card %lld: %s identifier of a card not in "
                 "the snapshot", (long long) card, f[0]);
        return PL_ERR;
    }

    rc = uco_snap_ident_add(b->buf, key, index);
    if (rc != UCO_SNAP_OK) {
        pl_error(b, PL_EDATA, "card %lld: %s identifier: %s",
                 (long long) card, f[0], uco_snap_strerror(rc));
        return PL_ERR;
    }

    b->n++;

    return PL_OK;
}


/* a row of PL_BUILD_SQL_IDENTS: its key and card id */

int
pl_build_ident_key(pl_build_t *b, char **f, uint8_t key[UCO_SNAP_KEY_LEN],
    int64_t *card)
{
    uco_id_kind_e  kind;

    if (pl_pg_int(f[2], 1, INT64_MAX, card) != PL_OK || f[0] == NULL
        || f[1] == NULL)
    {
        pl_error(b, PL_EDATA, "identifier: bad card id, kind or value");
        return PL_ERR;
    }

    if (strcmp(f[0], "hashpan") == 0) {
        kind = UCO_ID_HASHPAN;

    } else if (strcmp(f[0], "social") == 0) {
        kind = UCO_ID_SOCIAL;

    } else if (strcmp(f[0], "barcode") == 0) {
        kind = UCO_ID_BARCODE;

    } else if (strcmp(f[0], "uid") == 0) {
        kind = UCO_ID_UID;

    } else {
        pl_error(b, PL_EDATA, "card %lld: unknown identifier kind",
                 (long long) *card);
        return PL_ERR;
    }

    if (uco_snap_key(kind, f[1], strlen(f[1]), key) != UCO_SNAP_OK) {
        pl_error(b, PL_EDATA, "card %lld: malformed %s identifier",
                 (long long) *card, f[0]);
        return PL_ERR;
    }

    return PL_OK;
}


/*
 * id, status, secret_sha256, auth, secret2_sha256, scopes bits,
 * contract_from days, contract_to days
 */

static int
pl_build_partner(void *data, char **f)
{
    int                  status, auth;
    int64_t              id, scopes, from, to;
    uint8_t             *slot;
    pl_build_t          *b;
    uco_snap_partner_t  *p;

    b = data;

    if (pl_build_row(b, b->counts.partners, "partners") != PL_OK) {
        return PL_ERR;
    }

    if (pl_pg_int(f[0], 1, INT64_MAX, &id) != PL_OK) {
        pl_error(b, PL_EDATA, "partner: bad id");
        return PL_ERR;
    }

    if (b->n > 0 && b->partners[b->n - 1].id >= (uint64_t) id) {
        pl_error(b, PL_EDATA, "partner %lld: partners not in id order",
                 (long long) id);
        return PL_ERR;
    }

    status = 0;
    if (f[1] != NULL) {
        status = strcmp(f[1], "active") == 0 ? UCO_PARTNER_ACTIVE
                 : strcmp(f[1], "suspended") == 0 ? UCO_PARTNER_SUSPENDED
                 : 0;
    }

    auth = 0;
    if (f[3] != NULL) {
        auth = strcmp(f[3], "api_key") == 0 ? UCO_AUTH_API_KEY
               : strcmp(f[3], "signed") == 0 ? UCO_AUTH_SIGNED
               : strcmp(f[3], "mtls") == 0 ? UCO_AUTH_MTLS : 0;
    }

    p = &b->partners[b->n];
    memset(p, 0, sizeof(uco_snap_partner_t));

    from = INT32_MIN;
    to = INT32_MAX;

    if (status == 0 || auth == 0
        || pl_pg_int(f[5], 1, UCO_SCOPE_ALL, &scopes) != PL_OK
        || (f[6] != NULL
            && pl_pg_int(f[6], INT32_MIN, INT32_MAX, &from) != PL_OK)
        || (f[7] != NULL
            && pl_pg_int(f[7], INT32_MIN, INT32_MAX, &to) != PL_OK)
        || from > to)
    {
        pl_error(b, PL_EDATA, "partner %lld: bad status, auth, scopes or "
                 "contract dates", (long long) id);
        return PL_ERR;
    }

    /* the valid secrets fill the slots from the first */
    slot = p->secret_sha256;

    if ((f[2] != NULL
         && pl_pg_bytea(f[2], slot, 32) != PL_OK)
        || (f[4] != NULL
            && pl_pg_bytea(f[4], f[2] != NULL ? p->secret2_sha256 : slot, 32)
               != PL_OK))
    {
        pl_error(b, PL_EDATA, "partner %lld: a secret hash is not 32 bytes",
                 (long long) id);
        return PL_ERR;
    }

    p->nsecrets = (uint8_t) ((f[2] != NULL) + (f[4] != NULL));

    if (auth != UCO_AUTH_MTLS && p->nsecrets == 0) {
        pl_error(b, PL_EDATA, "partner %lld: no secret for its "
                 "authentication", (long long) id);
        return PL_ERR;
    }

    p->id = (uint64_t) id;
    p->status = (uint8_t) status;
    p->auth = (uint8_t) auth;
    p->scopes = (uint8_t) scopes;
    p->contract_from = (int32_t) from;
    p->contract_to = (int32_t) to;
    b->n++;

    return PL_OK;
}


/* partner_id, kind (1 fingerprint, 2 subject), SHA-256: sorted, unique */

static int
pl_build_cert(void *data, char **f)
{
    int64_t                    kind, id;
    uco_snap_t                 s;
    pl_build_t                *b;
    uco_snap_cert_t           *c;
    const uco_snap_partner_t  *p;

    b = data;

    if (pl_build_row(b, b->counts.certs, "certificates") != PL_OK) {
        return PL_ERR;
    }

    c = &b->certs[b->n];
    memset(c, 0, sizeof(uco_snap_cert_t));

    if (pl_pg_int(f[0], 1, INT64_MAX, &id) != PL_OK
        || pl_pg_int(f[1], UCO_CERT_FINGERPRINT, UCO_CERT_SUBJECT, &kind)
           != PL_OK
        || pl_pg_bytea(f[2], c->hash, sizeof(c->hash)) != PL_OK)
    {
        pl_error(b, PL_EDATA, "partner certificate: bad row");
        return PL_ERR;
    }

    memset(&s, 0, sizeof(uco_snap_t));
    s.partners = b->partners;
    s.npartners = b->counts.partners;
    s.nprogrammes = b->counts.programmes;
    s.nterminals = b->counts.terminals;

    p = uco_snap_find_partner(&s, (uint64_t) id);

    if (p == NULL) {
        pl_error(b, PL_EDATA, "partner %lld: certificate of an unknown "
                 "partner", (long long) id);
        return PL_ERR;
    }

    if (b->n > 0 && memcmp(c[-1].hash, c->hash, sizeof(c->hash)) >= 0) {
        pl_error(b, PL_EDATA, "partner %lld: a certificate fingerprint "
                 "equals a subject's hash", (long long) id);
        return PL_ERR;
    }

    c->partner = (uint32_t) (p - b->partners);
    c->kind = (uint8_t) kind;
    b->n++;

    return PL_OK;
}


/* partner_id, terminal: ordered, so a partner's range is contiguous */

static int
pl_build_terminal(void *data, char **f)
{
    size_t                len;
    uint64_t              i;
    pl_build_t           *b;
    uco_snap_partner_t   *p;
    uco_snap_terminal_t  *t;

    b = data;

    if (pl_build_row(b, b->counts.terminals, "terminals") != PL_OK
        || pl_build_partner_at(b, f[0], &i) != PL_OK)
    {
        return PL_ERR;
    }

    p = &b->partners[i];

    len = f[1] != NULL ? strlen(f[1]) : 0;
    if (len == 0 || len > UCO_SNAP_TERMINAL_LEN) {
        pl_error(b, PL_EDATA, "partner %llu: terminal id of %zu bytes",
                 (unsigned long long) p->id, len);
        return PL_ERR;
    }

    t = &b->terminals[b->n];
    memset(t, 0, sizeof(uco_snap_terminal_t));
    memcpy(t->id, f[1], len);

    if (p->terminal_count == 0) {
        p->terminal_first = (uint32_t) b->n;

    } else if (memcmp(t[-1].id, t->id, UCO_SNAP_TERMINAL_LEN) >= 0) {
        pl_error(b, PL_EDATA, "partner %llu: terminals not in bytewise "
                 "order", (unsigned long long) p->id);
        return PL_ERR;
    }

    p->terminal_count++;
    b->n++;

    return PL_OK;
}


/*
 * id, partner_id, required_categories, discount_type, percent * 100,
 * kopecks, valid_from days, valid_to days, card_kind, weekdays,
 * hour_from, hour_to
 */

static int
pl_build_programme(void *data, char **f)
{
    int                    type, kind;
    int64_t                id, cats, value, from, to, wd, hf, ht;
    uint64_t               i;
    pl_build_t            *b;
    uco_snap_partner_t    *p;
    uco_snap_programme_t  *pr;

    b = data;

    if (pl_build_row(b, b->counts.programmes, "programmes") != PL_OK) {
        return PL_ERR;
    }

    if (pl_pg_int(f[0], 1, INT64_MAX, &id) != PL_OK) {
        pl_error(b, PL_EDATA, "programme: bad id");
        return PL_ERR;
    }

    if (pl_build_partner_at(b, f[1], &i) != PL_OK) {
        return PL_ERR;
    }

    p = &b->partners[i];

    type = 0;
    value = 0;

    if (f[3] != NULL && strcmp(f[3], "percent") == 0) {
        type = UCO_DISCOUNT_PERCENT;
        if (pl_pg_int(f[4], 1, 10000, &value) != PL_OK) {
            type = 0;
        }

    } else if (f[3] != NULL && strcmp(f[3], "fixed") == 0) {
        type = UCO_DISCOUNT_FIXED;
        if (pl_pg_int(f[5], 1, INT64_MAX, &value) != PL_OK) {
            type = 0;
        }
    }

    kind = f[8] != NULL ? pl_build_card_kind(f[8]) : -1;

    from = INT32_MIN;
    to = INT32_MAX;
    wd = 0x7f;
    hf = 0;
    ht = 24;

    /* a NULL leaves the open default in place */
    if (type == 0 || kind == 0
        || pl_pg_int(f[2], INT64_MIN, INT64_MAX, &cats) != PL_OK
        || (f[6] != NULL
            && pl_pg_int(f[6], INT32_MIN, INT32_MAX, &from) != PL_OK)
        || (f[7] != NULL
            && pl_pg_int(f[7], INT32_MIN, INT32_MAX, &to) != PL_OK)
        || (f[9] != NULL && pl_pg_int(f[9], 1, 0x7f, &wd) != PL_OK)
        || (f[10] != NULL && pl_pg_int(f[10], 0, 23, &hf) != PL_OK)
        || (f[11] != NULL && pl_pg_int(f[11], 1, 24, &ht) != PL_OK)
        || hf == ht)
    {
        pl_error(b, PL_EDATA, "programme %lld: a field is out of range",
                 (long long) id);
        return PL_ERR;
    }

    pr = &b->programmes[b->n];
    memset(pr, 0, sizeof(uco_snap_programme_t));
    pr->id = (uint64_t) id;
    pr->required_categories = (uint64_t) cats;
    pr->value = (uint64_t) value;
    pr->valid_from = (int32_t) from;
    pr->valid_to = (int32_t) to;
    pr->type = (uint8_t) type;
    pr->card_kind = (uint8_t) (kind < 0 ? 0 : kind);
    pr->weekdays = (uint8_t) wd;
    pr->hour_from = (uint8_t) hf;
    pr->hour_to = (uint8_t) ht;

    if (p->programme_count == 0) {
        p->programme_first = (uint32_t) b->n;
    }

    p->programme_count++;
    b->n++;

    return PL_OK;
}


/*
 * Rows of terminals and programmes come ordered by partner id, as the
 * partners do: the cursor only moves forward, and a row for a partner
 * behind it means the order was broken.
 */

static int
pl_build_partner_at(pl_build_t *b, const char *field, uint64_t *index)
{
    int64_t  id;

    if (pl_pg_int(field, 1, INT64_MAX, &id) != PL_OK) {
        pl_error(b, PL_EDATA, "bad partner id");
        return PL_ERR;
    }

    while (b->partner < b->counts.partners
           && b->partners[b->partner].id < (uint64_t) id)
    {
        b->partner++;
    }

    if (b->partner == b->counts.partners
        || b->partners[b->partner].id != (uint64_t) id)
    {
        pl_error(b, PL_EDATA, "partner %lld: unknown or out of order",
                 (long long) id);
        return PL_ERR;
    }

    *index = b->partner;

    return PL_OK;
}


/* an empty range starts where the previous one ended */

static void
pl_build_ranges(pl_build_t *b)
{
    uint32_t             pr, t;
    uint64_t             i;
    uco_snap_partner_t  *p;

    pr = 0;
    t = 0;

    for (i = 0; i < b->counts.partners; i++) {
        p = &b->partners[i];

        if (p->programme_count == 0) {
            p->programme_first = pr;
        }

        if (p->terminal_count == 0) {
            p->terminal_first = t;
        }

        pr = p->programme_first + p->programme_count;
        t = p->terminal_first + p->terminal_count;
    }
}


/* cards are in the mapped file already, sorted by id */

/*
 * The card of each identifier by its id.  Card ids come from a sequence,
 * so where they span at most four times their count an array from id to
 * card (4 bytes an id, 44 MB at 10 million cards) finds each one with a
 * single memory access: a search of the sorted cards took half the
 * loader's time at 10 million, each probe a cache miss.  Sparser ids, or
 * no memory for the array, keep the search.
 */

static void
pl_build_card_ids(pl_build_t *b)
{
    uint64_t  i, n, span;

    pl_build_card_ids_free(b);
    n = b->counts.cards;

    if (n == 0) {
        return;
    }

    span = b->cards[n - 1].id - b->cards[0].id;

    if (span / 4 >= n || span >= UINT32_MAX) {
        return;
    }

    b->card_at = malloc((span + 1) * sizeof(uint32_t));
    if (b->card_at == NULL) {
        return;
    }

    memset(b->card_at, 0xff, (span + 1) * sizeof(uint32_t));

    for (i = 0; i < n; i++) {
        b->card_at[b->cards[i].id - b->cards[0].id] = (uint32_t) i;
    }

    b->card_span = span;
}


static void
pl_build_card_ids_free(pl_build_t *b)
{
    free(b->card_at);
    b->card_at = NULL;
    b->card_span = 0;
}


static int
pl_build_card_index(pl_build_t *b, uint64_t id, uint32_t *index)
{
    uint64_t  d, lo, hi, mid;

    if (b->card_at != NULL) {
        d = id - b->cards[0].id;

        if (id < b->cards[0].id || d > b->card_span
            || b->card_at[d] == UINT32_MAX)
        {
            return PL_ERR;
        }

        *index = b->card_at[d];
        return PL_OK;
    }

    lo = 0;
    hi = b->counts.cards;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (b->cards[mid].id == id) {
            *index = (uint32_t) mid;
            return PL_OK;
        }

        if (b->cards[mid].id < id) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return PL_ERR;
}


static int
pl_build_card_kind(const char *s)
{
    if (s == NULL) {
        return 0;
    }

    if (strcmp(s, "bank") == 0) {
        return UCO_CARD_BANK;
    }

    if (strcmp(s, "non_financial") == 0) {
        return UCO_CARD_NON_FINANCIAL;
    }

    return 0;
}


/*
 * Cards name their holder's categories by an index into the distinct
 * sets, which a small table of the loader's maps from the mask.
 */

static int
pl_build_category_set(pl_build_t *b, uint64_t categories, uint16_t *index)
{
    uint64_t  h, mask;

    mask = b->category_cap - 1;
    h = categories * 0x9e3779b97f4a7c15ULL;
    h = (h ^ (h >> 29)) & mask;

    while (b->category_index[h] != 0) {
        if (b->category_keys[h] == categories) {
            *index = (uint16_t) (b->category_index[h] - 1);
            return PL_OK;
        }

        h = (h + 1) & mask;
    }

    /* the count was taken in the same snapshot: more would be a bug */
    if (b->ncategory_sets >= b->counts.category_sets) {
        pl_error(b, PL_EDATA, "more category sets than counted (%llu)",
                 (unsigned long long) b->counts.category_sets);
        return PL_ERR;
    }

    b->category_keys[h] = categories;
    b->category_index[h] = (uint32_t) ++b->ncategory_sets;
    b->category_sets[b->ncategory_sets - 1] = categories;
    *index = (uint16_t) (b->ncategory_sets - 1);

    return PL_OK;
}


static void
pl_build_category_free(pl_build_t *b)
{
    free(b->category_keys);
    free(b->category_index);
    b->category_keys = NULL;
    b->category_index = NULL;
}


/* cards by id, for the lookups of identifiers and of the module */

static int
pl_build_sort_cards(pl_build_t *b)
{
    uint64_t  i;

    qsort(b->cards, b->counts.cards, sizeof(uco_snap_card_in_t),
          pl_build_card_cmp);

    /* the primary key makes ids unique; a duplicate would be a bug */
    for (i = 1; i < b->counts.cards; i++) {
        if (b->cards[i - 1].id == b->cards[i].id) {
            pl_error(b, PL_EDATA, "card %llu: twice among the cards",
                     (unsigned long long) b->cards[i].id);
            return PL_ERR;
        }
    }

    return PL_OK;
}


static int
pl_build_card_cmp(const void *a, const void *b)
{
    const uco_snap_card_in_t  *x, *y;

    x = a;
    y = b;

    return (x->id > y->id) - (x->id < y->id);
}
