/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The journal spool: a local append-only file of records that one sink
 * (Redis or PostgreSQL) could not take, replayed in order when it is
 * back.  Frames carry a CRC-32C; docs/journal.md.
 */

#ifndef PL_SPOOL_H
#define PL_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pl_log.h"


#define PL_SPOOL_FRAME_HEADER  12


typedef struct {
    int        err;
    char       errstr[PL_ERRSTR_LEN];
    char      *path;
    char      *pos_path;
    int        fd;
    uint64_t   max;         /* bytes */
    uint64_t   size;        /* bytes in the file */
    uint64_t   read_off;    /* replay position: bytes already delivered */
    uint64_t   records;     /* records after read_off */
} pl_spool_t;


pl_spool_t *pl_spool_new(const char *dir, const char *name, uint64_t max);
void pl_spool_free(pl_spool_t *sp);
int pl_spool_open(pl_spool_t *sp);
/* append n records and fdatasync; PL_ERR with PL_EDATA when full */
int pl_spool_append(pl_spool_t *sp, const uint8_t *const *recs,
    const uint32_t *lens, size_t n);
/* how many more records of at most len bytes fit */
size_t pl_spool_room(pl_spool_t *sp, size_t len);
/* read up to max records from the replay position into buf */
int pl_spool_read(pl_spool_t *sp, uint8_t *buf, size_t size,
    const uint8_t **recs, uint32_t *lens, size_t max, size_t *n,
    uint64_t *next);
/* the records up to next are delivered; empties the file at the end */
int pl_spool_consume(pl_spool_t *sp, uint64_t next, size_t n);
uint64_t pl_spool_pending(pl_spool_t *sp);

uint32_t pl_crc32c(const uint8_t *p, size_t len);

#endif /* PL_SPOOL_H */
