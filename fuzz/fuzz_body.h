/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The check shared by the body targets: a body of one type through the
 * parser the module runs, then the invariants the module relies on.
 * The same bytes also go through the media-type parsers.
 */

#ifndef FUZZ_BODY_H
#define FUZZ_BODY_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uco_body.h"


/* what the module uses unless configured otherwise */
#define FUZZ_BODY_MAX  100


static void
fuzz_body(uco_body_type_e type, const uint8_t *data, size_t size)
{
    char               *copy;
    size_t              i;
    uco_body_t          body;
    uco_query_error_t   err;
    uco_body_check_t   *c;

    /* an exact-size copy, so ASan sees any read past the end */
    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return;
    }

    memcpy(copy, data, size);

    if (uco_body_parse(type, copy, size, FUZZ_BODY_MAX, &body, &err) == 0) {
        if (body.n == 0 || body.n > FUZZ_BODY_MAX
            || (!body.batch && body.n != 1))
        {
            abort();
        }

        for (i = 0; i < body.n; i++) {
            c = &body.checks[i];

            if (c->err.status == 0) {
                if (c->q.card.data == NULL || c->q.card.len == 0
                    || c->q.amount_kopecks < -1
                    || c->q.amount_kopecks > 999999999999LL)
                {
                    abort();
                }

            } else if (c->err.status != 400 || c->err.code == NULL
                       || c->err.message == NULL)
            {
                abort();
            }
        }

    } else if ((err.status != 400 && err.status != 413
                && err.status != 500)
               || err.code == NULL || err.message == NULL)
    {
        abort();
    }

    uco_body_free(&body);

    (void) uco_body_content_type(copy, size);
    (void) uco_body_accept_msgpack(copy, size);

    free(copy);
}

#endif /* FUZZ_BODY_H */
