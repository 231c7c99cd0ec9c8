/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Answers: what a decision or an error says is described once
 * (ngx_http_uco_put_check(), ngx_http_uco_put_error()) over a small
 * writer, and the writer encodes it as JSON or, for a client that asks
 * for it (Accept), msgpack through msgpack-c.  Every string written is
 * one of the module's own constants (names, codes, messages): nothing
 * needs escaping and nothing a client sent is echoed.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <msgpack.h>

#include "ngx_http_uco_module.h"
#include "uco_body.h"


/*
 * Bytes for one answer: the longest JSON one, every number at 2^64 - 1,
 * decision_id and the stale mark, is 226 (msgpack is shorter).  Writes
 * are bounded anyway.
 */
#define NGX_HTTP_UCO_ANSWER_LEN  320


typedef struct {
    u_char          *pos;
    u_char          *end;
    ngx_uint_t       msgpack;
    ngx_uint_t       first;     /* JSON: no value yet in the container */
    ngx_uint_t       keyed;     /* JSON: a key was written, a value next */
    msgpack_packer   pk;
} ngx_http_uco_out_t;


static void ngx_http_uco_put_check(ngx_http_uco_out_t *o,
    uint64_t generation, time_t stale, const ngx_http_uco_check_t *c);
static void ngx_http_uco_put_error(ngx_http_uco_out_t *o,
    const uco_query_error_t *err);

static void ngx_http_uco_out_init(ngx_http_request_t *r,
    ngx_http_uco_out_t *o, ngx_buf_t *b);
static int ngx_http_uco_out_write(void *data, const char *buf, size_t len);
static void ngx_http_uco_out_value(ngx_http_uco_out_t *o);
static void ngx_http_uco_out_array(ngx_http_uco_out_t *o, ngx_uint_t n);
static void ngx_http_uco_out_map(ngx_http_uco_out_t *o, ngx_uint_t n);
static void ngx_http_uco_out_end(ngx_http_uco_out_t *o, u_char c);
static void ngx_http_uco_out_raw(ngx_http_uco_out_t *o, const char *s,
    size_t len);
static void ngx_http_uco_out_key(ngx_http_uco_out_t *o, const char *key);
static void ngx_http_uco_out_str(ngx_http_uco_out_t *o, const char *s);
static void ngx_http_uco_out_uint(ngx_http_uco_out_t *o, uint64_t v);
static void ngx_http_uco_out_true(ngx_http_uco_out_t *o);
static void ngx_http_uco_out_id(ngx_http_uco_out_t *o, uint64_t v);
static void ngx_http_uco_out_hundredths(ngx_http_uco_out_t *o, uint64_t v);
static u_char *ngx_http_uco_digits(u_char *end, uint64_t v);

static ngx_int_t ngx_http_uco_reply(ngx_http_request_t *r,
    ngx_uint_t status, uint64_t generation, time_t stale,
    const ngx_http_uco_check_t *c, ngx_uint_t n, ngx_uint_t array);
static ngx_int_t ngx_http_uco_mark_stale(ngx_http_request_t *r,
    time_t age);
static ngx_int_t ngx_http_uco_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_http_uco_out_t *o, ngx_buf_t *b);


static ngx_str_t  ngx_http_uco_json = ngx_string("application/json");
static ngx_str_t  ngx_http_uco_msgpack = ngx_string("application/msgpack");


ngx_int_t
ngx_http_uco_send_check(ngx_http_request_t *r, ngx_http_uco_ctx_t *ctx,
    ngx_http_uco_check_t *c)
{
    if (c->err.status != 0) {
        return ngx_http_uco_send_error(r, &c->err);
    }

    if (ctx->req.stale != -1
        && ngx_http_uco_mark_stale(r, ctx->req.stale) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_uco_reply(r, NGX_HTTP_OK, ctx->req.cur->generation,
                              ctx->req.stale, c, 1, 0);
}


/* a batch: an array of answers in the order of the checks, always 200 */

ngx_int_t
ngx_http_uco_send_checks(ngx_http_request_t *r, ngx_http_uco_ctx_t *ctx,
    ngx_http_uco_check_t *c, ngx_uint_t n)
{
    if (ctx->req.stale != -1
        && ngx_http_uco_mark_stale(r, ctx->req.stale) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_uco_reply(r, NGX_HTTP_OK, ctx->req.cur->generation,
                              ctx->req.stale, c, n, 1);
}


ngx_int_t
ngx_http_uco_send_error(ngx_http_request_t *r, uco_query_error_t *err)
{
    ngx_table_elt_t       *h;
    ngx_http_uco_check_t   c;

    if (err->status == NGX_HTTP_UNAUTHORIZED) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "WWW-Authenticate");
        ngx_str_set(&h->value, "Bearer realm=\"uco\"");
        r->headers_out.www_authenticate = h;

    } else if (err->status == NGX_HTTP_NOT_ALLOWED) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "GET, HEAD, POST");
    }

    ngx_memzero(&c, sizeof(ngx_http_uco_check_t));
    c.err = *err;

    return ngx_http_uco_reply(r, err->status, 0, -1, &c, 1, 0);
}


/* uco_stale_policy mark: "X-Uco-Stale: <age>" beside the JSON field */

static ngx_int_t
ngx_http_uco_mark_stale(ngx_http_request_t *r, time_t age)
{
    u_char           *p;
    ngx_table_elt_t  *h;

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Uco-Stale");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%T", age) - p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_uco_reply(ngx_http_request_t *r, ngx_uint_t status,
    uint64_t generation, time_t stale, const ngx_http_uco_check_t *c,
    ngx_uint_t n, ngx_uint_t array)
{
    ngx_buf_t           *b;
    ngx_uint_t           i;
    ngx_http_uco_out_t   o;

    b = ngx_create_temp_buf(r->pool, NGX_HTTP_UCO_ANSWER_LEN * n + 8);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_uco_out_init(r, &o, b);

    if (array) {
        ngx_http_uco_out_array(&o, n);
    }

    for (i = 0; i < n; i++) {
        ngx_http_uco_put_check(&o, generation, stale, &c[i]);
    }

    if (array) {
        ngx_http_uco_out_end(&o, ']');
    }

    b->last = o.pos;

    return ngx_http_uco_send(r, status, &o, b);
}


/* the fields of a decision, or of a check's error, in docs/api.md's order */

static void
ngx_http_uco_put_check(ngx_http_uco_out_t *o, uint64_t generation,
    time_t stale, const ngx_http_uco_check_t *c)
{
    ngx_uint_t                   n;
    const uco_snap_result_t     *res;
    const uco_snap_programme_t  *pr;

    if (c->err.status != 0) {
        ngx_http_uco_put_error(o, &c->err);
        return;
    }

    res = &c->res;
    pr = res->programme;

    n = 2 + (res->decision == UCO_DECISION_NOT_ELIGIBLE) + (pr != NULL)
        + (c->decision_id != 0) + (stale != -1) * 2;

    ngx_http_uco_out_map(o, n);

    ngx_http_uco_out_key(o, "decision");
    ngx_http_uco_out_str(o, uco_snap_decision_name(res->decision));

    if (res->decision == UCO_DECISION_NOT_ELIGIBLE) {
        ngx_http_uco_out_key(o, "reason");
        ngx_http_uco_out_str(o, uco_snap_reason_name(res->reason));
    }

    if (pr != NULL) {
        ngx_http_uco_out_key(o, "programme");
        ngx_http_uco_out_map(o, 3 + (c->amount >= 0));

        ngx_http_uco_out_key(o, "id");
        ngx_http_uco_out_uint(o, pr->id);

        ngx_http_uco_out_key(o, "type");

        if (pr->type == UCO_DISCOUNT_PERCENT) {
            ngx_http_uco_out_str(o, "percent");
            ngx_http_uco_out_key(o, "value");
            ngx_http_uco_out_hundredths(o, pr->value);

        } else {
            ngx_http_uco_out_str(o, "fixed");
            ngx_http_uco_out_key(o, "value");
            ngx_http_uco_out_uint(o, pr->value);
        }

        if (c->amount >= 0) {
            ngx_http_uco_out_key(o, "discount");
            ngx_http_uco_out_uint(o, res->discount);
        }

        ngx_http_uco_out_end(o, '}');
    }

    if (stale != -1) {
        ngx_http_uco_out_key(o, "stale");
        ngx_http_uco_out_true(o);

        ngx_http_uco_out_key(o, "data_age");
        ngx_http_uco_out_uint(o, (uint64_t) stale);
    }

    ngx_http_uco_out_key(o, "generation");
    ngx_http_uco_out_uint(o, generation);

    if (c->decision_id != 0) {
        ngx_http_uco_out_key(o, "decision_id");
        ngx_http_uco_out_id(o, c->decision_id);
    }

    ngx_http_uco_out_end(o, '}');
}


static void
ngx_http_uco_put_error(ngx_http_uco_out_t *o, const uco_query_error_t *err)
{
    ngx_http_uco_out_map(o, 2);

    ngx_http_uco_out_key(o, "error");
    ngx_http_uco_out_str(o, err->code);

    ngx_http_uco_out_key(o, "message");
    ngx_http_uco_out_str(o, err->message);

    ngx_http_uco_out_end(o, '}');
}


/*
 * The writer.  msgpack containers carry their count up front, JSON ones
 * a closing character; each call does what its encoding needs.  Writes
 * are bounded by o->end: a too small buffer gives a cut answer, never an
 * overrun.
 */

static void
ngx_http_uco_out_init(ngx_http_request_t *r, ngx_http_uco_out_t *o,
    ngx_buf_t *b)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    o->pos = b->last;
    o->end = b->end;
    o->first = 1;
    o->keyed = 0;
    o->msgpack = 0;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("Accept") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Accept",
                               sizeof("Accept") - 1) == 0
            && uco_body_accept_msgpack((const char *) h[i].value.data,
                                       h[i].value.len))
        {
            o->msgpack = 1;
            break;
        }
    }

    msgpack_packer_init(&o->pk, o, ngx_http_uco_out_write);
}


static int
ngx_http_uco_out_write(void *data, const char *buf, size_t len)
{
    ngx_http_uco_out_t *o = data;

    if ((size_t) (o->end - o->pos) < len) {
        len = o->end - o->pos;
    }

    o->pos = ngx_cpymem(o->pos, buf, len);

    return 0;
}


static void
ngx_http_uco_out_raw(ngx_http_uco_out_t *o, const char *s, size_t len)
{
    (void) ngx_http_uco_out_write(o, s, len);
}


static void
ngx_http_uco_out_value(ngx_http_uco_out_t *o)
{
    if (o->msgpack) {
        return;
    }

    if (o->keyed) {
        o->keyed = 0;
        return;
    }

    if (!o->first) {
        ngx_http_uco_out_raw(o, ",", 1);
    }

    o->first = 0;
}


static void
ngx_http_uco_out_array(ngx_http_uco_out_t *o, ngx_uint_t n)
{
    ngx_http_uco_out_value(o);

    if (o->msgpack) {
        (void) msgpack_pack_array(&o->pk, n);
        return;
    }

    ngx_http_uco_out_raw(o, "[", 1);
    o->first = 1;
}


static void
ngx_http_uco_out_map(ngx_http_uco_out_t *o, ngx_uint_t n)
{
    ngx_http_uco_out_value(o);

    if (o->msgpack) {
        (void) msgpack_pack_map(&o->pk, n);
        return;
    }

    ngx_http_uco_out_raw(o, "{", 1);
    o->first = 1;
}


static void
ngx_http_uco_out_end(ngx_http_uco_out_t *o, u_char c)
{
    if (o->msgpack) {
        return;
    }

    ngx_http_uco_out_raw(o, (const char *) &c, 1);
    o->first = 0;
}


static void
ngx_http_uco_out_key(ngx_http_uco_out_t *o, const char *key)
{
    ngx_http_uco_out_str(o, key);

    if (!o->msgpack) {
        ngx_http_uco_out_raw(o, ":", 1);
        o->keyed = 1;
    }
}


static void
ngx_http_uco_out_str(ngx_http_uco_out_t *o, const char *s)
{
    size_t  len;

    ngx_http_uco_out_value(o);

    len = ngx_strlen(s);

    if (o->msgpack) {
        (void) msgpack_pack_str(&o->pk, len);
        (void) msgpack_pack_str_body(&o->pk, s, len);
        return;
    }

    if ((size_t) (o->end - o->pos) < len + 2) {
        ngx_http_uco_out_raw(o, "\"", 1);
        ngx_http_uco_out_raw(o, s, len);
        ngx_http_uco_out_raw(o, "\"", 1);
        return;
    }

    *o->pos++ = '"';
    o->pos = ngx_cpymem(o->pos, s, len);
    *o->pos++ = '"';
}


static void
ngx_http_uco_out_uint(ngx_http_uco_out_t *o, uint64_t v)
{
    u_char  buf[NGX_INT64_LEN], *p;

    ngx_http_uco_out_value(o);

    if (o->msgpack) {
        (void) msgpack_pack_uint64(&o->pk, v);
        return;
    }

    p = ngx_http_uco_digits(buf + sizeof(buf), v);
    ngx_http_uco_out_raw(o, (const char *) p, buf + sizeof(buf) - p);
}


/*
 * An id: a string in both encodings, as ids pass 2^53, where JSON numbers
 * lose digits, and the same field has the same type in JSON and msgpack.
 */

static void
ngx_http_uco_out_true(ngx_http_uco_out_t *o)
{
    ngx_http_uco_out_value(o);

    if (o->msgpack) {
        (void) msgpack_pack_true(&o->pk);
        return;
    }

    ngx_http_uco_out_raw(o, "true", 4);
}


static void
ngx_http_uco_out_id(ngx_http_uco_out_t *o, uint64_t v)
{
    u_char  buf[NGX_INT64_LEN + 1], *p;

    buf[NGX_INT64_LEN] = '\0';
    p = ngx_http_uco_digits(buf + NGX_INT64_LEN, v);

    ngx_http_uco_out_str(o, (const char *) p);
}


/*
 * A percentage in hundredths: JSON writes a decimal without trailing
 * zeros; msgpack an integer when whole, else the nearest float64.
 */

static void
ngx_http_uco_out_hundredths(ngx_http_uco_out_t *o, uint64_t v)
{
    u_char    buf[NGX_INT64_LEN + 3], *p;
    uint64_t  f;

    if (o->msgpack) {
        if (v % 100 == 0) {
            (void) msgpack_pack_uint64(&o->pk, v / 100);

        } else {
            (void) msgpack_pack_double(&o->pk, (double) v / 100);
        }

        return;
    }

    ngx_http_uco_out_value(o);

    /* 10, 10.5, 10.05: the fraction's digits without trailing zeros */
    p = buf + sizeof(buf);
    f = v % 100;

    if (f != 0) {
        if (f % 10 != 0) {
            *--p = (u_char) ('0' + f % 10);
        }

        *--p = (u_char) ('0' + f / 10);
        *--p = '.';
    }

    p = ngx_http_uco_digits(p, v / 100);
    ngx_http_uco_out_raw(o, (const char *) p, buf + sizeof(buf) - p);
}


/*
 * v in decimal, written leftwards from end: the first digit.  Answers
 * carry a few numbers each; ngx_slprintf() spent more on parsing its
 * format than on the digits.
 */

static u_char *
ngx_http_uco_digits(u_char *end, uint64_t v)
{
    do {
        *--end = (u_char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);

    return end;
}


static ngx_int_t
ngx_http_uco_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_http_uco_out_t *o, ngx_buf_t *b)
{
    ngx_http_uco_metrics_response(r, status);

    return ngx_http_uco_send_buf(r, status,
                                 o->msgpack ? &ngx_http_uco_msgpack
                                            : &ngx_http_uco_json, b);
}


/* every uco page goes out here: not cached, one buffer */

ngx_int_t
ngx_http_uco_send_buf(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_buf_t *b)
{
    ngx_int_t         rc;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    r->headers_out.status = status;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_length_n = b->last - b->pos;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
