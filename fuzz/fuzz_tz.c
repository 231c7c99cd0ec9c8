/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * libFuzzer target: a hostile TZif file, and the same bytes as a zone
 * name.  An accepted file must give sorted transitions with sane
 * offsets, and every lookup must land on the transition in force.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uco_tz.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void fuzz_tz_check_find(const int64_t *at, size_t n, int64_t t);


static void
fuzz_tz_check_find(const int64_t *at, size_t n, int64_t t)
{
    size_t  i;

    i = uco_tz_find(at, n, t);

    if (i >= n || at[i] > t || (i + 1 < n && at[i + 1] <= t)) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          i, n;
    int32_t        *offset;
    int64_t        *at;
    uint8_t        *copy;
    uco_tz_file_t   f;

    /* an exact-size copy, so ASan sees any read past the end */
    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);

    if (uco_tz_name_valid((const char *) copy, size) == 0
        && (size > UCO_TZ_MAX_NAME || copy[0] == '/'
            || memchr(copy, '.', size) != NULL
            || memchr(copy, '\0', size) != NULL))
    {
        abort();
    }

    if (uco_tz_open(&f, copy, size) != 0) {
        free(copy);
        return 0;
    }

    n = uco_tz_count(&f);
    at = malloc(n * sizeof(int64_t));
    offset = malloc(n * sizeof(int32_t));

    if (at != NULL && offset != NULL && uco_tz_read(&f, at, offset) == 0) {
        if (n == 0 || at[0] != INT64_MIN) {
            abort();
        }

        for (i = 1; i < n; i++) {
            if (at[i] <= at[i - 1] || offset[i] < -86400 || offset[i] > 86400)
            {
                abort();
            }

            fuzz_tz_check_find(at, n, at[i]);
            fuzz_tz_check_find(at, n, at[i] - 1);
        }

        fuzz_tz_check_find(at, n, INT64_MIN);
        fuzz_tz_check_find(at, n, INT64_MAX);
        fuzz_tz_check_find(at, n, 0);
    }

    free(at);
    free(offset);
    free(copy);

    return 0;
}
