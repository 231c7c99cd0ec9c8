/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * QR tokens: strict base64url (exactly 104 characters of A-Z a-z 0-9
 * - _, no padding), little-endian fields, Ed25519 over the 14-byte
 * payload.
 */

#include <string.h>
#include <openssl/evp.h>

#include "uco_token.h"


static int uco_token_b64(int c);


static const char  uco_token_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


static int
uco_token_b64(int c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '-') {
        return 62;
    }

    if (c == '_') {
        return 63;
    }

    return -1;
}


int
uco_token_decode(const char *s, size_t len, uco_token_t *t)
{
    int       v;
    size_t    i, j, k;
    uint32_t  acc;

    memset(t, 0, sizeof(uco_token_t));

    if (s == NULL || len != UCO_TOKEN_LEN) {
        return UCO_TOKEN_EMALFORMED;
    }

    /* 78 bytes are 26 groups of 3: no partial group, no padding */
    for (i = 0, j = 0; i < UCO_TOKEN_LEN; i += 4, j += 3) {
        acc = 0;

        for (k = 0; k < 4; k++) {
            v = uco_token_b64((unsigned char) s[i + k]);
            if (v < 0) {
                return UCO_TOKEN_EMALFORMED;
            }

            acc = acc << 6 | (uint32_t) v;
        }

        t->raw[j] = (uint8_t) (acc >> 16);
        t->raw[j + 1] = (uint8_t) (acc >> 8);
        t->raw[j + 2] = (uint8_t) acc;
    }

    if (t->raw[0] != UCO_TOKEN_VERSION || t->raw[1] == 0) {
        return UCO_TOKEN_EMALFORMED;
    }

    t->key_id = t->raw[1];

    for (i = 0; i < 8; i++) {
        t->card |= (uint64_t) t->raw[2 + i] << (8 * i);
    }

    for (i = 0; i < 4; i++) {
        t->expires |= (uint32_t) t->raw[10 + i] << (8 * i);
    }

    if (t->card == 0 || t->card > INT64_MAX) {
        return UCO_TOKEN_EMALFORMED;
    }

    return UCO_TOKEN_OK;
}


int
uco_token_verify(const uco_token_t *t,
    const uint8_t pub[UCO_TOKEN_PUBKEY_LEN])
{
    int          rc, ok;
    EVP_PKEY    *pkey;
    EVP_MD_CTX  *md;

    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
                                       UCO_TOKEN_PUBKEY_LEN);
    if (pkey == NULL) {
        return UCO_TOKEN_ELIBRARY;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        EVP_PKEY_free(pkey);
        return UCO_TOKEN_ELIBRARY;
    }

    rc = UCO_TOKEN_ELIBRARY;

    if (EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) == 1) {
        ok = EVP_DigestVerify(md, t->raw + UCO_TOKEN_PAYLOAD_LEN,
                              UCO_TOKEN_SIG_LEN, t->raw,
                              UCO_TOKEN_PAYLOAD_LEN);
        rc = (ok == 1) ? UCO_TOKEN_OK : UCO_TOKEN_ESIGNATURE;
    }

    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);

    return rc;
}


int
uco_token_expired(const uco_token_t *t, int64_t now, int64_t skew)
{
    return now - skew > (int64_t) t->expires;
}


int
uco_token_mint(void *pkey, uint8_t key_id, uint64_t card, uint32_t expires,
    char out[UCO_TOKEN_LEN + 1])
{
    int          rc;
    size_t       i, j, siglen;
    uint8_t      raw[UCO_TOKEN_RAW_LEN];
    uint32_t     acc;
    EVP_MD_CTX  *md;

    if (key_id == 0 || card == 0 || card > INT64_MAX) {
        return UCO_TOKEN_EMALFORMED;
    }

    raw[0] = UCO_TOKEN_VERSION;
    raw[1] = key_id;

    for (i = 0; i < 8; i++) {
        raw[2 + i] = (uint8_t) (card >> (8 * i));
    }

    for (i = 0; i < 4; i++) {
        raw[10 + i] = (uint8_t) (expires >> (8 * i));
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return UCO_TOKEN_ELIBRARY;
    }

    siglen = UCO_TOKEN_SIG_LEN;
    rc = UCO_TOKEN_ELIBRARY;

    if (EVP_DigestSignInit(md, NULL, NULL, NULL, pkey) == 1
        && EVP_DigestSign(md, raw + UCO_TOKEN_PAYLOAD_LEN, &siglen, raw,
                          UCO_TOKEN_PAYLOAD_LEN) == 1
        && siglen == UCO_TOKEN_SIG_LEN)
    {
        rc = UCO_TOKEN_OK;
    }

    EVP_MD_CTX_free(md);

    if (rc != UCO_TOKEN_OK) {
        return rc;
    }

    for (i = 0, j = 0; i < UCO_TOKEN_RAW_LEN; i += 3, j += 4) {
        acc = (uint32_t) raw[i] << 16 | (uint32_t) raw[i + 1] << 8
              | raw[i + 2];
        out[j] = uco_token_alphabet[acc >> 18 & 63];
        out[j + 1] = uco_token_alphabet[acc >> 12 & 63];
        out[j + 2] = uco_token_alphabet[acc >> 6 & 63];
        out[j + 3] = uco_token_alphabet[acc & 63];
    }

    out[UCO_TOKEN_LEN] = '\0';

    return UCO_TOKEN_OK;
}
