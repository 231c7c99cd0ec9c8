/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Publishing in the snapshot directory: a temp file that is filled,
 * synced, verified and renamed; the control file whose generation word
 * tells every nginx worker which file to map; retention and rollback.
 */

#ifndef PL_PUBLISH_H
#define PL_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "uco_snap.h"
#include "pl_log.h"


/*
 * The loader's own part of the control file, at PL_PUBLISH_MARK_OFFSET
 * (nginx reads the first 32 bytes only): where in the change log the
 * generation it names stands, so that a restarted loader can go on from
 * there instead of building in full.
 */
#define PL_PUBLISH_MARK_OFFSET  64

typedef struct {
    uint64_t  generation;       /* the generation this mark is of */
    uint64_t  watermark;
    uint64_t  floor;
    uint64_t  seen;
    uint64_t  xmax;
    uint32_t  snapshot_len;
    uint32_t  pad;
    char      snapshot[UCO_CTL_SIZE - PL_PUBLISH_MARK_OFFSET - 48];
} pl_publish_mark_t;

typedef struct {
    int          err;
    char         errstr[PL_ERRSTR_LEN];
    char        *dir;
    int          dirfd;         /* held open and flock()ed */
    unsigned     mode;
    unsigned     keep;
    uco_ctl_t   *ctl;           /* mapped shared, never recreated */
    uint64_t     next;          /* the generation of the next build */

    /* the file being built */
    int          fd;
    void        *buf;
    size_t       size;
    uint64_t     gen;
    char         tmp[64];       /* its name, "" when there is none */
} pl_publish_t;


pl_publish_t *pl_publish_new(const char *dir, unsigned mode, unsigned keep);
void pl_publish_free(pl_publish_t *p);
int pl_publish_open(pl_publish_t *p);
int pl_publish_begin(pl_publish_t *p, size_t size, void **buf);
int pl_publish_commit(pl_publish_t *p);
int pl_publish_sync(pl_publish_t *p);
int pl_publish_adopt(pl_publish_t *p, uint64_t gen);
void pl_publish_unlink_tmp(pl_publish_t *p, uint64_t gen);
void pl_publish_abort(pl_publish_t *p);
void pl_publish_touch(pl_publish_t *p);
void pl_publish_touch_at(pl_publish_t *p, uint64_t at);
int pl_publish_rollback(pl_publish_t *p, uint64_t gen);
void pl_publish_mark(pl_publish_t *p, uint64_t gen, uint64_t watermark,
    uint64_t floor, uint64_t seen, uint64_t xmax, const char *snapshot);
int pl_publish_read_mark(pl_publish_t *p, pl_publish_mark_t *mark);

#endif /* PL_PUBLISH_H */
