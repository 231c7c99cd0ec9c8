/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * libFuzzer target: query strings and Authorization values as partners
 * could send them, through the parser the module runs; and the input as
 * an identifier of each kind through uco_snap_key(), whose word-at-a-time
 * parsing must accept, refuse and encode exactly as the plain loops
 * below, the reference it replaced.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uco_query.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static int ref_hex(int c);
static int ref_unhex(const char *v, size_t len, uint8_t *out);
static int ref_key(uco_id_kind_e kind, const char *v, size_t len,
    uint8_t key[UCO_SNAP_KEY_LEN]);


static int
ref_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}


static int
ref_unhex(const char *v, size_t len, uint8_t *out)
{
    int     hi, lo;
    size_t  i;

    for (i = 0; i < len; i += 2) {
        hi = ref_hex((unsigned char) v[i]);
        lo = ref_hex((unsigned char) v[i + 1]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        out[i / 2] = (uint8_t) (hi << 4 | lo);
    }

    return 0;
}


static int
ref_key(uco_id_kind_e kind, const char *v, size_t len,
    uint8_t key[UCO_SNAP_KEY_LEN])
{
    size_t   i;
    uint8_t  hash[32];

    memset(key, 0, UCO_SNAP_KEY_LEN);

    switch (kind) {

    case UCO_ID_HASHPAN:
        if (len != 64 || ref_unhex(v, len, hash) != 0) {
            return -1;
        }

        memcpy(key + 1, hash, UCO_SNAP_KEY_LEN - 1);
        break;

    case UCO_ID_SOCIAL:
    case UCO_ID_BARCODE:
        if (len == 0 || len > 28) {
            return -1;
        }

        key[1] = (uint8_t) len;

        for (i = 0; i < len; i++) {
            if (v[i] < '0' || v[i] > '9') {
                return -1;
            }

            key[2 + i / 2] |= (uint8_t) ((v[i] - '0') << (i % 2 ? 0 : 4));
        }

        break;

    case UCO_ID_UID:
        if ((len != 8 && len != 14 && len != 20)
            || ref_unhex(v, len, key + 2) != 0)
        {
            return -1;
        }

        key[1] = (uint8_t) (len / 2);
        break;

    default:
        return -1;
    }

    key[0] = (uint8_t) kind;

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                 ok;
    char               *copy;
    uint8_t             key[UCO_SNAP_KEY_LEN], want[UCO_SNAP_KEY_LEN];
    uint64_t            partner;
    uco_str_t           secret;
    uco_query_t         q;
    uco_id_kind_e       kind;
    uco_query_error_t   err;

    /* an exact-size copy, so ASan sees any read past the end */
    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);

    for (kind = UCO_ID_HASHPAN; kind <= UCO_ID_UID; kind++) {
        ok = uco_snap_key(kind, copy, size, key) == UCO_SNAP_OK;

        if (ok != (ref_key(kind, copy, size, want) == 0)
            || (ok && memcmp(key, want, UCO_SNAP_KEY_LEN) != 0))
        {
            abort();
        }
    }

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
