/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The mobile app's QR token: a card id, an expiry and a key id, signed
 * by the operator with Ed25519, as 104 URL-safe characters.  Plain C:
 * the module, the uco-token CLI and the fuzzer link this code.  The
 * layout is in docs/api.md ("kind=token").
 */

#ifndef UCO_TOKEN_H
#define UCO_TOKEN_H

#include <stddef.h>
#include <stdint.h>


#define UCO_TOKEN_VERSION      1
#define UCO_TOKEN_PAYLOAD_LEN  14   /* version, key id, card, expires */
#define UCO_TOKEN_SIG_LEN      64
#define UCO_TOKEN_RAW_LEN      (UCO_TOKEN_PAYLOAD_LEN + UCO_TOKEN_SIG_LEN)
#define UCO_TOKEN_LEN          104  /* base64url of 78 bytes, no padding */
#define UCO_TOKEN_PUBKEY_LEN   32


typedef struct {
    uint8_t   raw[UCO_TOKEN_RAW_LEN];
    uint8_t   key_id;           /* 1 .. 255 */
    uint64_t  card;             /* uco.card.id, > 0 */
    uint32_t  expires;          /* Unix seconds */
} uco_token_t;

enum {
    UCO_TOKEN_OK = 0,
    UCO_TOKEN_EMALFORMED,       /* not a token at all */
    UCO_TOKEN_EKEY,             /* a key id this server has no key for */
    UCO_TOKEN_ESIGNATURE,       /* the signature does not verify */
    UCO_TOKEN_EEXPIRED,         /* signed, but past its expiry + skew */
    UCO_TOKEN_ELIBRARY          /* OpenSSL failed */
};


/* the 104 characters to the fields; no signature check */
int uco_token_decode(const char *s, size_t len, uco_token_t *t);
/* the signature, against a raw Ed25519 public key */
int uco_token_verify(const uco_token_t *t,
    const uint8_t pub[UCO_TOKEN_PUBKEY_LEN]);
/* expired when now > expires + skew */
int uco_token_expired(const uco_token_t *t, int64_t now, int64_t skew);
/* sign with an EVP_PKEY (Ed25519 private key) into out, NUL-ended */
int uco_token_mint(void *pkey, uint8_t key_id, uint64_t card,
    uint32_t expires, char out[UCO_TOKEN_LEN + 1]);

#endif /* UCO_TOKEN_H */
