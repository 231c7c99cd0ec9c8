/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The eligibility endpoint: method, credentials, query, decision, answer.
 */

/*
 * SHA256_Init() and friends hash on the stack; the EVP interface would
 * allocate a context per request.  They are deprecated, not removed.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/sha.h>
#include <openssl/crypto.h>

#include "ngx_http_uco_module.h"


#define NGX_HTTP_UCO_ANSWER_LEN  256


static ngx_int_t ngx_http_uco_authenticate(ngx_http_request_t *r,
    const uco_snap_t *snap, const uco_snap_partner_t **partner);
static ngx_int_t ngx_http_uco_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_buf_t *b);
static ngx_int_t ngx_http_uco_send_error(ngx_http_request_t *r,
    uco_query_error_t *err);
static u_char *ngx_http_uco_format(u_char *p, uint64_t generation,
    const uco_snap_result_t *res, int64_t amount);


static ngx_str_t  ngx_http_uco_json = ngx_string("application/json");


ngx_int_t
ngx_http_uco_handler(ngx_http_request_t *r)
{
    u_char                     *last;
    int64_t                     local;
    uint32_t                    card;
    ngx_int_t                   rc;
    ngx_buf_t                  *b;
    ngx_str_t                  *args;
    uco_snap_when_t             when;
    ngx_http_request_t         *m;
    ngx_http_uco_ctx_t         *ctx;
    ngx_http_uco_snap_t        *cur;
    uco_query_t                 q;
    uco_query_error_t           err;
    uco_snap_result_t           res;
    ngx_http_uco_main_conf_t   *umcf;
    const uco_snap_partner_t   *partner;

    /*
     * Behind auth_request the subrequest has no query of its own: the
     * card is in the main request's.
     */
    args = (r != r->main && r->args.len == 0) ? &r->main->args : &r->args;

    /*
     * The query names a card: cut it from the request line, which the
     * error log appends to every line and $request shows.
     */
    m = r->main;

    if (args->len != 0 && args->data > m->request_line.data
        && args->data <= m->request_line.data + m->request_line.len)
    {
        m->request_line.len = args->data - 1 - m->request_line.data;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        err.status = NGX_HTTP_NOT_ALLOWED;
        err.code = "method_not_allowed";
        err.message = "only GET and HEAD are allowed";
        return ngx_http_uco_send_error(r, &err);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_uco_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_uco_module);

    umcf = ngx_http_get_module_main_conf(r, ngx_http_uco_module);
    cur = ngx_http_uco_snapshot_current(umcf, r->connection->log);

    if (cur == NULL) {
        err.status = NGX_HTTP_SERVICE_UNAVAILABLE;
        err.code = "no_snapshot";
        err.message = "no policy snapshot is loaded yet";
        return ngx_http_uco_send_error(r, &err);
    }

    if (ngx_http_uco_authenticate(r, &cur->snap, &partner) != NGX_OK) {
        err.status = NGX_HTTP_UNAUTHORIZED;
        err.code = "unauthorized";
        err.message = "missing or invalid partner credentials";
        return ngx_http_uco_send_error(r, &err);
    }

    ctx->partner = partner->id;

    if (partner->status != UCO_PARTNER_ACTIVE) {
        err.status = NGX_HTTP_FORBIDDEN;
        err.code = "partner_suspended";
        err.message = "the partner is suspended";
        return ngx_http_uco_send_error(r, &err);
    }

    if (uco_query_parse((const char *) args->data, args->len, &q, &err)
        != 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "uco: bad request from partner %uL: %s",
                      partner->id, err.code);
        return ngx_http_uco_send_error(r, &err);
    }

    if (!uco_snap_terminal_allowed(&cur->snap, partner,
                                   (const char *) q.terminal.data,
                                   q.terminal.len))
    {
        err.status = NGX_HTTP_FORBIDDEN;
        err.code = "terminal_not_allowed";
        err.message = "the terminal is not in the partner's allow-list";
        return ngx_http_uco_send_error(r, &err);
    }

    local = ngx_http_uco_local_time(umcf, ngx_time());
    uco_snap_when(local, &when);

    uco_snap_decide(&cur->snap, partner,
                    uco_snap_find_card(&cur->snap, q.key, &card)
                    ? &cur->snap.cards[card] : NULL,
                    &when, q.amount_kopecks, &res);

    ctx->decision = uco_snap_decision_name(res.decision);
    ctx->programme = res.programme ? res.programme->id : 0;

    b = ngx_create_temp_buf(r->pool, NGX_HTTP_UCO_ANSWER_LEN);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_http_uco_format(b->last, cur->generation, &res,
                               q.amount_kopecks);
    b->last = last;

    return ngx_http_uco_send(r, NGX_HTTP_OK, b);
}


/*
 * The stored value is SHA-256 of a high-entropy secret; the comparison
 * is constant-time, and an unknown partner costs the same work.
 */

static ngx_int_t
ngx_http_uco_authenticate(ngx_http_request_t *r, const uco_snap_t *snap,
    const uco_snap_partner_t **partner)
{
    uint64_t                   id;
    uco_str_t                  secret;
    SHA256_CTX                 sha;
    const u_char              *want;
    const uco_snap_partner_t  *p;
    u_char                     md[SHA256_DIGEST_LENGTH];

    static const u_char        nobody[SHA256_DIGEST_LENGTH];

    if (r->headers_in.authorization == NULL
        || uco_query_credentials(
               (const char *) r->headers_in.authorization->value.data,
               r->headers_in.authorization->value.len, &id, &secret) != 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "uco: missing or malformed credentials");
        return NGX_DECLINED;
    }

    p = uco_snap_find_partner(snap, id);
    want = p ? p->secret_sha256 : nobody;

    SHA256_Init(&sha);
    SHA256_Update(&sha, secret.data, secret.len);
    SHA256_Final(md, &sha);

    if (CRYPTO_memcmp(md, want, SHA256_DIGEST_LENGTH) != 0 || p == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "uco: wrong credentials for partner %uL", id);
        return NGX_DECLINED;
    }

    *partner = p;

    return NGX_OK;
}


static u_char *
ngx_http_uco_format(u_char *p, uint64_t generation,
    const uco_snap_result_t *res, int64_t amount)
{
    uint64_t                     v;
    const uco_snap_programme_t  *pr;

    p = ngx_sprintf(p, "{\"decision\":\"%s\"",
                    uco_snap_decision_name(res->decision));

    if (res->decision == UCO_DECISION_NOT_ELIGIBLE) {
        p = ngx_sprintf(p, ",\"reason\":\"%s\"",
                        uco_snap_reason_name(res->reason));
    }

    pr = res->programme;

    if (pr != NULL) {
        p = ngx_sprintf(p, ",\"programme\":{\"id\":%uL,\"type\":\"%s\","
                        "\"value\":", pr->id,
                        pr->type == UCO_DISCOUNT_PERCENT ? "percent"
                                                         : "fixed");
        v = pr->value;

        if (pr->type != UCO_DISCOUNT_PERCENT || v % 100 == 0) {
            p = ngx_sprintf(p, "%uL",
                            pr->type == UCO_DISCOUNT_PERCENT ? v / 100 : v);

        } else if (v % 10 == 0) {
            p = ngx_sprintf(p, "%uL.%uL", v / 100, v % 100 / 10);

        } else {
            p = ngx_sprintf(p, "%uL.%02uL", v / 100, v % 100);
        }

        if (amount >= 0) {
            p = ngx_sprintf(p, ",\"discount\":%uL", res->discount);
        }

        *p++ = '}';
    }

    return ngx_sprintf(p, ",\"generation\":%uL}", generation);
}


static ngx_int_t
ngx_http_uco_send_error(ngx_http_request_t *r, uco_query_error_t *err)
{
    ngx_buf_t        *b;
    ngx_table_elt_t  *h;

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
        ngx_str_set(&h->value, "GET, HEAD");
    }

    b = ngx_create_temp_buf(r->pool, NGX_HTTP_UCO_ANSWER_LEN);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last, "{\"error\":\"%s\",\"message\":\"%s\"}",
                          err->code, err->message);

    return ngx_http_uco_send(r, err->status, b);
}


static ngx_int_t
ngx_http_uco_send(ngx_http_request_t *r, ngx_uint_t status, ngx_buf_t *b)
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
    r->headers_out.content_type = ngx_http_uco_json;
    r->headers_out.content_type_len = ngx_http_uco_json.len;
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
