/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The decision journal: every decision gets a decision_id and goes into
 * the ring file (uco_journal.[ch]) that the loader's journal process
 * drains.  The master maps the file at configuration time, so workers
 * inherit the mapping and need no permission on it; an nginx shm zone
 * would be invisible to the loader.  docs/journal.md.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <sys/mman.h>

#include "ngx_http_uco_module.h"


#define NGX_HTTP_UCO_JOURNAL_FILE  "journal.ring"


static ngx_int_t ngx_http_uco_journal_map(ngx_conf_t *cf,
    ngx_http_uco_journal_conf_t *jc, ngx_str_t *path, uint64_t nslots);
static void ngx_http_uco_journal_unmap(void *data);


ngx_conf_enum_t  ngx_http_uco_journal_full[] = {
    { ngx_string("reject"), NGX_HTTP_UCO_JOURNAL_REJECT },
    { ngx_string("drop_and_count"), NGX_HTTP_UCO_JOURNAL_DROP },
    { ngx_null_string, 0 }
};


/*
 * Sizes: the largest power-of-two slot count that fits; the file is
 * created (or kept, when its geometry is the same: records not yet
 * delivered survive a restart) and mapped shared.
 */

char *
ngx_http_uco_journal_init_conf(ngx_conf_t *cf,
    ngx_http_uco_journal_conf_t *jc)
{
    uint64_t   nslots;
    ngx_str_t  path;

    ngx_conf_init_size_value(jc->size, 64 * 1024 * 1024);
    ngx_conf_init_value(jc->node, 0);
    ngx_conf_init_uint_value(jc->full, NGX_HTTP_UCO_JOURNAL_REJECT);

    if (jc->dir.len == 0) {
        return NGX_CONF_OK;
    }

    if (jc->node < 0 || jc->node > UCO_JOURNAL_MAX_NODE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"uco_journal_node\" must be 0 .. %d",
                           UCO_JOURNAL_MAX_NODE);
        return NGX_CONF_ERROR;
    }

    /* the size is the records' room; the 4 KiB header comes on top */
    nslots = UCO_JOURNAL_MIN_SLOTS;

    while (uco_journal_size(nslots * 2) != 0
           && nslots * 2 * UCO_JOURNAL_SLOT_SIZE <= jc->size)
    {
        nslots *= 2;
    }

    if (nslots * UCO_JOURNAL_SLOT_SIZE > jc->size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"uco_journal_size\" must be at least %uL",
                           (uint64_t) UCO_JOURNAL_MIN_SLOTS
                           * UCO_JOURNAL_SLOT_SIZE);
        return NGX_CONF_ERROR;
    }

    if (jc->dir.len > 1 && jc->dir.data[jc->dir.len - 1] == '/') {
        jc->dir.len--;
    }

    path.len = jc->dir.len + sizeof("/" NGX_HTTP_UCO_JOURNAL_FILE) - 1;
    path.data = ngx_pnalloc(cf->pool, path.len + 1);
    if (path.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(path.data, "%V/" NGX_HTTP_UCO_JOURNAL_FILE "%Z", &jc->dir);

    if (ngx_http_uco_journal_map(cf, jc, &path, nslots) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_uco_journal_map(ngx_conf_t *cf, ngx_http_uco_journal_conf_t *jc,
    ngx_str_t *path, uint64_t nslots)
{
    int                    rc;
    u_char                *p;
    off_t                  size;
    ngx_fd_t               fd;
    ngx_file_info_t        fi;
    ngx_pool_cleanup_t    *cln;
    uco_journal_header_t  *h;

    size = (off_t) uco_journal_size(nslots);

    fd = ngx_open_file(path->data, NGX_FILE_RDWR, NGX_FILE_CREATE_OR_OPEN,
                       0660);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "uco_journal: cannot open \"%V\"", path);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "uco_journal: cannot stat \"%V\"", path);
        goto failed;
    }

    if (ngx_file_size(&fi) != 0 && ngx_file_size(&fi) != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "uco_journal: \"%V\" has %O bytes, "
                           "uco_journal_size asks for %O; drain it with "
                           "the loader and remove it, or restore the "
                           "size", path, ngx_file_size(&fi), size);
        goto failed;
    }

    /*
     * A new file: exactly 0660, whatever nginx's umask, so that the group
     * the directory gives it (setgid, the journal process's group) may
     * write it too; workers need no access, they inherit the mapping.
     */
    if (ngx_file_size(&fi) == 0 && fchmod(fd, 0660) == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "uco_journal: cannot chmod \"%V\"", path);
        goto failed;
    }

    if (ngx_file_size(&fi) == 0 && ftruncate(fd, size) == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "uco_journal: cannot size \"%V\"", path);
        goto failed;
    }

    p = mmap(NULL, size, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "uco_journal: mmap(\"%V\") failed", path);
        goto failed;
    }

    (void) ngx_close_file(fd);
    fd = NGX_INVALID_FILE;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        (void) munmap(p, size);
        return NGX_ERROR;
    }

    jc->map = p;
    jc->len = size;
    cln->handler = ngx_http_uco_journal_unmap;
    cln->data = jc;

    h = (uco_journal_header_t *) p;

    if (ngx_file_size(&fi) == 0 || ngx_memcmp(h->magic, "\0\0\0\0", 4) == 0)
    {
        rc = uco_journal_init(p, size, nslots);

    } else {
        rc = uco_journal_open(&jc->ring, p, size);

        if (rc == UCO_JOURNAL_OK && h->nslots != nslots) {
            rc = UCO_JOURNAL_EGEOMETRY;
        }
    }

    if (rc == UCO_JOURNAL_OK) {
        rc = uco_journal_open(&jc->ring, p, size);
    }

    if (rc != UCO_JOURNAL_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "uco_journal: \"%V\": %s", path,
                           uco_journal_strerror(rc));
        return NGX_ERROR;
    }

    return NGX_OK;

failed:

    (void) ngx_close_file(fd);

    return NGX_ERROR;
}


static void
ngx_http_uco_journal_unmap(void *data)
{
    ngx_http_uco_journal_conf_t  *jc = data;

    (void) munmap(jc->map, jc->len);
    jc->map = NULL;
    jc->ring.header = NULL;
}


/*
 * A worker inherits the master's mapping but not its page tables: each
 * page of the ring would cost its first writer a fault (about 16
 * records' worth of appends per page, through the whole first lap).
 * The worker maps them all at start instead; the pages are the file's,
 * already in memory on tmpfs, and their contents are not touched.
 * Kernels before 5.14 do not know the advice: the faults come lazily
 * there, as before.
 */

void
ngx_http_uco_journal_init_process(ngx_cycle_t *cycle,
    ngx_http_uco_main_conf_t *umcf)
{
    if (umcf->journal.ring.header == NULL) {
        return;
    }

#ifdef MADV_POPULATE_WRITE
    if (madvise(umcf->journal.map, umcf->journal.len, MADV_POPULATE_WRITE)
        == -1 && ngx_errno != NGX_EINVAL)
    {
        ngx_log_error(NGX_LOG_WARN, cycle->log, ngx_errno,
                      "uco_journal: madvise(MADV_POPULATE_WRITE) failed, "
                      "the ring's pages are mapped as they are written");
    }
#endif

    /* no trap at an append's first write to a page either */
    uco_journal_touch(&umcf->journal.ring);
}


/*
 * The request path: an id (one compare-and-swap on the clock nginx
 * cached for this event: no system call), one slot claimed, the record
 * encoded straight into it and published.  NGX_DECLINED: the ring is
 * full and the policy is reject.
 */

ngx_int_t
ngx_http_uco_journal_record(ngx_http_request_t *r, ngx_http_uco_ctx_t *ctx,
    const uco_query_t *q, uint64_t card, ngx_http_uco_check_t *c)
{
    size_t                        len;
    uint64_t                      pos;
    ngx_time_t                   *tp;
    uco_journal_rec_t             rec;
    uco_journal_slot_t           *s;
    ngx_http_uco_journal_conf_t  *jc;

    jc = ctx->req.journal;
    tp = ngx_timeofday();

    rec.time_ms = (uint64_t) tp->sec * 1000 + tp->msec;
    rec.id = uco_journal_next_id(&jc->ring, rec.time_ms,
                                 (unsigned) jc->node);
    c->decision_id = rec.id;

    s = uco_journal_claim(&jc->ring, &pos);

    if (s == NULL) {
        if (jc->full == NGX_HTTP_UCO_JOURNAL_DROP) {
            (void) ngx_atomic_fetch_add(
                       (ngx_atomic_t *) &jc->ring.header->dropped, 1);
            return NGX_OK;
        }

        (void) ngx_atomic_fetch_add(
                   (ngx_atomic_t *) &jc->ring.header->rejected, 1);

        return NGX_DECLINED;
    }

    rec.node = (uint32_t) jc->node;
    rec.partner = ctx->req.partner->id;
    rec.card = card;
    rec.programme = c->res.programme ? c->res.programme->id : 0;
    rec.decision = (uint8_t) c->res.decision;
    rec.reason = (uint8_t) c->res.reason;
    rec.amount = c->amount;
    rec.discount = (c->amount >= 0 && c->res.programme != NULL)
                   ? (int64_t) c->res.discount : -1;
    rec.generation = ctx->req.cur->generation;

    rec.terminal_len = (uint8_t) ngx_min(q->terminal.len,
                                         UCO_SNAP_TERMINAL_LEN);
    if (rec.terminal_len != 0) {
        ngx_memcpy(rec.terminal, q->terminal.data, rec.terminal_len);
    }

    len = uco_journal_encode(&rec, s->data, sizeof(s->data));

    /* 0 cannot happen (a slot holds the largest record): an empty slot */
    uco_journal_publish(s, pos, len);

    if (len == 0) {
        (void) ngx_atomic_fetch_add(
                   (ngx_atomic_t *) &jc->ring.header->too_big, 1);
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "uco: journal record %uL does not fit a slot", rec.id);
        return NGX_OK;
    }

    (void) ngx_atomic_fetch_add(
               (ngx_atomic_t *) &jc->ring.header->appended, 1);

    return NGX_OK;
}


/* for the metrics: a snapshot of the shared counters */

ngx_int_t
ngx_http_uco_journal_stats(ngx_http_uco_main_conf_t *umcf,
    ngx_http_uco_journal_stats_t *st)
{
    uco_journal_header_t  *h;

    h = umcf->journal.ring.header;

    if (h == NULL) {
        return NGX_DECLINED;
    }

    st->appended = h->appended;
    st->dropped = h->dropped;
    st->rejected = h->rejected;
    st->too_big = h->too_big;
    st->delivered = h->delivered;
    st->skipped = h->skipped;
    st->spool_bytes = h->spool_bytes;
    st->spool_records = h->spool_records;
    st->loader_seen = h->loader_seen;
    st->pending = h->head - h->tail;
    st->capacity = h->nslots;

    return NGX_OK;
}
