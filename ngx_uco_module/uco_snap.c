/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The snapshot format: reader, validation, writer, identifier keys and
 * the decision.  Every offset and index read from a file is checked
 * before use; sums are written as subtractions so they cannot overflow.
 */

#include <string.h>
#include <limits.h>
#include <openssl/evp.h>

#include "uco_snap.h"


/* identifier tables at most 17/20 = 85 % full */
#define UCO_SNAP_IDENT_LOAD_NUM 17
#define UCO_SNAP_IDENT_LOAD_DEN 20
#define UCO_SNAP_SHORT_CARD     0x0fffffffu
/* the byte c in each byte of a 64-bit word */
#define UCO_SNAP_BYTES(c)       (0x0101010101010101ULL * (uint64_t) (c))

enum {
    UCO_SNAP_PHASE_HEADER = 0,
    UCO_SNAP_PHASE_BODY,
    UCO_SNAP_PHASE_RECORDS,
    UCO_SNAP_PHASE_DONE
};


static uint64_t uco_snap_align(uint64_t n);
static uint64_t uco_snap_hash(const uint8_t key[UCO_SNAP_KEY_LEN]);
static uint64_t uco_snap_hash_slot(uint64_t hash, uint64_t cap);
static uint64_t uco_snap_slot(const uint8_t key[UCO_SNAP_KEY_LEN],
    uint64_t cap);
static uint64_t uco_snap_capacity(uint64_t n);
static const uco_snap_section_t *uco_snap_find_section(
    const uco_snap_header_t *h, uint32_t id);
static int uco_snap_open_delta(uco_snap_t *s);
static int uco_snap_bind_overrides(const uco_snap_t *s,
    const uco_snap_t *base);
static int uco_snap_overridden(const uco_snap_t *s, uint32_t card);
static int uco_snap_verify_run(const uco_snap_t *s, uco_snap_verify_t *v,
    uint64_t i);
static int uco_snap_verify_overflow(const uco_snap_t *s,
    uco_snap_verify_t *v, uint64_t i);
static int uco_snap_verify_override(const uco_snap_t *s,
    uco_snap_verify_t *v, uint64_t i);
static int uco_snap_verify_card(const uco_snap_t *s, uco_snap_verify_t *v,
    uint64_t i);
static int uco_snap_slot_card_ok(const uco_snap_t *s, uint32_t card,
    uint32_t summary);
static int uco_snap_verify_ident(const uco_snap_t *s, uco_snap_verify_t *v,
    uint64_t i);
static int uco_snap_verify_partner(const uco_snap_t *s,
    uco_snap_verify_t *v, uint64_t i);
static int uco_snap_verify_programme(const uco_snap_t *s,
    uco_snap_verify_t *v, uint64_t i);
static int uco_snap_verify_short(const uco_snap_t *s, uco_snap_verify_t *v,
    uint64_t i);
static int uco_snap_verify_cert(const uco_snap_t *s, uco_snap_verify_t *v,
    uint64_t i);
static uint64_t uco_snap_overflow_set(const uco_snap_t *s, uint32_t card);
static size_t uco_snap_size_header(const uco_snap_counts_t *c,
    uint64_t header);
static int uco_snap_layout(void *buf, size_t size,
    const uco_snap_counts_t *c, uint64_t header);
static int uco_snap_section_sizes(const uco_snap_counts_t *c,
    uint64_t size[UCO_SNAP_SEC_LAST + 1],
    uint64_t count[UCO_SNAP_SEC_LAST + 1]);
static uint64_t uco_snap_load8(const char *p);
static void uco_snap_pack8(uint64_t v, uint8_t *out);
static uint64_t uco_snap_hex_bad8(uint64_t x, uint64_t *nibbles);
static uint64_t uco_snap_digit_bad8(uint64_t x);
static int uco_snap_hex(int c);
static int uco_snap_key_digits(const char *value, size_t len,
    uint8_t key[UCO_SNAP_KEY_LEN]);
static int uco_snap_key_hashpan_hex(const char *value,
    uint8_t key[UCO_SNAP_KEY_LEN]);
static int uco_snap_verify_records(const uco_snap_t *s,
    uco_snap_verify_t *v, uint64_t end);
static int uco_snap_in_window(const uco_snap_programme_t *pr,
    const uco_snap_when_t *w);
static int uco_snap_better(const uco_snap_programme_t *a, uint64_t da,
    const uco_snap_programme_t *b, uint64_t db, int64_t amount);


static const uint32_t  uco_snap_record_size[UCO_SNAP_SEC_LAST + 1] = {
    0,
    sizeof(uco_snap_card_t),
    sizeof(uco_snap_ident_t),
    sizeof(uco_snap_partner_t),
    sizeof(uco_snap_programme_t),
    sizeof(uco_snap_terminal_t),
    sizeof(uint64_t),
    sizeof(uco_snap_short_ident_t),
    sizeof(uco_snap_cert_t),
    sizeof(uco_snap_set_overflow_t),
    sizeof(uco_snap_id_run_t),
    sizeof(uint32_t)
};

static const char  *uco_snap_errors[UCO_SNAP_NERRORS] = {
    "ok",
    "validation not finished",
    "file truncated",
    "bad magic: not a uco snapshot",
    "unsupported format version",
    "wrong byte order",
    "malformed header",
    "section out of bounds or malformed",
    "checksum mismatch",
    "malformed record",
    "invalid argument",
    "duplicate identifier",
    "identifier table full",
    "out of memory",
    "base snapshot missing or mismatched"
};

static const char  *uco_snap_decisions[] = {
    "eligible",
    "not_eligible",
    "card_blocked",
    "card_expired",
    "card_replaced",
    "card_unknown",
    "valid"
};

static const char  *uco_snap_reasons[] = {
    "",
    "no_programme",
    "card_kind",
    "category",
    "outside_window"
};


const char *
uco_snap_strerror(int rc)
{
    if (rc < 0 || rc >= UCO_SNAP_NERRORS) {
        return "unknown error";
    }

    return uco_snap_errors[rc];
}


const char *
uco_snap_decision_name(uco_decision_e d)
{
    if ((unsigned) d > UCO_DECISION_LAST) {
        return "unknown";
    }

    return uco_snap_decisions[d];
}


const char *
uco_snap_reason_name(uco_reason_e r)
{
    if ((unsigned) r > UCO_REASON_OUTSIDE_WINDOW) {
        return "";
    }

    return uco_snap_reasons[r];
}


/*
 * The module refuses any other terminal (400 invalid_terminal), so the
 * journal's readers can refuse it too: such a record is not one nginx
 * wrote, and its terminal needs no quoting in PostgreSQL or Redis.
 */

int
uco_snap_terminal_valid(const void *t, size_t len)
{
    size_t          i;
    unsigned char   c;
    const uint8_t  *p;

    if (len == 0 || len > UCO_SNAP_TERMINAL_LEN) {
        return 0;
    }

    p = t;

    for (i = 0; i < len; i++) {
        c = p[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
              || (c >= 'A' && c <= 'Z') || c == '.' || c == '_'
              || c == ':' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static uint64_t
uco_snap_align(uint64_t n)
{
    return (n + (UCO_SNAP_ALIGN - 1)) & ~(uint64_t) (UCO_SNAP_ALIGN - 1);
}


/* a 64-bit finaliser (splitmix64) over the two halves of the key */
static uint64_t
uco_snap_hash(const uint8_t key[UCO_SNAP_KEY_LEN])
{
    uint64_t  a, b, h;

    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);

    h = a ^ (b * 0x9e3779b97f4a7c15ULL);
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;

    return h;
}


/* the home slot: the hash's top 32 bits scaled to the capacity */
static uint64_t
uco_snap_slot(const uint8_t key[UCO_SNAP_KEY_LEN], uint64_t cap)
{
    return uco_snap_hash_slot(uco_snap_hash(key), cap);
}


static uint64_t
uco_snap_hash_slot(uint64_t hash, uint64_t cap)
{
    return ((hash >> 32) * cap) >> 32;
}


/* slots for n identifiers: at most 85 % full, at least one free */
static uint64_t
uco_snap_capacity(uint64_t n)
{
    return n * UCO_SNAP_IDENT_LOAD_DEN / UCO_SNAP_IDENT_LOAD_NUM + 1;
}


/* reader */

static const uco_snap_section_t *
uco_snap_find_section(const uco_snap_header_t *h, uint32_t id)
{
    uint32_t  i;

    for (i = 0; i < h->section_count; i++) {
        if (h->sections[i].id == id) {
            return &h->sections[i];
        }
    }

    return NULL;
}


int
uco_snap_open(uco_snap_t *s, const void *p, size_t len)
{
    uint32_t                   id, i, j;
    uint64_t                   hsize;
    const uint8_t             *base;
    const uco_snap_header_t   *h;
    const uco_snap_section_t  *sec;

    memset(s, 0, sizeof(uco_snap_t));

    if (p == NULL || len < sizeof(uco_snap_header_t)) {
        return UCO_SNAP_ETRUNCATED;
    }

    base = p;
    h = p;

    if (memcmp(h->magic, UCO_SNAP_MAGIC, 8) == 0) {
        hsize = sizeof(uco_snap_header_t);

    } else if (memcmp(h->magic, UCO_SNAP_DELTA_MAGIC, 8) == 0) {
        hsize = sizeof(uco_snap_header_t) + sizeof(uco_snap_delta_t);

    } else {
        return UCO_SNAP_EMAGIC;
    }

    if (h->byte_order != UCO_SNAP_BYTE_ORDER) {
        return UCO_SNAP_EBYTEORDER;
    }

    if (h->version != UCO_SNAP_VERSION) {
        return UCO_SNAP_EVERSION;
    }

    if (h->header_size != hsize || h->section_count != UCO_SNAP_SEC_LAST) {
        return UCO_SNAP_EHEADER;
    }

    if (h->file_size != len || len < hsize) {
        return h->file_size > len || len < hsize ? UCO_SNAP_ETRUNCATED
                                                 : UCO_SNAP_EHEADER;
    }

    /* every section once, in bounds, not overlapping the header */

    for (i = 0; i < h->section_count; i++) {
        sec = &h->sections[i];
        id = sec->id;

        if (id == 0 || id > UCO_SNAP_SEC_LAST
            || sec->record_size != uco_snap_record_size[id])
        {
            return UCO_SNAP_ESECTION;
        }

        for (j = 0; j < i; j++) {
            if (h->sections[j].id == id) {
                return UCO_SNAP_ESECTION;
            }
        }

        if (sec->offset < h->header_size
            || sec->offset % 8 != 0
            || sec->offset > len
            || sec->size > len - sec->offset
            || sec->count > UCO_SNAP_MAX_RECORDS
            || sec->size / sec->record_size != sec->count
            || sec->size % sec->record_size != 0)
        {
            return UCO_SNAP_ESECTION;
        }
    }

    s->base = base;
    s->len = len;
    s->header = h;

    sec = uco_snap_find_section(h, UCO_SNAP_SEC_CARDS);
    s->cards = (const uco_snap_card_t *) (base + sec->offset);
    s->ncards = sec->count;

    sec = uco_snap_find_section(h, UCO_SNAP_SEC_IDENTS);
    s->idents = (const uco_snap_ident_t *) (base + sec->offset);
    s->nidents = sec->count;

    sec = uco_snap_find_section(h, UCO_SNAP_SEC_PARTNERS);
    s->partners = (const uco_snap_partner_t *) (base + sec->offset);
    s->npartners = sec->count;

    sec = uco_snap_find_section(h, UCO_SNAP_SEC_PROGRAMMES);
    s->programmes = (const uco_snap_programme_t *) (base + sec->offset);
    s->nprogrammes = sec->count;

    sec = uco_snap_find_section(h, UCO_SNAP_SEC_TERMINALS);
    s->terminals = (const uco_snap_terminal_t *) (base + sec->offset);
    s->nterminals = sec->count;

    sec = uco_snap_find_section(h, UCO_SNAP_SEC_CATEGORY_SETS);
    s->category_sets = (const uint64_t *) (base + sec->offset);
    s->ncategory_sets = sec->count;

    sec = uco_snap_find_section(h, UCO_SNAP_SEC_SHORT_IDENTS);
    s->short_idents = (const uco_snap_short_ident_t *) (base + sec->offset);
    s->nshort_idents = sec->count;

    sec = uco_snap_find_section(h, UCO_SNAP_SEC_CERTS);
    s->certs = (const uco_snap_cert_t *) (base + sec->offset);
    s->ncerts = sec->count;

    sec = uco_snap_find_section(h, UCO_SNAP_SEC_SET_OVERFLOW);
    s->overflow = (const uco_snap_set_overflow_t *) (base + sec->offset);
    s->noverflow = sec->count;

    sec = uco_snap_find_section(h, UCO_SNAP_SEC_ID_RUNS);
    s->runs = (const uco_snap_id_run_t *) (base + sec->offset);
    s->nruns = sec->count;

    sec = uco_snap_find_section(h, UCO_SNAP_SEC_OVERRIDES);
    s->overrides = (const uint32_t *) (base + sec->offset);
    s->noverrides = sec->count;

    /*
     * A lookup starts at a slot of each table: neither may be empty.
     * Cards have id runs (a card id reads the run); only a delta
     * overrides base cards.
     */
    if (s->nidents == 0 || s->nshort_idents == 0
        || (s->ncards == 0) != (s->nruns == 0)
        || s->ncards > UCO_SNAP_MAX_CARDS
        || (hsize == sizeof(uco_snap_header_t) && s->noverrides != 0)
        || (hsize != sizeof(uco_snap_header_t)
            && uco_snap_open_delta(s) != UCO_SNAP_OK))
    {
        memset(s, 0, sizeof(uco_snap_t));
        return UCO_SNAP_ESECTION;
    }

    return UCO_SNAP_OK;
}


/*
 * A delta's record follows its header.  Without its own partner family
 * those four sections are empty: the base's are used (uco_snap_bind()).
 */

static int
uco_snap_open_delta(uco_snap_t *s)
{
    const uco_snap_delta_t  *d;

    d = (const uco_snap_delta_t *) (s->base + sizeof(uco_snap_header_t));

    if ((d->flags & ~(uint32_t) UCO_SNAP_DELTA_PARTNERS) != 0
        || d->pad != 0 || d->reserved != 0 || d->base_generation == 0
        || (!(d->flags & UCO_SNAP_DELTA_PARTNERS)
            && (s->npartners | s->nprogrammes | s->nterminals | s->ncerts)
               != 0))
    {
        return UCO_SNAP_ESECTION;
    }

    s->delta = d;

    return UCO_SNAP_OK;
}


/*
 * After both are verified.  The base must be the very file the delta
 * was built over; its category sets must be the first of the delta's, so
 * that cards of either index the delta's sets; the base cards the delta
 * overrides must be exactly the overlay's cards found in the base.
 * Cost: the sets, and a search of the base per overlay card.
 */

int
uco_snap_bind(uco_snap_t *s, const uco_snap_t *base)
{
    const uco_snap_delta_t  *d;

    d = s->delta;

    if (d == NULL || base->header == NULL || base->delta != NULL) {
        return UCO_SNAP_EINVAL;
    }

    if (base->header->generation != d->base_generation
        || base->len != d->base_size
        || memcmp(base->header->checksum, d->base_checksum, 32) != 0
        || base->ncategory_sets > s->ncategory_sets
        || (base->ncategory_sets != 0
            && memcmp(base->category_sets, s->category_sets,
                      base->ncategory_sets * sizeof(uint64_t)) != 0)
        || uco_snap_bind_overrides(s, base) != UCO_SNAP_OK)
    {
        return UCO_SNAP_EBASE;
    }

    if (!(d->flags & UCO_SNAP_DELTA_PARTNERS)) {
        s->partners = base->partners;
        s->npartners = base->npartners;
        s->programmes = base->programmes;
        s->nprogrammes = base->nprogrammes;
        s->terminals = base->terminals;
        s->nterminals = base->nterminals;
        s->certs = base->certs;
        s->ncerts = base->ncerts;
    }

    s->under = base;

    return UCO_SNAP_OK;
}


/*
 * The overrides (sorted, checked by validation) name base cards, and
 * every overlay card the base has is among them: then a base
 * identifier's card is overridden exactly when the overlay has the card.
 */

static int
uco_snap_bind_overrides(const uco_snap_t *s, const uco_snap_t *base)
{
    uint32_t  i, j;
    uint64_t  n;

    if (s->noverrides != 0
        && s->overrides[s->noverrides - 1] >= base->ncards)
    {
        return UCO_SNAP_EBASE;
    }

    n = 0;

    for (i = 0; i < s->ncards; i++) {
        if (uco_snap_find_card_id(base, uco_snap_card_id(s, i), &j)) {
            if (!uco_snap_overridden(s, j)) {
                return UCO_SNAP_EBASE;
            }

            n++;
        }
    }

    return n == s->noverrides ? UCO_SNAP_OK : UCO_SNAP_EBASE;
}


/* is base card i in the delta's overrides? a binary search */

static int
uco_snap_overridden(const uco_snap_t *s, uint32_t card)
{
    return s->noverrides != 0
           && s->overrides[uco_snap_last_le(s->overrides, sizeof(uint32_t),
                                            s->noverrides, card)]
              == card;
}


int
uco_snap_verify_init(uco_snap_verify_t *v)
{
    memset(v, 0, sizeof(uco_snap_verify_t));

    v->md = EVP_MD_CTX_new();
    if (v->md == NULL) {
        return UCO_SNAP_ENOMEM;
    }

    if (EVP_DigestInit_ex(v->md, EVP_sha256(), NULL) != 1) {
        uco_snap_verify_free(v);
        return UCO_SNAP_ENOMEM;
    }

    return UCO_SNAP_OK;
}


void
uco_snap_verify_free(uco_snap_verify_t *v)
{
    if (v->md != NULL) {
        EVP_MD_CTX_free(v->md);
        v->md = NULL;
    }
}


/*
 * Does about budget bytes of work per call, so that a large file can be
 * validated between requests: the checksum, then the records.  Returns
 * AGAIN while work is left, then OK or the error.
 */

int
uco_snap_verify_step(const uco_snap_t *s, uco_snap_verify_t *v,
    size_t budget)
{
    int                rc;
    size_t             n;
    uint64_t           total, end;
    unsigned int       mdlen;
    unsigned char      md[EVP_MAX_MD_SIZE];
    uco_snap_header_t  h;

    if (v->md == NULL || s->header == NULL) {
        return UCO_SNAP_EINVAL;
    }

    if (budget == 0) {
        budget = 1;
    }

    switch (v->phase) {

    case UCO_SNAP_PHASE_HEADER:
        h = *s->header;
        memset(h.checksum, 0, sizeof(h.checksum));

        if (EVP_DigestUpdate(v->md, &h, sizeof(h)) != 1) {
            return UCO_SNAP_ENOMEM;
        }

        v->pos = sizeof(h);
        v->phase = UCO_SNAP_PHASE_BODY;
        /* fall through */

    case UCO_SNAP_PHASE_BODY:
        n = s->len - v->pos;
        if (n > budget) {
            n = budget;
        }

        if (EVP_DigestUpdate(v->md, s->base + v->pos, n) != 1) {
            return UCO_SNAP_ENOMEM;
        }

        v->pos += n;
        budget -= n;

        if (v->pos < s->len) {
            return UCO_SNAP_AGAIN;
        }

        if (EVP_DigestFinal_ex(v->md, md, &mdlen) != 1 || mdlen != 32) {
            return UCO_SNAP_ENOMEM;
        }

        if (memcmp(md, s->header->checksum, 32) != 0) {
            return UCO_SNAP_ECHECKSUM;
        }

        v->phase = UCO_SNAP_PHASE_RECORDS;
        v->pos = 0;
        v->used = 0;
        v->short_used = 0;
        v->run = 0;
        v->escapes = 0;
        /* fall through */

    case UCO_SNAP_PHASE_RECORDS:
        total = s->nruns + s->noverflow + s->noverrides + s->ncards
                + s->nidents + s->npartners + s->nprogrammes
                + s->nshort_idents + s->ncerts;

        /*
         * About 64 bytes of record per byte of budget hashed: an
         * identifier slot's check reads its card, a cache miss.
         */
        n = budget / 64 + 1;
        end = (total - v->pos > n) ? v->pos + n : total;

        rc = uco_snap_verify_records(s, v, end);
        if (rc != UCO_SNAP_OK) {
            return rc;
        }

        if (v->pos < total) {
            return UCO_SNAP_AGAIN;
        }

        if (v->used == s->nidents || v->short_used == s->nshort_idents
            || v->escapes != s->noverflow)
        {
            /*
             * No free slot: a miss would probe the whole table.  An
             * escape without its overflow entry: the entries are sorted,
             * unique and each names an escape, so the counts tell.
             */
            return UCO_SNAP_ERECORD;
        }

        v->phase = UCO_SNAP_PHASE_DONE;
        return UCO_SNAP_OK;

    default:
        return UCO_SNAP_OK;
    }
}


/*
 * Record checks, from v->pos up to end over the sections in the order
 * below (id runs and the set overflow before the cards, which check
 * against them): enum ranges, indices, partner ranges, sort order,
 * summaries.  Lookups check indices again, so a file that passes here
 * but is still odd cannot make a reader go out of bounds; these catch a
 * writer's bug.
 */

typedef int (*uco_snap_verify_pt)(const uco_snap_t *s,
    uco_snap_verify_t *v, uint64_t i);

static int
uco_snap_verify_records(const uco_snap_t *s, uco_snap_verify_t *v,
    uint64_t end)
{
    unsigned   k;
    uint64_t   first;

    const uint64_t  count[] = {
        s->nruns, s->noverflow, s->noverrides, s->ncards, s->nidents,
        s->npartners, s->nprogrammes, s->nshort_idents, s->ncerts
    };

    static const uco_snap_verify_pt  check[] = {
        uco_snap_verify_run, uco_snap_verify_overflow,
        uco_snap_verify_override, uco_snap_verify_card,
        uco_snap_verify_ident, uco_snap_verify_partner,
        uco_snap_verify_programme, uco_snap_verify_short,
        uco_snap_verify_cert
    };

    first = 0;

    for (k = 0; k < sizeof(check) / sizeof(check[0]) && v->pos < end; k++) {
        for ( /* void */ ; v->pos < end && v->pos - first < count[k];
             v->pos++)
        {
            if (check[k](s, v, v->pos - first) != UCO_SNAP_OK) {
                return UCO_SNAP_ERECORD;
            }
        }

        first += count[k];
    }

    return UCO_SNAP_OK;
}


/* id runs: the first starts at card 0, both fields strictly ascending */

static int
uco_snap_verify_run(const uco_snap_t *s, uco_snap_verify_t *v, uint64_t i)
{
    const uco_snap_id_run_t  *r;

    (void) v;
    r = &s->runs[i];

    if (r->first >= s->ncards
        || (i == 0 && r->first != 0)
        || (i > 0 && (r[-1].first >= r->first || r[-1].high >= r->high)))
    {
        return UCO_SNAP_ERECORD;
    }

    return UCO_SNAP_OK;
}


/* sorted by card, unique, each an escape's set past the escape */

static int
uco_snap_verify_overflow(const uco_snap_t *s, uco_snap_verify_t *v,
    uint64_t i)
{
    const uco_snap_set_overflow_t  *o;

    (void) v;
    o = &s->overflow[i];

    if (o->card >= s->ncards || o->set >= s->ncategory_sets
        || o->set < UCO_SNAP_SUM_ESCAPE
        || (i > 0 && o[-1].card >= o->card)
        || s->cards[o->card].summary == UCO_SNAP_SUM_TOMBSTONE
        || UCO_SNAP_SUM_SET(s->cards[o->card].summary)
           != UCO_SNAP_SUM_ESCAPE)
    {
        return UCO_SNAP_ERECORD;
    }

    return UCO_SNAP_OK;
}


/* a delta's overridden base cards: ascending (bind checks the rest) */

static int
uco_snap_verify_override(const uco_snap_t *s, uco_snap_verify_t *v,
    uint64_t i)
{
    (void) v;

    return (i > 0 && s->overrides[i - 1] >= s->overrides[i])
           ? UCO_SNAP_ERECORD : UCO_SNAP_OK;
}


/*
 * Ids strictly ascending within a run (a new run starts higher); a
 * summary with a status, a set that exists or the escape; a delta's
 * tombstone is the summary 0.
 */

static int
uco_snap_verify_card(const uco_snap_t *s, uco_snap_verify_t *v, uint64_t i)
{
    uint32_t  sum, status, set;

    if (i > 0) {
        if (v->run + 1 < s->nruns && s->runs[v->run + 1].first == i) {
            v->run++;

        } else if (s->cards[i - 1].id_low >= s->cards[i].id_low) {
            return UCO_SNAP_ERECORD;
        }
    }

    sum = s->cards[i].summary;

    if (sum == UCO_SNAP_SUM_TOMBSTONE) {
        return s->delta != NULL ? UCO_SNAP_OK : UCO_SNAP_ERECORD;
    }

    status = UCO_SNAP_SUM_STATUS(sum);
    set = UCO_SNAP_SUM_SET(sum);

    if (status < UCO_CARD_ACTIVE || status > UCO_CARD_REPLACED) {
        return UCO_SNAP_ERECORD;
    }

    if (set == UCO_SNAP_SUM_ESCAPE) {
        v->escapes++;

    } else if (set >= s->ncategory_sets) {
        return UCO_SNAP_ERECORD;
    }

    return UCO_SNAP_OK;
}


/* an occupied slot of either table names a card and carries its summary */

static int
uco_snap_slot_card_ok(const uco_snap_t *s, uint32_t card, uint32_t summary)
{
    return card < s->ncards && summary != UCO_SNAP_SUM_TOMBSTONE
           && summary == s->cards[card].summary;
}


/*
 * A slot's summary is its card's, so the decision by an identifier and
 * by the card's id cannot differ; a short key here could never be
 * found: a writer's bug.
 */

static int
uco_snap_verify_ident(const uco_snap_t *s, uco_snap_verify_t *v,
    uint64_t i)
{
    const uco_snap_ident_t  *e;

    e = &s->idents[i];

    if (e->card == UCO_SNAP_EMPTY) {
        return UCO_SNAP_OK;
    }

    if (uco_snap_key_is_short(e->key)
        || !uco_snap_slot_card_ok(s, e->card, e->summary))
    {
        return UCO_SNAP_ERECORD;
    }

    v->used++;

    return UCO_SNAP_OK;
}


static int
uco_snap_verify_short(const uco_snap_t *s, uco_snap_verify_t *v,
    uint64_t i)
{
    uint32_t                       card;
    const uco_snap_short_ident_t  *si;

    si = &s->short_idents[i];

    if (si->card == UCO_SNAP_EMPTY) {
        return UCO_SNAP_OK;
    }

    card = si->card & UCO_SNAP_SHORT_CARD;

    if (!uco_snap_slot_card_ok(s, card, si->summary)) {
        return UCO_SNAP_ERECORD;
    }

    v->short_used++;

    return UCO_SNAP_OK;
}


static int
uco_snap_verify_partner(const uco_snap_t *s, uco_snap_verify_t *v,
    uint64_t i)
{
    const uco_snap_partner_t  *p;

    (void) v;
    p = &s->partners[i];

    if (p->status < UCO_PARTNER_ACTIVE || p->status > UCO_PARTNER_SUSPENDED
        || p->auth < UCO_AUTH_API_KEY || p->auth > UCO_AUTH_MTLS
        || p->scopes == 0 || (p->scopes & ~UCO_SCOPE_ALL) != 0
        || p->nsecrets > 2
        || p->contract_from > p->contract_to
        || p->programme_first > s->nprogrammes
        || p->programme_count > s->nprogrammes - p->programme_first
        || p->terminal_first > s->nterminals
        || p->terminal_count > s->nterminals - p->terminal_first
        || (i > 0 && s->partners[i - 1].id >= p->id))
    {
        return UCO_SNAP_ERECORD;
    }

    return UCO_SNAP_OK;
}


static int
uco_snap_verify_programme(const uco_snap_t *s, uco_snap_verify_t *v,
    uint64_t i)
{
    const uco_snap_programme_t  *pr;

    (void) v;
    pr = &s->programmes[i];

    if (pr->type < UCO_DISCOUNT_PERCENT || pr->type > UCO_DISCOUNT_FIXED
        || (pr->type == UCO_DISCOUNT_PERCENT
            && (pr->value == 0 || pr->value > 10000))
        || pr->card_kind > UCO_CARD_NON_FINANCIAL
        || pr->weekdays > 0x7f
        || pr->hour_from > 23 || pr->hour_to > 24
        || pr->hour_from == pr->hour_to)
    {
        return UCO_SNAP_ERECORD;
    }

    return UCO_SNAP_OK;
}


static int
uco_snap_verify_cert(const uco_snap_t *s, uco_snap_verify_t *v, uint64_t i)
{
    const uco_snap_cert_t  *ct;

    (void) v;
    ct = &s->certs[i];

    if (ct->partner >= s->npartners
        || ct->kind < UCO_CERT_FINGERPRINT || ct->kind > UCO_CERT_SUBJECT
        || (i > 0 && memcmp(s->certs[i - 1].hash, ct->hash, 32) >= 0))
    {
        return UCO_SNAP_ERECORD;
    }

    return UCO_SNAP_OK;
}


int
uco_snap_check(uco_snap_t *s, const void *p, size_t len)
{
    int                rc;
    uco_snap_verify_t  v;

    rc = uco_snap_open(s, p, len);
    if (rc != UCO_SNAP_OK) {
        return rc;
    }

    rc = uco_snap_verify_init(&v);
    if (rc != UCO_SNAP_OK) {
        return rc;
    }

    do {
        rc = uco_snap_verify_step(s, &v, SIZE_MAX);
    } while (rc == UCO_SNAP_AGAIN);

    uco_snap_verify_free(&v);

    if (rc != UCO_SNAP_OK) {
        memset(s, 0, sizeof(uco_snap_t));
    }

    return rc;
}


/* identifiers */

/*
 * Keys are parsed on every request, so eight characters are checked and
 * decoded at a time in a 64-bit word (SWAR): no table, no branch per
 * character, one test per word.  Every byte keeps its bit 7 clear before
 * any addition (bit 7 is tested on its own), so no carry crosses into the
 * next byte.  Words are read and written with the first character in the
 * low byte on either byte order.
 */

static uint64_t
uco_snap_load8(const char *p)
{
    uint64_t  x;

    memcpy(&x, p, 8);

#if defined __BYTE_ORDER__ && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif

    return x;
}


/* eight nibbles, the first in the low byte, to four bytes high first */

static void
uco_snap_pack8(uint64_t v, uint8_t *out)
{
    uint32_t  w;

    v = (v << 4 | v >> 8) & 0x00ff00ff00ff00ffULL;
    v = (v | v >> 8) & 0x0000ffff0000ffffULL;
    w = (uint32_t) (v | v >> 16);

#if defined __BYTE_ORDER__ && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap32(w);
#endif

    memcpy(out, &w, 4);
}


/*
 * Bit 7 set in each byte of x that is not a hexadecimal digit of either
 * case; *nibbles the bytes' values where they are.
 */

static uint64_t
uco_snap_hex_bad8(uint64_t x, uint64_t *nibbles)
{
    uint64_t  a, l, digit, alpha;

    a = x & UCO_SNAP_BYTES(0x7f);
    l = a | UCO_SNAP_BYTES(0x20);

    /* bit 7 of a byte: '0' <= a <= '9', 'a' <= (a | 0x20) <= 'f' */
    digit = (a + UCO_SNAP_BYTES(0x80 - '0'))
            & ~(a + UCO_SNAP_BYTES(0x80 - '9' - 1));
    alpha = (l + UCO_SNAP_BYTES(0x80 - 'a'))
            & ~(l + UCO_SNAP_BYTES(0x80 - 'f' - 1));

    *nibbles = (a & UCO_SNAP_BYTES(0x0f))
               + ((alpha >> 7) & UCO_SNAP_BYTES(0x01)) * 9;

    return x | ~(digit | alpha);
}


/* bit 7 set in each byte of x that is not a decimal digit */

static uint64_t
uco_snap_digit_bad8(uint64_t x)
{
    uint64_t  a;

    a = x & UCO_SNAP_BYTES(0x7f);

    return x | ~((a + UCO_SNAP_BYTES(0x80 - '0'))
                 & ~(a + UCO_SNAP_BYTES(0x80 - '9' - 1)));
}


static int
uco_snap_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/*
 * Decimal digits packed two per byte after a length byte, high nibble
 * first: social card numbers and barcodes, 1..28 digits, leading zeros
 * significant.
 */

static int
uco_snap_key_digits(const char *value, size_t len,
    uint8_t key[UCO_SNAP_KEY_LEN])
{
    size_t    i, r;
    uint8_t   out[16];
    uint64_t  x, bad;

    if (len == 0 || len > 2 * (UCO_SNAP_KEY_LEN - 2)) {
        return UCO_SNAP_EINVAL;
    }

    memset(out, 0, sizeof(out));
    bad = 0;

    for (i = 0; i + 8 <= len; i += 8) {
        x = uco_snap_load8(value + i);
        bad |= uco_snap_digit_bad8(x);
        uco_snap_pack8(x & UCO_SNAP_BYTES(0x0f), out + i / 2);
    }

    r = len - i;

    if (r != 0 && len >= 8) {
        /* the last r digits from the last eight, the rest made '0' */
        x = uco_snap_load8(value + len - 8) >> (8 * (8 - r))
            | UCO_SNAP_BYTES('0') << (8 * r);
        bad |= uco_snap_digit_bad8(x);
        uco_snap_pack8(x & UCO_SNAP_BYTES(0x0f), out + i / 2);

    } else {
        for ( /* void */ ; i < len; i++) {
            x = (unsigned char) value[i];
            bad |= x - '0' > 9 ? 0x80 : 0;
            out[i / 2] |= (uint8_t) ((x & 0x0f) << (i % 2 ? 0 : 4));
        }
    }

    if (bad & UCO_SNAP_BYTES(0x80)) {
        return UCO_SNAP_EINVAL;
    }

    key[1] = (uint8_t) len;
    memcpy(key + 2, out, UCO_SNAP_KEY_LEN - 2);

    return UCO_SNAP_OK;
}


/* hexadecimal of either case into out[len / 2]; len is even */

int
uco_snap_unhex(const char *value, size_t len, uint8_t *out)
{
    int       hi, lo;
    size_t    i;
    uint64_t  bad, nibbles;

    bad = 0;

    for (i = 0; i + 8 <= len; i += 8) {
        bad |= uco_snap_hex_bad8(uco_snap_load8(value + i), &nibbles);
        uco_snap_pack8(nibbles, out + i / 2);
    }

    for ( /* void */ ; i < len; i += 2) {
        hi = uco_snap_hex((unsigned char) value[i]);
        lo = uco_snap_hex((unsigned char) value[i + 1]);
        bad |= (hi | lo) < 0 ? 0x80 : 0;
        out[i / 2] = (uint8_t) ((hi & 0x0f) << 4 | (lo & 0x0f));
    }

    return (bad & UCO_SNAP_BYTES(0x80)) ? UCO_SNAP_EINVAL : UCO_SNAP_OK;
}


/*
 * A HashPAN's key: its first 15 bytes from the first 30 digits; the 34
 * others are only checked.
 */

static int
uco_snap_key_hashpan_hex(const char *value, uint8_t key[UCO_SNAP_KEY_LEN])
{
    size_t    i;
    uint8_t   hash[16];
    uint64_t  bad, nibbles;

    bad = 0;

    for (i = 0; i < 32; i += 8) {
        bad |= uco_snap_hex_bad8(uco_snap_load8(value + i), &nibbles);
        uco_snap_pack8(nibbles, hash + i / 2);
    }

    for ( /* void */ ; i < 64; i += 8) {
        bad |= uco_snap_hex_bad8(uco_snap_load8(value + i), &nibbles);
    }

    if (bad & UCO_SNAP_BYTES(0x80)) {
        return UCO_SNAP_EINVAL;
    }

    key[0] = UCO_ID_HASHPAN;
    memcpy(key + 1, hash, UCO_SNAP_KEY_LEN - 1);

    return UCO_SNAP_OK;
}


/* the first 15 bytes of a keyed hash: already uniform, 120 bits */

void
uco_snap_key_hashpan(const uint8_t hash[32], uint8_t key[UCO_SNAP_KEY_LEN])
{
    key[0] = UCO_ID_HASHPAN;
    memcpy(key + 1, hash, UCO_SNAP_KEY_LEN - 1);
}


/*
 * key[0] is the kind.  hashpan: see uco_snap_key_hashpan(); social and
 * barcode: uco_snap_key_digits(); uid: the byte count (4, 7 or 10),
 * then the bytes.
 */

int
uco_snap_key(uco_id_kind_e kind, const char *value, size_t len,
    uint8_t key[UCO_SNAP_KEY_LEN])
{
    memset(key, 0, UCO_SNAP_KEY_LEN);

    switch (kind) {

    case UCO_ID_HASHPAN:
        if (len != 64) {
            return UCO_SNAP_EINVAL;
        }

        return uco_snap_key_hashpan_hex(value, key);

    case UCO_ID_SOCIAL:
    case UCO_ID_BARCODE:
        if (uco_snap_key_digits(value, len, key) != UCO_SNAP_OK) {
            return UCO_SNAP_EINVAL;
        }

        break;

    case UCO_ID_UID:
        if ((len != 8 && len != 14 && len != 20)
            || uco_snap_unhex(value, len, key + 2) != UCO_SNAP_OK)
        {
            memset(key, 0, UCO_SNAP_KEY_LEN);
            return UCO_SNAP_EINVAL;
        }

        key[1] = (uint8_t) (len / 2);
        break;

    default:
        return UCO_SNAP_EINVAL;
    }

    key[0] = (uint8_t) kind;

    return UCO_SNAP_OK;
}


/* which table a key lives in; see uco_snap_short_ident_t */

int
uco_snap_key_is_short(const uint8_t key[UCO_SNAP_KEY_LEN])
{
    uint64_t  tail;

    memcpy(&tail, key + 8, 8);

    /* bytes 9..15 zero: byte 8 is the low byte (little-endian) */
    return key[0] < 16 && (tail >> 8) == 0;
}


/*
 * One table, chosen by the key's shape, so a key is looked for where the
 * writer put it.  Every slot compared holds a whole key: a card is found
 * only for the exact key it was stored under.  Probes are bounded by the
 * capacity even if a hostile file has no free slot.
 */

int
uco_snap_find_card(const uco_snap_t *s, const uint8_t key[UCO_SNAP_KEY_LEN],
    uint32_t *card, uint32_t *summary)
{
    return uco_snap_find_card_hash(s, key, uco_snap_hash(key), card, summary);
}


uint64_t
uco_snap_key_hash(const uint8_t key[UCO_SNAP_KEY_LEN])
{
    return uco_snap_hash(key);
}


int
uco_snap_find_card_hash(const uco_snap_t *s,
    const uint8_t key[UCO_SNAP_KEY_LEN], uint64_t hash, uint32_t *card,
    uint32_t *summary)
{
    uint32_t                       want;
    uint64_t                       cap, i, n;
    const uco_snap_ident_t        *e;
    const uco_snap_short_ident_t  *t;

    if (uco_snap_key_is_short(key)) {
        cap = s->nshort_idents;
        i = uco_snap_hash_slot(hash, cap);
        want = (uint32_t) key[0] << 28;

        for (n = 0; n < cap; n++) {
            t = &s->short_idents[i];

            if (t->card == UCO_SNAP_EMPTY) {
                return 0;
            }

            if ((t->card & ~UCO_SNAP_SHORT_CARD) == want
                && memcmp(t->key, key + 1, 8) == 0)
            {
                if ((t->card & UCO_SNAP_SHORT_CARD) >= s->ncards) {
                    return 0;
                }

                *card = t->card & UCO_SNAP_SHORT_CARD;
                *summary = t->summary;
                return 1;
            }

            if (++i == cap) {
                i = 0;
            }
        }

        return 0;
    }

    cap = s->nidents;
    i = uco_snap_hash_slot(hash, cap);

    for (n = 0; n < cap; n++) {
        e = &s->idents[i];

        if (e->card == UCO_SNAP_EMPTY) {
            return 0;
        }

        if (memcmp(e->key, key, UCO_SNAP_KEY_LEN) == 0) {
            if (e->card >= s->ncards) {
                return 0;
            }

            *card = e->card;
            *summary = e->summary;
            return 1;
        }

        if (++i == cap) {
            i = 0;
        }
    }

    return 0;
}


/*
 * The home slot of a key in a file and in the base under it, fetched
 * as soon as the key is known: the lookup reads it later, after the
 * partner's checks, and finds it on its way.  Reads nothing itself.
 */

uint64_t
uco_snap_prefetch(const uco_snap_t *s, const uint8_t key[UCO_SNAP_KEY_LEN])
{
    int       is_short;
    uint64_t  h;

    is_short = uco_snap_key_is_short(key);
    h = uco_snap_hash(key);

    for ( /* void */ ; s != NULL; s = s->under) {
        if (is_short) {
            __builtin_prefetch(&s->short_idents[uco_snap_hash_slot(h,
                                                   s->nshort_idents)]);

        } else {
            __builtin_prefetch(&s->idents[uco_snap_hash_slot(h,
                                                             s->nidents)]);
        }
    }

    return h;
}


/*
 * Cards are sorted by id (validation refuses anything else): the run of
 * the id's high half (one run while ids are below 2^32), then the low
 * half among the run's cards.  Ids from a sequence are nearly dense, so
 * a guess by interpolation mostly lands on the card (one cache miss
 * where a binary search over 10 million cards takes a dozen); a few
 * guesses narrow the range, and a binary search finishes it whatever the
 * ids look like.
 */

int
uco_snap_find_card_id(const uco_snap_t *s, uint64_t id, uint32_t *card)
{
    int       guess;
    double    f;
    uint32_t  want, first, last, at;
    uint64_t  lo, hi, mid, r;

    if (s->nruns == 0) {
        return 0;
    }

    r = uco_snap_last_le(&s->runs[0].high, sizeof(uco_snap_id_run_t),
                         s->nruns, (uint32_t) (id >> 32));
    lo = s->runs[r].first;
    hi = r + 1 < s->nruns ? s->runs[r + 1].first : s->ncards;

    /* a hostile file's runs: nothing found, nothing read outside */
    if (s->runs[r].high != id >> 32 || hi > s->ncards || lo > hi) {
        return 0;
    }

    want = (uint32_t) id;

    for (guess = 0; guess < 3 && hi - lo > 16; guess++) {
        first = s->cards[lo].id_low;
        last = s->cards[hi - 1].id_low;

        if (want < first || want > last) {
            return 0;
        }

        /* an unsorted (hostile) file: leave it to the binary search */
        if (last <= first) {
            break;
        }

        f = (double) (want - first) / (double) (last - first);
        mid = lo + (uint64_t) (f * (double) (hi - 1 - lo));

        if (mid > hi - 1) {
            mid = hi - 1;
        }

        at = s->cards[mid].id_low;

        if (at == want) {
            *card = (uint32_t) mid;
            return 1;
        }

        if (at < want) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        at = s->cards[mid].id_low;

        if (at == want) {
            *card = (uint32_t) mid;
            return 1;
        }

        if (at < want) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return 0;
}


/*
 * Through a bound delta (uco_snap_lookup() in uco_snap.h): its
 * identifier tables first, then the base's.  Every identifier of a card
 * in the overlay is in the delta's tables, so a base identifier of a
 * card the delta overrides was removed or moved away: unknown.  The
 * overrides are base card indices, a small sorted array that stays
 * cached, so a base hit costs its slot alone, as without a delta.
 */

int
uco_snap_lookup_delta(const uco_snap_t *s,
    const uint8_t key[UCO_SNAP_KEY_LEN], uint64_t hash, uco_snap_ref_t *ref)
{
    const uco_snap_t  *b;

    ref->snap = NULL;

    if (uco_snap_find_card_hash(s, key, hash, &ref->card, &ref->summary)) {
        if (ref->summary == UCO_SNAP_SUM_TOMBSTONE) {
            return 0;
        }

        ref->snap = s;
        __builtin_prefetch(&s->cards[ref->card]);
        return 1;
    }

    b = s->under;

    if (b == NULL
        || !uco_snap_find_card_hash(b, key, hash, &ref->card, &ref->summary)
        || uco_snap_overridden(s, ref->card))
    {
        return 0;
    }

    ref->snap = b;
    __builtin_prefetch(&b->cards[ref->card]);

    return 1;
}


/* kind=token: the overlay's record of a card wins over the base's */

int
uco_snap_lookup_id(const uco_snap_t *s, uint64_t id, uco_snap_ref_t *ref)
{
    const uco_snap_t  *f;

    ref->snap = NULL;
    f = s;

    if (!uco_snap_find_card_id(s, id, &ref->card)) {
        f = s->under;

        if (f == NULL || !uco_snap_find_card_id(f, id, &ref->card)) {
            return 0;
        }
    }

    ref->summary = f->cards[ref->card].summary;

    if (ref->summary == UCO_SNAP_SUM_TOMBSTONE) {
        return 0;
    }

    ref->snap = f;

    return 1;
}


/*
 * Once per request: a binary search without a branch on the comparison
 * (the compiler makes it a conditional move), so that nothing is
 * mispredicted whatever the ids.
 */

const uco_snap_partner_t *
uco_snap_find_partner(const uco_snap_t *s, uint64_t id)
{
    uint64_t                   lo, n, half;
    const uco_snap_partner_t  *p;

    if (s->npartners == 0) {
        return NULL;
    }

    lo = 0;
    n = s->npartners;

    /* the last partner with an id at most id */
    while (n > 1) {
        half = n / 2;
        lo = s->partners[lo + half].id <= id ? lo + half : lo;
        n -= half;
    }

    p = &s->partners[lo];

    if (p->id != id
        || p->programme_first > s->nprogrammes
        || p->programme_count > s->nprogrammes - p->programme_first
        || p->terminal_first > s->nterminals
        || p->terminal_count > s->nterminals - p->terminal_first)
    {
        return NULL;
    }

    return p;
}


/* a verified client certificate to its partner, by binary search */

const uco_snap_partner_t *
uco_snap_find_cert(const uco_snap_t *s, uco_cert_kind_e kind,
    const uint8_t hash[32])
{
    int                     c;
    uint64_t                lo, hi, mid;
    const uco_snap_cert_t  *ct;

    lo = 0;
    hi = s->ncerts;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        ct = &s->certs[mid];
        c = memcmp(ct->hash, hash, 32);

        if (c == 0) {
            if (ct->kind != (uint8_t) kind || ct->partner >= s->npartners) {
                return NULL;
            }

            return &s->partners[ct->partner];
        }

        if (c < 0) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return NULL;
}


int
uco_snap_terminal_allowed(const uco_snap_t *s, const uco_snap_partner_t *p,
    const char *t, size_t len)
{
    int       c;
    uint8_t   id[UCO_SNAP_TERMINAL_LEN];
    uint32_t  lo, hi, mid;

    if (p->terminal_count == 0) {
        return 1;
    }

    if (t == NULL || len == 0 || len > UCO_SNAP_TERMINAL_LEN) {
        return 0;
    }

    memset(id, 0, sizeof(id));
    memcpy(id, t, len);

    lo = p->terminal_first;
    hi = p->terminal_first + p->terminal_count;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        c = memcmp(s->terminals[mid].id, id, UCO_SNAP_TERMINAL_LEN);

        if (c == 0) {
            return 1;
        }

        if (c < 0) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return 0;
}


/* the decision */

void
uco_snap_when(int64_t local_seconds, uco_snap_when_t *w)
{
    int64_t  day, sec;

    day = local_seconds / 86400;
    sec = local_seconds % 86400;

    if (sec < 0) {
        sec += 86400;
        day--;
    }

    w->day = (int32_t) day;
    /* 1970-01-01 was a Thursday: Monday = 0 makes it 3 */
    w->weekday = (uint8_t) (((day % 7) + 7 + 3) % 7);
    w->hour = (uint8_t) (sec / 3600);
}


static int
uco_snap_in_window(const uco_snap_programme_t *pr, const uco_snap_when_t *w)
{
    if (w->day < pr->valid_from || w->day > pr->valid_to) {
        return 0;
    }

    if (!(pr->weekdays & (1u << w->weekday))) {
        return 0;
    }

    if (pr->hour_from < pr->hour_to) {
        return w->hour >= pr->hour_from && w->hour < pr->hour_to;
    }

    /* wraps midnight, e.g. 22 .. 6 */
    return w->hour >= pr->hour_from || w->hour < pr->hour_to;
}


/* is a (discount da) better than b (discount db)? */

static int
uco_snap_better(const uco_snap_programme_t *a, uint64_t da,
    const uco_snap_programme_t *b, uint64_t db, int64_t amount)
{
    if (b == NULL) {
        return 1;
    }

    if (amount >= 0) {
        if (da != db) {
            return da > db;
        }

    } else {
        if (a->type != b->type) {
            return a->type == UCO_DISCOUNT_PERCENT;
        }

        if (a->value != b->value) {
            return a->value > b->value;
        }
    }

    return a->id < b->id;
}


/*
 * amount is in kopecks, or -1 when the partner did not send one; the
 * caller bounds it (12 digits) so that amount * 10000 cannot overflow.
 */

void
uco_snap_decide(const uco_snap_t *s, const uco_snap_partner_t *p,
    const uco_snap_ref_t *card, const uco_snap_when_t *w, int64_t amount,
    uco_snap_result_t *res)
{
    uint32_t                     sum, expires, kind;
    uint64_t                     d, best_d, categories, first, end, set;
    uco_reason_e                 reason;
    const uco_snap_programme_t  *pr, *best, *last;

    res->programme = NULL;
    res->discount = 0;
    res->reason = UCO_REASON_NONE;

    if (card == NULL || card->snap == NULL) {
        res->decision = UCO_DECISION_CARD_UNKNOWN;
        return;
    }

    /* the slot's summary: the card record is not read */
    sum = card->summary;

    switch (UCO_SNAP_SUM_STATUS(sum)) {
    case UCO_CARD_ACTIVE:
        break;
    case UCO_CARD_BLOCKED:
        res->decision = UCO_DECISION_CARD_BLOCKED;
        return;
    case UCO_CARD_REPLACED:
        res->decision = UCO_DECISION_CARD_REPLACED;
        return;
    default:
        res->decision = UCO_DECISION_CARD_EXPIRED;
        return;
    }

    /* expired from this day on; the same as day > valid_until */
    expires = sum & UCO_SNAP_SUM_OPEN;

    if (expires != UCO_SNAP_SUM_OPEN && w->day >= (int32_t) expires) {
        res->decision = UCO_DECISION_CARD_EXPIRED;
        return;
    }

    set = UCO_SNAP_SUM_SET(sum);

    if (set == UCO_SNAP_SUM_ESCAPE) {
        set = uco_snap_overflow_set(card->snap, card->card);
    }

    /* checked by validation; checked again so a lookup stays in bounds */
    categories = set < s->ncategory_sets ? s->category_sets[set] : 0;
    kind = UCO_SNAP_SUM_KIND(sum);

    reason = UCO_REASON_NO_PROGRAMME;
    best = NULL;
    best_d = 0;
    /* bounded once, not per programme */
    first = p->programme_first;
    end = first + p->programme_count;

    if (end > s->nprogrammes) {
        end = s->nprogrammes;
    }

    last = s->programmes + end;

    for (pr = s->programmes + (first < end ? first : end); pr < last; pr++) {
        if (pr->card_kind != 0 && pr->card_kind != kind) {
            if (reason < UCO_REASON_CARD_KIND) {
                reason = UCO_REASON_CARD_KIND;
            }
            continue;
        }

        if (pr->required_categories != 0
            && (pr->required_categories & categories) == 0)
        {
            if (reason < UCO_REASON_CATEGORY) {
                reason = UCO_REASON_CATEGORY;
            }
            continue;
        }

        if (!uco_snap_in_window(pr, w)) {
            reason = UCO_REASON_OUTSIDE_WINDOW;
            continue;
        }

        d = 0;

        if (amount >= 0) {
            if (pr->type == UCO_DISCOUNT_PERCENT) {
                d = (uint64_t) amount * pr->value / 10000;

            } else {
                d = pr->value < (uint64_t) amount ? pr->value
                                                  : (uint64_t) amount;
            }
        }

        if (uco_snap_better(pr, d, best, best_d, amount)) {
            best = pr;
            best_d = d;
        }
    }

    if (best == NULL) {
        res->decision = UCO_DECISION_NOT_ELIGIBLE;
        res->reason = reason;
        return;
    }

    res->decision = UCO_DECISION_ELIGIBLE;
    res->programme = best;
    res->discount = best_d;
}


/*
 * A card's summary.  The validity as the first day the card is expired,
 * valid_until + 1, clamped to 0 .. 0xffff, 0xffff meaning never: on
 * every day from 1970-01-01 (0) to 2149-06-05 (65534) "day >= expires"
 * says what "day > valid_until" says, for any valid_until (open-ended,
 * before 1970 or after 2149 included).  A set at or past the escape is
 * the escape; the writer puts the set into the overflow section.
 */

uint32_t
uco_snap_summary(int32_t valid_until, unsigned status, unsigned kind,
    uint32_t set)
{
    int64_t  expires;

    expires = (int64_t) valid_until + 1;

    if (expires < 0) {
        expires = 0;

    } else if (expires > UCO_SNAP_SUM_OPEN) {
        expires = UCO_SNAP_SUM_OPEN;
    }

    if (set > UCO_SNAP_SUM_ESCAPE) {
        set = UCO_SNAP_SUM_ESCAPE;
    }

    return (uint32_t) expires | (status & 7) << 16
           | (uint32_t) (kind == UCO_CARD_NON_FINANCIAL) << 19 | set << 20;
}


/* the set of an escape: a binary search of the file's overflow */

static uint64_t
uco_snap_overflow_set(const uco_snap_t *s, uint32_t card)
{
    uint64_t  i;

    if (s->noverflow == 0) {
        return UINT64_MAX;
    }

    i = uco_snap_last_le(&s->overflow[0].card,
                         sizeof(uco_snap_set_overflow_t), s->noverflow,
                         card);

    return s->overflow[i].card == card ? s->overflow[i].set : UINT64_MAX;
}


/* a card's category set index (UINT64_MAX: none, a hostile file) */

uint64_t
uco_snap_card_set(const uco_snap_ref_t *card)
{
    uint64_t  set;

    if (card->snap == NULL) {
        return UINT64_MAX;
    }

    set = UCO_SNAP_SUM_SET(card->summary);

    return set == UCO_SNAP_SUM_ESCAPE
           ? uco_snap_overflow_set(card->snap, card->card) : set;
}


/* writer */

static int
uco_snap_section_sizes(const uco_snap_counts_t *c,
    uint64_t size[UCO_SNAP_SEC_LAST + 1],
    uint64_t count[UCO_SNAP_SEC_LAST + 1])
{
    uint64_t  nshort, nlong;
    unsigned  id;

    if (c->cards > UCO_SNAP_MAX_CARDS
        || c->idents > UCO_SNAP_MAX_RECORDS / 4
        || c->short_idents > c->idents
        || c->long_idents > c->idents
        || c->partners > UCO_SNAP_MAX_RECORDS
        || c->programmes > UCO_SNAP_MAX_RECORDS
        || c->terminals > UCO_SNAP_MAX_RECORDS
        || c->certs > UCO_SNAP_MAX_RECORDS
        || c->category_sets > UCO_SNAP_MAX_CATEGORY_SETS
        || c->set_overflow > c->cards
        || c->id_runs > c->cards
        || (c->id_runs == 0) != (c->cards == 0)
        || c->overrides > c->cards)
    {
        return UCO_SNAP_EINVAL;
    }

    nshort = c->short_idents;
    nlong = c->long_idents;

    if (nshort == 0 && nlong == 0) {
        nshort = c->idents;
        nlong = c->idents;
    }

    count[0] = 0;
    count[UCO_SNAP_SEC_CARDS] = c->cards;
    count[UCO_SNAP_SEC_IDENTS] = uco_snap_capacity(nlong);
    count[UCO_SNAP_SEC_PARTNERS] = c->partners;
    count[UCO_SNAP_SEC_PROGRAMMES] = c->programmes;
    count[UCO_SNAP_SEC_TERMINALS] = c->terminals;
    count[UCO_SNAP_SEC_CATEGORY_SETS] = c->category_sets;
    count[UCO_SNAP_SEC_SHORT_IDENTS] = uco_snap_capacity(nshort);
    count[UCO_SNAP_SEC_CERTS] = c->certs;
    count[UCO_SNAP_SEC_SET_OVERFLOW] = c->set_overflow;
    count[UCO_SNAP_SEC_ID_RUNS] = c->id_runs;
    count[UCO_SNAP_SEC_OVERRIDES] = c->overrides;

    for (id = 0; id <= UCO_SNAP_SEC_LAST; id++) {
        size[id] = count[id] * uco_snap_record_size[id];
    }

    return UCO_SNAP_OK;
}


size_t
uco_snap_size(const uco_snap_counts_t *c)
{
    return uco_snap_size_header(c, sizeof(uco_snap_header_t));
}


size_t
uco_snap_delta_size(const uco_snap_counts_t *c)
{
    return uco_snap_size_header(c, sizeof(uco_snap_header_t)
                                   + sizeof(uco_snap_delta_t));
}


static size_t
uco_snap_size_header(const uco_snap_counts_t *c, uint64_t header)
{
    uint64_t  total, size[UCO_SNAP_SEC_LAST + 1];
    uint64_t  count[UCO_SNAP_SEC_LAST + 1];
    unsigned  id;

    if (uco_snap_section_sizes(c, size, count) != UCO_SNAP_OK) {
        return 0;
    }

    total = uco_snap_align(header);

    for (id = 1; id <= UCO_SNAP_SEC_LAST; id++) {
        total += uco_snap_align(size[id]);
    }

    if (total > SIZE_MAX) {
        return 0;
    }

    return (size_t) total;
}


int
uco_snap_init(void *buf, size_t size, const uco_snap_counts_t *c)
{
    if (size != uco_snap_size(c) || c->overrides != 0) {
        return UCO_SNAP_EINVAL;
    }

    return uco_snap_layout(buf, size, c, sizeof(uco_snap_header_t));
}


/* the caller fills the overlay: cards sorted by id, tombstones included */

int
uco_snap_init_delta(void *buf, size_t size, const uco_snap_counts_t *c,
    const uco_snap_delta_t *d)
{
    int                 rc;
    uco_snap_header_t  *h;

    if (size != uco_snap_delta_size(c) || d->base_generation == 0
        || ((d->flags & UCO_SNAP_DELTA_PARTNERS) == 0
            && (c->partners | c->programmes | c->terminals | c->certs)
               != 0))
    {
        return UCO_SNAP_EINVAL;
    }

    rc = uco_snap_layout(buf, size, c,
                         sizeof(uco_snap_header_t) + sizeof(uco_snap_delta_t));
    if (rc != UCO_SNAP_OK) {
        return rc;
    }

    h = buf;
    memcpy(h->magic, UCO_SNAP_DELTA_MAGIC, 8);
    memcpy((uint8_t *) buf + sizeof(uco_snap_header_t), d,
           sizeof(uco_snap_delta_t));

    return UCO_SNAP_OK;
}


static int
uco_snap_layout(void *buf, size_t size, const uco_snap_counts_t *c,
    uint64_t header)
{
    uint8_t                 *base;
    uint64_t                 off, n, sz[UCO_SNAP_SEC_LAST + 1];
    uint64_t                 count[UCO_SNAP_SEC_LAST + 1];
    unsigned                 id;
    uco_snap_ident_t        *idents;
    uco_snap_header_t       *h;
    uco_snap_section_t      *sec;
    uco_snap_short_ident_t  *short_idents;

    if (buf == NULL || size == 0
        || uco_snap_section_sizes(c, sz, count) != UCO_SNAP_OK)
    {
        return UCO_SNAP_EINVAL;
    }

    base = buf;
    h = buf;

    memset(h, 0, sizeof(uco_snap_header_t));
    memcpy(h->magic, UCO_SNAP_MAGIC, 8);
    h->version = UCO_SNAP_VERSION;
    h->header_size = (uint32_t) header;
    h->byte_order = UCO_SNAP_BYTE_ORDER;
    h->section_count = UCO_SNAP_SEC_LAST;
    h->file_size = size;

    off = uco_snap_align(header);

    for (id = 1; id <= UCO_SNAP_SEC_LAST; id++) {
        sec = &h->sections[id - 1];
        sec->id = id;
        sec->record_size = uco_snap_record_size[id];
        sec->offset = off;
        sec->size = sz[id];
        sec->count = count[id];
        off += uco_snap_align(sz[id]);
    }

    idents = (uco_snap_ident_t *)
                 (base + h->sections[UCO_SNAP_SEC_IDENTS - 1].offset);

    for (n = 0; n < count[UCO_SNAP_SEC_IDENTS]; n++) {
        memset(idents[n].key, 0, UCO_SNAP_KEY_LEN);
        idents[n].card = UCO_SNAP_EMPTY;
        idents[n].summary = 0;
    }

    short_idents = (uco_snap_short_ident_t *)
        (base + h->sections[UCO_SNAP_SEC_SHORT_IDENTS - 1].offset);

    for (n = 0; n < count[UCO_SNAP_SEC_SHORT_IDENTS]; n++) {
        memset(short_idents[n].key, 0, sizeof(short_idents[n].key));
        short_idents[n].card = UCO_SNAP_EMPTY;
        short_idents[n].summary = 0;
    }

    return UCO_SNAP_OK;
}


void *
uco_snap_section(void *buf, unsigned id)
{
    uco_snap_header_t  *h;

    h = buf;

    if (id == 0 || id > UCO_SNAP_SEC_LAST) {
        return NULL;
    }

    return (uint8_t *) buf + h->sections[id - 1].offset;
}


/* the counts of a writer's sorted cards: records, id runs, overflow */

void
uco_snap_cards_count(const uco_snap_card_in_t *cards, uint64_t n,
    uco_snap_counts_t *c)
{
    uint64_t  i;

    c->cards = n;
    c->id_runs = 0;
    c->set_overflow = 0;

    for (i = 0; i < n; i++) {
        c->id_runs += i == 0 || cards[i - 1].id >> 32 != cards[i].id >> 32;
        c->set_overflow += cards[i].summary != UCO_SNAP_SUM_TOMBSTONE
                           && UCO_SNAP_SUM_SET(cards[i].summary)
                              == UCO_SNAP_SUM_ESCAPE;
    }
}


/*
 * The cards into a laid-out file, before any identifier (a slot copies
 * its card's summary): records, id runs and overflow entries, with the
 * counts uco_snap_cards_count() gave.  Ids strictly ascending.
 */

int
uco_snap_cards_put(void *buf, const uco_snap_card_in_t *cards)
{
    uint64_t                  i, n, nruns, nover;
    uco_snap_card_t          *c;
    uco_snap_header_t        *h;
    uco_snap_id_run_t        *runs;
    uco_snap_set_overflow_t  *over;

    h = buf;
    n = h->sections[UCO_SNAP_SEC_CARDS - 1].count;
    c = uco_snap_section(buf, UCO_SNAP_SEC_CARDS);
    runs = uco_snap_section(buf, UCO_SNAP_SEC_ID_RUNS);
    over = uco_snap_section(buf, UCO_SNAP_SEC_SET_OVERFLOW);
    nruns = 0;
    nover = 0;

    for (i = 0; i < n; i++) {
        if (i > 0 && cards[i - 1].id >= cards[i].id) {
            return UCO_SNAP_EINVAL;
        }

        if (i == 0 || cards[i - 1].id >> 32 != cards[i].id >> 32) {
            if (nruns == h->sections[UCO_SNAP_SEC_ID_RUNS - 1].count) {
                return UCO_SNAP_EINVAL;
            }

            runs[nruns].high = (uint32_t) (cards[i].id >> 32);
            runs[nruns++].first = (uint32_t) i;
        }

        c[i].id_low = (uint32_t) cards[i].id;
        c[i].summary = cards[i].summary;

        if (cards[i].summary != UCO_SNAP_SUM_TOMBSTONE
            && UCO_SNAP_SUM_SET(cards[i].summary) == UCO_SNAP_SUM_ESCAPE)
        {
            if (nover == h->sections[UCO_SNAP_SEC_SET_OVERFLOW - 1].count
                || cards[i].set < UCO_SNAP_SUM_ESCAPE)
            {
                return UCO_SNAP_EINVAL;
            }

            over[nover].card = (uint32_t) i;
            over[nover++].set = cards[i].set;
        }
    }

    if (nruns != h->sections[UCO_SNAP_SEC_ID_RUNS - 1].count
        || nover != h->sections[UCO_SNAP_SEC_SET_OVERFLOW - 1].count)
    {
        return UCO_SNAP_EINVAL;
    }

    return UCO_SNAP_OK;
}


/*
 * Into the table the key's shape picks, with the card's summary (the
 * cards are in).  At least one slot of each is left free so that every
 * miss terminates (validation refuses a table without one).
 */

int
uco_snap_ident_add(void *buf, const uint8_t key[UCO_SNAP_KEY_LEN],
    uint32_t card)
{
    uint32_t                 word, sum;
    uint64_t                 i, n, cap;
    uco_snap_ident_t        *t;
    uco_snap_header_t       *h;
    uco_snap_short_ident_t  *st;

    h = buf;

    if (card >= h->sections[UCO_SNAP_SEC_CARDS - 1].count
        || card >= UCO_SNAP_SHORT_CARD)
    {
        return UCO_SNAP_EINVAL;
    }

    /* an identifier of a tombstone: the writer's bug */
    sum = ((uco_snap_card_t *) uco_snap_section(buf, UCO_SNAP_SEC_CARDS))
              [card].summary;

    if (sum == UCO_SNAP_SUM_TOMBSTONE) {
        return UCO_SNAP_EINVAL;
    }

    if (uco_snap_key_is_short(key)) {
        st = uco_snap_section(buf, UCO_SNAP_SEC_SHORT_IDENTS);
        cap = h->sections[UCO_SNAP_SEC_SHORT_IDENTS - 1].count;
        i = uco_snap_slot(key, cap);
        word = (uint32_t) key[0] << 28 | card;

        for (n = 0; n + 1 < cap; n++) {
            if (st[i].card == UCO_SNAP_EMPTY) {
                memcpy(st[i].key, key + 1, 8);
                st[i].card = word;
                st[i].summary = sum;
                return UCO_SNAP_OK;
            }

            if ((st[i].card ^ word) >> 28 == 0
                && memcmp(st[i].key, key + 1, 8) == 0)
            {
                return UCO_SNAP_EEXIST;
            }

            if (++i == cap) {
                i = 0;
            }
        }

        return UCO_SNAP_ENOSPC;
    }

    t = uco_snap_section(buf, UCO_SNAP_SEC_IDENTS);
    cap = h->sections[UCO_SNAP_SEC_IDENTS - 1].count;
    i = uco_snap_slot(key, cap);

    for (n = 0; n + 1 < cap; n++) {
        if (t[i].card == UCO_SNAP_EMPTY) {
            memcpy(t[i].key, key, UCO_SNAP_KEY_LEN);
            t[i].card = card;
            t[i].summary = sum;
            return UCO_SNAP_OK;
        }

        if (memcmp(t[i].key, key, UCO_SNAP_KEY_LEN) == 0) {
            return UCO_SNAP_EEXIST;
        }

        if (++i == cap) {
            i = 0;
        }
    }

    return UCO_SNAP_ENOSPC;
}


int
uco_snap_seal(void *buf, uint64_t generation, uint64_t build_time,
    uint64_t watermark)
{
    int                rc;
    uco_snap_t         s;
    uco_snap_header_t  *h;
    EVP_MD_CTX         *md;
    unsigned int        mdlen;

    h = buf;
    h->generation = generation;
    h->build_time = build_time;
    h->watermark = watermark;
    memset(h->checksum, 0, sizeof(h->checksum));

    rc = uco_snap_open(&s, buf, h->file_size);
    if (rc != UCO_SNAP_OK) {
        return rc;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return UCO_SNAP_ENOMEM;
    }

    rc = UCO_SNAP_OK;

    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(md, buf, h->file_size) != 1
        || EVP_DigestFinal_ex(md, h->checksum, &mdlen) != 1
        || mdlen != 32)
    {
        rc = UCO_SNAP_ENOMEM;
    }

    EVP_MD_CTX_free(md);

    return rc;
}


int
uco_ctl_check(const void *p, size_t len)
{
    const uco_ctl_t  *c;

    if (p == NULL || len < UCO_CTL_SIZE) {
        return UCO_SNAP_ETRUNCATED;
    }

    c = p;

    if (memcmp(c->magic, UCO_CTL_MAGIC, 8) != 0) {
        return UCO_SNAP_EMAGIC;
    }

    if (c->version != 1 || c->size != UCO_CTL_SIZE) {
        return UCO_SNAP_EVERSION;
    }

    return UCO_SNAP_OK;
}
