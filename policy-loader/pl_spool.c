/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The journal spool.  A frame is a 12-byte header (magic, payload
 * length, CRC-32C of the payload, host order: the file never leaves the
 * machine) and one msgpack record.  Appends are written in one write()
 * and synced before the ring slots are released; a frame torn by a crash
 * is cut at the next open (its records are still in the ring).  The
 * replay position is kept in a side file, so that a restart does not
 * replay what was delivered; losing it only replays, never loses.  When
 * every record is delivered the file is emptied.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include "uco_journal.h"
#include "pl_spool.h"


#define PL_SPOOL_MAGIC     0x50534355u     /* "UCSP" */
#define PL_SPOOL_FRAME     (PL_SPOOL_FRAME_HEADER + UCO_JOURNAL_RECORD_MAX)
#define PL_SPOOL_CHUNK     (1024 * 1024)
#define PL_SPOOL_POS_LEN   21


static int pl_spool_scan(pl_spool_t *sp, uint64_t pos);
static int pl_spool_frame(const uint8_t *p, size_t avail, uint32_t *len);
static uint64_t pl_spool_read_pos(pl_spool_t *sp);
static int pl_spool_write_pos(pl_spool_t *sp);
static char *pl_spool_path(const char *dir, const char *name,
    const char *suffix);


static uint32_t  pl_crc32c_table[256];


uint32_t
pl_crc32c(const uint8_t *p, size_t len)
{
    int       k;
    uint32_t  c, i;

    if (pl_crc32c_table[1] == 0) {
        for (i = 0; i < 256; i++) {
            c = i;

            for (k = 0; k < 8; k++) {
                c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
            }

            pl_crc32c_table[i] = c;
        }
    }

    c = 0xffffffffu;

    while (len--) {
        c = pl_crc32c_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    }

    return c ^ 0xffffffffu;
}


static char *
pl_spool_path(const char *dir, const char *name, const char *suffix)
{
    char    *p;
    size_t   len;

    len = strlen(dir) + strlen(name) + strlen(suffix) + 2;

    p = malloc(len);
    if (p != NULL) {
        snprintf(p, len, "%s/%s%s", dir, name, suffix);
    }

    return p;
}


pl_spool_t *
pl_spool_new(const char *dir, const char *name, uint64_t max)
{
    pl_spool_t  *sp;

    sp = calloc(1, sizeof(pl_spool_t));
    if (sp == NULL) {
        return NULL;
    }

    sp->fd = -1;
    sp->max = max;
    sp->path = pl_spool_path(dir, name, ".spool");
    sp->pos_path = pl_spool_path(dir, name, ".spool-pos");

    if (sp->path == NULL || sp->pos_path == NULL) {
        pl_spool_free(sp);
        return NULL;
    }

    return sp;
}


void
pl_spool_free(pl_spool_t *sp)
{
    if (sp == NULL) {
        return;
    }

    if (sp->fd != -1) {
        (void) close(sp->fd);
    }

    free(sp->path);
    free(sp->pos_path);
    free(sp);
}


int
pl_spool_open(pl_spool_t *sp)
{
    sp->fd = open(sp->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (sp->fd == -1) {
        pl_error(sp, PL_EIO, "spool %s: %s", sp->path, strerror(errno));
        return PL_ERR;
    }

    return pl_spool_scan(sp, pl_spool_read_pos(sp));
}


/* 1: a whole valid frame, 0: incomplete, -1: not a frame */

static int
pl_spool_frame(const uint8_t *p, size_t avail, uint32_t *len)
{
    uint32_t  h[3];

    if (avail < PL_SPOOL_FRAME_HEADER) {
        return 0;
    }

    memcpy(h, p, sizeof(h));

    if (h[0] != PL_SPOOL_MAGIC || h[1] == 0
        || h[1] > UCO_JOURNAL_RECORD_MAX)
    {
        return -1;
    }

    if (avail - PL_SPOOL_FRAME_HEADER < h[1]) {
        return 0;
    }

    if (pl_crc32c(p + PL_SPOOL_FRAME_HEADER, h[1]) != h[2]) {
        return -1;
    }

    *len = h[1];

    return 1;
}


/*
 * Every frame is checked; the file is cut after the last good one.  A
 * replay position that is not a frame boundary means the side file is
 * stale: replay from the start.
 */

static int
pl_spool_scan(pl_spool_t *sp, uint64_t pos)
{
    int        rc, pos_ok;
    size_t     have, off;
    ssize_t    n;
    uint8_t   *buf;
    uint32_t   len;
    uint64_t   at, records, after;
    struct stat  st;

    if (fstat(sp->fd, &st) == -1) {
        pl_error(sp, PL_EIO, "spool %s: %s", sp->path, strerror(errno));
        return PL_ERR;
    }

    buf = malloc(PL_SPOOL_CHUNK);
    if (buf == NULL) {
        pl_error(sp, PL_ENOMEM, "spool: out of memory");
        return PL_ERR;
    }

    at = 0;
    have = 0;
    records = 0;
    after = 0;
    pos_ok = (pos == 0);
    rc = 0;

    for ( ;; ) {
        n = pread(sp->fd, buf + have, PL_SPOOL_CHUNK - have, at + have);
        if (n == -1) {
            pl_error(sp, PL_EIO, "spool %s: %s", sp->path, strerror(errno));
            free(buf);
            return PL_ERR;
        }

        have += (size_t) n;
        off = 0;

        while ((rc = pl_spool_frame(buf + off, have - off, &len)) == 1) {
            if (at + off == pos) {
                pos_ok = 1;
            }

            records++;
            after += (at + off >= pos);
            off += PL_SPOOL_FRAME_HEADER + len;
        }

        at += off;
        have -= off;
        memmove(buf, buf + off, have);

        if (rc == -1 || n == 0) {
            break;
        }
    }

    free(buf);

    if (at != (uint64_t) st.st_size) {
        /* more than one frame's worth is damage, not a torn append */
        pl_log((uint64_t) st.st_size - at > PL_SPOOL_FRAME ? PL_LOG_ERROR
                                                           : PL_LOG_WARN,
               "spool %s: %llu bytes after the last good frame (at %llu) "
               "cut; a write torn by a crash leaves its records in the "
               "ring", sp->path, (unsigned long long) (st.st_size - at),
               (unsigned long long) at);

        if (ftruncate(sp->fd, (off_t) at) == -1) {
            pl_error(sp, PL_EIO, "spool %s: %s", sp->path,
                     strerror(errno));
            return PL_ERR;
        }
    }

    if (at == pos) {
        pos_ok = 1;
    }

    sp->size = at;
    sp->read_off = pos_ok ? pos : 0;
    sp->records = pos_ok ? after : records;

    if (sp->read_off == sp->size && sp->size != 0) {
        return pl_spool_consume(sp, sp->size, 0);
    }

    return PL_OK;
}


static uint64_t
pl_spool_read_pos(pl_spool_t *sp)
{
    int                 fd;
    ssize_t             n;
    char               *end;
    unsigned long long  v;
    char                buf[PL_SPOOL_POS_LEN + 1];

    fd = open(sp->pos_path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return 0;
    }

    n = read(fd, buf, PL_SPOOL_POS_LEN);
    (void) close(fd);

    if (n != PL_SPOOL_POS_LEN) {
        return 0;
    }

    buf[n] = '\0';
    errno = 0;
    v = strtoull(buf, &end, 10);

    return (errno != 0 || *end != '\n') ? 0 : v;
}


/* a fixed-width overwrite: no sync, a lost update only replays */

static int
pl_spool_write_pos(pl_spool_t *sp)
{
    int   fd;
    char  buf[PL_SPOOL_POS_LEN + 1];

    fd = open(sp->pos_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd == -1) {
        pl_error(sp, PL_EIO, "spool %s: %s", sp->pos_path, strerror(errno));
        return PL_ERR;
    }

    snprintf(buf, sizeof(buf), "%020llu\n",
             (unsigned long long) sp->read_off);

    if (pwrite(fd, buf, PL_SPOOL_POS_LEN, 0) != PL_SPOOL_POS_LEN) {
        pl_error(sp, PL_EIO, "spool %s: %s", sp->pos_path, strerror(errno));
        (void) close(fd);
        return PL_ERR;
    }

    (void) close(fd);

    return PL_OK;
}


size_t
pl_spool_room(pl_spool_t *sp, size_t len)
{
    if (sp->size >= sp->max) {
        return 0;
    }

    return (size_t) ((sp->max - sp->size) / (PL_SPOOL_FRAME_HEADER + len));
}


int
pl_spool_append(pl_spool_t *sp, const uint8_t *const *recs,
    const uint32_t *lens, size_t n)
{
    size_t    i, total, off;
    ssize_t   w;
    uint8_t  *buf;
    uint32_t  h[3];

    total = 0;

    for (i = 0; i < n; i++) {
        total += PL_SPOOL_FRAME_HEADER + lens[i];
    }

    if (sp->size + total > sp->max) {
        pl_error(sp, PL_EDATA, "spool %s is full (%llu bytes)", sp->path,
                 (unsigned long long) sp->size);
        return PL_ERR;
    }

    buf = malloc(total);
    if (buf == NULL) {
        pl_error(sp, PL_ENOMEM, "spool: out of memory");
        return PL_ERR;
    }

    off = 0;

    for (i = 0; i < n; i++) {
        h[0] = PL_SPOOL_MAGIC;
        h[1] = lens[i];
        h[2] = pl_crc32c(recs[i], lens[i]);
        memcpy(buf + off, h, sizeof(h));
        memcpy(buf + off + sizeof(h), recs[i], lens[i]);
        off += PL_SPOOL_FRAME_HEADER + lens[i];
    }

    for (off = 0; off < total; off += (size_t) w) {
        w = write(sp->fd, buf + off, total - off);

        if (w == -1 && errno == EINTR) {
            w = 0;
            continue;
        }

        if (w == -1) {
            pl_error(sp, PL_EIO, "spool %s: %s", sp->path, strerror(errno));
            break;
        }
    }

    free(buf);

    if (off < total || fdatasync(sp->fd) == -1) {
        if (off >= total) {
            pl_error(sp, PL_EIO, "spool %s: fdatasync: %s", sp->path,
                     strerror(errno));
        }

        /*
         * Nothing half-written stays behind a frame; should the cut fail,
         * the frame's checksum still refuses the torn tail at replay.
         */
        if (ftruncate(sp->fd, (off_t) sp->size) == -1) {
            pl_log(PL_LOG_WARN, "spool %s: ftruncate: %s", sp->path,
                   strerror(errno));
        }

        return PL_ERR;
    }

    sp->size += total;
    sp->records += n;

    return PL_OK;
}


int
pl_spool_read(pl_spool_t *sp, uint8_t *buf, size_t size,
    const uint8_t **recs, uint32_t *lens, size_t max, size_t *n,
    uint64_t *next)
{
    size_t    off, have;
    ssize_t   r;
    uint32_t  len;

    *n = 0;
    *next = sp->read_off;

    r = pread(sp->fd, buf, size, (off_t) sp->read_off);
    if (r == -1) {
        pl_error(sp, PL_EIO, "spool %s: %s", sp->path, strerror(errno));
        return PL_ERR;
    }

    have = (size_t) r;
    off = 0;

    while (*n < max && pl_spool_frame(buf + off, have - off, &len) == 1) {
        recs[*n] = buf + off + PL_SPOOL_FRAME_HEADER;
        lens[*n] = len;
        (*n)++;
        off += PL_SPOOL_FRAME_HEADER + len;
    }

    if (*n == 0 && have != 0) {
        pl_error(sp, PL_EINVALID, "spool %s: bad frame at %llu", sp->path,
                 (unsigned long long) sp->read_off);
        return PL_ERR;
    }

    *next = sp->read_off + off;

    return PL_OK;
}


int
pl_spool_consume(pl_spool_t *sp, uint64_t next, size_t n)
{
    sp->read_off = next;
    sp->records = sp->records > n ? sp->records - n : 0;

    if (sp->read_off >= sp->size) {
        if (ftruncate(sp->fd, 0) == -1) {
            pl_error(sp, PL_EIO, "spool %s: %s", sp->path, strerror(errno));
            return PL_ERR;
        }

        sp->size = 0;
        sp->read_off = 0;
        sp->records = 0;
    }

    return pl_spool_write_pos(sp);
}


uint64_t
pl_spool_pending(pl_spool_t *sp)
{
    return sp->size - sp->read_off;
}
