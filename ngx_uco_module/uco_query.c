/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Query-string and credential parsing.  Nothing here logs or keeps a
 * value: the results point into the caller's bytes.
 */

#include <string.h>
#include <strings.h>

#include "uco_query.h"
#include "uco_pan.h"


static int uco_query_is(const uco_str_t *s, const char *lit);
static int uco_query_card(uco_query_t *q, uco_query_error_t *err);
static int uco_query_next(const char **p, const char *end, uco_str_t *name,
    uco_str_t *value);


static const struct {
    const char        *name;
    uco_query_kind_e   kind;
    const char        *invalid;
} uco_query_kinds[] = {
    { "hashpan", UCO_KIND_HASHPAN, "a hashpan is 64 hexadecimal digits" },
    { "pan", UCO_KIND_PAN,
      "a pan is 12 to 19 digits with a valid check digit" },
    { "token", UCO_KIND_TOKEN,
      "a token is 104 characters of A-Z a-z 0-9 - _" },
    { "social", UCO_KIND_SOCIAL, "a social card number is 1 to 28 digits" },
    { "barcode", UCO_KIND_BARCODE, "a barcode is 1 to 28 digits" },
    { "uid", UCO_KIND_UID,
      "a chip uid is 8, 14 or 20 hexadecimal digits" }
};


int
uco_query_fail(uco_query_error_t *err, unsigned status, const char *code,
    const char *message)
{
    err->status = status;
    err->code = code;
    err->message = message;

    return -1;
}


static int
uco_query_is(const uco_str_t *s, const char *lit)
{
    size_t  n;

    n = strlen(lit);

    return s->len == n && memcmp(s->data, lit, n) == 0;
}


/* name=value pairs split at '&'; 0 at the end */

static int
uco_query_next(const char **p, const char *end, uco_str_t *name,
    uco_str_t *value)
{
    const char  *amp, *eq;

    if (*p == NULL || *p >= end) {
        return 0;
    }

    amp = memchr(*p, '&', end - *p);
    if (amp == NULL) {
        amp = end;
    }

    eq = memchr(*p, '=', amp - *p);

    name->data = *p;
    name->len = (eq ? eq : amp) - *p;
    value->data = eq ? eq + 1 : amp;
    value->len = eq ? (size_t) (amp - eq - 1) : 0;

    *p = (amp < end) ? amp + 1 : end;

    return 1;
}


/*
 * kind (default hashpan) and card: the key of a stored kind, a pan's
 * Luhn digit, a token's layout
 */

static int
uco_query_card(uco_query_t *q, uco_query_error_t *err)
{
    size_t  i, n;
    int     ok;

    n = sizeof(uco_query_kinds) / sizeof(uco_query_kinds[0]);

    for (i = 0; i < n; i++) {
        if (q->kind.data == NULL
            ? i == 0 : uco_query_is(&q->kind, uco_query_kinds[i].name))
        {
            break;
        }
    }

    if (i == n) {
        return uco_query_fail(err, 400, "invalid_kind",
                              "kind must be one of: hashpan, pan, token, "
                              "social, barcode, uid");
    }

    q->kind_id = uco_query_kinds[i].kind;

    if (q->card.len == 0) {
        return uco_query_fail(err, 400, "missing_card",
                              "the card parameter is required");
    }

    switch (q->kind_id) {

    case UCO_KIND_PAN:
        ok = uco_pan_valid(q->card.data, q->card.len);
        if (ok) {
            memcpy(q->pan, q->card.data, q->card.len);
            q->pan_len = q->card.len;
        }
        break;

    case UCO_KIND_TOKEN:
        ok = uco_token_decode(q->card.data, q->card.len, &q->token)
             == UCO_TOKEN_OK;
        break;

    default:
        ok = uco_snap_key((uco_id_kind_e) q->kind_id, q->card.data,
                          q->card.len, q->key) == UCO_SNAP_OK;
    }

    if (!ok) {
        return uco_query_fail(err, 400, "invalid_card",
                              uco_query_kinds[i].invalid);
    }

    return 0;
}


int
uco_query_parse(const char *args, size_t len, uco_query_t *q,
    uco_query_error_t *err)
{
    int          duplicate;
    uco_str_t    name, value, *slot;
    const char  *p, *end;

    memset(q, 0, sizeof(uco_query_t));
    q->amount_kopecks = -1;
    duplicate = 0;

    p = args;
    end = (args != NULL) ? args + len : NULL;

    while (uco_query_next(&p, end, &name, &value)) {
        if (uco_query_is(&name, "card")) {
            slot = &q->card;

        } else if (uco_query_is(&name, "kind")) {
            slot = &q->kind;

        } else if (uco_query_is(&name, "terminal")) {
            slot = &q->terminal;

        } else if (uco_query_is(&name, "amount")) {
            slot = &q->amount;

        } else if (uco_query_is(&name, "scope")) {
            slot = &q->scope;

        } else {
            /* unknown parameters are ignored, for forward compatibility */
            continue;
        }

        /* the first value of each is kept, so the query can be wiped */
        if (slot->data != NULL) {
            duplicate = 1;
            continue;
        }

        *slot = value;
    }

    if (duplicate) {
        return uco_query_fail(err, 400, "duplicate_parameter",
                              "a parameter was given more than once");
    }

    return uco_query_check(q, err);
}


int
uco_query_check(uco_query_t *q, uco_query_error_t *err)
{
    size_t   i;
    int64_t  amount;

    q->amount_kopecks = -1;

    if (uco_query_card(q, err) != 0) {
        return -1;
    }

    if (q->scope.data == NULL || uco_query_is(&q->scope, "discount")) {
        q->scope_bit = UCO_SCOPE_DISCOUNT;

    } else if (uco_query_is(&q->scope, "benefit")) {
        q->scope_bit = UCO_SCOPE_BENEFIT;

    } else if (uco_query_is(&q->scope, "identify")) {
        q->scope_bit = UCO_SCOPE_IDENTIFY;

    } else {
        return uco_query_fail(err, 400, "invalid_scope",
                              "scope must be one of: discount, benefit, "
                              "identify");
    }

    if (q->amount.data != NULL) {
        if (q->amount.len == 0
            || q->amount.len > UCO_QUERY_MAX_AMOUNT_DIGITS)
        {
            goto bad_amount;
        }

        amount = 0;

        for (i = 0; i < q->amount.len; i++) {
            if (q->amount.data[i] < '0' || q->amount.data[i] > '9') {
                goto bad_amount;
            }

            /* 12 digits: no overflow, and amount * 10000 fits too */
            amount = amount * 10 + (q->amount.data[i] - '0');
        }

        q->amount_kopecks = amount;
    }

    if (q->terminal.data != NULL
        && !uco_snap_terminal_valid(q->terminal.data, q->terminal.len))
    {
        return uco_query_fail(err, 400, "invalid_terminal",
                              "a terminal id is 1 to 32 characters of "
                              "A-Z a-z 0-9 . _ : -");
    }

    return 0;

bad_amount:

    return uco_query_fail(err, 400, "invalid_amount",
                          "amount is a whole number of kopecks, "
                          "at most 12 digits");
}


int
uco_query_credentials(const char *value, size_t len, uint64_t *partner,
    uco_str_t *secret)
{
    size_t       scheme;
    uint64_t     id;
    const char  *p, *end, *dot;

    scheme = sizeof("Bearer ") - 1;

    if (value == NULL || len < scheme
        || strncasecmp(value, "Bearer ", scheme) != 0)
    {
        return -1;
    }

    p = value + scheme;
    end = value + len;

    while (p < end && *p == ' ') {
        p++;
    }

    dot = memchr(p, '.', end - p);

    if (dot == NULL || dot == p
        || dot - p > UCO_QUERY_MAX_PARTNER_DIGITS
        || end - dot - 1 <= 0 || end - dot - 1 > UCO_QUERY_MAX_SECRET)
    {
        return -1;
    }

    id = 0;

    for ( /* void */ ; p < dot; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }

        /* 19 digits cannot overflow 64 bits */
        id = id * 10 + (uint64_t) (*p - '0');
    }

    if (id == 0) {
        return -1;
    }

    *partner = id;
    secret->data = dot + 1;
    secret->len = (size_t) (end - dot - 1);

    return 0;
}


/*
 * Overwrites with '*', in place, every card value of a query whose kind
 * is pan (in any case), and any card value that is a PAN whatever its
 * kind says (12..19 digits with a valid check digit), so that neither
 * $args nor $request_uri nor a later phase can show a PAN.  Returns the
 * number of bytes overwritten.
 */

size_t
uco_query_wipe_pan(char *args, size_t len)
{
    int          pan;
    size_t       wiped;
    uco_str_t    name, value;
    const char  *p, *end;

    pan = 0;
    p = args;
    end = (args != NULL) ? args + len : NULL;

    while (uco_query_next(&p, end, &name, &value)) {
        if (uco_query_is(&name, "kind") && value.len == 3
            && strncasecmp(value.data, "pan", 3) == 0)
        {
            pan = 1;
        }
    }

    wiped = 0;
    p = args;

    while (uco_query_next(&p, end, &name, &value)) {
        if (uco_query_is(&name, "card")
            && (pan || uco_pan_valid(value.data, value.len)))
        {
            memset(args + (value.data - args), '*', value.len);
            wiped += value.len;
        }
    }

    return wiped;
}
