/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The patch path.  Most changes touch a few existing cards: a card
 * blocked, expired, replaced, or a holder's categories.  Such a change
 * is published by copying the live snapshot into a new file, rewriting
 * the changed card records and sealing it as the next generation: the
 * database work is proportional to the change, instead of reading every
 * table again.  The file is still copied and hashed whole (memory speed,
 * about a tenth of a full build at a million cards; the module validates
 * it whole as well), so this is not yet the base + delta overlay that
 * would make publishing independent of the table size (docs/
 * performance.md).
 *
 * Which rows changed is exact: those of uco.change_log that the last
 * build's snapshot did not see (pg_visible_in_snapshot() against its
 * pg_current_snapshot() text), read in the new transaction, so a
 * transaction that took an older change-log id and committed late is
 * included.  Anything else (identifiers, partners, programmes,
 * terminals, categories, a new or deleted card, a category set the file
 * lacks, more than PL_PATCH_MAX changes) is left to a full build.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "pl_patch.h"


/* beyond this many changed rows a full build is as cheap */
#define PL_PATCH_MAX        1000

/* "-9223372036854775808," */
#define PL_PATCH_ID_LEN     21


static int pl_patch_changes(pl_patch_t *pt, pl_build_t *b, pl_pg_t *pg);
static int pl_patch_change(void *data, char **f);
static int pl_patch_copy(pl_patch_t *pt, pl_publish_t *pub, size_t *size);
static int pl_patch_cards(pl_patch_t *pt, pl_pg_t *pg);
static int pl_patch_card(void *data, char **f);
static void pl_patch_unique(uint64_t *ids, size_t *n);
static void pl_patch_ids(char **p, const uint64_t *ids, size_t n);
static int pl_patch_cmp(const void *a, const void *b);


pl_patch_t *
pl_patch_new(void)
{
    pl_patch_t  *pt;

    pt = calloc(1, sizeof(pl_patch_t));
    if (pt == NULL) {
        return NULL;
    }

    pt->cards = malloc(PL_PATCH_MAX * sizeof(uint64_t));
    pt->holders = malloc(PL_PATCH_MAX * sizeof(uint64_t));
    pt->done = malloc(PL_PATCH_MAX);

    if (pt->cards == NULL || pt->holders == NULL || pt->done == NULL) {
        pl_patch_free(pt);
        return NULL;
    }

    return pt;
}


void
pl_patch_free(pl_patch_t *pt)
{
    if (pt == NULL) {
        return;
    }

    free(pt->cards);
    free(pt->holders);
    free(pt->done);
    free(pt);
}


/*
 * PL_OK: published as pub->gen.  PL_PATCH_FULL: not for a patch (why in
 * pt->why), nothing done.  PL_ERR: failed (pt->err), nothing published.
 */

int
pl_patch_publish(pl_patch_t *pt, pl_build_t *b, pl_pg_t *pg,
    pl_publish_t *pub)
{
    int     rc;
    size_t  size;

    pt->err = 0;
    pt->why = NULL;
    pt->build = b;

    if (pt->live == 0 || !b->have_synced || b->synced.snapshot == NULL
        || __atomic_load_n(&pub->ctl->generation, __ATOMIC_ACQUIRE)
           != pt->live)
    {
        pt->why = "no live generation of this loader";
        return PL_PATCH_FULL;
    }

    if (pl_pg_begin(pg) != PL_OK) {
        pl_error(pt, pg->err, "%s", pg->errstr);
        return PL_ERR;
    }

    rc = pl_build_mark(b, pg);
    if (rc != PL_OK) {
        pl_error(pt, b->err, "%s", b->errstr);
        goto failed;
    }

    rc = pl_patch_changes(pt, b, pg);
    if (rc != PL_OK) {
        goto failed;
    }

    rc = pl_patch_copy(pt, pub, &size);
    if (rc != PL_OK) {
        goto failed;
    }

    rc = pl_patch_cards(pt, pg);
    if (rc != PL_OK) {
        goto failed;
    }

    if (pl_pg_commit(pg) != PL_OK) {
        pl_error(pt, pg->err, "%s", pg->errstr);
        rc = PL_ERR;
        goto failed;
    }

    b->buf = pub->buf;

    if (pl_build_seal(b, pub->gen) != PL_OK) {
        pl_error(pt, b->err, "%s", b->errstr);
        rc = PL_ERR;
        goto failed;
    }

    if (pl_publish_commit(pub) != PL_OK) {
        pl_error(pt, pub->err, "%s", pub->errstr);
        rc = PL_ERR;
        goto failed;
    }

    pt->live = pub->gen;

    return PL_OK;

failed:

    pl_publish_abort(pub);
    pl_pg_rollback(pg);

    return rc;
}


/* the rows of the change log the last build did not see */

static int
pl_patch_changes(pl_patch_t *pt, pl_build_t *b, pl_pg_t *pg)
{
    int      rc;
    char    *sql;
    size_t   len;

    pt->ncards = 0;
    pt->nholders = 0;

    /* the snapshot text is digits, colons and commas: safe to quote */
    len = strlen(b->synced.snapshot) + 256;
    sql = malloc(len);
    if (sql == NULL) {
        pl_error(pt, PL_ENOMEM, "patch: out of memory");
        return PL_ERR;
    }

    snprintf(sql, len,
             "SELECT tbl, row_key FROM uco.change_log WHERE id > %llu "
             "AND NOT pg_visible_in_snapshot(txid, '%s'::pg_snapshot) "
             "LIMIT %d",
             (unsigned long long) b->synced.floor, b->synced.snapshot,
             PL_PATCH_MAX + 1);

    rc = pl_pg_copy(pg, sql, 2, pl_patch_change, pt);
    free(sql);

    if (rc != PL_OK) {
        if (pt->why != NULL) {
            return PL_PATCH_FULL;
        }

        pl_error(pt, pg->err, "patch: reading the change log: %s",
                 pg->errstr);
        return PL_ERR;
    }

    qsort(pt->cards, pt->ncards, sizeof(uint64_t), pl_patch_cmp);
    pl_patch_unique(pt->cards, &pt->ncards);
    memset(pt->done, 0, pt->ncards);

    return PL_OK;
}


/* stops the COPY at the first row a patch cannot apply */

static int
pl_patch_change(void *data, char **f)
{
    int64_t      id;
    pl_patch_t  *pt;

    pt = data;

    if (f[0] == NULL || pl_pg_int(f[1], 1, INT64_MAX, &id) != PL_OK) {
        pt->why = "a change-log row without a key";
        return PL_ERR;
    }

    if (pt->ncards + pt->nholders >= PL_PATCH_MAX) {
        pt->why = "too many changes";
        return PL_ERR;
    }

    if (strcmp(f[0], "card") == 0) {
        pt->cards[pt->ncards++] = (uint64_t) id;

    } else if (strcmp(f[0], "holder") == 0) {
        pt->holders[pt->nholders++] = (uint64_t) id;

    } else {
        pt->why = "a change of another table than card or holder";
        return PL_ERR;
    }

    return PL_OK;
}


/* the live file, copied into a new temp file of the same size */

static int
pl_patch_copy(pl_patch_t *pt, pl_publish_t *pub, size_t *size)
{
    int          fd, rc;
    char         name[64];
    void        *live, *buf;
    struct stat  st;

    snprintf(name, sizeof(name), UCO_SNAP_FILE_FMT,
             (unsigned long long) pt->live);

    fd = openat(pub->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd == -1 || fstat(fd, &st) == -1 || st.st_size == 0) {
        pt->why = "the live file cannot be read";
        if (fd != -1) {
            close(fd);
        }
        return PL_PATCH_FULL;
    }

    live = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);

    if (live == MAP_FAILED) {
        pt->why = "the live file cannot be mapped";
        return PL_PATCH_FULL;
    }

    *size = (size_t) st.st_size;

    if (pl_publish_begin(pub, *size, &buf) != PL_OK) {
        pl_error(pt, pub->err, "%s", pub->errstr);
        munmap(live, *size);
        return PL_ERR;
    }

    memcpy(buf, live, *size);
    munmap(live, *size);

    /* it was validated when it was published; the seal re-checks all */
    rc = uco_snap_open(&pt->snap, buf, *size);
    if (rc != UCO_SNAP_OK) {
        pt->why = uco_snap_strerror(rc);
        return PL_PATCH_FULL;
    }

    return PL_OK;
}


/* the current rows of the changed cards and of the changed holders' */

static int
pl_patch_cards(pl_patch_t *pt, pl_pg_t *pg)
{
    int      rc;
    char    *sql, *p;
    size_t   i;

    sql = malloc(sizeof(PL_BUILD_SQL_CARD_ROWS) + 128
                 + (pt->ncards + pt->nholders) * PL_PATCH_ID_LEN);
    if (sql == NULL) {
        pl_error(pt, PL_ENOMEM, "patch: out of memory");
        return PL_ERR;
    }

    p = sql + sprintf(sql, "%s WHERE c.id = ANY ('{",
                      PL_BUILD_SQL_CARD_ROWS);
    pl_patch_ids(&p, pt->cards, pt->ncards);
    p += sprintf(p, "}'::bigint[]) OR c.holder_id = ANY ('{");
    pl_patch_ids(&p, pt->holders, pt->nholders);
    sprintf(p, "}'::bigint[])");

    pt->patched = 0;
    rc = pl_pg_copy(pg, sql, 5, pl_patch_card, pt);
    free(sql);

    if (rc != PL_OK) {
        if (pt->why != NULL) {
            return PL_PATCH_FULL;
        }

        if (pt->build->err == PL_EDATA) {
            pl_error(pt, PL_EDATA, "%s", pt->build->errstr);

        } else {
            pl_error(pt, pg->err, "patch: reading cards: %s", pg->errstr);
        }

        return PL_ERR;
    }

    for (i = 0; i < pt->ncards; i++) {
        if (!pt->done[i]) {
            pt->why = "a card was deleted";
            return PL_PATCH_FULL;
        }
    }

    return PL_OK;
}


static int
pl_patch_card(void *data, char **f)
{
    uint32_t          i;
    uint64_t          cats, n;
    pl_patch_t       *pt;
    uint64_t         *hit;
    uco_snap_card_t   c;

    pt = data;

    if (pl_build_card_row(pt->build, f, &c, &cats) != PL_OK) {
        return PL_ERR;
    }

    if (!uco_snap_find_card_id(&pt->snap, c.id, &i)) {
        pt->why = "a new card";
        return PL_ERR;
    }

    for (n = 0; n < pt->snap.ncategory_sets; n++) {
        if (pt->snap.category_sets[n] == cats) {
            break;
        }
    }

    if (n == pt->snap.ncategory_sets) {
        pt->why = "a category set the snapshot lacks";
        return PL_ERR;
    }

    c.category_set = (uint16_t) n;

    /* our own copy, mapped writable: the reader's view is const */
    ((uco_snap_card_t *) pt->snap.cards)[i] = c;
    pt->patched++;

    hit = bsearch(&c.id, pt->cards, pt->ncards, sizeof(uint64_t),
                  pl_patch_cmp);
    if (hit != NULL) {
        pt->done[hit - pt->cards] = 1;
    }

    return PL_OK;
}


/* a card changed twice is patched once */

static void
pl_patch_unique(uint64_t *ids, size_t *n)
{
    size_t  i, k;

    for (i = 0, k = 0; i < *n; i++) {
        if (k == 0 || ids[k - 1] != ids[i]) {
            ids[k++] = ids[i];
        }
    }

    *n = k;
}


static void
pl_patch_ids(char **p, const uint64_t *ids, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        *p += sprintf(*p, "%s%llu", i ? "," : "",
                      (unsigned long long) ids[i]);
    }
}


static int
pl_patch_cmp(const void *a, const void *b)
{
    uint64_t  x, y;

    x = *(const uint64_t *) a;
    y = *(const uint64_t *) b;

    return x < y ? -1 : (x > y ? 1 : 0);
}
