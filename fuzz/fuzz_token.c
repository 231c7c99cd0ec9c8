/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * libFuzzer target: QR token decoding and Ed25519 verification, the
 * code the module runs for kind=token, against the test key of
 * t/data/keys/token-1.pub.  A forged signature must never verify.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uco_token.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* t/data/keys/token-1.pub, raw */
static const uint8_t  fuzz_pub[UCO_TOKEN_PUBKEY_LEN] = {
    0x68, 0x82, 0x5b, 0x57, 0x90, 0xa7, 0x3a, 0xe2,
    0x4d, 0xa2, 0x97, 0x77, 0x20, 0xd2, 0x37, 0x89,
    0x2b, 0x16, 0xea, 0xe9, 0x36, 0x75, 0xe6, 0xe2,
    0xe7, 0xf7, 0x3d, 0x84, 0xcb, 0x49, 0x3d, 0x6b
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          rc;
    char        *copy;
    uco_token_t  t;

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);

    rc = uco_token_decode(copy, size, &t);

    if (rc == UCO_TOKEN_OK) {
        if (size != UCO_TOKEN_LEN || t.key_id == 0 || t.card == 0) {
            abort();
        }

        rc = uco_token_verify(&t, fuzz_pub);

        if (rc != UCO_TOKEN_OK && rc != UCO_TOKEN_ESIGNATURE) {
            abort();
        }

        (void) uco_token_expired(&t, 0, 30);

    } else if (rc != UCO_TOKEN_EMALFORMED) {
        abort();
    }

    free(copy);

    return 0;
}
