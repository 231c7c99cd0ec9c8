/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * libFuzzer target: a hostile delta over a fixed, valid base.  Lookups
 * through the delta and its base must stay in bounds after
 * uco_snap_open() and uco_snap_bind() alone, and uco_snap_check() must
 * never fault.  The seed (fuzz/corpus/delta) is a valid delta over this
 * base: built with -DFUZZ_DELTA_SEED, this file writes it to stdout.
 */

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uco_snap.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *fuzz_base(size_t *len);
static void fuzz_lookups(const uco_snap_t *s);


/* four cards, two socials and a hashpan each; one partner */

static uint8_t *
fuzz_base(size_t *len)
{
    char                 v[16];
    size_t               size;
    uint8_t             *buf, key[UCO_SNAP_KEY_LEN];
    uint32_t             i;
    uint64_t            *cs;
    uco_snap_partner_t  *p;
    uco_snap_counts_t    counts = { 4, 8, 1, 0, 0, 2, 8, 0, 0, 0, 0, 0 };
    uco_snap_card_in_t   c[4];

    for (i = 0; i < 4; i++) {
        c[i].id = 100 + i;
        c[i].set = i % 2;
        c[i].summary = uco_snap_summary(30000, UCO_CARD_ACTIVE,
                                        UCO_CARD_BANK, c[i].set);
    }

    uco_snap_cards_count(c, 4, &counts);
    size = uco_snap_size(&counts);
    buf = aligned_alloc(64, size);
    if (buf == NULL) {
        return NULL;
    }

    memset(buf, 0, size);

    if (uco_snap_init(buf, size, &counts) != UCO_SNAP_OK
        || uco_snap_cards_put(buf, c) != UCO_SNAP_OK)
    {
        free(buf);
        return NULL;
    }

    cs = uco_snap_section(buf, UCO_SNAP_SEC_CATEGORY_SETS);
    p = uco_snap_section(buf, UCO_SNAP_SEC_PARTNERS);
    cs[0] = 1;
    cs[1] = 6;
    p->id = 1;
    p->status = UCO_PARTNER_ACTIVE;
    p->auth = UCO_AUTH_API_KEY;
    p->scopes = UCO_SCOPE_DISCOUNT;
    p->nsecrets = 1;
    p->contract_from = INT32_MIN;
    p->contract_to = INT32_MAX;

    for (i = 0; i < 4; i++) {
        snprintf(v, sizeof(v), "%u", 100 + i);
        uco_snap_key(UCO_ID_SOCIAL, v, strlen(v), key);
        uco_snap_ident_add(buf, key, i);
        snprintf(v, sizeof(v), "9%u", 100 + i);
        uco_snap_key(UCO_ID_SOCIAL, v, strlen(v), key);
        uco_snap_ident_add(buf, key, i);
    }

    if (uco_snap_seal(buf, 1, 1700000000, 1) != UCO_SNAP_OK) {
        free(buf);
        return NULL;
    }

    *len = size;

    return buf;
}


static void
fuzz_lookups(const uco_snap_t *s)
{
    char                       v[16];
    size_t                     i;
    uint8_t                    key[UCO_SNAP_KEY_LEN];
    uco_snap_ref_t             ref;
    uco_snap_when_t            w;
    uco_snap_result_t          res;
    const uco_snap_partner_t  *p;

    p = s->npartners > 0 ? uco_snap_find_partner(s, s->partners[0].id)
                         : NULL;
    uco_snap_when(3600 * 10, &w);

    for (i = 0; i < 12; i++) {
        snprintf(v, sizeof(v), "%s%zu", i % 2 ? "9" : "", 98 + i / 2);
        uco_snap_key(UCO_ID_SOCIAL, v, strlen(v), key);

        (void) uco_snap_lookup(s, key, &ref);

        if (p != NULL) {
            uco_snap_decide(s, p, &ref, &w, 1000, &res);
        }

        (void) uco_snap_ref_id(&ref);
        (void) uco_snap_card_set(&ref);
        (void) uco_snap_lookup_id(s, 98 + i, &ref);
    }

    for (i = 0; i < s->nidents && i < 16; i++) {
        (void) uco_snap_lookup(s, s->idents[i].key, &ref);
    }

    for (i = 0; i < s->nshort_idents && i < 16; i++) {
        memset(key, 0, sizeof(key));
        key[0] = (uint8_t) (s->short_idents[i].card >> 28);
        memcpy(key + 1, s->short_idents[i].key, 8);
        (void) uco_snap_lookup(s, key, &ref);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          len;
    uint8_t        *buf;
    uco_snap_t      s, b;
    static size_t   base_len;
    static uint8_t *base;

    if (base == NULL) {
        base = fuzz_base(&base_len);
        if (base == NULL || uco_snap_check(&b, base, base_len) != 0) {
            abort();
        }
    }

    /* a mapping is page-aligned; give the reader the same alignment */
    buf = aligned_alloc(64, (size + 64) & ~(size_t) 63);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);
    len = size;

    uco_snap_open(&b, base, base_len);

    if (uco_snap_open(&s, buf, len) == UCO_SNAP_OK) {
        fuzz_lookups(&s);

        if (s.delta != NULL && uco_snap_bind(&s, &b) == UCO_SNAP_OK) {
            fuzz_lookups(&s);
        }
    }

    if (uco_snap_check(&s, buf, len) == UCO_SNAP_OK && s.delta != NULL
        && uco_snap_bind(&s, &b) == UCO_SNAP_OK)
    {
        fuzz_lookups(&s);
    }

    free(buf);

    return 0;
}


#ifdef FUZZ_DELTA_SEED

/*
 * card 101 blocked, 103 deleted, 104 new with "101" moved to it; 101,
 * 102 and 103 override base cards 1, 2 and 3
 */

int
main(void)
{
    size_t               len, size;
    uint8_t             *base, *buf, key[UCO_SNAP_KEY_LEN];
    uint32_t            *o;
    uint64_t            *cs;
    uco_snap_delta_t     d;
    uco_snap_counts_t    counts = { 4, 3, 0, 0, 0, 3, 3, 0, 0, 0, 0, 3 };
    uco_snap_card_in_t   c[4];

    c[0] = (uco_snap_card_in_t) { 101, uco_snap_summary(30000,
        UCO_CARD_BLOCKED, UCO_CARD_BANK, 1), 1 };
    c[1] = (uco_snap_card_in_t) { 102, uco_snap_summary(30000,
        UCO_CARD_ACTIVE, UCO_CARD_BANK, 2), 2 };
    c[2] = (uco_snap_card_in_t) { 103, UCO_SNAP_SUM_TOMBSTONE, 0 };
    c[3] = (uco_snap_card_in_t) { 104, uco_snap_summary(30000,
        UCO_CARD_ACTIVE, UCO_CARD_NON_FINANCIAL, 0), 0 };
    uco_snap_cards_count(c, 4, &counts);

    base = fuzz_base(&len);
    if (base == NULL) {
        return 1;
    }

    memset(&d, 0, sizeof(d));
    d.base_generation = 1;
    d.base_size = len;
    memcpy(d.base_checksum, ((uco_snap_header_t *) base)->checksum, 32);

    size = uco_snap_delta_size(&counts);
    buf = calloc(1, size);
    if (buf == NULL || uco_snap_init_delta(buf, size, &counts, &d) != 0
        || uco_snap_cards_put(buf, c) != 0)
    {
        return 1;
    }

    o = uco_snap_section(buf, UCO_SNAP_SEC_OVERRIDES);
    o[0] = 1;
    o[1] = 2;
    o[2] = 3;
    cs = uco_snap_section(buf, UCO_SNAP_SEC_CATEGORY_SETS);
    cs[0] = 1;
    cs[1] = 6;
    cs[2] = 8;

    uco_snap_key(UCO_ID_SOCIAL, "9101", 4, key);
    uco_snap_ident_add(buf, key, 0);
    uco_snap_key(UCO_ID_SOCIAL, "102", 3, key);
    uco_snap_ident_add(buf, key, 1);
    uco_snap_key(UCO_ID_SOCIAL, "101", 3, key);
    uco_snap_ident_add(buf, key, 3);

    if (uco_snap_seal(buf, 2, 1700000001, 2) != 0
        || fwrite(buf, 1, size, stdout) != size)
    {
        return 1;
    }

    return 0;
}

#endif
