/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * What a request asks: the query string and the partner's credentials.
 * Values are checked against their character sets, so no percent-decoding
 * is needed: an encoded byte is simply invalid.  Nothing here logs a
 * value; a card identifier or a secret never reaches the error log.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_uco_module.h"


#define NGX_HTTP_UCO_MAX_AMOUNT_DIGITS  12
#define NGX_HTTP_UCO_MAX_PARTNER_DIGITS 19
#define NGX_HTTP_UCO_MAX_SECRET         256


static void ngx_http_uco_error(ngx_http_uco_error_t *err, ngx_uint_t status,
    const char *code, const char *message);
static ngx_int_t ngx_http_uco_terminal_valid(ngx_str_t *t);


static void
ngx_http_uco_error(ngx_http_uco_error_t *err, ngx_uint_t status,
    const char *code, const char *message)
{
    err->status = status;
    err->code = code;
    err->message = message;
}


static ngx_int_t
ngx_http_uco_terminal_valid(ngx_str_t *t)
{
    u_char      c;
    ngx_uint_t  i;

    if (t->len == 0 || t->len > UCO_SNAP_TERMINAL_LEN) {
        return NGX_ERROR;
    }

    for (i = 0; i < t->len; i++) {
        c = t->data[i];

        if (!(ngx_http_uco_isalnum(c) || c == '.' || c == '_' || c == ':'
              || c == '-'))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_uco_parse_query(ngx_http_request_t *r, ngx_http_uco_query_t *q,
    ngx_http_uco_error_t *err)
{
    u_char      *p, *end, *amp, *eq;
    int64_t      amount;
    ngx_str_t    name, value, *slot;
    ngx_uint_t   i;

    ngx_memzero(q, sizeof(ngx_http_uco_query_t));
    q->amount_kopecks = -1;

    p = r->args.data;
    end = p + r->args.len;

    while (p < end) {
        amp = ngx_strlchr(p, end, '&');
        if (amp == NULL) {
            amp = end;
        }

        eq = ngx_strlchr(p, amp, '=');

        name.data = p;
        name.len = (eq ? eq : amp) - p;
        value.data = eq ? eq + 1 : amp;
        value.len = eq ? (size_t) (amp - eq - 1) : 0;

        p = amp + 1;

        if (name.len == 4 && ngx_strncmp(name.data, "card", 4) == 0) {
            slot = &q->card;

        } else if (name.len == 4 && ngx_strncmp(name.data, "kind", 4) == 0) {
            slot = &q->kind;

        } else if (name.len == 8
                   && ngx_strncmp(name.data, "terminal", 8) == 0)
        {
            slot = &q->terminal;

        } else if (name.len == 6
                   && ngx_strncmp(name.data, "amount", 6) == 0)
        {
            slot = &q->amount;

        } else {
            /* unknown parameters are ignored, for forward compatibility */
            continue;
        }

        if (slot->data != NULL) {
            ngx_http_uco_error(err, NGX_HTTP_BAD_REQUEST,
                               "duplicate_parameter",
                               "a parameter was given more than once");
            return NGX_ERROR;
        }

        *slot = value;
    }

    if (q->kind.data == NULL
        || (q->kind.len == 7 && ngx_strncmp(q->kind.data, "hashpan", 7) == 0))
    {
        q->id_kind = UCO_ID_HASHPAN;

    } else if (q->kind.len == 6
               && ngx_strncmp(q->kind.data, "social", 6) == 0)
    {
        q->id_kind = UCO_ID_SOCIAL;

    } else {
        ngx_http_uco_error(err, NGX_HTTP_BAD_REQUEST, "invalid_kind",
                           "kind must be one of: hashpan, social");
        return NGX_ERROR;
    }

    if (q->card.len == 0) {
        ngx_http_uco_error(err, NGX_HTTP_BAD_REQUEST, "missing_card",
                           "the card parameter is required");
        return NGX_ERROR;
    }

    if (uco_snap_key(q->id_kind, (const char *) q->card.data, q->card.len,
                     q->key)
        != UCO_SNAP_OK)
    {
        ngx_http_uco_error(err, NGX_HTTP_BAD_REQUEST, "invalid_card",
                           q->id_kind == UCO_ID_HASHPAN
                           ? "a hashpan card is 64 hexadecimal digits"
                           : "a social card number is 1 to 28 digits");
        return NGX_ERROR;
    }

    if (q->amount.data != NULL) {
        if (q->amount.len == 0
            || q->amount.len > NGX_HTTP_UCO_MAX_AMOUNT_DIGITS)
        {
            goto bad_amount;
        }

        amount = 0;

        for (i = 0; i < q->amount.len; i++) {
            if (q->amount.data[i] < '0' || q->amount.data[i] > '9') {
                goto bad_amount;
            }

            amount = amount * 10 + (q->amount.data[i] - '0');
        }

        q->amount_kopecks = amount;
    }

    if (q->terminal.data != NULL
        && ngx_http_uco_terminal_valid(&q->terminal) != NGX_OK)
    {
        ngx_http_uco_error(err, NGX_HTTP_BAD_REQUEST, "invalid_terminal",
                           "a terminal id is 1 to 32 characters of "
                           "A-Z a-z 0-9 . _ : -");
        return NGX_ERROR;
    }

    return NGX_OK;

bad_amount:

    ngx_http_uco_error(err, NGX_HTTP_BAD_REQUEST, "invalid_amount",
                       "amount is a whole number of kopecks, "
                       "at most 12 digits");
    return NGX_ERROR;
}


/* "Authorization: Bearer <partner id>.<secret>" */

ngx_int_t
ngx_http_uco_parse_credentials(ngx_http_request_t *r, uint64_t *partner,
    ngx_str_t *secret)
{
    u_char      *p, *end, *dot;
    uint64_t     id;
    ngx_str_t   *auth;

    if (r->headers_in.authorization == NULL) {
        return NGX_DECLINED;
    }

    auth = &r->headers_in.authorization->value;

    if (auth->len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(auth->data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
    {
        return NGX_DECLINED;
    }

    p = auth->data + sizeof("Bearer ") - 1;
    end = auth->data + auth->len;

    while (p < end && *p == ' ') {
        p++;
    }

    dot = ngx_strlchr(p, end, '.');

    if (dot == NULL || dot == p
        || dot - p > NGX_HTTP_UCO_MAX_PARTNER_DIGITS
        || end - dot - 1 <= 0 || end - dot - 1 > NGX_HTTP_UCO_MAX_SECRET)
    {
        return NGX_DECLINED;
    }

    id = 0;

    for ( /* void */ ; p < dot; p++) {
        if (*p < '0' || *p > '9') {
            return NGX_DECLINED;
        }

        /* 19 digits cannot overflow 64 bits */
        id = id * 10 + (*p - '0');
    }

    if (id == 0) {
        return NGX_DECLINED;
    }

    *partner = id;
    secret->data = dot + 1;
    secret->len = end - dot - 1;

    return NGX_OK;
}
