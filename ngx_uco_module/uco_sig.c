/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Signed-request parsing and the string to sign.  The header's
 * parameters may come in any order, each exactly once, separated by a
 * comma and optional spaces; anything else is malformed.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "uco_sig.h"
#include "uco_snap.h"


typedef struct {
    const char  *data;
    size_t       len;
} uco_sig_str_t;


static int uco_sig_number(const char *p, size_t len, size_t max,
    uint64_t *v);
static int uco_sig_nonce_valid(const char *p, size_t len);
static int uco_sig_cmp(const void *a, const void *b);
static int uco_sig_hex_update(EVP_MAC_CTX *mac, const uint8_t *md);


int
uco_sig_is_signed(const char *value, size_t len)
{
    size_t  n;

    n = sizeof(UCO_SIG_SCHEME) - 1;

    return value != NULL && len > n && memcmp(value, UCO_SIG_SCHEME, n) == 0
           && value[n] == ' ';
}


/* decimal, 1..max digits, no leading zero */

static int
uco_sig_number(const char *p, size_t len, size_t max, uint64_t *v)
{
    size_t  i;

    if (len == 0 || len > max || (len > 1 && p[0] == '0')) {
        return -1;
    }

    *v = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        /* at most 19 digits: no overflow */
        *v = *v * 10 + (uint64_t) (p[i] - '0');
    }

    return 0;
}


static int
uco_sig_nonce_valid(const char *p, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len < UCO_SIG_NONCE_MIN || len > UCO_SIG_NONCE_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) p[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
              || (c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
        {
            return 0;
        }
    }

    return 1;
}


int
uco_sig_parse(const char *value, size_t len, uco_sig_t *s)
{
    size_t       n, vlen;
    unsigned     seen, bit;
    uint64_t     v;
    const char  *p, *end, *eq, *comma, *val;

    memset(s, 0, sizeof(uco_sig_t));

    if (!uco_sig_is_signed(value, len)) {
        return -1;
    }

    p = value + sizeof(UCO_SIG_SCHEME);
    end = value + len;
    seen = 0;

    for ( ;; ) {
        while (p < end && *p == ' ') {
            p++;
        }

        if (p == end) {
            break;
        }

        comma = memchr(p, ',', end - p);
        if (comma == NULL) {
            comma = end;
        }

        eq = memchr(p, '=', comma - p);
        if (eq == NULL) {
            return -1;
        }

        n = eq - p;
        val = eq + 1;
        vlen = comma - val;

        while (vlen > 0 && val[vlen - 1] == ' ') {
            vlen--;
        }

        if (n == 7 && memcmp(p, "partner", 7) == 0) {
            bit = 1;
            if (uco_sig_number(val, vlen, 19, &v) != 0 || v == 0
                || v > INT64_MAX)
            {
                return -1;
            }
            s->partner = v;

        } else if (n == 2 && memcmp(p, "ts", 2) == 0) {
            bit = 2;
            if (uco_sig_number(val, vlen, UCO_SIG_MAX_TS_DIGITS, &v) != 0) {
                return -1;
            }
            s->ts = (int64_t) v;

        } else if (n == 5 && memcmp(p, "nonce", 5) == 0) {
            bit = 4;
            if (!uco_sig_nonce_valid(val, vlen)) {
                return -1;
            }
            s->nonce = val;
            s->nonce_len = vlen;

        } else if (n == 3 && memcmp(p, "sig", 3) == 0) {
            bit = 8;
            if (vlen != 2 * UCO_SIG_LEN
                || uco_snap_unhex(val, vlen, s->sig) != UCO_SNAP_OK)
            {
                return -1;
            }

        } else {
            return -1;
        }

        if (seen & bit) {
            return -1;
        }

        seen |= bit;

        if (comma == end) {
            break;
        }

        p = comma + 1;
    }

    return seen == 15 ? 0 : -1;
}


static int
uco_sig_cmp(const void *a, const void *b)
{
    int                   c;
    const uco_sig_str_t  *x, *y;

    x = a;
    y = b;

    c = memcmp(x->data, y->data, x->len < y->len ? x->len : y->len);
    if (c != 0) {
        return c;
    }

    return (x->len > y->len) - (x->len < y->len);
}


int
uco_sig_query_hash(const char *args, size_t len, uint8_t out[UCO_SIG_LEN])
{
    int             rc;
    size_t          n, i;
    unsigned int    mdlen;
    EVP_MD_CTX     *md;
    const char     *p, *end, *amp;
    uco_sig_str_t   pairs[UCO_SIG_MAX_PARAMS];

    n = 0;
    p = args;
    end = (args != NULL) ? args + len : NULL;

    while (p != NULL && p < end) {
        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        if (amp > p) {
            if (n == UCO_SIG_MAX_PARAMS) {
                return -1;
            }

            pairs[n].data = p;
            pairs[n].len = amp - p;
            n++;
        }

        p = (amp < end) ? amp + 1 : end;
    }

    qsort(pairs, n, sizeof(uco_sig_str_t), uco_sig_cmp);

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return -1;
    }

    rc = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? 0 : -1;

    for (i = 0; i < n && rc == 0; i++) {
        if ((i > 0 && EVP_DigestUpdate(md, "&", 1) != 1)
            || EVP_DigestUpdate(md, pairs[i].data, pairs[i].len) != 1)
        {
            rc = -1;
        }
    }

    if (rc == 0 && (EVP_DigestFinal_ex(md, out, &mdlen) != 1
                    || mdlen != UCO_SIG_LEN))
    {
        rc = -1;
    }

    EVP_MD_CTX_free(md);

    return rc;
}


static int
uco_sig_hex_update(EVP_MAC_CTX *mac, const uint8_t *md)
{
    char    hex[2 * UCO_SIG_LEN];
    size_t  i;

    static const char  digits[] = "0123456789abcdef";

    for (i = 0; i < UCO_SIG_LEN; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0xf];
    }

    return EVP_MAC_update(mac, (const unsigned char *) hex, sizeof(hex));
}


int
uco_sig_compute(const uint8_t *key, size_t key_len, const uco_sig_t *s,
    const char *method, size_t method_len, const char *path,
    size_t path_len, const uint8_t query_hash[UCO_SIG_LEN],
    const uint8_t body_hash[UCO_SIG_LEN], uint8_t out[UCO_SIG_LEN])
{
    int           rc, n;
    char          head[128];
    size_t        outlen;
    EVP_MAC      *hmac;
    OSSL_PARAM    params[2];
    EVP_MAC_CTX  *mac;

    n = snprintf(head, sizeof(head), UCO_SIG_SCHEME "\n%llu\n%lld\n",
                 (unsigned long long) s->partner, (long long) s->ts);
    if (n < 0 || (size_t) n >= sizeof(head)) {
        return -1;
    }

    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (hmac == NULL) {
        return -1;
    }

    mac = EVP_MAC_CTX_new(hmac);
    EVP_MAC_free(hmac);

    if (mac == NULL) {
        return -1;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    rc = -1;

    if (EVP_MAC_init(mac, key, key_len, params) == 1
        && EVP_MAC_update(mac, (const unsigned char *) head, (size_t) n)
           == 1
        && EVP_MAC_update(mac, (const unsigned char *) s->nonce,
                          s->nonce_len) == 1
        && EVP_MAC_update(mac, (const unsigned char *) "\n", 1) == 1
        && EVP_MAC_update(mac, (const unsigned char *) method, method_len)
           == 1
        && EVP_MAC_update(mac, (const unsigned char *) "\n", 1) == 1
        && EVP_MAC_update(mac, (const unsigned char *) path, path_len) == 1
        && EVP_MAC_update(mac, (const unsigned char *) "\n", 1) == 1
        && uco_sig_hex_update(mac, query_hash) == 1
        && EVP_MAC_update(mac, (const unsigned char *) "\n", 1) == 1
        && uco_sig_hex_update(mac, body_hash) == 1
        && EVP_MAC_final(mac, out, &outlen, UCO_SIG_LEN) == 1
        && outlen == UCO_SIG_LEN)
    {
        rc = 0;
    }

    EVP_MAC_CTX_free(mac);

    return rc;
}
