/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * PAN checks and the keyed HashPAN.
 */

#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "uco_pan.h"
#include "uco_snap.h"


int
uco_pan_valid(const char *pan, size_t len)
{
    size_t    i;
    unsigned  d, sum;

    if (pan == NULL || len < UCO_PAN_MIN_DIGITS || len > UCO_PAN_MAX_DIGITS)
    {
        return 0;
    }

    sum = 0;

    /* from the check digit leftwards, every second digit doubled */
    for (i = 0; i < len; i++) {
        if (pan[len - 1 - i] < '0' || pan[len - 1 - i] > '9') {
            return 0;
        }

        d = (unsigned) (pan[len - 1 - i] - '0');

        if (i % 2 == 1) {
            d *= 2;
            if (d > 9) {
                d -= 9;
            }
        }

        sum += d;
    }

    return sum % 10 == 0;
}


int
uco_pan_hash(const uint8_t *key, size_t key_len, const char *pan,
    size_t len, uint8_t out[UCO_PAN_HASH_LEN])
{
    unsigned int  n;

    n = 0;

    if (HMAC(EVP_sha256(), key, (int) key_len, (const unsigned char *) pan,
             len, out, &n) == NULL
        || n != UCO_PAN_HASH_LEN)
    {
        return -1;
    }

    return 0;
}


int
uco_pan_key_parse(const char *text, size_t len,
    uint8_t key[UCO_PAN_KEY_MAX], size_t *key_len)
{
    size_t  n, i;

    n = 0;
    while (n < len && strchr("0123456789abcdefABCDEF", text[n]) != NULL
           && text[n] != '\0')
    {
        n++;
    }

    for (i = n; i < len; i++) {
        if (text[i] != '\n' && text[i] != '\r' && text[i] != ' '
            && text[i] != '\t')
        {
            return -1;
        }
    }

    if (n % 2 != 0 || n < 2 * UCO_PAN_KEY_MIN || n > 2 * UCO_PAN_KEY_MAX) {
        return -1;
    }

    if (uco_snap_unhex(text, n, key) != UCO_SNAP_OK) {
        return -1;
    }

    *key_len = n / 2;

    return 0;
}
