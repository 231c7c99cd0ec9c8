/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Mapping, validating, swapping and releasing snapshot generations.
 *
 * The loader publishes a generation by storing its number in the mapped
 * control file.  Each request compares that word with the generation it
 * serves; on a difference this worker maps the new file and validates it
 * in chunks, one per event-loop turn, while the old generation keeps
 * answering.  Requests never keep pointers into a mapping after their
 * handler returns, so the old mapping is released at the swap.
 *
 * A published generation this worker refuses (a file damaged on disk, a
 * format this module does not read) is not tried again until the control
 * file changes; meanwhile the worker looks for the newest valid
 * generation the loader kept that is newer than the one it serves, so
 * that a worker that was idle through some publications does not stay on
 * data older than its neighbours'.
 *
 * A delta generation names its base: the worker keeps the base it maps
 * already (the current generation or the current delta's base) and then
 * validates only the delta, so a swap costs the size of the change.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <sys/mman.h>

#include "ngx_http_uco_module.h"


static void ngx_http_uco_ctl_open(ngx_http_uco_main_conf_t *umcf,
    ngx_log_t *log);
static void ngx_http_uco_ctl_close(ngx_http_uco_state_t *st);
static void ngx_http_uco_start(ngx_http_uco_main_conf_t *umcf,
    uint64_t generation, ngx_uint_t fallback, ngx_log_t *log);
static void ngx_http_uco_fallback(ngx_http_uco_main_conf_t *umcf,
    ngx_log_t *log);
static ngx_http_uco_snap_t *ngx_http_uco_map(ngx_http_uco_main_conf_t *umcf,
    uint64_t generation, ngx_uint_t fallback, ngx_log_t *log);
static ngx_int_t ngx_http_uco_base(ngx_http_uco_main_conf_t *umcf,
    ngx_http_uco_snap_t *s, ngx_http_uco_snap_t *prev, ngx_uint_t level,
    ngx_log_t *log);
static ngx_http_uco_snap_t *ngx_http_uco_base_of(ngx_http_uco_snap_t *s,
    ngx_http_uco_snap_t *d);
static ngx_int_t ngx_http_uco_step_base(ngx_http_uco_main_conf_t *umcf,
    size_t budget, ngx_log_t *log);
static ngx_int_t ngx_http_uco_refuse(ngx_http_uco_main_conf_t *umcf,
    const char *why, ngx_log_t *log);
static ngx_int_t ngx_http_uco_step(ngx_http_uco_main_conf_t *umcf,
    size_t budget, ngx_log_t *log);
static void ngx_http_uco_verify_handler(ngx_event_t *ev);
static void ngx_http_uco_release(ngx_http_uco_snap_t *s);


ngx_int_t
ngx_http_uco_snapshot_init_process(ngx_cycle_t *cycle,
    ngx_http_uco_main_conf_t *umcf)
{
    uint64_t               g;
    ngx_http_uco_state_t  *st;

    st = &umcf->state;

    st->verify_event.handler = ngx_http_uco_verify_handler;
    st->verify_event.data = umcf;
    st->verify_event.log = cycle->log;
    st->verify_event.cancelable = 1;

    ngx_http_uco_ctl_open(umcf, cycle->log);

    if (st->ctl == NULL) {
        return NGX_OK;
    }

    g = st->ctl->generation;

    if (g == 0) {
        return NGX_OK;
    }

    /* before the first request: validate in full, nothing to stall yet */

    ngx_http_uco_start(umcf, g, 0, cycle->log);
    ngx_http_uco_fallback(umcf, cycle->log);

    while (st->pending != NULL) {
        if (ngx_http_uco_step(umcf, (size_t) -1, cycle->log) != NGX_AGAIN) {
            break;
        }
    }

    return NGX_OK;
}


void
ngx_http_uco_snapshot_exit_process(ngx_http_uco_main_conf_t *umcf)
{
    ngx_http_uco_state_t  *st;

    st = &umcf->state;

    if (st->verify_event.timer_set) {
        ngx_del_timer(&st->verify_event);
    }

    ngx_http_uco_release(st->pending);
    ngx_http_uco_release(st->current);
    st->pending = NULL;
    st->current = NULL;

    ngx_http_uco_ctl_close(st);
}


/*
 * The request path: one load of the shared generation word.  Once a
 * second the control file's inode is compared, so that a control file
 * the loader had to recreate is followed too.
 */

ngx_http_uco_snap_t *
ngx_http_uco_snapshot_current(ngx_http_uco_main_conf_t *umcf,
    ngx_log_t *log)
{
    time_t                 now;
    uint64_t               g;
    ngx_file_info_t        fi;
    ngx_http_uco_state_t  *st;
    u_char                 path[NGX_MAX_PATH];

    st = &umcf->state;
    now = ngx_time();

    if (st->ctl == NULL) {
        /* nothing published yet: one open() per request until it is */
        ngx_http_uco_ctl_open(umcf, log);

    } else if (now != st->ctl_checked) {
        st->ctl_checked = now;

        ngx_snprintf(path, sizeof(path), "%V/" UCO_SNAP_CTL_NAME "%Z",
                     &umcf->dir);

        if (ngx_file_info(path, &fi) == NGX_FILE_ERROR
            || ngx_file_uniq(&fi) != st->ctl_ino)
        {
            ngx_http_uco_ctl_close(st);
            ngx_http_uco_ctl_open(umcf, log);

            /* a new control file: the refused generation is tried again */
            st->refused = 0;
        }
    }

    if (st->ctl == NULL) {
        return st->current;
    }

    g = __atomic_load_n(&st->ctl->generation, __ATOMIC_ACQUIRE);

    if (g != 0
        && (st->current == NULL || g != st->current->generation)
        && (st->pending == NULL || g != st->pending->generation)
        && g != st->refused)
    {
        ngx_http_uco_start(umcf, g, 0, log);
        ngx_http_uco_fallback(umcf, log);

        /* a small file is validated before this very request is served */
        if (st->pending != NULL) {
            if (ngx_http_uco_step(umcf, NGX_HTTP_UCO_VERIFY_CHUNK, log)
                == NGX_AGAIN)
            {
                ngx_add_timer(&st->verify_event, 1);
            }
        }
    }

    return st->current;
}


/*
 * The age of the data: seconds since the loader last confirmed that the
 * published generation matches the database (synced_at), or since the
 * served file was built if that is later.  Returns the age when it is
 * above max, -1 otherwise.  The worker logs the change of state once,
 * not per answer.
 */

time_t
ngx_http_uco_snapshot_stale(ngx_http_uco_main_conf_t *umcf,
    ngx_http_uco_snap_t *cur, time_t max, ngx_log_t *log)
{
    time_t                 now, age;
    uint64_t               synced;
    ngx_http_uco_state_t  *st;

    st = &umcf->state;

    if (max == 0) {
        return -1;
    }

    synced = cur->snap.header->build_time;

    if (st->ctl != NULL) {
        synced = ngx_max(synced, __atomic_load_n(&st->ctl->synced_at,
                                                 __ATOMIC_ACQUIRE));
    }

    now = ngx_time();
    age = (uint64_t) now > synced ? (time_t) ((uint64_t) now - synced) : 0;

    if (age <= max) {
        if (st->stale) {
            st->stale = 0;
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "uco: snapshot data is fresh again (generation "
                          "%uL, %T s old)", cur->generation, age);
        }

        return -1;
    }

    if (!st->stale) {
        st->stale = 1;
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "uco: snapshot data is stale: generation %uL was "
                      "last confirmed %T s ago, uco_max_staleness is %T s",
                      cur->generation, age, max);
    }

    return age;
}


static void
ngx_http_uco_ctl_open(ngx_http_uco_main_conf_t *umcf, ngx_log_t *log)
{
    void                  *p;
    ngx_fd_t               fd;
    ngx_file_info_t        fi;
    ngx_http_uco_state_t  *st;
    u_char                 path[NGX_MAX_PATH];

    st = &umcf->state;

    ngx_snprintf(path, sizeof(path), "%V/" UCO_SNAP_CTL_NAME "%Z",
                 &umcf->dir);

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        /* the loader has not published yet: answered with 503 */
        return;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_fd_info_n " \"%s\" failed", path);
        goto done;
    }

    if (ngx_file_size(&fi) < UCO_CTL_SIZE) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "uco: control file \"%s\" is truncated", path);
        goto done;
    }

    p = mmap(NULL, UCO_CTL_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "mmap(\"%s\") failed", path);
        goto done;
    }

    if (uco_ctl_check(p, UCO_CTL_SIZE) != UCO_SNAP_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "uco: control file \"%s\" is invalid", path);
        munmap(p, UCO_CTL_SIZE);
        goto done;
    }

    st->ctl = p;
    st->ctl_ino = ngx_file_uniq(&fi);

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", path);
    }
}


static void
ngx_http_uco_ctl_close(ngx_http_uco_state_t *st)
{
    if (st->ctl != NULL) {
        munmap((void *) st->ctl, UCO_CTL_SIZE);
        st->ctl = NULL;
    }
}


/*
 * Start validating generation g: the published one (fallback 0) is
 * refused with an [error] line; an older candidate of the fallback
 * search (fallback 1) at info, and a missing one silently: the loader
 * keeps only a few.
 */

static void
ngx_http_uco_start(ngx_http_uco_main_conf_t *umcf, uint64_t generation,
    ngx_uint_t fallback, ngx_log_t *log)
{
    ngx_uint_t             level;
    ngx_http_uco_snap_t   *s, *prev;
    ngx_http_uco_state_t  *st;

    st = &umcf->state;
    prev = st->pending;

    if (prev != NULL) {
        /*
         * Superseded before it was validated; held until the new one
         * has its base, which may be this one's, half validated.
         */
        if (st->verify_event.timer_set) {
            ngx_del_timer(&st->verify_event);
        }

        st->pending = NULL;
    }

    if (!fallback) {
        st->refused = generation;
        st->fallback = 0;
    }

    s = ngx_http_uco_map(umcf, generation, fallback, log);

    level = fallback ? NGX_LOG_INFO : NGX_LOG_ERR;

    if (s != NULL && s->snap.delta != NULL
        && ngx_http_uco_base(umcf, s, prev, level, log) != NGX_OK)
    {
        ngx_http_uco_release(s);
        s = NULL;
    }

    ngx_http_uco_release(prev);

    if (s != NULL) {
        st->pending = s;

        if (!fallback) {
            st->refused = 0;
        }

        return;
    }

    if (!fallback) {
        ngx_http_uco_metrics_snapshot(umcf, NGX_HTTP_UCO_SNAPSHOT_REFUSED);

        st->fallback = generation - 1;
        st->fallback_left = NGX_HTTP_UCO_FALLBACK_MAX;
    }
}


/*
 * The base a delta names: the one this worker serves, or the one the
 * superseded pending generation (prev) was or had, with the validation
 * it has done so far (shared, so a stream of deltas cannot restart a
 * large base's validation for ever); else mapped now and validated
 * before the delta.  A missing or wrong base refuses the delta; the
 * current generation stays.
 */

static ngx_int_t
ngx_http_uco_base(ngx_http_uco_main_conf_t *umcf, ngx_http_uco_snap_t *s,
    ngx_http_uco_snap_t *prev, ngx_uint_t level, ngx_log_t *log)
{
    uint64_t              bg;
    ngx_http_uco_snap_t  *b;

    bg = s->snap.delta->base_generation;

    b = ngx_http_uco_base_of(umcf->state.current, s);

    if (b == NULL) {
        b = ngx_http_uco_base_of(prev, s);
    }

    if (b != NULL) {
        b->refs++;

    } else {
        b = ngx_http_uco_map(umcf, bg, 0, log);

        if (b == NULL) {
            ngx_log_error(level, log, 0,
                          "uco: snapshot generation %uL refused: its base "
                          "generation %uL cannot be used", s->generation,
                          bg);
            return NGX_ERROR;
        }

        if (b->snap.delta != NULL) {
            ngx_log_error(level, log, 0,
                          "uco: snapshot generation %uL refused: its base "
                          "generation %uL is a delta itself",
                          s->generation, bg);
            ngx_http_uco_release(b);
            return NGX_ERROR;
        }
    }

    s->base = b;

    return NGX_OK;
}


/* g, or g's base, when it is the base delta d names; else NULL */

static ngx_http_uco_snap_t *
ngx_http_uco_base_of(ngx_http_uco_snap_t *g, ngx_http_uco_snap_t *d)
{
    if (g == NULL) {
        return NULL;
    }

    if (g->base != NULL) {
        g = g->base;
    }

    if (g->snap.delta != NULL
        || g->generation != d->snap.delta->base_generation
        || ngx_memcmp(g->snap.header->checksum,
                      d->snap.delta->base_checksum, 32) != 0)
    {
        return NULL;
    }

    return g;
}


/* a generation's file mapped, its header checked, validation begun */

static ngx_http_uco_snap_t *
ngx_http_uco_map(ngx_http_uco_main_conf_t *umcf, uint64_t generation,
    ngx_uint_t fallback, ngx_log_t *log)
{
    int                   rc;
    void                 *p;
    ngx_fd_t              fd;
    ngx_uint_t            level;
    ngx_file_info_t       fi;
    ngx_http_uco_snap_t  *s, *ok;
    u_char                path[NGX_MAX_PATH];

    level = fallback ? NGX_LOG_INFO : NGX_LOG_ERR;

    ngx_snprintf(path, sizeof(path),
                 "%V/" UCO_SNAP_FILE_PREFIX "%020uL" UCO_SNAP_FILE_SUFFIX "%Z",
                 &umcf->dir, generation);

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        if (!fallback || ngx_errno != NGX_ENOENT) {
            ngx_log_error(level, log, ngx_errno,
                          "uco: snapshot generation %uL refused: cannot "
                          "open \"%s\"", generation, path);
        }

        return NULL;
    }

    s = NULL;
    ok = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_fd_info_n " \"%s\" failed", path);
        goto done;
    }

    if (ngx_file_size(&fi) < (off_t) sizeof(uco_snap_header_t)) {
        ngx_log_error(level, log, 0,
                      "uco: snapshot generation %uL refused: \"%s\": %s",
                      generation, path,
                      uco_snap_strerror(UCO_SNAP_ETRUNCATED));
        goto done;
    }

    s = ngx_calloc(sizeof(ngx_http_uco_snap_t), log);
    if (s == NULL) {
        goto done;
    }

    s->len = (size_t) ngx_file_size(&fi);
    s->generation = generation;
    s->fallback = fallback;
    s->refs = 1;

    p = mmap(NULL, s->len, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "mmap(\"%s\") failed", path);
        goto done;
    }

    s->map = p;

#ifdef MADV_HUGEPAGE
    /*
     * Lookups land anywhere in hundreds of megabytes: mapped with 2 MiB
     * pages, where the kernel and file system give them (ext4 on Linux
     * 6.x does), a cache-cold decision spares most of its TLB misses
     * (docs/performance.md).  Advice only: failure changes nothing.
     */
    (void) madvise(p, s->len, MADV_HUGEPAGE);
#endif

    rc = uco_snap_open(&s->snap, s->map, s->len);

    if (rc == UCO_SNAP_OK && s->snap.header->generation != generation) {
        rc = UCO_SNAP_EHEADER;
    }

    if (rc == UCO_SNAP_OK) {
        rc = uco_snap_verify_init(&s->verify);
    }

    if (rc != UCO_SNAP_OK) {
        ngx_log_error(level, log, 0,
                      "uco: snapshot generation %uL refused: \"%s\": %s",
                      generation, path, uco_snap_strerror(rc));
        goto done;
    }

    ok = s;
    s = NULL;

done:

    ngx_http_uco_release(s);

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", path);
    }

    return ok;
}


/*
 * After a refusal: start the next older candidate that maps and has a
 * valid header, newer than the served generation.  Bounded by
 * NGX_HTTP_UCO_FALLBACK_MAX names in all; the candidate is validated
 * in steps like any generation.
 */

static void
ngx_http_uco_fallback(ngx_http_uco_main_conf_t *umcf, ngx_log_t *log)
{
    uint64_t               g, served;
    ngx_http_uco_state_t  *st;

    st = &umcf->state;
    served = st->current != NULL ? st->current->generation : 0;

    while (st->pending == NULL && st->fallback > served
           && st->fallback_left > 0)
    {
        g = st->fallback--;
        st->fallback_left--;

        ngx_http_uco_start(umcf, g, 1, log);
    }

    if (st->pending == NULL) {
        st->fallback = 0;
    }
}


/* validate the pending generation a step further; swap when done */

static ngx_int_t
ngx_http_uco_step(ngx_http_uco_main_conf_t *umcf, size_t budget,
    ngx_log_t *log)
{
    int                    rc;
    ngx_int_t              brc;
    ngx_uint_t             fallback;
    ngx_http_uco_snap_t   *s, *old;
    ngx_http_uco_state_t  *st;

    st = &umcf->state;
    s = st->pending;

    if (s->base != NULL && !s->base->verified) {
        brc = ngx_http_uco_step_base(umcf, budget, log);
        if (brc != NGX_OK) {
            return brc;
        }

        /* a small base and its delta in one step, as a small file is */
        if (s->base->len >= budget) {
            return NGX_AGAIN;
        }

        budget -= s->base->len;
    }

    rc = uco_snap_verify_step(&s->snap, &s->verify, budget);

    if (rc == UCO_SNAP_AGAIN) {
        return NGX_AGAIN;
    }

    uco_snap_verify_free(&s->verify);

    if (rc == UCO_SNAP_OK && s->base != NULL) {
        rc = uco_snap_bind(&s->snap, &s->base->snap);
    }

    if (rc != UCO_SNAP_OK) {
        return ngx_http_uco_refuse(umcf, uco_snap_strerror(rc), log);
    }

    st->pending = NULL;
    s->verified = 1;
    fallback = s->fallback;

    old = st->current;
    st->current = s;

    if (s->base != NULL) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "uco: serving snapshot generation %uL (delta of "
                      "%uL cards over base generation %uL of %uL cards, "
                      "%uL partners, %uL programmes)",
                      s->generation, s->snap.ncards, s->base->generation,
                      s->base->snap.ncards, s->snap.npartners,
                      s->snap.nprogrammes);

    } else {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "uco: serving snapshot generation %uL "
                      "(%uL cards, %uL partners, %uL programmes)",
                      s->generation, s->snap.ncards, s->snap.npartners,
                      s->snap.nprogrammes);
    }

    if (fallback) {
        st->fallback = 0;

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "uco: published snapshot generation %uL is refused: "
                      "serving generation %uL instead, the newest valid "
                      "one kept; generation %uL is tried again when the "
                      "control file changes",
                      st->refused, s->generation, st->refused);

        ngx_http_uco_metrics_snapshot(umcf, NGX_HTTP_UCO_SNAPSHOT_FALLBACK);
    }

    ngx_http_uco_release(old);
    ngx_http_uco_metrics_snapshot(umcf, NGX_HTTP_UCO_SNAPSHOT_SWAP);

    return NGX_OK;
}


/* a base mapped for a delta is validated in full first */

static ngx_int_t
ngx_http_uco_step_base(ngx_http_uco_main_conf_t *umcf, size_t budget,
    ngx_log_t *log)
{
    int                   rc;
    ngx_http_uco_snap_t  *b;
    u_char                why[128];

    b = umcf->state.pending->base;

    rc = uco_snap_verify_step(&b->snap, &b->verify, budget);

    if (rc == UCO_SNAP_AGAIN) {
        return NGX_AGAIN;
    }

    uco_snap_verify_free(&b->verify);

    if (rc != UCO_SNAP_OK) {
        ngx_snprintf(why, sizeof(why), "base generation %uL: %s%Z",
                     b->generation, uco_snap_strerror(rc));
        return ngx_http_uco_refuse(umcf, (const char *) why, log);
    }

    b->verified = 1;

    return NGX_OK;
}


/* the pending generation failed: the fallback search goes on */

static ngx_int_t
ngx_http_uco_refuse(ngx_http_uco_main_conf_t *umcf, const char *why,
    ngx_log_t *log)
{
    ngx_uint_t             fallback, level;
    ngx_http_uco_snap_t   *s;
    ngx_http_uco_state_t  *st;

    st = &umcf->state;
    s = st->pending;
    st->pending = NULL;
    fallback = s->fallback;
    level = fallback ? NGX_LOG_INFO : NGX_LOG_ERR;

    ngx_log_error(level, log, 0,
                  "uco: snapshot generation %uL refused: %s; "
                  "still serving generation %uL",
                  s->generation, why,
                  st->current ? st->current->generation : 0);

    if (!fallback) {
        st->refused = s->generation;
        st->fallback = s->generation - 1;
        st->fallback_left = NGX_HTTP_UCO_FALLBACK_MAX;
        ngx_http_uco_metrics_snapshot(umcf, NGX_HTTP_UCO_SNAPSHOT_REFUSED);
    }

    ngx_http_uco_release(s);

    ngx_http_uco_fallback(umcf, log);

    return st->pending != NULL ? NGX_AGAIN : NGX_ERROR;
}


static void
ngx_http_uco_verify_handler(ngx_event_t *ev)
{
    ngx_http_uco_main_conf_t  *umcf;

    umcf = ev->data;

    if (umcf->state.pending == NULL) {
        return;
    }

    if (ngx_http_uco_step(umcf, NGX_HTTP_UCO_VERIFY_CHUNK, ev->log)
        == NGX_AGAIN)
    {
        ngx_add_timer(ev, 1);
    }
}


static void
ngx_http_uco_release(ngx_http_uco_snap_t *s)
{
    if (s == NULL || --s->refs > 0) {
        return;
    }

    ngx_http_uco_release(s->base);
    uco_snap_verify_free(&s->verify);

    if (s->map != NULL) {
        munmap(s->map, s->len);
    }

    ngx_free(s);
}
