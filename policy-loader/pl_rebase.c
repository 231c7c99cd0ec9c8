/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Re-basing in the background.  When the delta grows past
 * --delta-max-cards the daemon forks a child that does a full build with
 * a connection of its own into ".snap-<G>.tmp", G reserved from the
 * publisher's sequence, makes it durable, verifies it and exits; it
 * never touches the control file, and the parent keeps publishing deltas
 * over the old base meanwhile.  Its database mark (watermark, floor and
 * snapshot) comes back through a pipe; the parent renames the file into
 * place and publishes a delta over it holding every change the child's
 * snapshot did not see (pl_main.c).  A child that fails or is
 * interrupted leaves nothing behind.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

#include "pl_loop.h"
#include "pl_rebase.h"


/* what the child reports, followed by the snapshot text */
typedef struct {
    uint64_t            watermark;
    uint64_t            floor;
    uint64_t            seen;
    uint64_t            xmax;
    uint64_t            size;
    uint64_t            snapshot_len;
    uco_snap_counts_t   counts;
} pl_rebase_result_t;


static void pl_rebase_child(pl_rebase_t *r, int fd, const char *conninfo,
    pl_build_t *b, pl_publish_t *pub);
static void pl_rebase_exit(pl_pg_t *pg, int status)
    __attribute__((noreturn));
static int pl_rebase_write(int fd, const void *p, size_t n);
static int pl_rebase_read(pl_rebase_t *r);
static void pl_rebase_reap(pl_rebase_t *r);


pl_rebase_t *
pl_rebase_new(void)
{
    pl_rebase_t  *r;

    r = calloc(1, sizeof(pl_rebase_t));
    if (r == NULL) {
        return NULL;
    }

    r->fd = -1;

    return r;
}


void
pl_rebase_free(pl_rebase_t *r)
{
    if (r == NULL) {
        return;
    }

    free(r->mark.snapshot);
    free(r);
}


int
pl_rebase_running(const pl_rebase_t *r)
{
    return r->pid != 0;
}


/* fork the child; the parent's next generation moves past the reserved */

int
pl_rebase_start(pl_rebase_t *r, const char *conninfo, pl_build_t *b,
    pl_publish_t *pub)
{
    int    fds[2];
    pid_t  pid;

    if (r->pid != 0 || time(NULL) - r->failed_at < PL_REBASE_PAUSE) {
        return PL_OK;
    }

    if (pipe(fds) == -1) {
        pl_error(r, PL_EIO, "background base: pipe: %s", strerror(errno));
        r->failed_at = time(NULL);
        return PL_ERR;
    }

    r->gen = pub->next;

    pid = fork();

    if (pid == -1) {
        pl_error(r, PL_EIO, "background base: fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        r->failed_at = time(NULL);
        return PL_ERR;
    }

    if (pid == 0) {
        close(fds[0]);
        pl_rebase_child(r, fds[1], conninfo, b, pub);
        /* not reached */
    }

    close(fds[1]);
    r->pid = pid;
    r->fd = fds[0];
    r->started = pl_loop_now();
    pub->next = r->gen + 1;

    pl_log(PL_LOG_INFO, "building base generation %llu in the background "
           "(process %ld)", (unsigned long long) r->gen, (long) pid);

    return PL_OK;
}


/*
 * The child never returns and never frees or closes what it inherited:
 * the parent's database connection is the parent's (a libpq Terminate
 * on it would end the parent's session); it closes its own.  Exit 0:
 * the verified file is in place under its temp name and the result was
 * written.
 */

static void
pl_rebase_child(pl_rebase_t *r, int fd, const char *conninfo,
    pl_build_t *b, pl_publish_t *pub)
{
    void                *buf;
    size_t               size;
    pl_pg_t             *pg;
    pl_rebase_result_t   res;

    pg = pl_pg_new(conninfo);

    if (pg == NULL || pl_pg_connect(pg) != PL_OK || pl_pg_begin(pg) != PL_OK
        || pl_build_mark(b, pg) != PL_OK || pl_build_count(b, pg) != PL_OK)
    {
        pl_log(PL_LOG_ERROR, "background base %llu: %s",
               (unsigned long long) r->gen,
               pg == NULL ? "out of memory"
               : b->err != 0 ? b->errstr : pg->errstr);
        pl_rebase_exit(pg, 1);
    }

    size = uco_snap_size(&b->counts);
    pub->next = r->gen;

    if (size == 0 || pl_publish_begin(pub, size, &buf) != PL_OK) {
        pl_log(PL_LOG_ERROR, "background base %llu: %s",
               (unsigned long long) r->gen,
               size == 0 ? "too many records" : pub->errstr);
        pl_rebase_exit(pg, 1);
    }

    if (pl_build_fill(b, pg, buf, size) != PL_OK
        || pl_pg_commit(pg) != PL_OK
        || pl_build_seal(b, r->gen) != PL_OK
        || pl_publish_sync(pub) != PL_OK)
    {
        pl_log(PL_LOG_ERROR, "background base %llu: %s",
               (unsigned long long) r->gen,
               b->err != 0 ? b->errstr
               : pg->err != 0 ? pg->errstr : pub->errstr);
        pl_publish_abort(pub);
        pl_rebase_exit(pg, 1);
    }

    memset(&res, 0, sizeof(res));
    res.watermark = b->mark.watermark;
    res.floor = b->mark.floor;
    res.seen = b->mark.seen;
    res.xmax = b->mark.xmax;
    res.size = size;
    res.snapshot_len = strlen(b->mark.snapshot);
    res.counts = b->counts;

    if (pl_rebase_write(fd, &res, sizeof(res)) != PL_OK
        || pl_rebase_write(fd, b->mark.snapshot, res.snapshot_len) != PL_OK)
    {
        pl_publish_unlink_tmp(pub, r->gen);
        pl_rebase_exit(pg, 1);
    }

    pl_rebase_exit(pg, 0);
}


/* the child's own connection is closed: nothing of it left for a checker */

static void
pl_rebase_exit(pl_pg_t *pg, int status)
{
    pl_pg_free(pg);
    _exit(status);
}


static int
pl_rebase_write(int fd, const void *p, size_t n)
{
    ssize_t  w;

    while (n > 0) {
        w = write(fd, p, n);

        if (w <= 0) {
            if (w == -1 && errno == EINTR) {
                continue;
            }

            return PL_ERR;
        }

        p = (const char *) p + w;
        n -= (size_t) w;
    }

    return PL_OK;
}


/*
 * PL_OK: the base is in place as snap-<r->gen>.ucs, r->mark and
 * r->counts describe it.  PL_REBASE_IDLE: none running or not done.
 * PL_ERR: it failed (r->errstr); the next may start after a pause.
 */

int
pl_rebase_poll(pl_rebase_t *r, pl_publish_t *pub)
{
    int    status;
    pid_t  w;

    if (r->pid == 0) {
        return PL_REBASE_IDLE;
    }

    w = waitpid(r->pid, &status, WNOHANG);

    if (w == 0) {
        return PL_REBASE_IDLE;
    }

    if (w == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0
        || pl_rebase_read(r) != PL_OK)
    {
        if (r->err == 0) {
            pl_error(r, PL_EDATA, "the background build of base %llu "
                     "failed (see above)", (unsigned long long) r->gen);
        }

        pl_rebase_reap(r);
        pl_publish_unlink_tmp(pub, r->gen);
        r->failed_at = time(NULL);
        return PL_ERR;
    }

    pl_rebase_reap(r);

    if (pl_publish_adopt(pub, r->gen) != PL_OK) {
        pl_error(r, pub->err, "%s", pub->errstr);
        pl_publish_unlink_tmp(pub, r->gen);
        r->failed_at = time(NULL);
        return PL_ERR;
    }

    pl_log(PL_LOG_INFO, "base generation %llu built in the background "
           "(cards=%llu, idents=%llu, bytes=%llu, ms=%lld)",
           (unsigned long long) r->gen,
           (unsigned long long) r->counts.cards,
           (unsigned long long) r->counts.idents,
           (unsigned long long) r->size, pl_loop_now() - r->started);

    return PL_OK;
}


/* the child's report, after it exited: the pipe holds all of it */

static int
pl_rebase_read(pl_rebase_t *r)
{
    char                *text;
    ssize_t              n;
    size_t               got, want;
    pl_rebase_result_t   res;

    r->err = 0;

    for (got = 0; got < sizeof(res); got += (size_t) n) {
        n = read(r->fd, (char *) &res + got, sizeof(res) - got);
        if (n <= 0) {
            return PL_ERR;
        }
    }

    if (res.snapshot_len == 0 || res.snapshot_len > 1024 * 1024) {
        return PL_ERR;
    }

    want = (size_t) res.snapshot_len;
    text = malloc(want + 1);
    if (text == NULL) {
        pl_error(r, PL_ENOMEM, "background base: out of memory");
        return PL_ERR;
    }

    for (got = 0; got < want; got += (size_t) n) {
        n = read(r->fd, text + got, want - got);
        if (n <= 0) {
            free(text);
            return PL_ERR;
        }
    }

    text[want] = '\0';

    free(r->mark.snapshot);
    r->mark.watermark = res.watermark;
    r->mark.floor = res.floor;
    r->mark.seen = res.seen;
    r->mark.xmax = res.xmax;
    r->mark.snapshot = text;
    r->counts = res.counts;
    r->size = res.size;

    return PL_OK;
}


static void
pl_rebase_reap(pl_rebase_t *r)
{
    if (r->fd != -1) {
        close(r->fd);
        r->fd = -1;
    }

    r->pid = 0;
}


/* stop a running child (a full build or shutdown supersedes it) */

void
pl_rebase_cancel(pl_rebase_t *r, pl_publish_t *pub)
{
    int  status;

    if (r->pid == 0) {
        return;
    }

    kill(r->pid, SIGKILL);

    while (waitpid(r->pid, &status, 0) == -1 && errno == EINTR) {
        /* void */
    }

    pl_log(PL_LOG_INFO, "background build of base %llu stopped",
           (unsigned long long) r->gen);

    pl_rebase_reap(r);
    pl_publish_unlink_tmp(pub, r->gen);
}
