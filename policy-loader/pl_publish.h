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

#endif /* PL_PUBLISH_H */
