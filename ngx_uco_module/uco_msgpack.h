/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * A bounds-checking walk over msgpack bytes, run before msgpack-c sees
 * them: msgpack-c allocates a container's declared size up front, so a
 * few bytes claiming 2^32 elements would make it ask for gigabytes.
 * Plain C, shared by the request bodies (uco_body.c) and the journal's
 * records (uco_journal.c).
 */

#ifndef UCO_MSGPACK_H
#define UCO_MSGPACK_H

#include <stddef.h>
#include <stdint.h>


/*
 * The end of the msgpack object at p, or NULL if it is cut, malformed or
 * nested deeper than max_depth.
 */
const uint8_t *uco_msgpack_skip(const uint8_t *p, const uint8_t *end,
    int depth, int max_depth);

#endif /* UCO_MSGPACK_H */
