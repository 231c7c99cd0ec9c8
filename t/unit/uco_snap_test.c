/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Unit tests of the shared snapshot format, TAP output for prove.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>

#include "uco_snap.h"
#include "tap.h"


#define HASHPAN_A \
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HASHPAN_B \
    "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define SOCIAL_LONG  "56000000000000000042"


#define CARD(id, until, set, status, kind)                                  \
    ((uco_snap_card_in_t) { id, uco_snap_summary(until, status, kind, set), \
                            set })


static uint8_t *layout(uco_snap_counts_t *counts,
    const uco_snap_card_in_t *cards, size_t *size);
static void many_value(size_t i, uint32_t *x, char v[65]);
static const uco_snap_t *lookup(const uco_snap_t *s, uco_id_kind_e kind,
    const char *v, uint32_t *card);
static const uco_snap_t *lookup_id(const uco_snap_t *s, uint64_t id,
    uint32_t *card);
static void summaries(const uco_snap_t *s);
static int escapes(void);
static uint8_t *build_delta(const uint8_t *base, size_t base_len,
    size_t *len, int bad);
static void delta(const uint8_t *base, size_t base_len);
static int many(void);
static int key_kind(uco_id_kind_e kind, size_t len);
static int keys(void);


/* a zeroed file for counts with these cards in (NULL: not a base) */

static uint8_t *
layout(uco_snap_counts_t *counts, const uco_snap_card_in_t *cards,
    size_t *size)
{
    uint8_t  *buf;

    uco_snap_cards_count(cards, counts->cards, counts);
    *size = uco_snap_size(counts);
    buf = calloc(1, *size);

    if (buf == NULL || uco_snap_init(buf, *size, counts) != UCO_SNAP_OK
        || uco_snap_cards_put(buf, cards) != UCO_SNAP_OK)
    {
        free(buf);
        return NULL;
    }

    return buf;
}


static uint8_t *
build(size_t *len)
{
    uint8_t               *buf, key[UCO_SNAP_KEY_LEN];
    size_t                 size, i;
    uco_snap_partner_t    *p;
    uco_snap_terminal_t   *t;
    uco_snap_programme_t  *pr;
    uint64_t              *cs;
    uco_snap_counts_t      counts = { 3, 4, 2, 3, 2, 3, 1, 3, 0, 0, 0, 0 };
    uco_snap_card_in_t     c[3];

    c[0] = CARD(10, 20000, 0, UCO_CARD_ACTIVE, UCO_CARD_BANK);
    c[1] = CARD(11, 20000, 1, UCO_CARD_BLOCKED, UCO_CARD_BANK);
    c[2] = CARD(12, 20000, 2, UCO_CARD_ACTIVE, UCO_CARD_NON_FINANCIAL);

    buf = layout(&counts, c, &size);
    if (buf == NULL) {
        return NULL;
    }

    cs = uco_snap_section(buf, UCO_SNAP_SEC_CATEGORY_SETS);
    cs[0] = 0x1;
    cs[1] = 0x2;
    cs[2] = 0x0;

    p = uco_snap_section(buf, UCO_SNAP_SEC_PARTNERS);
    p[0].id = 1001;
    p[0].status = UCO_PARTNER_ACTIVE;
    p[0].programme_first = 0;
    p[0].programme_count = 3;
    p[0].terminal_first = 0;
    p[0].terminal_count = 2;
    p[1].id = 1002;
    p[1].status = UCO_PARTNER_SUSPENDED;
    p[1].programme_first = 3;

    for (i = 0; i < 2; i++) {
        p[i].auth = UCO_AUTH_API_KEY;
        p[i].scopes = UCO_SCOPE_DISCOUNT;
        p[i].nsecrets = 1;
        p[i].contract_from = INT32_MIN;
        p[i].contract_to = INT32_MAX;
    }

    pr = uco_snap_section(buf, UCO_SNAP_SEC_PROGRAMMES);
    pr[0] = (uco_snap_programme_t) { 5, 0x1, 1000, INT32_MIN, INT32_MAX,
        UCO_DISCOUNT_PERCENT, 0, 0x7f, 0, 24, {0, 0, 0} };
    pr[1] = (uco_snap_programme_t) { 6, 0x0, 30000, INT32_MIN, INT32_MAX,
        UCO_DISCOUNT_FIXED, 0, 0x7f, 0, 24, {0, 0, 0} };
    pr[2] = (uco_snap_programme_t) { 7, 0x0, 500, INT32_MIN, INT32_MAX,
        UCO_DISCOUNT_PERCENT, UCO_CARD_BANK, 0x7f, 9, 13, {0, 0, 0} };

    t = uco_snap_section(buf, UCO_SNAP_SEC_TERMINALS);
    memcpy(t[0].id, "pos-1", 5);
    memcpy(t[1].id, "pos-2", 5);

    if (uco_snap_key(UCO_ID_HASHPAN, HASHPAN_A, 64, key) != UCO_SNAP_OK
        || uco_snap_ident_add(buf, key, 0) != UCO_SNAP_OK
        || uco_snap_key(UCO_ID_HASHPAN, HASHPAN_B, 64, key) != UCO_SNAP_OK
        || uco_snap_ident_add(buf, key, 1) != UCO_SNAP_OK
        || uco_snap_key(UCO_ID_SOCIAL, "0042", 4, key) != UCO_SNAP_OK
        || uco_snap_ident_add(buf, key, 2) != UCO_SNAP_OK
        || uco_snap_key(UCO_ID_SOCIAL, SOCIAL_LONG, 20, key) != UCO_SNAP_OK
        || uco_snap_ident_add(buf, key, 2) != UCO_SNAP_OK)
    {
        return NULL;
    }

    if (uco_snap_seal(buf, 7, 1700000000, 99) != UCO_SNAP_OK) {
        return NULL;
    }

    *len = size;
    return buf;
}


/* identifier i: even ones 12-digit socials, odd ones random hashpans */

static void
many_value(size_t i, uint32_t *x, char v[65])
{
    size_t  j;

    if (i % 2 == 0) {
        snprintf(v, 65, "%012zu", i);
        return;
    }

    for (j = 0; j < 64; j++) {
        *x = *x * 1103515245 + 12345;
        v[j] = "0123456789abcdef"[(*x >> 16) & 15];
    }

    v[64] = '\0';
}


/* a bigger table: collisions and wrap-around, half of it short keys */

static int
many(void)
{
    int                  good;
    char                 v[65];
    size_t               size, i;
    uint8_t             *buf, key[UCO_SNAP_KEY_LEN];
    uint32_t             card, sum, x;
    uco_snap_t           s;
    uco_snap_card_t     *cf;
    uco_snap_counts_t    counts = { 5000, 5000, 0, 0, 0, 1, 2500, 2500, 0,
                                    0, 0, 0 };
    uco_snap_card_in_t  *c;

    c = calloc(5000, sizeof(uco_snap_card_in_t));
    if (c == NULL) {
        return 0;
    }

    /*
     * Gaps and a jump: interpolation must not be fooled; ids past 2^32
     * in two more runs of the high half.
     */
    for (i = 0; i < 5000; i++) {
        c[i] = CARD((i + 1) * 3 + (i >= 2500 ? 1000000 : 0)
                    + (i >= 3000 ? 1ULL << 32 : 0)
                    + (i >= 4000 ? 1ULL << 40 : 0),
                    30000, 0, UCO_CARD_ACTIVE, UCO_CARD_BANK);
    }

    buf = layout(&counts, c, &size);
    if (buf == NULL || counts.id_runs != 3) {
        free(c);
        free(buf);
        return 0;
    }

    x = 12345;

    for (i = 0; i < 10000; i++) {
        many_value(i, &x, v);

        if (i < 5000) {
            if (uco_snap_key(i % 2 ? UCO_ID_HASHPAN : UCO_ID_SOCIAL, v,
                             strlen(v), key) != UCO_SNAP_OK
                || uco_snap_ident_add(buf, key, (uint32_t) i) != UCO_SNAP_OK)
            {
                free(c);
                free(buf);
                return 0;
            }
        }
    }

    good = uco_snap_seal(buf, 1, 1, 1) == UCO_SNAP_OK
           && uco_snap_check(&s, buf, size) == UCO_SNAP_OK
           && s.nidents * 17 >= 2500 * 20
           && s.nshort_idents * 17 >= 2500 * 20;

    x = 12345;

    for (i = 0; good && i < 10000; i++) {
        many_value(i, &x, v);

        uco_snap_key(i % 2 ? UCO_ID_HASHPAN : UCO_ID_SOCIAL, v, strlen(v),
                     key);

        if (i < 5000) {
            good = uco_snap_find_card(&s, key, &card, &sum) && card == i
                   && sum == c[i].summary
                   && uco_snap_card_id(&s, card) == c[i].id
                   && uco_snap_find_card_id(&s, c[i].id, &card) && card == i
                   && !uco_snap_find_card_id(&s, c[i].id + 1, &card)
                   && !uco_snap_find_card_id(&s, c[i].id + (1ULL << 48),
                                             &card);

        } else {
            good = !uco_snap_find_card(&s, key, &card, &sum);
        }
    }

    good = good && !uco_snap_find_card_id(&s, 0, &card)
           && !uco_snap_find_card_id(&s, UINT64_MAX, &card);

    /* cards out of id order are refused, in a run and across runs */
    cf = uco_snap_section(buf, UCO_SNAP_SEC_CARDS);
    cf[7].id_low = cf[9].id_low;
    good = good && uco_snap_seal(buf, 1, 1, 1) == UCO_SNAP_OK
           && uco_snap_check(&s, buf, size) == UCO_SNAP_ERECORD;
    cf[7].id_low = (uint32_t) c[7].id;
    ((uco_snap_id_run_t *) uco_snap_section(buf, UCO_SNAP_SEC_ID_RUNS))[2]
        .high = 1;
    good = good && uco_snap_seal(buf, 1, 1, 1) == UCO_SNAP_OK
           && uco_snap_check(&s, buf, size) == UCO_SNAP_ERECORD;

    free(c);
    free(buf);

    return good;
}


static int
decide(const uco_snap_t *s, const char *hashpan, int64_t amount,
    int64_t when, uco_snap_result_t *res)
{
    uint8_t                    key[UCO_SNAP_KEY_LEN];
    uco_snap_ref_t             card;
    uco_snap_when_t            w;
    const uco_snap_partner_t  *p;

    if (uco_snap_key(UCO_ID_HASHPAN, hashpan, 64, key) != UCO_SNAP_OK) {
        return -1;
    }

    p = uco_snap_find_partner(s, 1001);
    if (p == NULL) {
        return -1;
    }

    uco_snap_when(when, &w);
    (void) uco_snap_lookup(s, key, &card);
    uco_snap_decide(s, p, &card, &w, amount, res);
    return 0;
}


/* bytes that border the digits and letters, and non-ASCII ones */
static const char  key_bad[] = "/:@G`g \x80\xb0\xc1\xe6\xff";


/*
 * Values of one kind and length: each digit where the parser puts it, and
 * one bad byte at any position refused, upper-case letters accepted.
 */

static int
key_kind(uco_id_kind_e kind, size_t len)
{
    int      hex, nib;
    size_t   i, j, off;
    uint8_t  key[UCO_SNAP_KEY_LEN], k2[UCO_SNAP_KEY_LEN];
    char     v[65], w[65];

    hex = kind != UCO_ID_SOCIAL && kind != UCO_ID_BARCODE;

    for (i = 0; i < len; i++) {
        v[i] = "0123456789abcdef"[(i * 7 + 3) % (hex ? 16 : 10)];
    }

    v[len] = '\0';

    if (uco_snap_key(kind, v, len, key) != UCO_SNAP_OK
        || key[0] != (uint8_t) kind)
    {
        return 0;
    }

    /* a HashPAN keeps 15 bytes from byte 1, the others a length byte */
    off = kind == UCO_ID_HASHPAN ? 2 : 4;

    if (kind != UCO_ID_HASHPAN && key[1] != (hex ? len / 2 : len)) {
        return 0;
    }

    for (i = 0; i < len && i < 2 * UCO_SNAP_KEY_LEN - off; i++) {
        nib = key[(off + i) / 2] >> ((off + i) % 2 ? 0 : 4) & 0x0f;

        if (nib != (int) ((i * 7 + 3) % (hex ? 16 : 10))) {
            return 0;
        }
    }

    for (i = 0; i < len; i++) {
        memcpy(w, v, len + 1);

        if (hex && w[i] >= 'a') {
            w[i] = (char) (w[i] - 'a' + 'A');

            if (uco_snap_key(kind, w, len, k2) != UCO_SNAP_OK
                || memcmp(key, k2, sizeof(key)) != 0)
            {
                return 0;
            }
        }

        for (j = 0; j < sizeof(key_bad) - 1; j++) {
            w[i] = key_bad[j];

            if (uco_snap_key(kind, w, len, k2) != UCO_SNAP_EINVAL) {
                return 0;
            }
        }
    }

    return 1;
}


static int
keys(void)
{
    size_t  len;

    for (len = 1; len <= 28; len++) {
        if (!key_kind(UCO_ID_SOCIAL, len) || !key_kind(UCO_ID_BARCODE, len)) {
            return 0;
        }
    }

    return key_kind(UCO_ID_HASHPAN, 64) && key_kind(UCO_ID_UID, 8)
           && key_kind(UCO_ID_UID, 14) && key_kind(UCO_ID_UID, 20);
}


/*
 * The file that has the card (NULL: unknown), its index in *card.  The
 * key's slots prefetched first and its hash passed on, as the handler
 * does: through a delta and its base, in both tables, found or not.
 */

static const uco_snap_t *
lookup(const uco_snap_t *s, uco_id_kind_e kind, const char *v,
    uint32_t *card)
{
    uint8_t         key[UCO_SNAP_KEY_LEN];
    uco_snap_ref_t  ref;

    if (uco_snap_key(kind, v, strlen(v), key) != UCO_SNAP_OK) {
        return NULL;
    }

    if (!uco_snap_lookup_hash(s, key, uco_snap_prefetch(s, key), &ref)
        || uco_snap_prefetch(s, key) != uco_snap_key_hash(key))
    {
        return NULL;
    }

    *card = ref.card;

    return ref.snap;
}


/* the card of id (NULL: unknown), its index in *card */

static const uco_snap_t *
lookup_id(const uco_snap_t *s, uint64_t id, uint32_t *card)
{
    uco_snap_ref_t  ref;

    if (!uco_snap_lookup_id(s, id, &ref)) {
        return NULL;
    }

    *card = ref.card;

    return ref.snap;
}


/*
 * A delta over build()'s generation 7: card 11 unblocked into a new
 * category set, with a new identifier; card 12 lost both of its
 * identifiers ("0042" moved to the new card 13); card 14 was created
 * and deleted (a tombstone).  Card 10 is only in the base.  Cards 11 and
 * 12 override base cards 1 and 2.  bad: 1 a tombstone with a kind, 2
 * sets that are not the base's, 3 an identifier of the tombstone, 4 an
 * override missing, 5 a base card overridden that the overlay lacks.
 */

static uint8_t *
build_delta(const uint8_t *base, size_t base_len, size_t *len, int bad)
{
    uint8_t             *buf, key[UCO_SNAP_KEY_LEN];
    size_t               size;
    uint32_t            *o;
    uint64_t            *cs;
    uco_snap_delta_t     d;
    uco_snap_counts_t    counts = { 4, 4, 0, 0, 0, 4, 3, 1, 0, 0, 0, 2 };
    uco_snap_card_in_t   c[4];

    memset(&d, 0, sizeof(d));
    d.base_generation = 7;
    d.base_size = base_len;
    memcpy(d.base_checksum, ((const uco_snap_header_t *) base)->checksum,
           32);

    c[0] = CARD(11, 20000, 3, UCO_CARD_ACTIVE, UCO_CARD_BANK);
    c[1] = CARD(12, 20000, 2, UCO_CARD_ACTIVE, UCO_CARD_NON_FINANCIAL);
    c[2] = CARD(13, 20000, 0, UCO_CARD_ACTIVE, UCO_CARD_BANK);
    c[3] = (uco_snap_card_in_t) { 14, UCO_SNAP_SUM_TOMBSTONE, 0 };

    uco_snap_cards_count(c, 4, &counts);
    counts.overrides = bad == 4 ? 1 : 2;
    size = uco_snap_delta_size(&counts);
    buf = calloc(1, size);
    if (buf == NULL
        || uco_snap_init_delta(buf, size, &counts, &d) != UCO_SNAP_OK
        || uco_snap_cards_put(buf, c) != UCO_SNAP_OK)
    {
        free(buf);
        return NULL;
    }

    if (bad == 1) {
        ((uco_snap_card_t *) uco_snap_section(buf, UCO_SNAP_SEC_CARDS))[3]
            .summary = 1u << 19;
    }

    o = uco_snap_section(buf, UCO_SNAP_SEC_OVERRIDES);
    o[0] = bad == 5 ? 0 : 1;
    o[1] = 2;

    cs = uco_snap_section(buf, UCO_SNAP_SEC_CATEGORY_SETS);
    cs[0] = 0x1;
    cs[1] = bad == 2 ? 0x8 : 0x2;
    cs[2] = 0x0;
    cs[3] = 0x4;

    if (uco_snap_key(UCO_ID_HASHPAN, HASHPAN_B, 64, key) != UCO_SNAP_OK
        || uco_snap_ident_add(buf, key, 0) != UCO_SNAP_OK
        || uco_snap_key(UCO_ID_SOCIAL, "777", 3, key) != UCO_SNAP_OK
        || uco_snap_ident_add(buf, key, 0) != UCO_SNAP_OK
        || uco_snap_key(UCO_ID_SOCIAL, "0042", 4, key) != UCO_SNAP_OK
        || uco_snap_ident_add(buf, key, 2) != UCO_SNAP_OK
        || uco_snap_key(UCO_ID_SOCIAL, "1313", 4, key) != UCO_SNAP_OK
        || uco_snap_ident_add(buf, key, 2) != UCO_SNAP_OK)
    {
        free(buf);
        return NULL;
    }

    /* the writer refuses it; a hostile file could still hold it */
    if (bad == 3) {
        if (uco_snap_ident_add(buf, key, 3) != UCO_SNAP_EINVAL) {
            free(buf);
            return NULL;
        }

        ((uco_snap_short_ident_t *)
             uco_snap_section(buf, UCO_SNAP_SEC_SHORT_IDENTS))[0].card =
            (uint32_t) UCO_ID_SOCIAL << 28 | 3;
    }

    if (uco_snap_seal(buf, 8, 1700000001, 100) != UCO_SNAP_OK) {
        free(buf);
        return NULL;
    }

    *len = size;
    return buf;
}


static void
delta(const uint8_t *base, size_t base_len)
{
    size_t              len;
    uint8_t            *buf, *bad;
    uint32_t            i;
    uco_snap_t          b, s, u;
    uco_snap_ref_t      ref;
    uco_snap_counts_t   fam = { 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0 };
    uco_snap_delta_t    d;
    uco_snap_result_t   res;
    uco_snap_when_t     w;
    uint8_t             one[4096], key[UCO_SNAP_KEY_LEN];

    buf = build_delta(base, base_len, &len, 0);
    ok(buf != NULL, "delta builds");
    if (buf == NULL) {
        return;
    }

    ok(uco_snap_check(&b, base, base_len) == UCO_SNAP_OK
       && uco_snap_check(&s, buf, len) == UCO_SNAP_OK && s.delta != NULL
       && s.delta->base_generation == 7 && s.ncards == 4
       && s.npartners == 0, "valid delta passes on its own");

    u = s;
    ok(lookup(&u, UCO_ID_HASHPAN, HASHPAN_A, &i) == NULL
       && lookup(&u, UCO_ID_SOCIAL, "777", &i) != NULL
       && lookup_id(&u, 14, &i) == NULL,
       "an unbound delta sees its overlay only");

    ok(uco_snap_bind(&s, &b) == UCO_SNAP_OK && s.under == &b
       && s.npartners == 2 && uco_snap_find_partner(&s, 1001) != NULL,
       "bound to its base: the base's partners serve");

    ok(lookup(&s, UCO_ID_HASHPAN, HASHPAN_A, &i) == &b && i == 0,
       "a card only in the base: found through the base's table");
    ok(uco_snap_lookup(&s, (uco_snap_key(UCO_ID_HASHPAN, HASHPAN_B, 64,
                                         key), key), &ref)
       && ref.snap == &s && ref.card == 0
       && UCO_SNAP_SUM_STATUS(ref.summary) == UCO_CARD_ACTIVE
       && s.category_sets[uco_snap_card_set(&ref)] == 0x4
       && uco_snap_ref_id(&ref) == 11,
       "a changed card: the overlay's summary, a new category set");
    ok(lookup(&s, UCO_ID_SOCIAL, "777", &i) == &s && i == 0,
       "an identifier added to an existing card");
    ok(lookup(&s, UCO_ID_SOCIAL, SOCIAL_LONG, &i) == NULL,
       "an identifier removed: unknown, though the base has it");
    ok(lookup(&s, UCO_ID_SOCIAL, "0042", &i) == &s && i == 2
       && lookup(&s, UCO_ID_SOCIAL, "1313", &i) == &s && i == 2,
       "an identifier moved to a new card, and the new card's own");
    ok(lookup(&s, UCO_ID_SOCIAL, "4242", &i) == NULL,
       "an identifier in neither: unknown");
    ok(lookup_id(&s, 10, &i) == &b && i == 0
       && lookup_id(&s, 11, &i) == &s && i == 0
       && lookup_id(&s, 13, &i) == &s && i == 2
       && lookup_id(&s, 14, &i) == NULL
       && lookup_id(&s, 15, &i) == NULL,
       "by card id: overlay first, a tombstone is unknown");
    ok(lookup_id(&b, 10, &i) == &b && i == 0
       && lookup(&b, UCO_ID_SOCIAL, SOCIAL_LONG, &i) == &b && i == 2,
       "a base alone through the same calls");

    uco_snap_when(1704067200 + 10 * 3600, &w);
    (void) uco_snap_lookup(&s, key, &ref);
    uco_snap_decide(&s, uco_snap_find_partner(&s, 1001), &ref, &w, -1,
                    &res);
    ok(res.decision == UCO_DECISION_ELIGIBLE && res.programme->id == 7,
       "a decision over delta and base");

    /* a wrong base or sets that are not the base's first ones */
    uco_snap_check(&s, buf, len);
    memset(&d, 0, sizeof(d));
    bad = malloc(base_len);
    memcpy(bad, base, base_len);
    uco_snap_seal(bad, 7, 1700000005, 99);
    uco_snap_check(&u, bad, base_len);
    ok(uco_snap_bind(&s, &u) == UCO_SNAP_EBASE,
       "a base with another checksum refused");
    ok(uco_snap_bind(&s, &s) == UCO_SNAP_EINVAL, "a delta as base refused");
    free(bad);

    bad = build_delta(base, base_len, &len, 2);
    ok(bad != NULL && uco_snap_check(&s, bad, len) == UCO_SNAP_OK
       && uco_snap_bind(&s, &b) == UCO_SNAP_EBASE,
       "category sets that do not start with the base's refused");
    free(bad);

    bad = build_delta(base, base_len, &len, 1);
    ok(bad != NULL && uco_snap_check(&s, bad, len) == UCO_SNAP_ERECORD,
       "a tombstone with a kind refused");
    free(bad);

    bad = build_delta(base, base_len, &len, 3);
    ok(bad != NULL && uco_snap_check(&s, bad, len) == UCO_SNAP_ERECORD,
       "an identifier of a deleted card refused");
    free(bad);

    bad = build_delta(base, base_len, &len, 4);
    ok(bad != NULL && uco_snap_check(&s, bad, len) == UCO_SNAP_OK
       && uco_snap_bind(&s, &b) == UCO_SNAP_EBASE,
       "an overlay card the base has, not in the overrides, refused");
    free(bad);

    bad = build_delta(base, base_len, &len, 5);
    ok(bad != NULL && uco_snap_check(&s, bad, len) == UCO_SNAP_OK
       && uco_snap_bind(&s, &b) == UCO_SNAP_EBASE,
       "an override of a base card the overlay lacks refused");
    free(bad);

    d.base_generation = 7;
    ok(uco_snap_delta_size(&fam) <= sizeof(one)
       && uco_snap_init_delta(one, uco_snap_delta_size(&fam), &fam, &d)
          == UCO_SNAP_EINVAL, "partners without the flag refused");

    memcpy(one, buf, sizeof(uco_snap_header_t) + sizeof(uco_snap_delta_t));
    ((uco_snap_delta_t *) (one + sizeof(uco_snap_header_t)))->flags = 0x80;
    bad = malloc(len);
    memcpy(bad, buf, len);
    memcpy(bad, one, sizeof(uco_snap_header_t) + sizeof(uco_snap_delta_t));
    ok(uco_snap_open(&s, bad, len) == UCO_SNAP_ESECTION,
       "unknown delta flags refused");
    free(bad);

    free(buf);
}


/*
 * The summary's validity decides as valid_until did, on every day from
 * 1970-01-01 to 2149-06-05, for dates in range, before 1970, past 2149
 * and open-ended.
 */

static void
summaries(const uco_snap_t *s)
{
    int                        good;
    size_t                     i;
    int32_t                    day;
    uco_snap_ref_t             ref;
    uco_snap_when_t            w;
    uco_snap_result_t          res;
    const uco_snap_partner_t  *p;

    static const int32_t  until[] = {
        INT32_MIN, -2, -1, 0, 1, 20000, 65533, 65534, 65535, 65536,
        INT32_MAX
    };

    p = uco_snap_find_partner(s, 1001);
    good = p != NULL;

    for (i = 0; good && i < sizeof(until) / sizeof(until[0]); i++) {
        ref.snap = s;
        ref.card = 0;
        ref.summary = uco_snap_summary(until[i], UCO_CARD_ACTIVE,
                                       UCO_CARD_BANK, 0);

        for (day = 0; good && day <= 65534; day++) {
            w.day = day;
            w.weekday = 0;
            w.hour = 10;
            uco_snap_decide(s, p, &ref, &w, -1, &res);
            good = (res.decision == UCO_DECISION_CARD_EXPIRED)
                   == (day > until[i]);
        }
    }

    ok(good, "the summary's validity: as valid_until on every day to "
       "2149-06-05");

    ref.summary = uco_snap_summary(100, UCO_CARD_REPLACED,
                                   UCO_CARD_NON_FINANCIAL, 4094);
    ok(UCO_SNAP_SUM_STATUS(ref.summary) == UCO_CARD_REPLACED
       && UCO_SNAP_SUM_KIND(ref.summary) == UCO_CARD_NON_FINANCIAL
       && UCO_SNAP_SUM_SET(ref.summary) == 4094
       && (ref.summary & 0xffff) == 101
       && UCO_SNAP_SUM_SET(uco_snap_summary(100, UCO_CARD_ACTIVE,
                                            UCO_CARD_BANK, 70000))
          == UCO_SNAP_SUM_ESCAPE,
       "summary fields");
}


/*
 * 4 100 category sets: cards 1 and 3 name sets past the escape, found
 * through the overflow section; a missing or unsorted entry is refused.
 */

static int
escapes(void)
{
    int                        good;
    size_t                     size, i;
    uint8_t                   *buf, key[UCO_SNAP_KEY_LEN];
    uint64_t                  *cs;
    uco_snap_t                 s;
    uco_snap_ref_t             ref;
    uco_snap_when_t            w;
    uco_snap_result_t          res;
    uco_snap_partner_t        *p;
    uco_snap_programme_t      *pr;
    uco_snap_set_overflow_t   *o;
    uco_snap_counts_t          counts = { 4, 4, 1, 1, 0, 4100, 4, 0, 0,
                                          0, 0, 0 };
    uco_snap_card_in_t         c[4];
    static const char         *v[] = { "1", "2", "3", "4" };

    c[0] = CARD(20, 30000, 5, UCO_CARD_ACTIVE, UCO_CARD_BANK);
    c[1] = CARD(21, 30000, 4099, UCO_CARD_ACTIVE, UCO_CARD_BANK);
    c[2] = CARD(22, 30000, 4094, UCO_CARD_ACTIVE, UCO_CARD_BANK);
    c[3] = CARD(23, 30000, 4095, UCO_CARD_ACTIVE, UCO_CARD_BANK);

    buf = layout(&counts, c, &size);
    if (buf == NULL || counts.set_overflow != 2) {
        free(buf);
        return 0;
    }

    cs = uco_snap_section(buf, UCO_SNAP_SEC_CATEGORY_SETS);
    for (i = 0; i < 4100; i++) {
        cs[i] = i == 4099 ? 0x10 : 0x1;
    }

    p = uco_snap_section(buf, UCO_SNAP_SEC_PARTNERS);
    p->id = 1;
    p->status = UCO_PARTNER_ACTIVE;
    p->auth = UCO_AUTH_API_KEY;
    p->scopes = UCO_SCOPE_DISCOUNT;
    p->programme_count = 1;
    pr = uco_snap_section(buf, UCO_SNAP_SEC_PROGRAMMES);
    *pr = (uco_snap_programme_t) { 9, 0x10, 1000, INT32_MIN, INT32_MAX,
        UCO_DISCOUNT_PERCENT, 0, 0x7f, 0, 24, {0, 0, 0} };

    for (i = 0; i < 4; i++) {
        if (uco_snap_key(UCO_ID_SOCIAL, v[i], 1, key) != UCO_SNAP_OK
            || uco_snap_ident_add(buf, key, (uint32_t) i) != UCO_SNAP_OK)
        {
            free(buf);
            return 0;
        }
    }

    good = uco_snap_seal(buf, 1, 1, 1) == UCO_SNAP_OK
           && uco_snap_check(&s, buf, size) == UCO_SNAP_OK
           && s.noverflow == 2;

    w.day = 20000;
    w.weekday = 0;
    w.hour = 10;

    for (i = 0; good && i < 4; i++) {
        uco_snap_key(UCO_ID_SOCIAL, v[i], 1, key);
        good = uco_snap_lookup(&s, key, &ref)
               && uco_snap_card_set(&ref) == c[i].set;
        uco_snap_decide(&s, &s.partners[0], &ref, &w, -1, &res);
        good = good && res.decision == (i == 1 ? UCO_DECISION_ELIGIBLE
                                               : UCO_DECISION_NOT_ELIGIBLE);
    }

    o = uco_snap_section(buf, UCO_SNAP_SEC_SET_OVERFLOW);
    o[0] = o[1];
    good = good && uco_snap_seal(buf, 1, 1, 1) == UCO_SNAP_OK
           && uco_snap_check(&s, buf, size) == UCO_SNAP_ERECORD;
    o[0].card = 2;
    o[0].set = 4099;
    good = good && uco_snap_seal(buf, 1, 1, 1) == UCO_SNAP_OK
           && uco_snap_check(&s, buf, size) == UCO_SNAP_ERECORD;

    free(buf);

    return good;
}


int
main(void)
{
    int                 rc;
    size_t              len, i, bad;
    uint8_t            *buf, *copy, k1[UCO_SNAP_KEY_LEN];
    uint8_t             k2[UCO_SNAP_KEY_LEN];
    uint32_t            card, sum;
    uco_snap_t          s;
    uco_snap_when_t     w;
    uco_snap_verify_t   v;
    uco_snap_result_t   res;
    uco_snap_header_t  *h;

    buf = build(&len);
    ok(buf != NULL, "snapshot builds");
    if (buf == NULL) {
        printf("1..%d\n", tests);
        return 1;
    }

    ok(uco_snap_check(&s, buf, len) == UCO_SNAP_OK, "valid snapshot passes");
    ok(s.header->generation == 7 && s.header->watermark == 99,
       "header fields");
    ok(s.ncards == 3 && s.npartners == 2 && s.ncategory_sets == 3
       && s.nidents == 4 && s.nshort_idents == 2,
       "section counts; tables at most 85 % full plus a free slot");

    /* incremental validation agrees with one-shot */
    uco_snap_open(&s, buf, len);
    uco_snap_verify_init(&v);
    i = 0;
    while ((rc = uco_snap_verify_step(&s, &v, 100)) == UCO_SNAP_AGAIN) {
        i++;
    }
    uco_snap_verify_free(&v);
    ok(rc == UCO_SNAP_OK && i > 3, "incremental validation in steps");

    /* keys */
    ok(uco_snap_key(UCO_ID_HASHPAN, "ab", 2, k1) == UCO_SNAP_EINVAL,
       "short hashpan refused");
    ok(uco_snap_key(UCO_ID_HASHPAN, HASHPAN_A "0", 65, k1)
       == UCO_SNAP_EINVAL, "long hashpan refused");
    ok(uco_snap_key(UCO_ID_SOCIAL, "12a", 3, k1) == UCO_SNAP_EINVAL,
       "non-digit social refused");
    ok(uco_snap_key(UCO_ID_SOCIAL, "12345678901234567890123456789", 29, k1)
       == UCO_SNAP_EINVAL, "29-digit social refused");
    ok(keys(), "every length of every kind: digits in place, a bad byte "
       "anywhere refused, either case");
    uco_snap_key(UCO_ID_SOCIAL, "042", 3, k1);
    uco_snap_key(UCO_ID_SOCIAL, "42", 2, k2);
    ok(memcmp(k1, k2, sizeof(k1)) != 0, "leading zeros are significant");
    uco_snap_key(UCO_ID_HASHPAN,
        "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
        64, k1);
    uco_snap_key(UCO_ID_HASHPAN, HASHPAN_A, 64, k2);
    ok(memcmp(k1, k2, sizeof(k1)) == 0, "hashpan case-insensitive");
    ok(uco_snap_find_card(&s, k1, &card, &sum) && card == 0, "hashpan found");
    uco_snap_key(UCO_ID_SOCIAL, "0042", 4, k1);
    ok(uco_snap_find_card(&s, k1, &card, &sum) && card == 2, "social found");
    uco_snap_key(UCO_ID_SOCIAL, "42", 2, k1);
    ok(!uco_snap_find_card(&s, k1, &card, &sum), "unknown social not found");
    ok(uco_snap_ident_add(buf, k2, 0) == UCO_SNAP_EEXIST,
       "duplicate identifier refused");

    /* the two identifier tables */
    uco_snap_key(UCO_ID_SOCIAL, "0042", 4, k1);
    ok(uco_snap_key_is_short(k1) && !uco_snap_key_is_short(k2),
       "short social in the short table, hashpan in the long one");
    ok(uco_snap_ident_add(buf, k1, 1) == UCO_SNAP_EEXIST,
       "duplicate short identifier refused");
    k1[0] = 3;
    ok(uco_snap_key_is_short(k1) && !uco_snap_find_card(&s, k1, &card, &sum),
       "same short bytes of another kind not found");
    uco_snap_key(UCO_ID_SOCIAL, SOCIAL_LONG, 20, k1);
    ok(!uco_snap_key_is_short(k1) && uco_snap_find_card(&s, k1, &card, &sum)
       && card == 2, "20-digit social found in the long table");
    uco_snap_key(UCO_ID_SOCIAL, "56000000000000000043", 20, k1);
    ok(!uco_snap_find_card(&s, k1, &card, &sum),
       "unknown long social not found");
    uco_snap_key(UCO_ID_SOCIAL, "99999999999999", 14, k1);
    uco_snap_key(UCO_ID_SOCIAL, "560000000000001", 15, k2);
    ok(uco_snap_key_is_short(k1) && !uco_snap_key_is_short(k2),
       "14 digits are short, a 15th non-zero digit long");

    delta(buf, len);
    uco_snap_check(&s, buf, len);
    summaries(&s);
    ok(escapes(), "sets past the summary's escape: through the overflow "
       "section, which validation checks");

    ok(many(), "5000 identifiers all found, 5000 unknown ones not; cards "
       "by id; cards out of order refused");

    /* partners and terminals */
    ok(uco_snap_find_partner(&s, 1002) != NULL
       && uco_snap_find_partner(&s, 1003) == NULL, "partner lookup");
    ok(uco_snap_terminal_allowed(&s, &s.partners[0], "pos-2", 5)
       && !uco_snap_terminal_allowed(&s, &s.partners[0], "pos-3", 5)
       && !uco_snap_terminal_allowed(&s, &s.partners[0], NULL, 0)
       && uco_snap_terminal_allowed(&s, &s.partners[1], NULL, 0),
       "terminal allow-list");

    /* time: 2024-01-01 was a Monday */
    uco_snap_when(1704067200 + 10 * 3600, &w);
    ok(w.weekday == 0 && w.hour == 10 && w.day == 19723, "local time split");
    uco_snap_when(-1, &w);
    ok(w.day == -1 && w.hour == 23 && w.weekday == 2, "before the epoch");

    /* decisions: Monday 10:00 */
    decide(&s, HASHPAN_A, 100000, 1704067200 + 10 * 3600, &res);
    ok(res.decision == UCO_DECISION_ELIGIBLE && res.programme->id == 6
       && res.discount == 30000, "largest discount in money wins");
    decide(&s, HASHPAN_A, 1000000, 1704067200 + 10 * 3600, &res);
    ok(res.decision == UCO_DECISION_ELIGIBLE && res.programme->id == 5
       && res.discount == 100000, "percent wins on a big amount");
    decide(&s, HASHPAN_A, 100, 1704067200 + 10 * 3600, &res);
    ok(res.programme != NULL && res.discount == 100,
       "fixed discount never above the amount");
    decide(&s, HASHPAN_A, -1, 1704067200 + 10 * 3600, &res);
    ok(res.programme != NULL && res.programme->id == 5,
       "without amount: highest percent");
    decide(&s, HASHPAN_B, -1, 1704067200, &res);
    ok(res.decision == UCO_DECISION_CARD_BLOCKED, "blocked card");
    decide(&s, HASHPAN_A, -1, 20001LL * 86400, &res);
    ok(res.decision == UCO_DECISION_CARD_EXPIRED, "expired by date");
    decide(&s, HASHPAN_A, -1, 20000LL * 86400 + 86399, &res);
    ok(res.decision == UCO_DECISION_ELIGIBLE, "valid through valid_until");

    /* corruption: every single-byte flip is refused, never a crash */
    copy = malloc(len);
    bad = 0;
    for (i = 0; i < len; i += 7) {
        memcpy(copy, buf, len);
        copy[i] ^= 0x5a;
        if (uco_snap_check(&s, copy, len) != UCO_SNAP_OK) {
            bad++;
        }
    }
    ok(bad == (len + 6) / 7, "every flipped byte refused");

    memcpy(copy, buf, len);
    ok(uco_snap_check(&s, copy, len - 1) == UCO_SNAP_ETRUNCATED,
       "truncated refused");
    ok(uco_snap_check(&s, copy, 40) == UCO_SNAP_ETRUNCATED,
       "header-only refused");
    h = (uco_snap_header_t *) copy;
    h->version = 1;
    ok(uco_snap_check(&s, copy, len) == UCO_SNAP_EVERSION,
       "wrong version refused");
    memcpy(copy, buf, len);
    h->sections[1].offset = len;
    ok(uco_snap_open(&s, copy, len) == UCO_SNAP_ESECTION,
       "section beyond the file refused");
    memcpy(copy, buf, len);
    h->sections[0].size = UINT64_MAX - 8;
    ok(uco_snap_open(&s, copy, len) == UCO_SNAP_ESECTION,
       "huge section size refused without overflow");
    memcpy(copy, buf, len);
    h->sections[2].id = 1;
    ok(uco_snap_open(&s, copy, len) == UCO_SNAP_ESECTION,
       "duplicate section refused");
    ok(uco_snap_open(&s, NULL, 0) == UCO_SNAP_ETRUNCATED, "NULL refused");
    ok(strcmp(uco_snap_strerror(UCO_SNAP_ECHECKSUM), "checksum mismatch")
       == 0 && strcmp(uco_snap_strerror(-5), "unknown error") == 0,
       "strerror");

    /* records pointing outside their sections; slot and card differ */
    memcpy(copy, buf, len);
    uco_snap_open(&s, copy, len);
    sum = (s.cards[1].summary & 0xfffff) | 3u << 20;
    ((uco_snap_card_t *) s.cards)[1].summary = sum;
    for (i = 0; i < s.nidents; i++) {
        if (s.idents[i].card == 1) {
            ((uco_snap_ident_t *) s.idents)[i].summary = sum;
        }
    }
    uco_snap_seal(copy, 7, 1700000000, 99);
    ok(uco_snap_check(&s, copy, len) == UCO_SNAP_ERECORD,
       "card with a category set out of range refused");
    memcpy(copy, buf, len);
    uco_snap_open(&s, copy, len);
    ((uco_snap_card_t *) s.cards)[0].summary ^= 1;
    uco_snap_seal(copy, 7, 1700000000, 99);
    ok(uco_snap_check(&s, copy, len) == UCO_SNAP_ERECORD,
       "an identifier slot whose summary is not its card's refused");
    memcpy(copy, buf, len);
    uco_snap_open(&s, copy, len);
    ((uco_snap_card_t *) s.cards)[2].summary &= ~(7u << 16);
    ((uco_snap_card_t *) s.cards)[2].summary |= 5u << 16;
    uco_snap_seal(copy, 7, 1700000000, 99);
    ok(uco_snap_check(&s, copy, len) == UCO_SNAP_ERECORD,
       "a summary with an unknown status refused");
    memcpy(copy, buf, len);
    uco_snap_open(&s, copy, len);
    for (i = 0; i < s.nidents; i++) {
        if (s.idents[i].card != UCO_SNAP_EMPTY) {
            uco_snap_key(UCO_ID_SOCIAL, "7", 1,
                         ((uco_snap_ident_t *) s.idents)[i].key);
            break;
        }
    }
    uco_snap_seal(copy, 7, 1700000000, 99);
    ok(uco_snap_check(&s, copy, len) == UCO_SNAP_ERECORD,
       "short key in the long table refused");

    free(copy);
    free(buf);

    printf("1..%d\n", tests);
    return failed != 0;
}
