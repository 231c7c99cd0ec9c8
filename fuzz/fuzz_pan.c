/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * libFuzzer target: the PAN check, the HashPAN key file parser and the
 * query wiping that the module runs on every request.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uco_pan.h"
#include "uco_query.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char     *copy;
    size_t    klen, wiped, i, stars;
    uint8_t   key[UCO_PAN_KEY_MAX], hash[UCO_PAN_HASH_LEN];

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);

    if (uco_pan_valid(copy, size)) {
        if (size < UCO_PAN_MIN_DIGITS || size > UCO_PAN_MAX_DIGITS
            || uco_pan_hash((const uint8_t *) "k", 1, copy, size, hash)
               != 0)
        {
            abort();
        }
    }

    if (uco_pan_key_parse(copy, size, key, &klen) == 0
        && (klen < UCO_PAN_KEY_MIN || klen > UCO_PAN_KEY_MAX))
    {
        abort();
    }

    /* wiping changes only card values, into stars */
    wiped = uco_query_wipe_pan(copy, size);
    stars = 0;

    for (i = 0; i < size; i++) {
        if (copy[i] != (char) data[i]) {
            if (copy[i] != '*') {
                abort();
            }

            stars++;
        }
    }

    if (stars > wiped || wiped > size) {
        abort();
    }

    free(copy);

    return 0;
}
