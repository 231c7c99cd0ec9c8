/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Signed requests: the Authorization header
 *
 *     UCO-HMAC-SHA256 partner=<id>, ts=<unix seconds>, nonce=<nonce>,
 *                     sig=<64 hex digits>
 *
 * and the string a partner signs (docs/api.md, "Signed requests").
 * Plain C, no nginx types: the module and the fuzzer link this code.
 */

#ifndef UCO_SIG_H
#define UCO_SIG_H

#include <stddef.h>
#include <stdint.h>


#define UCO_SIG_SCHEME          "UCO-HMAC-SHA256"
#define UCO_SIG_NONCE_MIN       16
#define UCO_SIG_NONCE_MAX       64
#define UCO_SIG_MAX_TS_DIGITS   12
#define UCO_SIG_MAX_PARAMS      64
#define UCO_SIG_LEN             32


typedef struct {
    uint64_t     partner;
    int64_t      ts;
    const char  *nonce;         /* points into the header value */
    size_t       nonce_len;
    uint8_t      sig[UCO_SIG_LEN];
} uco_sig_t;


/* 1 when the value starts with the scheme and a space */
int uco_sig_is_signed(const char *value, size_t len);
/* the header value: 0, or -1 if malformed */
int uco_sig_parse(const char *value, size_t len, uco_sig_t *s);
/*
 * SHA-256 of the query's name=value pairs sorted bytewise and joined
 * with '&' (empty pairs dropped, nothing decoded); -1 past
 * UCO_SIG_MAX_PARAMS pairs or on a library failure.
 */
int uco_sig_query_hash(const char *args, size_t len,
    uint8_t out[UCO_SIG_LEN]);
/*
 * HMAC-SHA-256(key, scheme \n partner \n ts \n nonce \n method \n path
 * \n hex(query hash) \n hex(body hash)); 0, or -1 on a library failure.
 */
int uco_sig_compute(const uint8_t *key, size_t key_len, const uco_sig_t *s,
    const char *method, size_t method_len, const char *path,
    size_t path_len, const uint8_t query_hash[UCO_SIG_LEN],
    const uint8_t body_hash[UCO_SIG_LEN], uint8_t out[UCO_SIG_LEN]);

#endif /* UCO_SIG_H */
