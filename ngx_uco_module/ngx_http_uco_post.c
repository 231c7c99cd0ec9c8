/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * POST: checks in the request body, one (an object) or a batch (an array
 * of up to uco_batch_max objects), JSON or msgpack.  The body is read
 * the nginx way, without blocking; the request-level work is done once
 * it is complete, so the snapshot it uses cannot change under the
 * checks.  Bodies are parsed by uco_body.c.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_uco_module.h"
#include "uco_body.h"


static void ngx_http_uco_post_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_uco_post_answer(ngx_http_request_t *r);
static uco_body_type_e ngx_http_uco_post_type(ngx_http_request_t *r);
static void ngx_http_uco_post_cleanup(void *data);


ngx_int_t
ngx_http_uco_post(ngx_http_request_t *r)
{
    ngx_int_t          rc;
    uco_query_error_t  err;

    if (ngx_http_uco_post_type(r) == UCO_BODY_NONE) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        err.status = NGX_HTTP_UNSUPPORTED_MEDIA_TYPE;
        err.code = "unsupported_media_type";
        err.message = "send application/json or application/msgpack";
        return ngx_http_uco_send_error(r, &err);
    }

    /*
     * client_max_body_size is enforced by nginx before and while reading;
     * a body over client_body_buffer_size goes to a temporary file.
     */
    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_uco_post_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_uco_post_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_uco_post_answer(r));
}


static ngx_int_t
ngx_http_uco_post_answer(ngx_http_request_t *r)
{
    size_t                    len;
    u_char                   *data;
    ngx_int_t                 rc;
    ngx_uint_t                i;
    uco_body_t               *body;
    uco_query_error_t         err;
    ngx_pool_cleanup_t       *cln;
    ngx_http_uco_ctx_t       *ctx;
    ngx_http_uco_check_t     *c;
    ngx_http_uco_loc_conf_t  *ulcf;

    rc = ngx_http_uco_begin(r, &ctx, NULL, &err);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        return ngx_http_uco_send_error(r, &err);
    }

    if (ngx_http_uco_post_bytes(r, &data, &len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(uco_body_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body = cln->data;
    ngx_memzero(body, sizeof(uco_body_t));
    cln->handler = ngx_http_uco_post_cleanup;

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_uco_module);

    if (uco_body_parse(ngx_http_uco_post_type(r), (const char *) data, len,
                       (size_t) ulcf->batch_max, body, &err)
        != 0)
    {
        ngx_explicit_memzero(data, len);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "uco: bad body from partner %uL: %s",
                      ctx->partner, err.code);
        return ngx_http_uco_send_error(r, &err);
    }

    c = ngx_pcalloc(r->pool, body->n * sizeof(ngx_http_uco_check_t));
    if (c == NULL) {
        ngx_explicit_memzero(data, len);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < body->n; i++) {
        c[i].err = body->checks[i].err;
        ngx_http_uco_check(r, ctx, &body->checks[i].q, &c[i]);
    }

    /*
     * The card values (PANs among them) are no longer needed: overwrite
     * them in the parsed document and in the body as read.
     */
    uco_body_wipe(body);
    ngx_explicit_memzero(data, len);

    if (!body->batch) {
        return ngx_http_uco_send_check(r, ctx, &c[0]);
    }

    return ngx_http_uco_send_checks(r, ctx, c, body->n);
}


/*
 * The body in one piece.  In memory it is used as it is; from a
 * temporary file it is read back here, a local file read as nginx does
 * for static files (docs/directives.md, uco_batch_max).
 */

ngx_int_t
ngx_http_uco_post_bytes(ngx_http_request_t *r, u_char **data, size_t *len)
{
    off_t         size;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    *data = (u_char *) "";
    *len = 0;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        if (cl->buf->last > cl->buf->pos) {
            *data = cl->buf->pos;
            *len = cl->buf->last - cl->buf->pos;
        }

        return NGX_OK;
    }

    size = 0;

    for ( /* void */ ; cl != NULL; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    p = ngx_pnalloc(r->pool, (size_t) size + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *data = p;

    for (cl = r->request_body->bufs; cl != NULL; cl = cl->next) {
        b = cl->buf;

        /* a chunked body's chain has empty buffers, with no memory */
        if (!b->in_file) {
            if (b->last > b->pos) {
                p = ngx_cpymem(p, b->pos, b->last - b->pos);
            }

            continue;
        }

        n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                          b->file_pos);

        if (n != b->file_last - b->file_pos) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                          "uco: reading the request body back failed");
            return NGX_ERROR;
        }

        p += n;
    }

    *len = p - *data;

    return NGX_OK;
}


static uco_body_type_e
ngx_http_uco_post_type(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = r->headers_in.content_type;

    if (h == NULL) {
        return UCO_BODY_NONE;
    }

    return uco_body_content_type((const char *) h->value.data,
                                 h->value.len);
}


static void
ngx_http_uco_post_cleanup(void *data)
{
    uco_body_wipe(data);
    uco_body_free(data);
}
