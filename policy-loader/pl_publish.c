/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Publishing.  A snapshot file is written once under a temp name, made
 * durable, verified through a fresh read-only mapping and renamed into
 * place; only then does the control file's generation move, with one
 * atomic store.  A delta is checked against the base it names, and the
 * base of a kept delta is kept too.  A published file is never written
 * again: workers map it, and unlinking an old one leaves their pages
 * alone.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "pl_publish.h"


#define PL_PUBLISH_TMP_FMT      ".snap-%llu.tmp"
#define PL_PUBLISH_CTL_TMP      ".uco.ctl.tmp"
#define PL_PUBLISH_NAME_LEN     64
/* --keep is at most 1000: one base per kept file and the live one */
#define PL_PUBLISH_MAX_BASES    1024


static int pl_publish_scan(pl_publish_t *p, int clean, uint64_t **gens,
    size_t *n);
static int pl_publish_parse(const char *name, uint64_t *gen);
static int pl_publish_ctl_open(pl_publish_t *p);
static int pl_publish_ctl_create(pl_publish_t *p);
static int pl_publish_map(pl_publish_t *p, const char *name, uint64_t gen,
    size_t size);
static int pl_publish_base_of(pl_publish_t *p, const uco_snap_t *s);
static uint64_t pl_publish_base_gen(pl_publish_t *p, uint64_t gen);
static void pl_publish_set(pl_publish_t *p, uint64_t gen);
static void pl_publish_retain(pl_publish_t *p);
static int pl_publish_cmp(const void *a, const void *b);


pl_publish_t *
pl_publish_new(const char *dir, unsigned mode, unsigned keep)
{
    pl_publish_t  *p;

    p = calloc(1, sizeof(pl_publish_t));
    if (p == NULL) {
        return NULL;
    }

    p->dir = strdup(dir);
    if (p->dir == NULL) {
        free(p);
        return NULL;
    }

    p->dirfd = -1;
    p->fd = -1;
    p->mode = mode;
    p->keep = keep;

    return p;
}


void
pl_publish_free(pl_publish_t *p)
{
    if (p == NULL) {
        return;
    }

    pl_publish_abort(p);

    if (p->ctl != NULL) {
        munmap(p->ctl, UCO_CTL_SIZE);
    }

    /* closing the directory releases the lock */
    if (p->dirfd != -1) {
        close(p->dirfd);
    }

    free(p->dir);
    free(p);
}


/*
 * Locks the directory against a second loader, removes temp files of a
 * loader that died, maps the control file and picks the next generation
 * above anything published or lying in the directory.
 */

int
pl_publish_open(pl_publish_t *p)
{
    size_t     i, n;
    uint64_t  *gens, top;

    gens = NULL;

    p->dirfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p->dirfd == -1) {
        pl_error(p, PL_EIO, "open %s: %s", p->dir, strerror(errno));
        goto failed;
    }

    if (flock(p->dirfd, LOCK_EX | LOCK_NB) == -1) {
        pl_error(p, PL_EIO, "%s is in use by another policy-loader%s",
                 p->dir, errno == EWOULDBLOCK ? "" : " (flock failed)");
        goto failed;
    }

    if (pl_publish_scan(p, 1, &gens, &n) != PL_OK
        || pl_publish_ctl_open(p) != PL_OK)
    {
        goto failed;
    }

    top = p->ctl->generation;

    for (i = 0; i < n; i++) {
        if (gens[i] > top) {
            top = gens[i];
        }
    }

    p->next = top + 1;
    free(gens);

    return PL_OK;

failed:

    free(gens);
    return PL_ERR;
}


/* generations of snap-*.ucs files; with clean, stale temps removed */

static int
pl_publish_scan(pl_publish_t *p, int clean, uint64_t **gens, size_t *n)
{
    DIR            *d;
    size_t          len, cap;
    uint64_t        gen, *g, *tmp;
    struct dirent  *de;

    *gens = NULL;
    *n = 0;
    g = NULL;
    cap = 0;

    d = opendir(p->dir);
    if (d == NULL) {
        pl_error(p, PL_EIO, "opendir %s: %s", p->dir, strerror(errno));
        return PL_ERR;
    }

    while ((de = readdir(d)) != NULL) {
        len = strlen(de->d_name);

        if (clean && strncmp(de->d_name, ".snap-", 6) == 0 && len > 10
            && strcmp(de->d_name + len - 4, ".tmp") == 0)
        {
            if (unlinkat(p->dirfd, de->d_name, 0) == 0) {
                pl_log(PL_LOG_INFO, "removed stale temp file %s/%s",
                       p->dir, de->d_name);
            }
            continue;
        }

        if (pl_publish_parse(de->d_name, &gen) != PL_OK) {
            continue;
        }

        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            tmp = realloc(g, cap * sizeof(uint64_t));
            if (tmp == NULL) {
                pl_error(p, PL_ENOMEM, "scanning %s: out of memory",
                         p->dir);
                free(g);
                closedir(d);
                return PL_ERR;
            }
            g = tmp;
        }

        g[(*n)++] = gen;
    }

    closedir(d);
    *gens = g;

    return PL_OK;
}


/* "snap-" 20 digits ".ucs", as UCO_SNAP_FILE_FMT writes it */

static int
pl_publish_parse(const char *name, uint64_t *gen)
{
    int       i;
    uint64_t  v;

    if (strlen(name) != 29 || strncmp(name, "snap-", 5) != 0
        || strcmp(name + 25, ".ucs") != 0)
    {
        return PL_ERR;
    }

    v = 0;

    for (i = 5; i < 25; i++) {
        if (name[i] < '0' || name[i] > '9') {
            return PL_ERR;
        }

        v = v * 10 + (uint64_t) (name[i] - '0');
    }

    *gen = v;

    return PL_OK;
}


/*
 * Workers keep the control file mapped, so a valid one is reused as it
 * is; only a missing or broken one is (re)created, under a new inode.
 */

static int
pl_publish_ctl_open(pl_publish_t *p)
{
    int          fd, rc, tries;
    void        *map;
    const char  *why;
    struct stat  st;

    for (tries = 0; tries < 2; tries++) {
        fd = openat(p->dirfd, UCO_SNAP_CTL_NAME, O_RDWR | O_CLOEXEC);

        if (fd == -1 && errno != ENOENT) {
            pl_error(p, PL_EIO, "open %s/%s: %s", p->dir, UCO_SNAP_CTL_NAME,
                     strerror(errno));
            return PL_ERR;
        }

        if (fd != -1) {
            if (fstat(fd, &st) == -1) {
                pl_error(p, PL_EIO, "fstat %s/%s: %s", p->dir,
                         UCO_SNAP_CTL_NAME, strerror(errno));
                close(fd);
                return PL_ERR;
            }

            why = "too short";

            if (st.st_size >= UCO_CTL_SIZE) {
                map = mmap(NULL, UCO_CTL_SIZE, PROT_READ | PROT_WRITE,
                           MAP_SHARED, fd, 0);
                if (map == MAP_FAILED) {
                    pl_error(p, PL_EIO, "mmap %s/%s: %s", p->dir,
                             UCO_SNAP_CTL_NAME, strerror(errno));
                    close(fd);
                    return PL_ERR;
                }

                rc = uco_ctl_check(map, UCO_CTL_SIZE);
                if (rc == UCO_SNAP_OK) {
                    close(fd);
                    p->ctl = map;
                    return PL_OK;
                }

                why = uco_snap_strerror(rc);
                munmap(map, UCO_CTL_SIZE);
            }

            close(fd);

            pl_log(PL_LOG_WARN, "control file %s/%s is invalid (%s), "
                   "replacing it", p->dir, UCO_SNAP_CTL_NAME, why);
        }

        if (tries == 0 && pl_publish_ctl_create(p) != PL_OK) {
            return PL_ERR;
        }
    }

    pl_error(p, PL_EIO, "%s/%s is still invalid after creating it", p->dir,
             UCO_SNAP_CTL_NAME);

    return PL_ERR;
}


static int
pl_publish_ctl_create(pl_publish_t *p)
{
    int       fd;
    size_t    off;
    ssize_t   n;
    union {
        uco_ctl_t  ctl;
        uint8_t    page[UCO_CTL_SIZE];
    } u;

    memset(&u, 0, sizeof(u));
    memcpy(u.ctl.magic, UCO_CTL_MAGIC, 8);
    u.ctl.version = 1;
    u.ctl.size = UCO_CTL_SIZE;

    (void) unlinkat(p->dirfd, PL_PUBLISH_CTL_TMP, 0);

    fd = openat(p->dirfd, PL_PUBLISH_CTL_TMP,
                O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, p->mode);
    if (fd == -1) {
        pl_error(p, PL_EIO, "create %s/%s: %s", p->dir, PL_PUBLISH_CTL_TMP,
                 strerror(errno));
        return PL_ERR;
    }

    if (fchmod(fd, p->mode) == -1) {
        goto failed;
    }

    for (off = 0; off < sizeof(u.page); off += (size_t) n) {
        n = write(fd, u.page + off, sizeof(u.page) - off);
        if (n <= 0) {
            if (n == 0) {
                errno = EIO;
            }
            goto failed;
        }
    }

    if (fsync(fd) == -1) {
        goto failed;
    }

    close(fd);
    fd = -1;

    if (renameat(p->dirfd, PL_PUBLISH_CTL_TMP, p->dirfd, UCO_SNAP_CTL_NAME)
        == -1
        || fsync(p->dirfd) == -1)
    {
        goto failed;
    }

    pl_log(PL_LOG_INFO, "created control file %s/%s", p->dir,
           UCO_SNAP_CTL_NAME);

    return PL_OK;

failed:

    pl_error(p, PL_EIO, "creating %s/%s: %s", p->dir, UCO_SNAP_CTL_NAME,
             strerror(errno));

    if (fd != -1) {
        close(fd);
    }

    (void) unlinkat(p->dirfd, PL_PUBLISH_CTL_TMP, 0);

    return PL_ERR;
}


/*
 * A zeroed, writable mapping of size bytes in a new temp file.  The
 * space is allocated now, so that a full tmpfs is ENOSPC here and not
 * a SIGBUS while the rows are written.
 */

int
pl_publish_begin(pl_publish_t *p, size_t size, void **buf)
{
    int  rc;

    pl_publish_abort(p);

    p->gen = p->next;
    p->size = size;
    snprintf(p->tmp, sizeof(p->tmp), PL_PUBLISH_TMP_FMT,
             (unsigned long long) p->gen);

    p->fd = openat(p->dirfd, p->tmp,
                   O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, p->mode);
    if (p->fd == -1) {
        pl_error(p, PL_EIO, "create %s/%s: %s", p->dir, p->tmp,
                 strerror(errno));
        p->tmp[0] = '\0';
        goto failed;
    }

    /* exactly the configured mode, whatever the umask */
    if (fchmod(p->fd, p->mode) == -1 || ftruncate(p->fd, size) == -1) {
        pl_error(p, PL_EIO, "%s/%s: %s", p->dir, p->tmp, strerror(errno));
        goto failed;
    }

    rc = posix_fallocate(p->fd, 0, size);
    if (rc != 0) {
        pl_error(p, PL_EIO, "allocating %zu bytes for %s/%s: %s", size,
                 p->dir, p->tmp, strerror(rc));
        goto failed;
    }

    p->buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, 0);
    if (p->buf == MAP_FAILED) {
        p->buf = NULL;
        pl_error(p, PL_EIO, "mmap %s/%s: %s", p->dir, p->tmp,
                 strerror(errno));
        goto failed;
    }

#ifdef MADV_HUGEPAGE
    /*
     * Page cache filled through a huge-page mapping is kept in 2 MiB
     * folios, which nginx workers can then map with 2 MiB pages; the
     * random identifier inserts of the build take fewer TLB misses too.
     * Advice only: failure changes nothing.
     */
    (void) madvise(p->buf, size, MADV_HUGEPAGE);
#endif

    *buf = p->buf;

    return PL_OK;

failed:

    pl_publish_abort(p);
    return PL_ERR;
}


/* drops the file being built, if any */

void
pl_publish_abort(pl_publish_t *p)
{
    if (p->buf != NULL) {
        munmap(p->buf, p->size);
        p->buf = NULL;
    }

    if (p->fd != -1) {
        close(p->fd);
        p->fd = -1;
    }

    if (p->tmp[0] != '\0') {
        (void) unlinkat(p->dirfd, p->tmp, 0);
        p->tmp[0] = '\0';
    }
}


int
pl_publish_commit(pl_publish_t *p)
{
    char         name[PL_PUBLISH_NAME_LEN];
    struct stat  st;

    if (pl_publish_sync(p) != PL_OK) {
        goto failed;
    }

    snprintf(name, sizeof(name), UCO_SNAP_FILE_FMT,
             (unsigned long long) p->gen);

    /* the lock keeps other loaders out; this catches a stray file */
    if (fstatat(p->dirfd, name, &st, 0) == 0) {
        pl_error(p, PL_EIO, "%s/%s exists already, not replacing it",
                 p->dir, name);
        goto failed;
    }

    if (renameat(p->dirfd, p->tmp, p->dirfd, name) == -1) {
        pl_error(p, PL_EIO, "rename %s/%s: %s", p->dir, p->tmp,
                 strerror(errno));
        goto failed;
    }

    p->tmp[0] = '\0';
    p->next = p->gen + 1;

    if (fsync(p->dirfd) == -1) {
        pl_error(p, PL_EIO, "fsync %s: %s", p->dir, strerror(errno));
        return PL_ERR;
    }

    pl_publish_set(p, p->gen);
    pl_publish_retain(p);

    return PL_OK;

failed:

    pl_publish_abort(p);
    return PL_ERR;
}


/*
 * The file being built made durable and verified under its temp name:
 * the first half of a commit, and all a background build does
 * (pl_rebase.c), whose parent renames it later (pl_publish_adopt()).
 */

int
pl_publish_sync(pl_publish_t *p)
{
    if (msync(p->buf, p->size, MS_SYNC) == -1) {
        pl_error(p, PL_EIO, "msync %s/%s: %s", p->dir, p->tmp,
                 strerror(errno));
        goto failed;
    }

    munmap(p->buf, p->size);
    p->buf = NULL;

    if (fsync(p->fd) == -1) {
        pl_error(p, PL_EIO, "fsync %s/%s: %s", p->dir, p->tmp,
                 strerror(errno));
        goto failed;
    }

    close(p->fd);
    p->fd = -1;

    /* read back what readers will see, not what we think we wrote */
    return pl_publish_map(p, p->tmp, p->gen, p->size);

failed:

    return PL_ERR;
}


/* a verified temp file of generation gen renamed into place, unpublished */

int
pl_publish_adopt(pl_publish_t *p, uint64_t gen)
{
    char         tmp[PL_PUBLISH_NAME_LEN], name[PL_PUBLISH_NAME_LEN];
    struct stat  st;

    snprintf(tmp, sizeof(tmp), PL_PUBLISH_TMP_FMT, (unsigned long long) gen);
    snprintf(name, sizeof(name), UCO_SNAP_FILE_FMT, (unsigned long long) gen);

    if (fstatat(p->dirfd, name, &st, 0) == 0) {
        pl_error(p, PL_EIO, "%s/%s exists already, not replacing it",
                 p->dir, name);
        return PL_ERR;
    }

    if (renameat(p->dirfd, tmp, p->dirfd, name) == -1
        || fsync(p->dirfd) == -1)
    {
        pl_error(p, PL_EIO, "rename %s/%s: %s", p->dir, tmp,
                 strerror(errno));
        return PL_ERR;
    }

    return PL_OK;
}


void
pl_publish_unlink_tmp(pl_publish_t *p, uint64_t gen)
{
    char  tmp[PL_PUBLISH_NAME_LEN];

    snprintf(tmp, sizeof(tmp), PL_PUBLISH_TMP_FMT, (unsigned long long) gen);
    (void) unlinkat(p->dirfd, tmp, 0);
}


/* map a file read-only and run the full check: header, checksum, records */

static int
pl_publish_map(pl_publish_t *p, const char *name, uint64_t gen, size_t size)
{
    int          fd, rc;
    void        *map;
    uco_snap_t   s;
    struct stat  st;

    map = MAP_FAILED;
    st.st_size = 0;

    fd = openat(p->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd == -1 || fstat(fd, &st) == -1) {
        pl_error(p, PL_EIO, "open %s/%s: %s", p->dir, name, strerror(errno));
        goto failed;
    }

    if (st.st_size == 0 || (size != 0 && (size_t) st.st_size != size)) {
        pl_error(p, PL_EINVALID, "%s/%s: size %lld, expected %zu", p->dir,
                 name, (long long) st.st_size, size);
        goto failed;
    }

    map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        pl_error(p, PL_EIO, "mmap %s/%s: %s", p->dir, name, strerror(errno));
        goto failed;
    }

    rc = uco_snap_check(&s, map, (size_t) st.st_size);
    if (rc != UCO_SNAP_OK) {
        pl_error(p, PL_EINVALID, "%s/%s failed verification: %s", p->dir,
                 name, uco_snap_strerror(rc));
        goto failed;
    }

    if (s.header->generation != gen) {
        pl_error(p, PL_EINVALID, "%s/%s holds generation %llu, not %llu",
                 p->dir, name, (unsigned long long) s.header->generation,
                 (unsigned long long) gen);
        goto failed;
    }

    if (s.delta != NULL && pl_publish_base_of(p, &s) != PL_OK) {
        goto failed;
    }

    munmap(map, (size_t) st.st_size);
    close(fd);

    return PL_OK;

failed:

    if (map != MAP_FAILED) {
        munmap(map, (size_t) st.st_size);
    }

    if (fd != -1) {
        close(fd);
    }

    return PL_ERR;
}


/*
 * A delta is only as good as its base: it must be there and be the file
 * the delta names (generation, size, checksum, category sets).  The
 * base was verified in full when it was published; this is O(1) plus
 * its category sets.
 */

static int
pl_publish_base_of(pl_publish_t *p, const uco_snap_t *s)
{
    int          fd, rc;
    char         name[PL_PUBLISH_NAME_LEN];
    void        *map;
    uco_snap_t   b, d;
    struct stat  st;

    snprintf(name, sizeof(name), UCO_SNAP_FILE_FMT,
             (unsigned long long) s->delta->base_generation);

    fd = openat(p->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd == -1 || fstat(fd, &st) == -1 || st.st_size == 0) {
        pl_error(p, PL_EINVALID, "generation %llu is a delta over "
                 "generation %llu, whose file cannot be read",
                 (unsigned long long) s->header->generation,
                 (unsigned long long) s->delta->base_generation);
        if (fd != -1) {
            close(fd);
        }
        return PL_ERR;
    }

    map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);

    if (map == MAP_FAILED) {
        pl_error(p, PL_EIO, "mmap %s/%s: %s", p->dir, name, strerror(errno));
        return PL_ERR;
    }

    d = *s;
    rc = uco_snap_open(&b, map, (size_t) st.st_size);

    if (rc == UCO_SNAP_OK) {
        rc = uco_snap_bind(&d, &b);
    }

    munmap(map, (size_t) st.st_size);

    if (rc != UCO_SNAP_OK) {
        /* no directory: the reason must fit the error string */
        pl_error(p, PL_EINVALID, "generation %llu: base generation %llu: "
                 "%s", (unsigned long long) s->header->generation,
                 (unsigned long long) s->delta->base_generation,
                 uco_snap_strerror(rc == UCO_SNAP_EINVAL ? UCO_SNAP_EBASE
                                                         : rc));
        return PL_ERR;
    }

    return PL_OK;
}


/* the release store pairs with the workers' acquire load */

static void
pl_publish_set(pl_publish_t *p, uint64_t gen)
{
    __atomic_store_n(&p->ctl->generation, gen, __ATOMIC_RELEASE);
    pl_publish_touch(p);
}


/* the published snapshot was found in sync with the database now */

void
pl_publish_touch(pl_publish_t *p)
{
    __atomic_store_n(&p->ctl->synced_at, (uint64_t) time(NULL),
                     __ATOMIC_RELEASE);
}


/*
 * ... in sync as of an earlier time (a lagging replica's data).  Never
 * backwards: what was confirmed stays confirmed.
 */

void
pl_publish_touch_at(pl_publish_t *p, uint64_t at)
{
    if (at > p->ctl->synced_at) {
        __atomic_store_n(&p->ctl->synced_at, at, __ATOMIC_RELEASE);
    }
}


/*
 * Keep the newest p->keep files and, whatever their age, the live one
 * and the base of every delta kept (a rollback to a delta needs it).
 */

static void
pl_publish_retain(pl_publish_t *p)
{
    char       name[PL_PUBLISH_NAME_LEN];
    size_t     i, j, n, nbases;
    uint64_t  *gens, live, bases[PL_PUBLISH_MAX_BASES];

    if (pl_publish_scan(p, 0, &gens, &n) != PL_OK) {
        pl_log(PL_LOG_WARN, "retention: %s", p->errstr);
        return;
    }

    qsort(gens, n, sizeof(uint64_t), pl_publish_cmp);
    live = __atomic_load_n(&p->ctl->generation, __ATOMIC_ACQUIRE);
    nbases = 0;

    for (i = 0; i < n; i++) {
        if ((i < p->keep || gens[i] == live)
            && nbases < PL_PUBLISH_MAX_BASES)
        {
            bases[nbases] = pl_publish_base_gen(p, gens[i]);
            nbases += bases[nbases] != 0;
        }
    }

    for (i = p->keep; i < n; i++) {
        if (gens[i] == live) {
            continue;
        }

        for (j = 0; j < nbases && bases[j] != gens[i]; j++) {
            /* void */
        }

        if (j < nbases) {
            continue;
        }

        snprintf(name, sizeof(name), UCO_SNAP_FILE_FMT,
                 (unsigned long long) gens[i]);

        if (unlinkat(p->dirfd, name, 0) == -1) {
            pl_log(PL_LOG_WARN, "removing %s/%s: %s", p->dir, name,
                   strerror(errno));

        } else {
            pl_log(PL_LOG_DEBUG, "removed generation %llu",
                   (unsigned long long) gens[i]);
        }
    }

    free(gens);
}


/* the base a delta names, 0 for a base or an unreadable file */

static uint64_t
pl_publish_base_gen(pl_publish_t *p, uint64_t gen)
{
    int                fd;
    char               name[PL_PUBLISH_NAME_LEN];
    ssize_t            n;
    uco_snap_delta_t   d;
    uco_snap_header_t  h;

    snprintf(name, sizeof(name), UCO_SNAP_FILE_FMT, (unsigned long long) gen);

    fd = openat(p->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return 0;
    }

    n = pread(fd, &h, sizeof(h), 0);

    if (n == (ssize_t) sizeof(h)
        && memcmp(h.magic, UCO_SNAP_DELTA_MAGIC, 8) == 0
        && pread(fd, &d, sizeof(d), sizeof(h)) == (ssize_t) sizeof(d))
    {
        close(fd);
        return d.base_generation;
    }

    close(fd);

    return 0;
}


/* newest first */

static int
pl_publish_cmp(const void *a, const void *b)
{
    uint64_t  x, y;

    x = *(const uint64_t *) a;
    y = *(const uint64_t *) b;

    return x < y ? 1 : (x > y ? -1 : 0);
}


/*
 * After generation gen was published: its place in the change log.  A
 * snapshot text too long for the page leaves no mark (a restart then
 * builds in full); so does a crash before this, as the generation word
 * and the mark's generation then differ.
 */

void
pl_publish_mark(pl_publish_t *p, uint64_t gen, uint64_t watermark,
    uint64_t floor, uint64_t seen, uint64_t xmax, const char *snapshot)
{
    size_t              len;
    pl_publish_mark_t  *mk;

    mk = (pl_publish_mark_t *) ((uint8_t *) p->ctl + PL_PUBLISH_MARK_OFFSET);
    len = snapshot != NULL ? strlen(snapshot) : sizeof(mk->snapshot);

    mk->generation = 0;
    __atomic_thread_fence(__ATOMIC_RELEASE);

    if (len >= sizeof(mk->snapshot)) {
        return;
    }

    mk->watermark = watermark;
    mk->floor = floor;
    mk->seen = seen;
    mk->xmax = xmax;
    mk->snapshot_len = (uint32_t) len;
    mk->pad = 0;
    memcpy(mk->snapshot, snapshot, len + 1);

    __atomic_store_n(&mk->generation, gen, __ATOMIC_RELEASE);
}


/* the mark of the published generation, if there is one */

int
pl_publish_read_mark(pl_publish_t *p, pl_publish_mark_t *mark)
{
    uint64_t                  gen;
    const pl_publish_mark_t  *mk;

    mk = (const pl_publish_mark_t *)
             ((const uint8_t *) p->ctl + PL_PUBLISH_MARK_OFFSET);
    gen = __atomic_load_n(&p->ctl->generation, __ATOMIC_ACQUIRE);

    memcpy(mark, mk, sizeof(pl_publish_mark_t));

    if (gen == 0 || mark->generation != gen
        || mark->snapshot_len >= sizeof(mark->snapshot)
        || mark->snapshot[mark->snapshot_len] != '\0'
        || strlen(mark->snapshot) != mark->snapshot_len
        || mark->floor > mark->watermark)
    {
        return PL_ERR;
    }

    return PL_OK;
}


int
pl_publish_rollback(pl_publish_t *p, uint64_t gen)
{
    char  name[PL_PUBLISH_NAME_LEN];

    snprintf(name, sizeof(name), UCO_SNAP_FILE_FMT, (unsigned long long) gen);

    if (pl_publish_map(p, name, gen, 0) != PL_OK) {
        return PL_ERR;
    }

    pl_publish_set(p, gen);

    return PL_OK;
}
