/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * libFuzzer target: a hostile snapshot file.  Every lookup must stay in
 * bounds after uco_snap_open() alone (the module validates more, but the
 * readers do not rely on it), and uco_snap_check() must never fault.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uco_snap.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                     i;
    uint8_t                   *buf, key[UCO_SNAP_KEY_LEN];
    uint32_t                   card, sum;
    uco_snap_t                 s;
    uco_snap_ref_t             ref;
    uco_snap_when_t            w;
    uco_snap_result_t          res;
    const uco_snap_partner_t  *p;

    /* a mapping is page-aligned; give the reader the same alignment */
    buf = aligned_alloc(64, (size + 64) & ~(size_t) 63);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);

    if (uco_snap_open(&s, buf, size) == UCO_SNAP_OK) {
        for (i = 0; i < s.npartners && i < 8; i++) {
            p = uco_snap_find_partner(&s, s.partners[i].id);
            if (p == NULL) {
                continue;
            }

            uco_snap_terminal_allowed(&s, p, "pos-1", 5);

            memset(key, (int) i, sizeof(key));
            key[0] = UCO_ID_HASHPAN;
            uco_snap_when((int64_t) i * 86400 * 31 + 3600 * 10, &w);
            (void) uco_snap_lookup(&s, key, &ref);
            uco_snap_decide(&s, p, &ref, &w, (int64_t) i * 1000 - 1, &res);
            (void) uco_snap_ref_id(&ref);
        }

        for (i = 0; i < s.nidents && i < 16; i++) {
            if (uco_snap_lookup(&s, s.idents[i].key, &ref)) {
                (void) uco_snap_card_set(&ref);
                (void) uco_snap_lookup_id(&s, uco_snap_ref_id(&ref), &ref);
            }
        }

        for (i = 0; i < s.ncards && i < 16; i++) {
            (void) uco_snap_lookup_id(&s, uco_snap_card_id(&s,
                                                           (uint32_t) i),
                                      &ref);
        }

        /* a short slot's whole key: byte 0 from the card word */
        for (i = 0; i < s.nshort_idents && i < 16; i++) {
            memset(key, 0, sizeof(key));
            key[0] = (uint8_t) (s.short_idents[i].card >> 28);
            memcpy(key + 1, s.short_idents[i].key, 8);
            uco_snap_find_card(&s, key, &card, &sum);
        }
    }

    uco_snap_check(&s, buf, size);

    free(buf);

    return 0;
}
