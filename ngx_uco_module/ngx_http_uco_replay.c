/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The nonce replay cache of signed requests: one shared-memory zone for
 * all workers, a red-black tree of 16-byte nonce digests plus a queue
 * in arrival order, bounded by the zone's size.  An entry lives until
 * its request's timestamp leaves the allowed window; after that the
 * timestamp check alone refuses a replay.  A zone full of live entries
 * refuses new signed requests (fails closed) instead of forgetting a
 * nonce that could then be replayed.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_uco_module.h"


/* how many expired entries one request may free */
#define NGX_HTTP_UCO_REPLAY_EXPIRE  64


typedef struct {
    u_char                       color;
    u_char                       pad[7];
    ngx_queue_t                  queue;
    time_t                       expires;
    u_char                       rest[8];   /* digest bytes 8..15 */
} ngx_http_uco_nonce_t;

typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  queue;     /* newest at the head */
} ngx_http_uco_replay_sh_t;

typedef struct {
    ngx_http_uco_replay_sh_t    *sh;
    ngx_slab_pool_t             *shpool;
} ngx_http_uco_replay_t;


static ngx_int_t ngx_http_uco_replay_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_uco_replay_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_uint_t ngx_http_uco_replay_expire(ngx_http_uco_replay_t *ctx,
    time_t now, ngx_uint_t n);


#define ngx_http_uco_nonce(node)                                            \
    ((ngx_http_uco_nonce_t *) &(node)->color)


static ngx_str_t  ngx_http_uco_replay_name = ngx_string("uco_replay");


/* uco_replay_cache size; the zone, also made with 1m by default */

char *
ngx_http_uco_replay_zone(ngx_conf_t *cf, ngx_http_uco_main_conf_t *umcf,
    ssize_t size)
{
    ngx_http_uco_replay_t  *ctx;

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "uco_replay_cache of %z bytes is too small, "
                           "at least %ui", size, 8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_uco_replay_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    umcf->replay = ngx_shared_memory_add(cf, &ngx_http_uco_replay_name,
                                         size, &ngx_http_uco_module);
    if (umcf->replay == NULL) {
        return NGX_CONF_ERROR;
    }

    umcf->replay->init = ngx_http_uco_replay_init_zone;
    umcf->replay->data = ctx;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_uco_replay_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_uco_replay_t  *octx = data;

    size_t                  len;
    ngx_http_uco_replay_t  *ctx;

    ctx = shm_zone->data;

    if (octx != NULL) {
        /* a reload keeps the nonces seen so far */
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;
        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        return NGX_OK;
    }

    ctx->sh = ngx_slab_alloc(ctx->shpool, sizeof(ngx_http_uco_replay_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ngx_rbtree_init(&ctx->sh->rbtree, &ctx->sh->sentinel,
                    ngx_http_uco_replay_insert);
    ngx_queue_init(&ctx->sh->queue);

    len = sizeof(" in uco_replay_cache zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in uco_replay_cache zone \"%V\"%Z",
                &shm_zone->shm.name);

    ctx->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_uco_replay_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t     **p;
    ngx_http_uco_nonce_t   *n, *nt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            n = ngx_http_uco_nonce(node);
            nt = ngx_http_uco_nonce(temp);

            p = (ngx_memcmp(n->rest, nt->rest, 8) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/* the oldest entries first, while they have expired; at most n */

static ngx_uint_t
ngx_http_uco_replay_expire(ngx_http_uco_replay_t *ctx, time_t now,
    ngx_uint_t n)
{
    ngx_uint_t              freed;
    ngx_queue_t            *q;
    ngx_rbtree_node_t      *node;
    ngx_http_uco_nonce_t   *e;

    freed = 0;

    while (freed < n && !ngx_queue_empty(&ctx->sh->queue)) {
        q = ngx_queue_last(&ctx->sh->queue);
        e = ngx_queue_data(q, ngx_http_uco_nonce_t, queue);

        if (e->expires >= now) {
            break;
        }

        node = (ngx_rbtree_node_t *)
                   ((u_char *) e - offsetof(ngx_rbtree_node_t, color));

        ngx_queue_remove(q);
        ngx_rbtree_delete(&ctx->sh->rbtree, node);
        ngx_slab_free_locked(ctx->shpool, node);
        freed++;
    }

    return freed;
}


/*
 * NGX_OK: the nonce is new and now recorded until expires; NGX_DECLINED:
 * seen before; NGX_BUSY: the zone is full of live nonces.
 */

ngx_int_t
ngx_http_uco_replay_check(ngx_shm_zone_t *zone, const u_char digest[16],
    time_t expires, time_t now)
{
    size_t                  size;
    ngx_int_t               rc;
    ngx_rbtree_key_t        key;
    ngx_rbtree_node_t      *node, *sentinel;
    ngx_http_uco_nonce_t   *e;
    ngx_http_uco_replay_t  *ctx;

    ctx = zone->data;

    ngx_memcpy(&key, digest, sizeof(ngx_rbtree_key_t));

    ngx_shmtx_lock(&ctx->shpool->mutex);

    ngx_http_uco_replay_expire(ctx, now, NGX_HTTP_UCO_REPLAY_EXPIRE);

    node = ctx->sh->rbtree.root;
    sentinel = ctx->sh->rbtree.sentinel;

    while (node != sentinel) {
        if (key != node->key) {
            node = (key < node->key) ? node->left : node->right;
            continue;
        }

        e = ngx_http_uco_nonce(node);
        rc = ngx_memcmp(digest + 8, e->rest, 8);

        if (rc == 0) {
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            return NGX_DECLINED;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    size = offsetof(ngx_rbtree_node_t, color) + sizeof(ngx_http_uco_nonce_t);

    node = ngx_slab_alloc_locked(ctx->shpool, size);

    if (node == NULL
        && ngx_http_uco_replay_expire(ctx, now, (ngx_uint_t) -1) > 0)
    {
        node = ngx_slab_alloc_locked(ctx->shpool, size);
    }

    if (node == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_BUSY;
    }

    node->key = key;
    e = ngx_http_uco_nonce(node);
    e->expires = expires;
    ngx_memcpy(e->rest, digest + 8, 8);

    ngx_rbtree_insert(&ctx->sh->rbtree, node);
    ngx_queue_insert_head(&ctx->sh->queue, &e->queue);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_OK;
}
