/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 */

#ifndef _NGX_HTTP_UCO_MODULE_H_INCLUDED_
#define _NGX_HTTP_UCO_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "uco_snap.h"
#include "uco_query.h"
#include "uco_tz.h"
#include "uco_journal.h"
#include "uco_pan.h"
#include "uco_token.h"


/* checks in one POST body, by default and at most (uco_batch_max) */
#define NGX_HTTP_UCO_BATCH_MAX      100
#define NGX_HTTP_UCO_BATCH_LIMIT    10000

/* bytes hashed per event-loop turn while a new generation is validated */
#define NGX_HTTP_UCO_VERIFY_CHUNK  (4 * 1024 * 1024)

/*
 * Older generations a worker tries, newest first, when the published one
 * is refused (the loader keeps 3 by default, --keep)
 */
#define NGX_HTTP_UCO_FALLBACK_MAX  16


/* partner slots in the metrics zone when uco_metrics_partners is unset */
#define NGX_HTTP_UCO_METRICS_PARTNERS  1024


/*
 * A mapped generation.  A delta holds a reference to its base, which a
 * worker maps once for all the deltas over it (refs counts the holders).
 */
typedef struct ngx_http_uco_snap_s  ngx_http_uco_snap_t;

struct ngx_http_uco_snap_s {
    u_char                  *map;
    size_t                   len;
    uint64_t                 generation;
    ngx_uint_t               fallback;  /* older than the refused one */
    uco_snap_t               snap;
    uco_snap_verify_t        verify;
    ngx_http_uco_snap_t     *base;      /* a delta's base, else NULL */
    ngx_uint_t               refs;
    unsigned                 verified:1;
};


/* a time zone: UTC offsets from each transition on, sorted */
typedef struct {
    int64_t                 *at;
    int32_t                 *offset;
    ngx_uint_t               n;
} ngx_http_uco_tz_t;


/* per-process runtime state; lives in the cycle's main conf */
typedef struct {
    uco_ctl_t               *ctl;
    ino_t                    ctl_ino;
    time_t                   ctl_checked;
    ngx_http_uco_snap_t     *current;
    ngx_http_uco_snap_t     *pending;
    uint64_t                 refused;   /* published, refused */
    uint64_t                 fallback;  /* next older one to try, or 0 */
    ngx_uint_t               fallback_left;
    ngx_uint_t               stale;     /* last answer was marked stale */
    ngx_event_t              verify_event;
    int32_t                  tz_offset;
    int64_t                  tz_from;
    int64_t                  tz_until;
} ngx_http_uco_state_t;


/* uco_journal_full */
#define NGX_HTTP_UCO_JOURNAL_REJECT  1
#define NGX_HTTP_UCO_JOURNAL_DROP    2


typedef struct {
    ngx_str_t                dir;
    size_t                   size;
    ngx_int_t                node;
    ngx_uint_t               full;
    u_char                  *map;
    size_t                   len;
    uco_journal_t            ring;      /* header NULL: no journal */
} ngx_http_uco_journal_conf_t;


/* the journal's counters, for the metrics */
typedef struct {
    uint64_t                 appended;
    uint64_t                 dropped;
    uint64_t                 rejected;
    uint64_t                 too_big;
    uint64_t                 delivered;
    uint64_t                 skipped;
    uint64_t                 spool_bytes;
    uint64_t                 spool_records;
    uint64_t                 loader_seen;   /* unix seconds */
    uint64_t                 pending;       /* in the ring */
    uint64_t                 capacity;
} ngx_http_uco_journal_stats_t;


/*
 * Why a partner's request was refused, for uco_auth_failures_total.  A
 * new reason is a new constant before _LAST and its label in
 * ngx_http_uco_auth_reasons[] (ngx_http_uco_metrics.c).
 */
typedef enum {
    NGX_HTTP_UCO_AUTH_MISSING = 0,      /* no Authorization header */
    NGX_HTTP_UCO_AUTH_MALFORMED,        /* not "Bearer <id>.<secret>" */
    NGX_HTTP_UCO_AUTH_UNKNOWN_PARTNER,
    NGX_HTTP_UCO_AUTH_BAD_SECRET,
    NGX_HTTP_UCO_AUTH_SUSPENDED,        /* the partner is suspended */
    NGX_HTTP_UCO_AUTH_TERMINAL,         /* not in the terminal allow-list */
    NGX_HTTP_UCO_AUTH_WRONG_METHOD,     /* not the partner's auth method */
    NGX_HTTP_UCO_AUTH_BAD_SIGNATURE,
    NGX_HTTP_UCO_AUTH_STALE,            /* signed outside the window */
    NGX_HTTP_UCO_AUTH_REPLAY,           /* a nonce seen before */
    NGX_HTTP_UCO_AUTH_UNKNOWN_CERT,     /* no partner has this cert */
    NGX_HTTP_UCO_AUTH_CONTRACT,         /* outside the contract dates */
    NGX_HTTP_UCO_AUTH_SCOPE,            /* a scope the partner lacks */
    NGX_HTTP_UCO_AUTH_LAST
} ngx_http_uco_auth_reason_e;


typedef enum {
    NGX_HTTP_UCO_SNAPSHOT_SWAP = 0,     /* a worker switched generation */
    NGX_HTTP_UCO_SNAPSHOT_REFUSED,      /* a worker refused a generation */
    NGX_HTTP_UCO_SNAPSHOT_FALLBACK      /* ... and serves an older kept one */
} ngx_http_uco_snapshot_event_e;


typedef struct ngx_http_uco_metrics_s  ngx_http_uco_metrics_t;


/* uco_hashpan_key and uco_token_key; each starts with its id */
typedef struct {
    ngx_uint_t               id;
    size_t                   len;
    uint8_t                  key[UCO_PAN_KEY_MAX];
} ngx_http_uco_pan_key_t;

typedef struct {
    ngx_uint_t               id;
    uint8_t                  pub[UCO_TOKEN_PUBKEY_LEN];
} ngx_http_uco_token_key_t;


typedef struct {
    ngx_str_t                dir;
    ngx_array_t             *pan_keys;      /* current key first */
    ngx_array_t             *token_keys;
    time_t                   token_skew;
    time_t                   signed_window;
    ngx_shm_zone_t          *replay;        /* uco_replay_cache */
    ngx_shm_zone_t          *limit;         /* abuse limits */
    ngx_uint_t               rate;          /* uco_partner_rate, r/s */
    ngx_uint_t               burst;
    ngx_uint_t               fail_limit;    /* uco_auth_fail_limit */
    ngx_msec_t               fail_window;
    ngx_str_t                tz_name;
    ngx_http_uco_tz_t        tz;
    ngx_uint_t               endpoints;
    ngx_uint_t               metrics_partners;
    ngx_shm_zone_t          *metrics_zone;
    ngx_http_uco_metrics_t  *metrics;       /* in the zone; NULL if none */
    ngx_http_uco_state_t     state;
    ngx_http_uco_journal_conf_t  journal;
} ngx_http_uco_main_conf_t;


#define NGX_HTTP_UCO_STALE_MARK    0
#define NGX_HTTP_UCO_STALE_REJECT  1


typedef struct {
    ngx_flag_t               eligibility;
    ngx_int_t                batch_max;
    time_t                   max_staleness;     /* 0: never stale */
    ngx_uint_t               stale_policy;
} ngx_http_uco_loc_conf_t;


/*
 * What a request establishes before any check (ngx_http_uco_begin()):
 * the generation that answers, the authenticated partner, the local time.
 * Everything the checks of one request decide uses the same values.
 */
typedef struct {
    ngx_http_uco_snap_t        *cur;
    const uco_snap_partner_t   *partner;
    uco_snap_when_t             when;
    ngx_http_uco_journal_conf_t *journal;   /* NULL: not recorded */
    time_t                      stale;      /* data age, -1 when fresh */
    const uint8_t              *key;        /* prefetched, or NULL */
    uint64_t                    key_hash;   /* key's uco_snap_key_hash() */
} ngx_http_uco_req_t;


/* one check's outcome: a decision, or a client error (err.status != 0) */
typedef struct {
    uco_query_error_t           err;
    uco_snap_result_t           res;
    int64_t                     amount;     /* -1 when not given */
    uint64_t                    decision_id;    /* 0: not recorded */
} ngx_http_uco_check_t;


/* per-request state; decision and programme are the last check's */
typedef struct {
    const char                 *decision;
    uint64_t                    partner;
    uint64_t                    programme;
    ngx_http_uco_req_t          req;
} ngx_http_uco_ctx_t;


extern ngx_module_t  ngx_http_uco_module;
extern ngx_conf_enum_t  ngx_http_uco_journal_full[];


ngx_int_t ngx_http_uco_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_uco_begin(ngx_http_request_t *r, ngx_http_uco_ctx_t **ctxp,
    const uint8_t *key, uco_query_error_t *err);
void ngx_http_uco_check(ngx_http_request_t *r, ngx_http_uco_ctx_t *ctx,
    const uco_query_t *q, ngx_http_uco_check_t *c);

ngx_int_t ngx_http_uco_send_check(ngx_http_request_t *r,
    ngx_http_uco_ctx_t *ctx, ngx_http_uco_check_t *c);
ngx_int_t ngx_http_uco_send_checks(ngx_http_request_t *r,
    ngx_http_uco_ctx_t *ctx, ngx_http_uco_check_t *c, ngx_uint_t n);
ngx_int_t ngx_http_uco_send_error(ngx_http_request_t *r,
    uco_query_error_t *err);
ngx_int_t ngx_http_uco_send_buf(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_buf_t *b);

ngx_int_t ngx_http_uco_post(ngx_http_request_t *r);

ngx_int_t ngx_http_uco_snapshot_init_process(ngx_cycle_t *cycle,
    ngx_http_uco_main_conf_t *umcf);
void ngx_http_uco_snapshot_exit_process(ngx_http_uco_main_conf_t *umcf);
ngx_http_uco_snap_t *ngx_http_uco_snapshot_current(
    ngx_http_uco_main_conf_t *umcf, ngx_log_t *log);
time_t ngx_http_uco_snapshot_stale(ngx_http_uco_main_conf_t *umcf,
    ngx_http_uco_snap_t *cur, time_t max, ngx_log_t *log);

/*
 * Metrics (ngx_http_uco_metrics.c).  Counters live in one shared zone,
 * so a scrape of any worker sees every worker's share; each call is a
 * few atomic increments, no lock, and a no-op when the zone is absent.
 *
 * ngx_http_uco_metrics_response()   a response the module sent, by status
 * ngx_http_uco_metrics_decision()   one decision for an authenticated
 *                                   partner (uco_decision_e)
 * ngx_http_uco_metrics_auth_failure()  one refusal, by reason
 * ngx_http_uco_metrics_snapshot()   a swap or a refused generation
 *
 * The journal keeps its own counters in its ring (shared with the
 * loader); the metrics page reads them with ngx_http_uco_journal_stats().
 */
char *ngx_http_uco_metrics_init_zone(ngx_conf_t *cf,
    ngx_http_uco_main_conf_t *umcf);
ngx_int_t ngx_http_uco_metrics_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_uco_status_handler(ngx_http_request_t *r);
void ngx_http_uco_metrics_response(ngx_http_request_t *r,
    ngx_uint_t status);
void ngx_http_uco_metrics_decision(ngx_http_request_t *r, uint64_t partner,
    ngx_uint_t decision);
void ngx_http_uco_metrics_auth_failure(ngx_http_request_t *r,
    ngx_http_uco_auth_reason_e reason);
void ngx_http_uco_metrics_snapshot(ngx_http_uco_main_conf_t *umcf,
    ngx_http_uco_snapshot_event_e event);

ngx_int_t ngx_http_uco_post_bytes(ngx_http_request_t *r, u_char **data,
    size_t *len);
ngx_int_t ngx_http_uco_auth(ngx_http_request_t *r, const uco_snap_t *snap,
    const uco_snap_partner_t **partner, uco_query_error_t *err);
ngx_int_t ngx_http_uco_auth_cert(ngx_http_request_t *r,
    const uco_snap_t *snap, const uco_snap_partner_t **partner);
char *ngx_http_uco_partner_rate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_uco_auth_fail_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_uco_limit_zone(ngx_conf_t *cf,
    ngx_http_uco_main_conf_t *umcf);
ngx_int_t ngx_http_uco_limit_address(ngx_http_request_t *r,
    ngx_http_uco_main_conf_t *umcf);
void ngx_http_uco_limit_failure(ngx_http_request_t *r,
    ngx_http_uco_main_conf_t *umcf);
ngx_int_t ngx_http_uco_limit_partner(ngx_http_request_t *r,
    ngx_http_uco_main_conf_t *umcf, uint64_t partner);
char *ngx_http_uco_replay_zone(ngx_conf_t *cf,
    ngx_http_uco_main_conf_t *umcf, ssize_t size);
ngx_int_t ngx_http_uco_replay_check(ngx_shm_zone_t *zone,
    const u_char digest[16], time_t expires, time_t now);

char *ngx_http_uco_hashpan_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_uco_token_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_uco_ident_card(ngx_http_request_t *r,
    const uco_snap_t *snap, const uco_query_t *q,
    uco_snap_ref_t *card, uco_query_error_t *err);

char *ngx_http_uco_tz_load(ngx_conf_t *cf, ngx_str_t *name,
    ngx_http_uco_tz_t *tz);
int64_t ngx_http_uco_local_time(ngx_http_uco_main_conf_t *umcf,
    time_t now);

char *ngx_http_uco_journal_init_conf(ngx_conf_t *cf,
    ngx_http_uco_journal_conf_t *jc);
void ngx_http_uco_journal_init_process(ngx_cycle_t *cycle,
    ngx_http_uco_main_conf_t *umcf);
ngx_int_t ngx_http_uco_journal_record(ngx_http_request_t *r,
    ngx_http_uco_ctx_t *ctx, const uco_query_t *q, uint64_t card,
    ngx_http_uco_check_t *c);
ngx_int_t ngx_http_uco_journal_stats(ngx_http_uco_main_conf_t *umcf,
    ngx_http_uco_journal_stats_t *st);


#endif /* _NGX_HTTP_UCO_MODULE_H_INCLUDED_ */
