/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * libFuzzer target: journal records as the loader reads them from the
 * ring or a spool, through both decoders.  What the fixed-layout decoder
 * accepts, msgpack-c's decoder must accept with the same values (the
 * loader trusts the fast path as it trusts msgpack-c); what either
 * accepts must encode back to a record that decodes to the same values,
 * by both again.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uco_journal.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);



int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                fixed, generic;
    size_t             len;
    uint8_t           *copy;
    uco_journal_rec_t  f, r, again;
    uint8_t            buf[UCO_JOURNAL_RECORD_MAX];

    /* an exact-size copy, so ASan sees any read past the end */
    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);

    fixed = uco_journal_decode_fixed(copy, size, &f);
    generic = uco_journal_decode(copy, size, &r);

    if (fixed != UCO_JOURNAL_OK && fixed != UCO_JOURNAL_ELAYOUT) {
        abort();
    }

    if (fixed == UCO_JOURNAL_OK
        && (generic != UCO_JOURNAL_OK || memcmp(&f, &r, sizeof(f)) != 0))
    {
        abort();
    }

    if (generic == UCO_JOURNAL_OK) {
        len = uco_journal_encode(&r, buf, sizeof(buf));

        if (len != 0
            && (uco_journal_decode(buf, len, &again) != UCO_JOURNAL_OK
                || memcmp(&r, &again, sizeof(r)) != 0
                || uco_journal_decode_fixed(buf, len, &again)
                   != UCO_JOURNAL_OK
                || memcmp(&r, &again, sizeof(r)) != 0))
        {
            abort();
        }
    }

    free(copy);

    return 0;
}
