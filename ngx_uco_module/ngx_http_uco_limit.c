/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Abuse limits: a token bucket per partner (uco_partner_rate) and a
 * count of authentication failures per client address
 * (uco_auth_fail_limit), in one shared-memory table of fixed size for
 * all workers.  The table is an array probed from a hashed slot over at
 * most NGX_HTTP_UCO_LIMIT_PROBE slots; a full neighbourhood gives up
 * its least recently used entry, so memory stays bounded and a flood of
 * addresses can only evict, never grow the table.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_uco_module.h"


#define NGX_HTTP_UCO_LIMIT_PROBE  8
#define NGX_HTTP_UCO_LIMIT_SIZE   (1024 * 1024)
#define NGX_HTTP_UCO_LIMIT_ADDR   0x8000000000000000ULL


typedef struct {
    uint64_t                    key;        /* 0: free */
    ngx_msec_t                  last;       /* last update */
    uint64_t                    value;      /* milli-tokens or failures */
    ngx_msec_t                  start;      /* failure window start */
} ngx_http_uco_limit_slot_t;

typedef struct {
    ngx_uint_t                  nslots;
    ngx_http_uco_limit_slot_t   slots[1];
} ngx_http_uco_limit_sh_t;


static ngx_int_t ngx_http_uco_limit_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_uco_limit_slot_t *ngx_http_uco_limit_slot(
    ngx_http_uco_limit_sh_t *sh, uint64_t key);
static uint64_t ngx_http_uco_limit_addr(ngx_http_request_t *r);


static ngx_str_t  ngx_http_uco_limit_name = ngx_string("uco_limit");


static ngx_int_t
ngx_http_uco_limit_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t          *shpool;
    ngx_http_uco_limit_sh_t  *sh;

    if (data != NULL) {
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    /* the slab pool's own pages and a margin */
    sh = ngx_slab_alloc(shpool, shm_zone->shm.size / 2);
    if (sh == NULL) {
        return NGX_ERROR;
    }

    sh->nslots = (shm_zone->shm.size / 2 - sizeof(ngx_http_uco_limit_sh_t))
                 / sizeof(ngx_http_uco_limit_slot_t) + 1;
    ngx_memzero(sh->slots, sh->nslots * sizeof(ngx_http_uco_limit_slot_t));

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


/* "uco_partner_rate 100r/s [burst=200]" */

char *
ngx_http_uco_partner_rate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_uco_main_conf_t  *umcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (umcf->rate != 0) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (i == 1) {
            s = value[i];

            if (s.len < 4
                || ngx_strncmp(s.data + s.len - 3, "r/s", 3) != 0)
            {
                goto invalid;
            }

            n = ngx_atoi(s.data, s.len - 3);
            if (n <= 0 || n > 1000000) {
                goto invalid;
            }

            umcf->rate = (ngx_uint_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);
            if (n <= 0 || n > 1000000) {
                goto invalid;
            }

            umcf->burst = (ngx_uint_t) n;
            continue;
        }

        goto invalid;
    }

    if (umcf->burst == 0) {
        umcf->burst = umcf->rate;
    }

    return ngx_http_uco_limit_zone(cf, umcf);

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"uco_partner_rate\" \"%V\": "
                       "use N r/s as \"100r/s\" and \"burst=N\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


/* "uco_auth_fail_limit 10 60s" */

char *
ngx_http_uco_auth_fail_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_uco_main_conf_t  *umcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value;
    ngx_msec_t   window;

    if (umcf->fail_limit != 0) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);
    window = ngx_parse_time(&value[2], 0);

    if (n <= 0 || n > 1000000 || window == (ngx_msec_t) NGX_ERROR
        || window == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"uco_auth_fail_limit\": use a count "
                           "and a time, as \"10 60s\"");
        return NGX_CONF_ERROR;
    }

    umcf->fail_limit = (ngx_uint_t) n;
    umcf->fail_window = window;

    return ngx_http_uco_limit_zone(cf, umcf);
}


char *
ngx_http_uco_limit_zone(ngx_conf_t *cf, ngx_http_uco_main_conf_t *umcf)
{
    if (umcf->limit != NULL) {
        return NGX_CONF_OK;
    }

    umcf->limit = ngx_shared_memory_add(cf, &ngx_http_uco_limit_name,
                                        NGX_HTTP_UCO_LIMIT_SIZE,
                                        &ngx_http_uco_module);
    if (umcf->limit == NULL) {
        return NGX_CONF_ERROR;
    }

    umcf->limit->init = ngx_http_uco_limit_init_zone;

    return NGX_CONF_OK;
}


/* the key's slot, or the least recently used one of its neighbours */

static ngx_http_uco_limit_slot_t *
ngx_http_uco_limit_slot(ngx_http_uco_limit_sh_t *sh, uint64_t key)
{
    uint64_t                    h;
    ngx_uint_t                  i, n;
    ngx_http_uco_limit_slot_t  *s, *lru;

    h = key * 0x9e3779b97f4a7c15ULL;
    i = (ngx_uint_t) ((h >> 32) % sh->nslots);
    lru = NULL;

    for (n = 0; n < NGX_HTTP_UCO_LIMIT_PROBE; n++) {
        s = &sh->slots[(i + n) % sh->nslots];

        if (s->key == key) {
            return s;
        }

        if (s->key == 0 || lru == NULL || s->last < lru->last) {
            lru = s;
        }

        if (s->key == 0) {
            break;
        }
    }

    ngx_memzero(lru, sizeof(ngx_http_uco_limit_slot_t));
    lru->key = key;

    return lru;
}


/* the client's address, without its port; never 0, never a partner id */

static uint64_t
ngx_http_uco_limit_addr(ngx_http_request_t *r)
{
    uint32_t          h;
    struct sockaddr  *sa;

    sa = r->connection->sockaddr;

    switch (sa->sa_family) {

#if (NGX_HAVE_INET6)
    case AF_INET6:
        h = ngx_crc32_short(((struct sockaddr_in6 *) sa)->sin6_addr.s6_addr,
                            16);
        break;
#endif

    case AF_INET:
        h = ((struct sockaddr_in *) sa)->sin_addr.s_addr;
        break;

    default:
        h = 0;
    }

    return NGX_HTTP_UCO_LIMIT_ADDR | (uint64_t) sa->sa_family << 32 | h;
}


/*
 * Before authentication: NGX_DECLINED when this address has failed
 * authentication fail_limit times within the window.
 */

ngx_int_t
ngx_http_uco_limit_address(ngx_http_request_t *r,
    ngx_http_uco_main_conf_t *umcf)
{
    ngx_int_t                   rc;
    ngx_msec_t                  now;
    ngx_slab_pool_t            *shpool;
    ngx_http_uco_limit_sh_t    *sh;
    ngx_http_uco_limit_slot_t  *s;

    if (umcf->fail_limit == 0 || umcf->limit == NULL) {
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) umcf->limit->shm.addr;
    sh = umcf->limit->data;
    now = ngx_current_msec;
    rc = NGX_OK;

    ngx_shmtx_lock(&shpool->mutex);

    s = ngx_http_uco_limit_slot(sh, ngx_http_uco_limit_addr(r));

    if (s->value >= umcf->fail_limit
        && (ngx_msec_int_t) (now - s->start) < (ngx_msec_int_t)
                                               umcf->fail_window)
    {
        rc = NGX_DECLINED;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


/* after a failed authentication */

void
ngx_http_uco_limit_failure(ngx_http_request_t *r,
    ngx_http_uco_main_conf_t *umcf)
{
    ngx_msec_t                  now;
    ngx_slab_pool_t            *shpool;
    ngx_http_uco_limit_sh_t    *sh;
    ngx_http_uco_limit_slot_t  *s;

    if (umcf->fail_limit == 0 || umcf->limit == NULL) {
        return;
    }

    shpool = (ngx_slab_pool_t *) umcf->limit->shm.addr;
    sh = umcf->limit->data;
    now = ngx_current_msec;

    ngx_shmtx_lock(&shpool->mutex);

    s = ngx_http_uco_limit_slot(sh, ngx_http_uco_limit_addr(r));

    if (s->value == 0
        || (ngx_msec_int_t) (now - s->start) >= (ngx_msec_int_t)
                                                umcf->fail_window)
    {
        s->start = now;
        s->value = 0;
    }

    s->value++;
    s->last = now;

    ngx_shmtx_unlock(&shpool->mutex);
}


/* after authentication: NGX_DECLINED when the partner's bucket is empty */

ngx_int_t
ngx_http_uco_limit_partner(ngx_http_request_t *r,
    ngx_http_uco_main_conf_t *umcf, uint64_t partner)
{
    uint64_t                    tokens, cap, add;
    ngx_int_t                   rc;
    ngx_msec_t                  now, elapsed;
    ngx_slab_pool_t            *shpool;
    ngx_http_uco_limit_sh_t    *sh;
    ngx_http_uco_limit_slot_t  *s;

    if (umcf->rate == 0 || umcf->limit == NULL) {
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) umcf->limit->shm.addr;
    sh = umcf->limit->data;
    now = ngx_current_msec;
    cap = (uint64_t) umcf->burst * 1000;

    ngx_shmtx_lock(&shpool->mutex);

    s = ngx_http_uco_limit_slot(sh, partner & ~NGX_HTTP_UCO_LIMIT_ADDR);

    if (s->last == 0) {
        /* a new bucket starts full */
        tokens = cap;

    } else {
        elapsed = now - s->last;
        add = (uint64_t) elapsed * umcf->rate;
        tokens = s->value + add;
        if (tokens > cap || tokens < s->value) {
            tokens = cap;
        }
    }

    if (tokens >= 1000) {
        tokens -= 1000;
        rc = NGX_OK;

    } else {
        rc = NGX_DECLINED;
    }

    s->value = tokens;
    s->last = now ? now : 1;

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}
