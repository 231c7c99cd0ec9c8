/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Partner authentication, by the method each partner's record names:
 * API keys (Authorization: Bearer), signed requests (Authorization:
 * UCO-HMAC-SHA256 ...) with a time window and the replay cache, or a
 * verified client certificate.  A partner is never authenticated by a
 * method other than its own.  Failures are logged at info with the
 * reason and the claimed partner id, never a secret.
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
#include "uco_sig.h"


static ngx_int_t ngx_http_uco_auth_key(ngx_http_request_t *r,
    const uco_snap_t *snap, ngx_str_t *value,
    const uco_snap_partner_t **partner);
static ngx_int_t ngx_http_uco_auth_signed(ngx_http_request_t *r,
    ngx_http_uco_main_conf_t *umcf, const uco_snap_t *snap,
    ngx_str_t *value, const uco_snap_partner_t **partner,
    uco_query_error_t *err);
static void ngx_http_uco_auth_path(ngx_http_request_t *r, ngx_str_t *path);


/* SHA-256 of nothing: the body hash of a request without a body */
static const uint8_t  ngx_http_uco_empty_sha256[UCO_SIG_LEN] = {
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
    0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
    0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55
};


/*
 * NGX_OK with *partner; NGX_DECLINED with *err (401, or 503 when the
 * replay cache is full); NGX_ERROR.
 */

ngx_int_t
ngx_http_uco_auth(ngx_http_request_t *r, const uco_snap_t *snap,
    const uco_snap_partner_t **partner, uco_query_error_t *err)
{
    ngx_int_t                  rc;
    ngx_table_elt_t           *h;
    ngx_http_uco_main_conf_t  *umcf;

    umcf = ngx_http_get_module_main_conf(r, ngx_http_uco_module);
    h = r->headers_in.authorization;

    err->status = NGX_HTTP_UNAUTHORIZED;
    err->code = "unauthorized";
    err->message = "missing or invalid partner credentials";

    if (h == NULL) {
        rc = ngx_http_uco_auth_cert(r, snap, partner);

        if (rc == NGX_DECLINED) {
            ngx_http_uco_metrics_auth_failure(r, NGX_HTTP_UCO_AUTH_MISSING);
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "uco: missing or malformed credentials");
        }

        return (rc == NGX_OK) ? NGX_OK : NGX_DECLINED;
    }

    if (uco_sig_is_signed((const char *) h->value.data, h->value.len)) {
        return ngx_http_uco_auth_signed(r, umcf, snap, &h->value, partner,
                                        err);
    }

    return ngx_http_uco_auth_key(r, snap, &h->value, partner);
}


/*
 * The stored values are SHA-256 of high-entropy secrets; both slots are
 * always compared, in constant time, and an unknown partner costs the
 * same work.
 */

static ngx_int_t
ngx_http_uco_auth_key(ngx_http_request_t *r, const uco_snap_t *snap,
    ngx_str_t *value, const uco_snap_partner_t **partner)
{
    int                        match;
    uint64_t                   id;
    uco_str_t                  secret;
    SHA256_CTX                 sha;
    const u_char              *want1, *want2;
    const uco_snap_partner_t  *p;
    u_char                     md[SHA256_DIGEST_LENGTH];

    static const u_char        nobody[SHA256_DIGEST_LENGTH];

    if (uco_query_credentials((const char *) value->data, value->len, &id,
                              &secret) != 0)
    {
        ngx_http_uco_metrics_auth_failure(r, NGX_HTTP_UCO_AUTH_MALFORMED);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "uco: missing or malformed credentials");
        return NGX_DECLINED;
    }

    p = uco_snap_find_partner(snap, id);
    want1 = p ? p->secret_sha256 : nobody;
    want2 = (p && p->nsecrets > 1) ? p->secret2_sha256 : nobody;

    SHA256_Init(&sha);
    SHA256_Update(&sha, secret.data, secret.len);
    SHA256_Final(md, &sha);

    match = (CRYPTO_memcmp(md, want1, SHA256_DIGEST_LENGTH) == 0)
            | (CRYPTO_memcmp(md, want2, SHA256_DIGEST_LENGTH) == 0);

    if (!match || p == NULL || p->nsecrets == 0
        || p->auth != UCO_AUTH_API_KEY)
    {
        ngx_http_uco_metrics_auth_failure(r,
            p == NULL ? NGX_HTTP_UCO_AUTH_UNKNOWN_PARTNER
            : p->auth != UCO_AUTH_API_KEY ? NGX_HTTP_UCO_AUTH_WRONG_METHOD
            : NGX_HTTP_UCO_AUTH_BAD_SECRET);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "uco: wrong credentials for partner %uL", id);
        return NGX_DECLINED;
    }

    *partner = p;

    return NGX_OK;
}


/*
 * The signature over method, path, sorted query and body hash, with the
 * partner's key (the SHA-256 of its secret) in either slot; then the
 * time window; then the nonce, which is recorded only for a request that
 * is otherwise valid, so that nobody can fill the cache without a key.
 */

static ngx_int_t
ngx_http_uco_auth_signed(ngx_http_request_t *r,
    ngx_http_uco_main_conf_t *umcf, const uco_snap_t *snap,
    ngx_str_t *value, const uco_snap_partner_t **partner,
    uco_query_error_t *err)
{
    int                        match;
    size_t                     len;
    u_char                    *body;
    time_t                     now;
    uco_sig_t                  s;
    ngx_int_t                  rc;
    ngx_str_t                 *args, path;
    SHA256_CTX                 sha;
    const uco_snap_partner_t  *p;
    u_char                     qh[UCO_SIG_LEN], bh[UCO_SIG_LEN];
    u_char                     md1[UCO_SIG_LEN];
    u_char                     md2[UCO_SIG_LEN], nonce[SHA256_DIGEST_LENGTH];

    if (uco_sig_parse((const char *) value->data, value->len, &s) != 0) {
        ngx_http_uco_metrics_auth_failure(r, NGX_HTTP_UCO_AUTH_MALFORMED);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "uco: malformed signed-request header");
        return NGX_DECLINED;
    }

    p = uco_snap_find_partner(snap, s.partner);

    if (p == NULL || p->auth != UCO_AUTH_SIGNED || p->nsecrets == 0) {
        ngx_http_uco_metrics_auth_failure(r, p == NULL
                                          ? NGX_HTTP_UCO_AUTH_UNKNOWN_PARTNER
                                          : NGX_HTTP_UCO_AUTH_WRONG_METHOD);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "uco: partner %uL does not sign requests", s.partner);
        return NGX_DECLINED;
    }

    /* the query as the partner sent it, before a PAN is wiped */
    args = (r != r->main && r->args.len == 0) ? &r->main->args : &r->args;
    ngx_http_uco_auth_path(r, &path);

    /* a POST's body, read by now; any other request's is empty */
    ngx_memcpy(bh, ngx_http_uco_empty_sha256, UCO_SIG_LEN);

    if (r->request_body != NULL) {
        if (ngx_http_uco_post_bytes(r, &body, &len) != NGX_OK) {
            return NGX_ERROR;
        }

        SHA256_Init(&sha);
        SHA256_Update(&sha, body, len);
        SHA256_Final(bh, &sha);
    }

    if (uco_sig_query_hash((const char *) args->data, args->len, qh) != 0
        || uco_sig_compute(p->secret_sha256, SHA256_DIGEST_LENGTH, &s,
                           (const char *) r->main->method_name.data,
                           r->main->method_name.len,
                           (const char *) path.data, path.len, qh, bh, md1)
           != 0
        || uco_sig_compute(p->nsecrets > 1 ? p->secret2_sha256
                                           : p->secret_sha256,
                           SHA256_DIGEST_LENGTH, &s,
                           (const char *) r->main->method_name.data,
                           r->main->method_name.len,
                           (const char *) path.data, path.len, qh, bh, md2)
           != 0)
    {
        ngx_http_uco_metrics_auth_failure(r, NGX_HTTP_UCO_AUTH_MALFORMED);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "uco: cannot compute the signature for partner %uL "
                      "(too many query parameters?)", s.partner);
        return NGX_DECLINED;
    }

    match = (CRYPTO_memcmp(md1, s.sig, UCO_SIG_LEN) == 0)
            | (CRYPTO_memcmp(md2, s.sig, UCO_SIG_LEN) == 0);

    if (!match) {
        ngx_http_uco_metrics_auth_failure(r, NGX_HTTP_UCO_AUTH_BAD_SIGNATURE);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "uco: wrong signature for partner %uL", s.partner);
        err->message = "the request signature does not match";
        return NGX_DECLINED;
    }

    now = ngx_time();

    if (s.ts < (int64_t) now - umcf->signed_window
        || s.ts > (int64_t) now + umcf->signed_window)
    {
        ngx_http_uco_metrics_auth_failure(r, NGX_HTTP_UCO_AUTH_STALE);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "uco: signed request of partner %uL outside the "
                      "time window (%L s off)", s.partner,
                      (int64_t) (s.ts - (int64_t) now));
        err->message = "the request timestamp is outside the allowed "
                       "window; check the clock";
        return NGX_DECLINED;
    }

    SHA256_Init(&sha);
    SHA256_Update(&sha, &s.partner, sizeof(s.partner));
    SHA256_Update(&sha, s.nonce, s.nonce_len);
    SHA256_Final(nonce, &sha);

    rc = ngx_http_uco_replay_check(umcf->replay, nonce,
                                   (time_t) s.ts + umcf->signed_window, now);

    if (rc == NGX_DECLINED) {
        ngx_http_uco_metrics_auth_failure(r, NGX_HTTP_UCO_AUTH_REPLAY);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "uco: replayed nonce from partner %uL", s.partner);
        err->message = "the nonce was used before";
        return NGX_DECLINED;
    }

    if (rc == NGX_BUSY) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "uco: uco_replay_cache is full of live nonces; "
                      "signed requests are refused until it has room");
        err->status = NGX_HTTP_SERVICE_UNAVAILABLE;
        err->code = "replay_cache_full";
        err->message = "signed requests cannot be checked right now; "
                       "retry shortly";
        return NGX_DECLINED;
    }

    *partner = p;

    return NGX_OK;
}


/*
 * Mutual TLS: the client certificate nginx verified (ssl_verify_client)
 * names its partner by its SHA-256 fingerprint or, failing that, by its
 * subject as $ssl_client_s_dn prints it.  NGX_DECLINED without a
 * verified certificate; NGX_ABORT (counted and logged) when no mTLS
 * partner has this one.
 */

ngx_int_t
ngx_http_uco_auth_cert(ngx_http_request_t *r, const uco_snap_t *snap,
    const uco_snap_partner_t **partner)
{
#if (NGX_HTTP_SSL)
    X509                      *cert;
    ngx_str_t                  dn;
    SHA256_CTX                 sha;
    unsigned int               len;
    const uco_snap_partner_t  *p;
    u_char                     md[SHA256_DIGEST_LENGTH];

    if (r->connection->ssl == NULL
        || SSL_get_verify_result(r->connection->ssl->connection)
           != X509_V_OK)
    {
        return NGX_DECLINED;
    }

    cert = SSL_get_peer_certificate(r->connection->ssl->connection);
    if (cert == NULL) {
        return NGX_DECLINED;
    }

    p = NULL;
    len = 0;

    if (X509_digest(cert, EVP_sha256(), md, &len) == 1
        && len == SHA256_DIGEST_LENGTH)
    {
        p = uco_snap_find_cert(snap, UCO_CERT_FINGERPRINT, md);
    }

    X509_free(cert);

    if (p == NULL
        && ngx_ssl_get_subject_dn(r->connection, r->pool, &dn) == NGX_OK
        && dn.len > 0)
    {
        SHA256_Init(&sha);
        SHA256_Update(&sha, dn.data, dn.len);
        SHA256_Final(md, &sha);

        p = uco_snap_find_cert(snap, UCO_CERT_SUBJECT, md);
    }

    if (p == NULL || p->auth != UCO_AUTH_MTLS) {
        ngx_http_uco_metrics_auth_failure(r, p == NULL
                                          ? NGX_HTTP_UCO_AUTH_UNKNOWN_CERT
                                          : NGX_HTTP_UCO_AUTH_WRONG_METHOD);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "uco: the client certificate names no mTLS partner");
        return NGX_ABORT;
    }

    *partner = p;

    return NGX_OK;
#else
    return NGX_DECLINED;
#endif
}


/* the path as the client sent it (behind auth_request: the client's) */

static void
ngx_http_uco_auth_path(ngx_http_request_t *r, ngx_str_t *path)
{
    u_char  *q;

    path->data = r->main->unparsed_uri.data;
    path->len = r->main->unparsed_uri.len;

    q = ngx_strlchr(path->data, path->data + path->len, '?');
    if (q != NULL) {
        path->len = q - path->data;
    }
}
