/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The msgpack walk before msgpack-c: see uco_msgpack.h.
 */

#include "uco_msgpack.h"


static uint64_t uco_msgpack_be(const uint8_t *p, size_t n);


/*
 * The end of the msgpack object at p, or NULL if it is cut, malformed or
 * nested too deep.  A container declaring more elements than bytes left
 * is refused at once: every element takes at least one byte.
 */

const uint8_t *
uco_msgpack_skip(const uint8_t *p, const uint8_t *end, int depth,
    int max_depth)
{
    uint8_t   b;
    uint64_t  n, i, skip;

    if (p == NULL || p >= end || depth > max_depth) {
        return NULL;
    }

    b = *p++;
    n = 0;
    skip = 0;

    if (b <= 0x7f || b >= 0xe0) {                  /* fixint */
        return p;
    }

    if (b >= 0x80 && b <= 0x8f) {                  /* fixmap */
        n = 2 * (uint64_t) (b & 0x0f);
        goto container;
    }

    if (b >= 0x90 && b <= 0x9f) {                  /* fixarray */
        n = b & 0x0f;
        goto container;
    }

    if (b >= 0xa0 && b <= 0xbf) {                  /* fixstr */
        skip = b & 0x1f;
        goto bytes;
    }

    switch (b) {

    case 0xc0:                                     /* nil */
    case 0xc2:                                     /* false */
    case 0xc3:                                     /* true */
        return p;

    case 0xcc:                                     /* uint 8 */
    case 0xd0:                                     /* int 8 */
        skip = 1;
        goto bytes;

    case 0xcd:                                     /* uint 16 */
    case 0xd1:                                     /* int 16 */
    case 0xd4:                                     /* fixext 1 */
        skip = 2;
        goto bytes;

    case 0xd5:                                     /* fixext 2 */
        skip = 3;
        goto bytes;

    case 0xca:                                     /* float 32 */
    case 0xce:                                     /* uint 32 */
    case 0xd2:                                     /* int 32 */
        skip = 4;
        goto bytes;

    case 0xd6:                                     /* fixext 4 */
        skip = 5;
        goto bytes;

    case 0xcb:                                     /* float 64 */
    case 0xcf:                                     /* uint 64 */
    case 0xd3:                                     /* int 64 */
        skip = 8;
        goto bytes;

    case 0xd7:                                     /* fixext 8 */
        skip = 9;
        goto bytes;

    case 0xd8:                                     /* fixext 16 */
        skip = 17;
        goto bytes;

    case 0xc4:                                     /* bin 8 */
    case 0xd9:                                     /* str 8 */
        n = 1;
        break;

    case 0xc5:                                     /* bin 16 */
    case 0xda:                                     /* str 16 */
        n = 2;
        break;

    case 0xc6:                                     /* bin 32 */
    case 0xdb:                                     /* str 32 */
        n = 4;
        break;

    case 0xc7:                                     /* ext 8: +1 type byte */
        n = 1;
        skip = 1;
        break;

    case 0xc8:                                     /* ext 16 */
        n = 2;
        skip = 1;
        break;

    case 0xc9:                                     /* ext 32 */
        n = 4;
        skip = 1;
        break;

    case 0xdc:                                     /* array 16 */
    case 0xdd:                                     /* array 32 */
    case 0xde:                                     /* map 16 */
    case 0xdf:                                     /* map 32 */
        i = (b == 0xdc || b == 0xde) ? 2 : 4;

        if ((uint64_t) (end - p) < i) {
            return NULL;
        }

        n = uco_msgpack_be(p, i);
        p += i;

        if (b >= 0xde) {
            n *= 2;
        }

        goto container;

    default:                                       /* 0xc1: never used */
        return NULL;
    }

    /* a length of n bytes, then skip more bytes, then that many bytes */

    if ((uint64_t) (end - p) < n) {
        return NULL;
    }

    skip += uco_msgpack_be(p, n);
    p += n;

bytes:

    if ((uint64_t) (end - p) < skip) {
        return NULL;
    }

    return p + skip;

container:

    if ((uint64_t) (end - p) < n) {
        return NULL;
    }

    for (i = 0; i < n && p != NULL; i++) {
        p = uco_msgpack_skip(p, end, depth + 1, max_depth);
    }

    return p;
}


static uint64_t
uco_msgpack_be(const uint8_t *p, size_t n)
{
    size_t    i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }

    return v;
}
