/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * libFuzzer target: the signed-request Authorization header and the
 * sorted-query hash, the code the module runs for UCO-HMAC-SHA256.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uco_sig.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char       *copy;
    uint8_t     qh[UCO_SIG_LEN], out[UCO_SIG_LEN];
    uco_sig_t   s;

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);

    if (uco_sig_parse(copy, size, &s) == 0) {
        if (s.partner == 0 || s.ts < 0 || s.nonce < copy
            || s.nonce_len < UCO_SIG_NONCE_MIN
            || s.nonce_len > UCO_SIG_NONCE_MAX
            || s.nonce + s.nonce_len > copy + size
            || !uco_sig_is_signed(copy, size))
        {
            abort();
        }

        if (uco_sig_compute((const uint8_t *) "k", 1, &s, "GET", 3,
                            "/v1/eligibility", 15, qh, qh, out) != 0)
        {
            abort();
        }
    }

    /* the same bytes as a query: sorted and hashed, or too many pairs */
    (void) uco_sig_query_hash(copy, size, qh);

    free(copy);

    return 0;
}
