/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The eligibility endpoint: the request (method, snapshot, credentials),
 * and deciding one check.  Answers are written in ngx_http_uco_answer.c.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_uco_module.h"




/*
 * A GET (or HEAD) asks one check in its query, a POST one or a batch in
 * its body (ngx_http_uco_post.c).  The steps are those of every request:
 * (a) ngx_http_uco_begin(), (b) ngx_http_uco_check() per check,
 * (c) ngx_http_uco_send_*() (ngx_http_uco_answer.c).
 */

ngx_int_t
ngx_http_uco_handler(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_str_t             *args;
    uco_query_t            q;
    uco_query_error_t      err;
    ngx_http_request_t    *m;
    ngx_http_uco_ctx_t    *ctx;
    ngx_http_uco_check_t   c;

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

    /*
     * Parsed first, whatever is answered, so that a PAN is copied out
     * (and overwritten in the request on the way out, below); errors are
     * still answered in the documented order.
     */
    ngx_memzero(&c, sizeof(ngx_http_uco_check_t));

    (void) uco_query_parse((const char *) args->data, args->len, &q, &c.err);

    /* behind auth_request the body is the partner API's, not checks */
    if (r->method == NGX_HTTP_POST && r == r->main) {
        rc = ngx_http_uco_post(r);
        goto done;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        goto done;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        err.status = NGX_HTTP_NOT_ALLOWED;
        err.code = "method_not_allowed";
        err.message = "only GET, HEAD and POST are allowed";
        rc = ngx_http_uco_send_error(r, &err);
        goto done;
    }

    /* a stored kind's slot is fetched while the partner is checked */
    rc = ngx_http_uco_begin(r, &ctx,
                            c.err.status == 0 && q.kind_id <= UCO_KIND_UID
                            ? q.key : NULL,
                            &err);

    if (rc == NGX_ERROR) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    if (rc != NGX_OK) {
        rc = ngx_http_uco_send_error(r, &err);
        goto done;
    }

    ngx_http_uco_check(r, ctx, &q, &c);

    rc = ngx_http_uco_send_check(r, ctx, &c);

done:

    /*
     * Before anything logs: a signed request's signature covers the
     * query as sent, so the PAN is overwritten only now.
     */
    uco_query_wipe_pan((char *) args->data, args->len);
    ngx_explicit_memzero(q.pan, sizeof(q.pan));

    return rc;
}


/*
 * (a) The request-level checks, in the order docs/api.md gives: a
 * snapshot, credentials, an active partner, fresh enough data where
 * stale data is refused.  NGX_DECLINED with *err set
 * refuses the whole request.  key (NULL: none) is the card's key of a
 * stored kind: its slot is prefetched as soon as the snapshot is known,
 * so that the partner's checks run during the cache miss, and its hash
 * kept for the lookup (ngx_http_uco_ident_card()).
 */

ngx_int_t
ngx_http_uco_begin(ngx_http_request_t *r, ngx_http_uco_ctx_t **ctxp,
    const uint8_t *key, uco_query_error_t *err)
{
    ngx_int_t                   rc;
    ngx_http_uco_ctx_t         *ctx;
    ngx_http_uco_snap_t        *cur;
    ngx_http_uco_loc_conf_t    *ulcf;
    ngx_http_uco_main_conf_t   *umcf;
    const uco_snap_partner_t   *partner;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_uco_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_uco_module);
    *ctxp = ctx;

    umcf = ngx_http_get_module_main_conf(r, ngx_http_uco_module);
    cur = ngx_http_uco_snapshot_current(umcf, r->connection->log);

    if (cur == NULL) {
        err->status = NGX_HTTP_SERVICE_UNAVAILABLE;
        err->code = "no_snapshot";
        err->message = "no policy snapshot is loaded yet";
        return NGX_DECLINED;
    }

    /* the card's slot on its way while the request-level checks run */
    if (key != NULL) {
        ctx->req.key = key;
        ctx->req.key_hash = uco_snap_prefetch(&cur->snap, key);
    }

    /* an address that keeps failing costs no more crypto work */
    if (ngx_http_uco_limit_address(r, umcf) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "uco: too many authentication failures from this "
                      "address");
        err->status = NGX_HTTP_TOO_MANY_REQUESTS;
        err->code = "too_many_auth_failures";
        err->message = "too many failed authentications from this "
                       "address; wait and check the credentials";
        return NGX_DECLINED;
    }

    rc = ngx_http_uco_auth(r, &cur->snap, &partner, err);
    if (rc != NGX_OK) {
        if (rc == NGX_DECLINED && err->status == NGX_HTTP_UNAUTHORIZED) {
            ngx_http_uco_limit_failure(r, umcf);
        }

        return rc;
    }

    ctx->partner = partner->id;

    if (partner->status != UCO_PARTNER_ACTIVE) {
        ngx_http_uco_metrics_auth_failure(r, NGX_HTTP_UCO_AUTH_SUSPENDED);
        err->status = NGX_HTTP_FORBIDDEN;
        err->code = "partner_suspended";
        err->message = "the partner is suspended";
        return NGX_DECLINED;
    }

    if (ngx_http_uco_limit_partner(r, umcf, partner->id) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "uco: partner %uL is over its rate limit",
                      partner->id);
        err->status = NGX_HTTP_TOO_MANY_REQUESTS;
        err->code = "rate_limited";
        err->message = "more requests than the partner's rate limit; "
                       "slow down";
        return NGX_DECLINED;
    }

    uco_snap_when(ngx_http_uco_local_time(umcf, ngx_time()), &ctx->req.when);

    /* the contract's first and last day, in the region's time */
    if (ctx->req.when.day < partner->contract_from
        || ctx->req.when.day > partner->contract_to)
    {
        ngx_http_uco_metrics_auth_failure(r, NGX_HTTP_UCO_AUTH_CONTRACT);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "uco: partner %uL is outside its contract dates",
                      partner->id);
        err->status = NGX_HTTP_FORBIDDEN;
        err->code = "contract_inactive";
        err->message = "the partner's contract is not in force today";
        return NGX_DECLINED;
    }

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_uco_module);
    ctx->req.stale = ngx_http_uco_snapshot_stale(umcf, cur,
                                                 ulcf->max_staleness,
                                                 r->connection->log);

    if (ctx->req.stale != -1
        && ulcf->stale_policy == NGX_HTTP_UCO_STALE_REJECT)
    {
        err->status = NGX_HTTP_SERVICE_UNAVAILABLE;
        err->code = "stale_snapshot";
        err->message = "the policy data is older than allowed";
        return NGX_DECLINED;
    }

    ctx->req.cur = cur;
    ctx->req.partner = partner;
    ctx->req.journal = umcf->journal.ring.header ? &umcf->journal : NULL;

    return NGX_OK;
}


/*
 * (b) One check: c->err is already set when its fields did not parse;
 * otherwise the terminal allow-list, then the decision.  Every check of
 * a request, refused or decided, ends here.
 */

void
ngx_http_uco_check(ngx_http_request_t *r, ngx_http_uco_ctx_t *ctx,
    const uco_query_t *q, ngx_http_uco_check_t *c)
{
    ngx_int_t                  rc;
    uco_snap_ref_t             card;
    const uco_snap_t          *snap;
    const uco_snap_partner_t  *partner;

    snap = &ctx->req.cur->snap;
    partner = ctx->req.partner;

    if (c->err.status != 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "uco: bad request from partner %uL: %s",
                      partner->id, c->err.code);
        return;
    }

    c->amount = q->amount_kopecks;

    if (!uco_snap_terminal_allowed(snap, partner,
                                   (const char *) q->terminal.data,
                                   q->terminal.len))
    {
        ngx_http_uco_metrics_auth_failure(r, NGX_HTTP_UCO_AUTH_TERMINAL);
        c->err.status = NGX_HTTP_FORBIDDEN;
        c->err.code = "terminal_not_allowed";
        c->err.message = "the terminal is not in the partner's allow-list";
        return;
    }

    if (!(partner->scopes & q->scope_bit)) {
        ngx_http_uco_metrics_auth_failure(r, NGX_HTTP_UCO_AUTH_SCOPE);
        c->err.status = NGX_HTTP_FORBIDDEN;
        c->err.code = "scope_not_allowed";
        c->err.message = "the partner may not ask this scope";
        return;
    }

    rc = ngx_http_uco_ident_card(r, snap, q, &card, &c->err);

    if (rc != NGX_OK) {
        if (rc != NGX_DECLINED) {
            c->err.status = NGX_HTTP_INTERNAL_SERVER_ERROR;
            c->err.code = "internal_error";
            c->err.message = "the card could not be checked";
        }

        return;
    }

    /* the card's summary decides; its record (the id) is being fetched */
    uco_snap_decide(snap, partner, &card, &ctx->req.when, q->amount_kopecks,
                    &c->res);

    /* identify: whether the card is a valid resident card, nothing more */
    if (q->scope_bit == UCO_SCOPE_IDENTIFY
        && (c->res.decision == UCO_DECISION_ELIGIBLE
            || c->res.decision == UCO_DECISION_NOT_ELIGIBLE))
    {
        c->res.decision = UCO_DECISION_VALID;
        c->res.reason = UCO_REASON_NONE;
        c->res.programme = NULL;
        c->res.discount = 0;
    }

    ctx->decision = uco_snap_decision_name(c->res.decision);
    ngx_http_uco_metrics_decision(r, partner->id, c->res.decision);
    ctx->programme = c->res.programme ? c->res.programme->id : 0;

    if (ctx->req.journal != NULL
        && ngx_http_uco_journal_record(r, ctx, q,
                                       uco_snap_ref_id(&card), c)
           != NGX_OK)
    {
        c->err.status = NGX_HTTP_SERVICE_UNAVAILABLE;
        c->err.code = "journal_full";
        c->err.message = "the decision journal is full, try again later";
    }
}
