/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Parsing what a partner sends: the query string and the credentials.
 * Plain C like uco_snap.[ch], so that the fuzzers drive exactly the code
 * the module runs.  Values are checked against their character sets, so
 * no percent-decoding is needed: an encoded byte is simply invalid.
 */

#ifndef UCO_QUERY_H
#define UCO_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "uco_snap.h"
#include "uco_token.h"
#include "uco_pan.h"


#define UCO_QUERY_MAX_AMOUNT_DIGITS   12
#define UCO_QUERY_MAX_PARTNER_DIGITS  19
#define UCO_QUERY_MAX_SECRET          256


typedef struct {
    const char  *data;      /* NULL when the parameter is absent */
    size_t       len;
} uco_str_t;

/* what kind= names; the first four are stored kinds (uco_id_kind_e) */
typedef enum {
    UCO_KIND_HASHPAN = UCO_ID_HASHPAN,
    UCO_KIND_SOCIAL = UCO_ID_SOCIAL,
    UCO_KIND_BARCODE = UCO_ID_BARCODE,
    UCO_KIND_UID = UCO_ID_UID,
    UCO_KIND_PAN,
    UCO_KIND_TOKEN
} uco_query_kind_e;

typedef struct {
    uco_str_t          card;
    uco_str_t          kind;
    uco_str_t          terminal;
    uco_str_t          amount;
    uco_str_t          scope;
    int64_t            amount_kopecks;  /* -1 when absent */
    unsigned           scope_bit;       /* one UCO_SCOPE_* bit */
    uco_query_kind_e   kind_id;
    uint8_t            key[UCO_SNAP_KEY_LEN];   /* stored kinds */
    uco_token_t        token;           /* kind=token, unverified */
    char               pan[UCO_PAN_MAX_DIGITS]; /* kind=pan, valid */
    size_t             pan_len;
} uco_query_t;

/* a client error: HTTP status, stable code, human message */
typedef struct {
    unsigned     status;
    const char  *code;
    const char  *message;
} uco_query_error_t;


/* 0 on success, -1 with *err filled */
int uco_query_parse(const char *args, size_t len, uco_query_t *q,
    uco_query_error_t *err);
/*
 * Validate the fields of one check, however they arrived (a query, a
 * body): card, kind, amount and terminal as given, absent ones with NULL
 * data.  Sets kind_id, key (or pan, token) and amount_kopecks.  0, or -1
 * with *err filled.
 */
int uco_query_check(uco_query_t *q, uco_query_error_t *err);
/* fill *err; returns -1, for "return uco_query_fail(...)" */
int uco_query_fail(uco_query_error_t *err, unsigned status,
    const char *code, const char *message);
/* "Bearer <partner>.<secret>": 0 on success, -1 if malformed */
int uco_query_credentials(const char *value, size_t len, uint64_t *partner,
    uco_str_t *secret);

/* kind=pan, or a card that is a PAN: card values overwritten with '*' */
size_t uco_query_wipe_pan(char *args, size_t len);

#endif /* UCO_QUERY_H */
