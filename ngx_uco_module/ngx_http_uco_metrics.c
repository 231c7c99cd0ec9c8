/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Counters in shared memory, the Prometheus metrics page (uco_metrics)
 * and the JSON status page (uco_status).
 *
 * The zone holds plain counters that workers bump with
 * ngx_atomic_fetch_add(), as stub_status does: no lock anywhere.  Hot
 * counters sit on cache lines of their own, so that workers on other
 * cores do not bounce one line between them.
 *
 * Decisions are counted per partner in a fixed table of
 * uco_metrics_partners slots (a power of two), open addressing with
 * linear probing: a worker claims a free slot for a partner with one
 * compare-and-swap of the partner id; two workers racing for a slot
 * either both meant the same partner (the loser finds it there) or the
 * loser probes on.  A slot is never freed, so a scrape can read the
 * table without any coordination.  A partner that finds no slot within
 * NGX_HTTP_UCO_PROBES probes is counted in the overflow row, exposed as
 * partner="other", which keeps the number of series (and the zone's
 * size) bounded whatever the number of partners.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_uco_module.h"


#define NGX_HTTP_UCO_LINE           64      /* bytes in a cache line */
#define NGX_HTTP_UCO_DECISIONS      (UCO_DECISION_LAST + 1)
#define NGX_HTTP_UCO_PROBES         32
#define NGX_HTTP_UCO_STATUS_FIRST   100
#define NGX_HTTP_UCO_STATUSES       512     /* 100 .. 611 */
#define NGX_HTTP_UCO_MAX_PARTNERS   65536

/* bytes of text per series, generously, for sizing the metrics page */
#define NGX_HTTP_UCO_SERIES_LEN     128
#define NGX_HTTP_UCO_FIXED_LEN      8192
#define NGX_HTTP_UCO_STATUS_LEN     1024


typedef struct {
    ngx_atomic_t                     n;
    u_char                           pad[NGX_HTTP_UCO_LINE
                                         - sizeof(ngx_atomic_t)];
} ngx_http_uco_counter_t;


/*
 * One cache line: the partner id (0 = free) and its seven decisions; an
 * eighth decision would need a second line.
 */
typedef struct {
    ngx_atomic_t                     id;
    ngx_atomic_t                     decisions[NGX_HTTP_UCO_DECISIONS];
} ngx_http_uco_partner_slot_t;


/* every member a whole number of cache lines */
struct ngx_http_uco_metrics_s {
    ngx_http_uco_counter_t           swaps;
    ngx_http_uco_counter_t           refused;
    ngx_http_uco_counter_t           fallbacks;
    ngx_http_uco_counter_t           auth[NGX_HTTP_UCO_AUTH_LAST];
    ngx_atomic_t                     status[NGX_HTTP_UCO_STATUSES];
    ngx_http_uco_counter_t           npartners;
    ngx_http_uco_partner_slot_t      overflow;
    ngx_http_uco_partner_slot_t      partners[1];
};


static ngx_int_t ngx_http_uco_metrics_init(ngx_shm_zone_t *shm_zone,
    void *data);
static size_t ngx_http_uco_metrics_size(ngx_uint_t npartners);
static ngx_http_uco_metrics_t *ngx_http_uco_metrics_get(
    ngx_http_request_t *r);
static ngx_http_uco_partner_slot_t *ngx_http_uco_metrics_slot(
    ngx_http_uco_metrics_t *m, uint64_t partner);
static u_char *ngx_http_uco_metrics_head(u_char *p, u_char *last,
    const char *name, const char *type, const char *help);
static u_char *ngx_http_uco_metrics_snapshot_page(ngx_http_request_t *r,
    ngx_http_uco_snap_t *cur, u_char *p, u_char *last);
static u_char *ngx_http_uco_metrics_partner(u_char *p, u_char *last,
    ngx_http_uco_partner_slot_t *slot, ngx_int_t other);
static u_char *ngx_http_uco_metrics_journal(ngx_http_uco_main_conf_t *umcf,
    u_char *p, u_char *last);
static ngx_int_t ngx_http_uco_metrics_begin(ngx_http_request_t *r,
    ngx_http_uco_snap_t **cur);
static void ngx_http_uco_metrics_ctl(ngx_http_uco_main_conf_t *umcf,
    uint64_t *published, uint64_t *synced);


static ngx_str_t  ngx_http_uco_metrics_zone_name = ngx_string("uco_metrics");

static ngx_str_t  ngx_http_uco_prometheus_type =
    ngx_string("text/plain; version=0.0.4; charset=utf-8");

static ngx_str_t  ngx_http_uco_status_type = ngx_string("application/json");

static const char  *ngx_http_uco_auth_reasons[NGX_HTTP_UCO_AUTH_LAST] = {
    "missing",
    "malformed",
    "unknown_partner",
    "bad_secret",
    "partner_suspended",
    "terminal_not_allowed",
    "wrong_method",
    "bad_signature",
    "stale_timestamp",
    "replayed_nonce",
    "unknown_certificate",
    "contract_inactive",
    "scope_not_allowed"
};


/* called from postconfiguration: one zone per configuration */

char *
ngx_http_uco_metrics_init_zone(ngx_conf_t *cf,
    ngx_http_uco_main_conf_t *umcf)
{
    ngx_uint_t       n;
    ngx_shm_zone_t  *shm_zone;

    if (umcf->metrics_partners == NGX_CONF_UNSET_UINT) {
        umcf->metrics_partners = NGX_HTTP_UCO_METRICS_PARTNERS;
    }

    if (umcf->metrics_partners == 0
        || umcf->metrics_partners > NGX_HTTP_UCO_MAX_PARTNERS)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"uco_metrics_partners\" must be between 1 "
                           "and %ui", (ngx_uint_t) NGX_HTTP_UCO_MAX_PARTNERS);
        return NGX_CONF_ERROR;
    }

    /* a power of two, so that a probe sequence is a mask */
    for (n = 1; n < umcf->metrics_partners; n <<= 1) { /* void */ }

    umcf->metrics_partners = n;

    shm_zone = ngx_shared_memory_add(cf, &ngx_http_uco_metrics_zone_name,
                                     ngx_http_uco_metrics_size(n),
                                     &ngx_http_uco_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_uco_metrics_init;
    shm_zone->data = umcf;
    umcf->metrics_zone = shm_zone;

    return NGX_CONF_OK;
}


/*
 * The counters plus the slab allocator's own bookkeeping: a page
 * descriptor per page (well under 1/64 of the zone) and a few pages.
 */

static size_t
ngx_http_uco_metrics_size(ngx_uint_t npartners)
{
    size_t  size;

    size = sizeof(ngx_http_uco_metrics_t)
           + (npartners - 1) * sizeof(ngx_http_uco_partner_slot_t);

    return ngx_align(size + size / 64, ngx_pagesize) + 16 * ngx_pagesize;
}


/*
 * A reload with the same table size keeps the zone and so the counters
 * (Prometheus counters should not reset on a reload); another size is a
 * new zone, counting from zero.
 */

static ngx_int_t
ngx_http_uco_metrics_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_uco_main_conf_t  *oumcf = data;

    ngx_slab_pool_t           *shpool;
    ngx_http_uco_metrics_t    *m;
    ngx_http_uco_main_conf_t  *umcf;

    umcf = shm_zone->data;

    if (oumcf != NULL) {
        umcf->metrics = oumcf->metrics;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        umcf->metrics = shpool->data;
        return NGX_OK;
    }

    m = ngx_slab_calloc(shpool, sizeof(ngx_http_uco_metrics_t)
                                + (umcf->metrics_partners - 1)
                                  * sizeof(ngx_http_uco_partner_slot_t));
    if (m == NULL) {
        return NGX_ERROR;
    }

    m->npartners.n = umcf->metrics_partners;

    shpool->data = m;
    umcf->metrics = m;

    return NGX_OK;
}


static ngx_http_uco_metrics_t *
ngx_http_uco_metrics_get(ngx_http_request_t *r)
{
    ngx_http_uco_main_conf_t  *umcf;

    umcf = ngx_http_get_module_main_conf(r, ngx_http_uco_module);

    return umcf->metrics;
}


void
ngx_http_uco_metrics_response(ngx_http_request_t *r, ngx_uint_t status)
{
    ngx_http_uco_metrics_t  *m;

    m = ngx_http_uco_metrics_get(r);

    if (m == NULL || status < NGX_HTTP_UCO_STATUS_FIRST
        || status - NGX_HTTP_UCO_STATUS_FIRST >= NGX_HTTP_UCO_STATUSES)
    {
        return;
    }

    (void) ngx_atomic_fetch_add(
                           &m->status[status - NGX_HTTP_UCO_STATUS_FIRST], 1);
}


void
ngx_http_uco_metrics_decision(ngx_http_request_t *r, uint64_t partner,
    ngx_uint_t decision)
{
    ngx_http_uco_metrics_t       *m;
    ngx_http_uco_partner_slot_t  *slot;

    m = ngx_http_uco_metrics_get(r);

    if (m == NULL || decision >= NGX_HTTP_UCO_DECISIONS) {
        return;
    }

    slot = ngx_http_uco_metrics_slot(m, partner);

    (void) ngx_atomic_fetch_add(&slot->decisions[decision], 1);
}


void
ngx_http_uco_metrics_auth_failure(ngx_http_request_t *r,
    ngx_http_uco_auth_reason_e reason)
{
    ngx_http_uco_metrics_t  *m;

    m = ngx_http_uco_metrics_get(r);

    if (m == NULL || (ngx_uint_t) reason >= NGX_HTTP_UCO_AUTH_LAST) {
        return;
    }

    (void) ngx_atomic_fetch_add(&m->auth[reason].n, 1);
}


void
ngx_http_uco_metrics_snapshot(ngx_http_uco_main_conf_t *umcf,
    ngx_http_uco_snapshot_event_e event)
{
    ngx_http_uco_metrics_t  *m;

    m = umcf->metrics;

    if (m == NULL) {
        return;
    }

    switch (event) {

    case NGX_HTTP_UCO_SNAPSHOT_SWAP:
        (void) ngx_atomic_fetch_add(&m->swaps.n, 1);
        break;

    case NGX_HTTP_UCO_SNAPSHOT_REFUSED:
        (void) ngx_atomic_fetch_add(&m->refused.n, 1);
        break;

    default: /* NGX_HTTP_UCO_SNAPSHOT_FALLBACK */
        (void) ngx_atomic_fetch_add(&m->fallbacks.n, 1);
        break;
    }
}


/* the partner's slot: found, claimed, or the overflow row */

static ngx_http_uco_partner_slot_t *
ngx_http_uco_metrics_slot(ngx_http_uco_metrics_t *m, uint64_t partner)
{
    ngx_uint_t                    i, n, mask;
    ngx_atomic_uint_t             id;
    ngx_http_uco_partner_slot_t  *slot;

    if (partner == 0) {
        return &m->overflow;
    }

    mask = m->npartners.n - 1;
    i = (ngx_uint_t) ((partner * 0x9e3779b97f4a7c15ULL) >> 32) & mask;

    for (n = 0; n < NGX_HTTP_UCO_PROBES && n <= mask; n++) {
        slot = &m->partners[(i + n) & mask];
        id = slot->id;

        if (id == partner) {
            return slot;
        }

        if (id == 0) {
            if (ngx_atomic_cmp_set(&slot->id, 0, partner)
                || slot->id == partner)
            {
                return slot;
            }
        }
    }

    return &m->overflow;
}


ngx_int_t
ngx_http_uco_metrics_handler(ngx_http_request_t *r)
{
    u_char                    *p, *last;
    size_t                     size;
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_uint_t                 i, used;
    ngx_atomic_uint_t          v;
    ngx_http_uco_snap_t       *cur;
    ngx_http_uco_metrics_t    *m;
    ngx_http_uco_main_conf_t  *umcf;

    /* first: a newly published generation is counted in this scrape */
    rc = ngx_http_uco_metrics_begin(r, &cur);
    if (rc != NGX_OK) {
        return rc;
    }

    umcf = ngx_http_get_module_main_conf(r, ngx_http_uco_module);
    m = umcf->metrics;

    used = 0;

    for (i = 0; i < m->npartners.n; i++) {
        if (m->partners[i].id != 0) {
            used++;
        }
    }

    size = NGX_HTTP_UCO_FIXED_LEN
           + NGX_HTTP_UCO_STATUSES * 64
           + (used + 1) * NGX_HTTP_UCO_DECISIONS * NGX_HTTP_UCO_SERIES_LEN;

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->last;
    last = b->end;

    p = ngx_http_uco_metrics_head(p, last, "uco_decisions_total", "counter",
            "Decisions answered to authenticated partners, by partner "
            "(other past the partner table) and decision.");

    for (i = 0; i < m->npartners.n; i++) {
        if (m->partners[i].id != 0) {
            p = ngx_http_uco_metrics_partner(p, last, &m->partners[i], 0);
        }
    }

    p = ngx_http_uco_metrics_partner(p, last, &m->overflow, 1);

    p = ngx_http_uco_metrics_head(p, last, "uco_responses_total", "counter",
            "Responses the uco endpoints sent, by HTTP status.");

    for (i = 0; i < NGX_HTTP_UCO_STATUSES; i++) {
        v = m->status[i];

        if (v != 0) {
            p = ngx_slprintf(p, last,
                             "uco_responses_total{status=\"%ui\"} %uA\n",
                             i + NGX_HTTP_UCO_STATUS_FIRST, v);
        }
    }

    p = ngx_http_uco_metrics_head(p, last, "uco_auth_failures_total",
            "counter", "Requests refused for their partner credentials or "
            "terminal, by reason.");

    for (i = 0; i < NGX_HTTP_UCO_AUTH_LAST; i++) {
        p = ngx_slprintf(p, last,
                         "uco_auth_failures_total{reason=\"%s\"} %uA\n",
                         ngx_http_uco_auth_reasons[i], m->auth[i].n);
    }

    p = ngx_http_uco_metrics_head(p, last, "uco_snapshot_swaps_total",
            "counter", "Generation switches, summed over workers.");
    p = ngx_slprintf(p, last, "uco_snapshot_swaps_total %uA\n", m->swaps.n);

    p = ngx_http_uco_metrics_head(p, last, "uco_snapshot_refused_total",
            "counter", "Generations refused as invalid, summed over "
            "workers.");
    p = ngx_slprintf(p, last, "uco_snapshot_refused_total %uA\n",
                     m->refused.n);

    p = ngx_http_uco_metrics_head(p, last, "uco_snapshot_fallbacks_total",
            "counter", "Workers that found the published generation "
            "invalid and serve the newest valid older one kept, summed "
            "over workers.");
    p = ngx_slprintf(p, last, "uco_snapshot_fallbacks_total %uA\n",
                     m->fallbacks.n);

    p = ngx_http_uco_metrics_snapshot_page(r, cur, p, last);

    p = ngx_http_uco_metrics_journal(umcf, p, last);

    p = ngx_http_uco_metrics_head(p, last, "uco_metrics_partner_slots",
            "gauge", "Capacity of the per-partner table "
            "(uco_metrics_partners).");
    p = ngx_slprintf(p, last, "uco_metrics_partner_slots %uA\n",
                     m->npartners.n);

    p = ngx_http_uco_metrics_head(p, last, "uco_metrics_partner_slots_used",
            "gauge", "Partners holding a slot in the per-partner table.");
    p = ngx_slprintf(p, last, "uco_metrics_partner_slots_used %ui\n", used);

    b->last = p;

    return ngx_http_uco_send_buf(r, NGX_HTTP_OK,
                                     &ngx_http_uco_prometheus_type, b);
}


static u_char *
ngx_http_uco_metrics_head(u_char *p, u_char *last, const char *name,
    const char *type, const char *help)
{
    return ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s %s\n",
                        name, help, name, type);
}


static u_char *
ngx_http_uco_metrics_partner(u_char *p, u_char *last,
    ngx_http_uco_partner_slot_t *slot, ngx_int_t other)
{
    ngx_uint_t         d;
    ngx_atomic_uint_t  id;

    id = slot->id;

    for (d = 0; d < NGX_HTTP_UCO_DECISIONS; d++) {
        p = ngx_slprintf(p, last, "uco_decisions_total{partner=\"");
        p = other ? ngx_slprintf(p, last, "other")
                  : ngx_slprintf(p, last, "%uA", id);
        p = ngx_slprintf(p, last, "\",decision=\"%s\"} %uA\n",
                         uco_snap_decision_name((uco_decision_e) d),
                         slot->decisions[d]);
    }

    return p;
}


/*
 * The snapshot this worker serves (asking for it also picks up a newly
 * published generation) and what the loader last published.
 */

static u_char *
ngx_http_uco_metrics_snapshot_page(ngx_http_request_t *r,
    ngx_http_uco_snap_t *cur, u_char *p, u_char *last)
{
    time_t                     now;
    uint64_t                   published, synced, built;
    const uco_snap_t          *s;
    ngx_http_uco_main_conf_t  *umcf;

    umcf = ngx_http_get_module_main_conf(r, ngx_http_uco_module);

    ngx_http_uco_metrics_ctl(umcf, &published, &synced);

    now = ngx_time();

    p = ngx_http_uco_metrics_head(p, last, "uco_snapshot_loaded", "gauge",
            "1 if the scraped worker serves a snapshot, else 0.");
    p = ngx_slprintf(p, last, "uco_snapshot_loaded %d\n", cur != NULL);

    p = ngx_http_uco_metrics_head(p, last,
            "uco_snapshot_published_generation", "gauge",
            "Generation in the loader's control file (0: none yet).");
    p = ngx_slprintf(p, last, "uco_snapshot_published_generation %uL\n",
                     published);

    p = ngx_http_uco_metrics_head(p, last,
            "uco_snapshot_sync_timestamp_seconds", "gauge",
            "When the loader last confirmed the snapshot matches the "
            "database (Unix time).");
    p = ngx_slprintf(p, last, "uco_snapshot_sync_timestamp_seconds %uL\n",
                     synced);

    if (cur == NULL) {
        return p;
    }

    s = &cur->snap;
    built = s->header->build_time;

    p = ngx_http_uco_metrics_head(p, last, "uco_snapshot_generation",
            "gauge", "Generation the scraped worker serves.");
    p = ngx_slprintf(p, last, "uco_snapshot_generation %uL\n",
                     cur->generation);

    p = ngx_http_uco_metrics_head(p, last, "uco_snapshot_format_version",
            "gauge", "Format version of the served snapshot.");
    p = ngx_slprintf(p, last, "uco_snapshot_format_version %uD\n",
                     s->header->version);

    p = ngx_http_uco_metrics_head(p, last,
            "uco_snapshot_build_timestamp_seconds", "gauge",
            "When the served snapshot was built (Unix time).");
    p = ngx_slprintf(p, last, "uco_snapshot_build_timestamp_seconds %uL\n",
                     built);

    p = ngx_http_uco_metrics_head(p, last, "uco_snapshot_age_seconds",
            "gauge", "Seconds since the served snapshot was built.");
    p = ngx_slprintf(p, last, "uco_snapshot_age_seconds %uL\n",
                     (uint64_t) now > built ? (uint64_t) now - built : 0);

    p = ngx_http_uco_metrics_head(p, last, "uco_snapshot_bytes", "gauge",
            "Size of the served snapshot file.");
    p = ngx_slprintf(p, last, "uco_snapshot_bytes %uz\n", cur->len);

    p = ngx_http_uco_metrics_head(p, last, "uco_snapshot_records", "gauge",
            "Records in the served snapshot, by kind.");
    p = ngx_slprintf(p, last,
                     "uco_snapshot_records{kind=\"cards\"} %uL\n"
                     "uco_snapshot_records{kind=\"identifiers\"} %uL\n"
                     "uco_snapshot_records{kind=\"partners\"} %uL\n"
                     "uco_snapshot_records{kind=\"programmes\"} %uL\n"
                     "uco_snapshot_records{kind=\"terminals\"} %uL\n",
                     s->ncards, cur->verify.used, s->npartners,
                     s->nprogrammes, s->nterminals);

    return p;
}


/* the journal's counters, from its ring; nothing without uco_journal */

static u_char *
ngx_http_uco_metrics_journal(ngx_http_uco_main_conf_t *umcf, u_char *p,
    u_char *last)
{
    ngx_http_uco_journal_stats_t  js;

    if (ngx_http_uco_journal_stats(umcf, &js) != NGX_OK) {
        return p;
    }

    p = ngx_http_uco_metrics_head(p, last, "uco_journal_records_total",
            "counter", "Decision records offered to the journal, by "
            "outcome.");
    p = ngx_slprintf(p, last,
                     "uco_journal_records_total{outcome=\"appended\"} %uL\n"
                     "uco_journal_records_total{outcome=\"dropped\"} %uL\n"
                     "uco_journal_records_total{outcome=\"rejected\"} %uL\n"
                     "uco_journal_records_total{outcome=\"too_big\"} %uL\n",
                     js.appended, js.dropped, js.rejected, js.too_big);

    p = ngx_http_uco_metrics_head(p, last, "uco_journal_queue_depth",
            "gauge", "Records in the ring not yet taken by the loader.");
    p = ngx_slprintf(p, last, "uco_journal_queue_depth %uL\n", js.pending);

    p = ngx_http_uco_metrics_head(p, last, "uco_journal_capacity", "gauge",
            "Slots in the ring.");
    p = ngx_slprintf(p, last, "uco_journal_capacity %uL\n", js.capacity);

    p = ngx_http_uco_metrics_head(p, last, "uco_journal_delivered_total",
            "counter", "Records the loader delivered.");
    p = ngx_slprintf(p, last, "uco_journal_delivered_total %uL\n",
                     js.delivered);

    p = ngx_http_uco_metrics_head(p, last, "uco_journal_skipped_total",
            "counter", "Slots a dead writer left, skipped by the loader.");
    p = ngx_slprintf(p, last, "uco_journal_skipped_total %uL\n",
                     js.skipped);

    p = ngx_http_uco_metrics_head(p, last, "uco_journal_spool_bytes",
            "gauge", "Bytes in the loader's spool.");
    p = ngx_slprintf(p, last, "uco_journal_spool_bytes %uL\n",
                     js.spool_bytes);

    p = ngx_http_uco_metrics_head(p, last, "uco_journal_spool_records",
            "gauge", "Records in the loader's spool.");
    p = ngx_slprintf(p, last, "uco_journal_spool_records %uL\n",
                     js.spool_records);

    p = ngx_http_uco_metrics_head(p, last,
            "uco_journal_loader_seen_timestamp_seconds", "gauge",
            "When the loader last drained the ring (Unix time).");
    p = ngx_slprintf(p, last,
                     "uco_journal_loader_seen_timestamp_seconds %uL\n",
                     js.loader_seen);

    return p;
}


/*
 * uco_status: the snapshot for people and health checks; 200 while a
 * generation is served, 503 before.
 */

ngx_int_t
ngx_http_uco_status_handler(ngx_http_request_t *r)
{
    time_t                     now;
    uint64_t                   published, synced, built;
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_uint_t                 status;
    ngx_http_uco_snap_t       *cur, *pending;
    const uco_snap_t          *s;
    ngx_http_uco_state_t      *st;
    ngx_http_uco_main_conf_t  *umcf;

    rc = ngx_http_uco_metrics_begin(r, &cur);
    if (rc != NGX_OK) {
        return rc;
    }

    umcf = ngx_http_get_module_main_conf(r, ngx_http_uco_module);
    st = &umcf->state;
    pending = st->pending;

    ngx_http_uco_metrics_ctl(umcf, &published, &synced);

    now = ngx_time();

    b = ngx_create_temp_buf(r->pool, 1024);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last, "{\"status\":\"%s\",\"generation\":",
                          cur != NULL ? "ok" : "no_snapshot");

    if (cur != NULL) {
        b->last = ngx_sprintf(b->last, "%uL", cur->generation);

    } else {
        b->last = ngx_cpymem(b->last, "null", 4);
    }

    b->last = ngx_sprintf(b->last, ",\"published_generation\":%uL",
                          published);

    if (pending != NULL) {
        b->last = ngx_sprintf(b->last, ",\"pending_generation\":%uL",
                              pending->generation);
    }

    if (st->refused != 0) {
        b->last = ngx_sprintf(b->last, ",\"refused_generation\":%uL",
                              st->refused);
    }

    b->last = ngx_sprintf(b->last, ",\"synced_at\":%uL"
                          ",\"sync_age_seconds\":%uL", synced,
                          (synced != 0 && (uint64_t) now > synced)
                          ? (uint64_t) now - synced : 0);

    if (cur != NULL) {
        s = &cur->snap;
        built = s->header->build_time;

        b->last = ngx_sprintf(b->last,
                              ",\"format_version\":%uD,\"build_time\":%uL"
                              ",\"age_seconds\":%uL,\"watermark\":%uL"
                              ",\"bytes\":%uz,\"counts\":{\"cards\":%uL"
                              ",\"identifiers\":%uL,\"partners\":%uL"
                              ",\"programmes\":%uL,\"terminals\":%uL}",
                              s->header->version, built,
                              (uint64_t) now > built
                              ? (uint64_t) now - built : 0,
                              s->header->watermark, cur->len, s->ncards,
                              cur->verify.used, s->npartners,
                              s->nprogrammes, s->nterminals);

        /* a delta: its counts are the overlay's */
        if (cur->base != NULL) {
            b->last = ngx_sprintf(b->last, ",\"base_generation\":%uL",
                                  cur->base->generation);
        }
    }

    *b->last++ = '}';
    *b->last++ = '\n';

    status = (cur != NULL) ? NGX_HTTP_OK : NGX_HTTP_SERVICE_UNAVAILABLE;

    return ngx_http_uco_send_buf(r, status, &ngx_http_uco_status_type, b);
}


/* both pages: GET or HEAD, no body, the current snapshot if any */

static ngx_int_t
ngx_http_uco_metrics_begin(ngx_http_request_t *r, ngx_http_uco_snap_t **cur)
{
    ngx_int_t                  rc;
    ngx_http_uco_main_conf_t  *umcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    umcf = ngx_http_get_module_main_conf(r, ngx_http_uco_module);

    if (umcf->metrics == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *cur = ngx_http_uco_snapshot_current(umcf, r->connection->log);

    return NGX_OK;
}


/* what the loader last published, from the control file */

static void
ngx_http_uco_metrics_ctl(ngx_http_uco_main_conf_t *umcf,
    uint64_t *published, uint64_t *synced)
{
    *published = 0;
    *synced = 0;

    if (umcf->state.ctl != NULL) {
        *published = __atomic_load_n(&umcf->state.ctl->generation,
                                     __ATOMIC_ACQUIRE);
        *synced = umcf->state.ctl->synced_at;
    }
}
