/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * libFuzzer target: query strings and Authorization values as partners
 * could send them, through the parser the module runs.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uco_query.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char               *copy;
    uint64_t            partner;
    uco_str_t           secret;
    uco_query_t         q;
    uco_query_error_t   err;

    /* an exact-size copy, so ASan sees any read past the end */
    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);

    if (uco_query_parse(copy, size, &q, &err) == 0) {
        if (q.card.data == NULL || q.card.len == 0
            || (q.amount_kopecks < -1)
            || q.amount_kopecks > 999999999999LL)
        {
            abort();
        }

    } else if (err.status != 400 || err.code == NULL) {
        abort();
    }

    if (uco_query_credentials(copy, size, &partner, &secret) == 0) {
        if (partner == 0 || secret.len == 0
            || secret.data < copy || secret.data + secret.len > copy + size)
        {
            abort();
        }
    }

    free(copy);

    return 0;
}
