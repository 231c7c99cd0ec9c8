/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * From a parsed card parameter to a card record: stored kinds by their
 * key, pan through the operator's HashPAN keys, token through the
 * operator's Ed25519 public keys.  Also the directives that load those
 * keys.  Key material is read once, at configuration time.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ngx_http_uco_module.h"
#include "uco_pan.h"


#define NGX_HTTP_UCO_KEY_FILE_MAX  (64 * 1024)
#define NGX_HTTP_UCO_MAX_PAN_KEYS  4
#define NGX_HTTP_UCO_MAX_TOKEN_KEYS  16


static char *ngx_http_uco_key_args(ngx_conf_t *cf, ngx_array_t **keys,
    size_t size, ngx_uint_t max, ngx_uint_t *id, ngx_str_t *text);
static ngx_int_t ngx_http_uco_read_key_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *text);
static ngx_int_t ngx_http_uco_ident_pan(ngx_http_request_t *r,
    ngx_http_uco_main_conf_t *umcf, const uco_snap_t *snap,
    const uco_query_t *q, uco_snap_ref_t *card);
static ngx_int_t ngx_http_uco_ident_token(ngx_http_request_t *r,
    ngx_http_uco_main_conf_t *umcf, const uco_snap_t *snap,
    const uco_query_t *q, uco_snap_ref_t *card,
    uco_query_error_t *err);


/*
 * Common to both key directives: "id file", the id 1..255 and unique,
 * at most max keys; the file's text in cf->temp_pool.
 */

static char *
ngx_http_uco_key_args(ngx_conf_t *cf, ngx_array_t **keys, size_t size,
    ngx_uint_t max, ngx_uint_t *id, ngx_str_t *text)
{
    u_char      *k;
    ngx_int_t    n;
    ngx_str_t   *value;
    ngx_uint_t   i;

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);
    if (n < 1 || n > 255) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key id \"%V\": 1 to 255", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (*keys == NULL) {
        *keys = ngx_array_create(cf->pool, max, size);
        if (*keys == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if ((*keys)->nelts >= max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "at most %ui keys of this kind", max);
        return NGX_CONF_ERROR;
    }

    /* every key struct starts with its ngx_uint_t id */
    k = (*keys)->elts;

    for (i = 0; i < (*keys)->nelts; i++) {
        if (*(ngx_uint_t *) (k + i * size) == (ngx_uint_t) n) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate key id %i", n);
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_uco_read_key_file(cf, &value[2], text) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    *id = (ngx_uint_t) n;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_uco_read_key_file(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *text)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_str_t        path;
    ngx_file_info_t  fi;

    path = *name;

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open key file \"%V\"", &path);
        return NGX_ERROR;
    }

    text->data = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > NGX_HTTP_UCO_KEY_FILE_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%V\" is not a small regular file",
                           &path);
        goto failed;
    }

    text->len = (size_t) ngx_file_size(&fi);
    text->data = ngx_pnalloc(cf->temp_pool, text->len + 1);
    if (text->data == NULL) {
        goto failed;
    }

    n = ngx_read_fd(fd, text->data, text->len);
    if (n < 0 || (size_t) n != text->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read key file \"%V\"", &path);
        goto failed;
    }

    text->data[text->len] = '\0';
    ngx_close_file(fd);

    return NGX_OK;

failed:

    ngx_close_file(fd);

    return NGX_ERROR;
}


char *
ngx_http_uco_hashpan_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_uco_main_conf_t  *umcf = conf;

    char                    *rv;
    ngx_str_t                text;
    ngx_uint_t               id;
    ngx_http_uco_pan_key_t  *k;

    rv = ngx_http_uco_key_args(cf, &umcf->pan_keys,
                               sizeof(ngx_http_uco_pan_key_t),
                               NGX_HTTP_UCO_MAX_PAN_KEYS, &id, &text);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    k = ngx_array_push(umcf->pan_keys);
    if (k == NULL) {
        return NGX_CONF_ERROR;
    }

    k->id = id;

    rv = NGX_CONF_OK;

    if (uco_pan_key_parse((const char *) text.data, text.len, k->key,
                          &k->len) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "HashPAN key %ui: the file must hold 32 to 128 "
                           "hexadecimal digits", id);
        rv = NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(text.data, text.len);

    return rv;
}


char *
ngx_http_uco_token_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_uco_main_conf_t  *umcf = conf;

    char                      *rv;
    BIO                       *bio;
    size_t                     len;
    EVP_PKEY                  *pkey;
    ngx_str_t                  text;
    ngx_uint_t                 id;
    ngx_http_uco_token_key_t  *k;

    rv = ngx_http_uco_key_args(cf, &umcf->token_keys,
                               sizeof(ngx_http_uco_token_key_t),
                               NGX_HTTP_UCO_MAX_TOKEN_KEYS, &id, &text);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    k = ngx_array_push(umcf->token_keys);
    if (k == NULL) {
        return NGX_CONF_ERROR;
    }

    k->id = id;

    bio = BIO_new_mem_buf(text.data, (int) text.len);
    if (bio == NULL) {
        return NGX_CONF_ERROR;
    }

    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);

    len = UCO_TOKEN_PUBKEY_LEN;
    rv = NGX_CONF_OK;

    if (pkey == NULL || EVP_PKEY_id(pkey) != EVP_PKEY_ED25519
        || EVP_PKEY_get_raw_public_key(pkey, k->pub, &len) != 1
        || len != UCO_TOKEN_PUBKEY_LEN)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "token key %ui: the file must hold an Ed25519 "
                           "public key in PEM", id);
        rv = NGX_CONF_ERROR;
    }

    EVP_PKEY_free(pkey);

    return rv;
}


/*
 * NGX_OK with *card (card->snap NULL when no card has this identifier),
 * or NGX_DECLINED with err filled.
 */

ngx_int_t
ngx_http_uco_ident_card(ngx_http_request_t *r, const uco_snap_t *snap,
    const uco_query_t *q, uco_snap_ref_t *card,
    uco_query_error_t *err)
{
    ngx_http_uco_ctx_t        *ctx;
    ngx_http_uco_main_conf_t  *umcf;

    umcf = ngx_http_get_module_main_conf(r, ngx_http_uco_module);
    card->snap = NULL;

    switch (q->kind_id) {

    case UCO_KIND_PAN:
        if (umcf->pan_keys == NULL) {
            break;
        }

        return ngx_http_uco_ident_pan(r, umcf, snap, q, card);

    case UCO_KIND_TOKEN:
        if (umcf->token_keys == NULL) {
            break;
        }

        return ngx_http_uco_ident_token(r, umcf, snap, q, card, err);

    default:
        /* the key whose slot ngx_http_uco_begin() prefetched: its hash */
        ctx = ngx_http_get_module_ctx(r, ngx_http_uco_module);

        if (ctx != NULL && ctx->req.key == q->key) {
            (void) uco_snap_lookup_hash(snap, q->key, ctx->req.key_hash,
                                        card);

        } else {
            (void) uco_snap_lookup(snap, q->key, card);
        }

        return NGX_OK;
    }

    err->status = NGX_HTTP_BAD_REQUEST;
    err->code = "unsupported_kind";
    err->message = "this server accepts no cards of this kind";

    return NGX_DECLINED;
}


/*
 * Each configured key in turn (the current one first), so that during a
 * rotation the hashes of both keys resolve.  The PAN is the handler's
 * copy: the request's was overwritten right after parsing.
 */

static ngx_int_t
ngx_http_uco_ident_pan(ngx_http_request_t *r, ngx_http_uco_main_conf_t *umcf,
    const uco_snap_t *snap, const uco_query_t *q,
    uco_snap_ref_t *card)
{
    uint8_t                  key[UCO_SNAP_KEY_LEN];
    uint8_t                  hash[UCO_PAN_HASH_LEN];
    ngx_int_t                rc;
    ngx_uint_t               n;
    ngx_http_uco_pan_key_t  *k;

    k = umcf->pan_keys->elts;
    rc = NGX_OK;

    for (n = 0; n < umcf->pan_keys->nelts; n++) {
        if (uco_pan_hash(k[n].key, k[n].len, q->pan, q->pan_len, hash)
            != 0)
        {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "uco: HMAC-SHA-256 failed");
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            break;
        }

        uco_snap_key_hashpan(hash, key);

        if (uco_snap_lookup(snap, key, card)) {
            break;
        }
    }

    ngx_explicit_memzero(hash, sizeof(hash));

    return rc;
}


static ngx_int_t
ngx_http_uco_ident_token(ngx_http_request_t *r,
    ngx_http_uco_main_conf_t *umcf, const uco_snap_t *snap,
    const uco_query_t *q, uco_snap_ref_t *card,
    uco_query_error_t *err)
{
    int                        rc;
    ngx_uint_t                 n;
    ngx_http_uco_token_key_t  *k;

    k = umcf->token_keys->elts;
    rc = UCO_TOKEN_EKEY;

    for (n = 0; n < umcf->token_keys->nelts; n++) {
        if (k[n].id == q->token.key_id) {
            rc = uco_token_verify(&q->token, k[n].pub);
            break;
        }
    }

    if (rc == UCO_TOKEN_OK
        && uco_token_expired(&q->token, ngx_time(), umcf->token_skew))
    {
        rc = UCO_TOKEN_EEXPIRED;
    }

    switch (rc) {

    case UCO_TOKEN_OK:
        (void) uco_snap_lookup_id(snap, q->token.card, card);

        return NGX_OK;

    case UCO_TOKEN_ELIBRARY:
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "uco: Ed25519 verification failed to run");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;

    case UCO_TOKEN_EEXPIRED:
        err->code = "token_expired";
        err->message = "the card's QR token has expired; show a fresh one";
        break;

    default:
        err->code = "token_invalid";
        err->message = "the card's QR token is not signed by a known key";
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "uco: %s (token key id %d)", err->code,
                  (int) q->token.key_id);

    err->status = NGX_HTTP_UNAUTHORIZED;

    return NGX_DECLINED;
}
