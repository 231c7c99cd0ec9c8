/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The loader's metrics, as a Prometheus textfile for node_exporter.
 */

#ifndef PL_METRICS_H
#define PL_METRICS_H

#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "uco_snap.h"
#include "pl_log.h"


/* the file is rewritten at least this often, as a heartbeat */
#define PL_METRICS_HEARTBEAT    15      /* seconds */

/* writes the metrics into the file being written */
typedef void (*pl_metrics_fill_pt)(FILE *f, void *data);

typedef enum {
    PL_METRICS_PUBLISHED = 0,
    PL_METRICS_REFUSED,         /* the data cannot make a snapshot */
    PL_METRICS_FAILED,          /* the database or the disk failed */
    PL_METRICS_RESULTS
} pl_metrics_result_e;

typedef struct {
    int                 err;
    char                errstr[PL_ERRSTR_LEN];
    char               *path;
    char               *tmp;
    int                 dirty;
    time_t              started;
    time_t              written;
    time_t              last_build;     /* last published */
    time_t              last_sync;      /* last confirmed in sync */
    uint64_t            builds[PL_METRICS_RESULTS];
    uint64_t            db_errors;
    long                build_ms;       /* of the last build attempt */
    uco_snap_counts_t   counts;         /* of the last published */
    uint64_t            generation;
    uint64_t            base_generation;    /* = generation for a base */
    uint64_t            delta_cards;        /* the delta's overlay, or 0 */
    uint64_t            watermark;
    size_t              bytes;
} pl_metrics_t;


pl_metrics_t *pl_metrics_new(const char *path);
void pl_metrics_free(pl_metrics_t *mx);
void pl_metrics_build(pl_metrics_t *mx, pl_metrics_result_e result,
    long ms);
void pl_metrics_published(pl_metrics_t *mx, uint64_t generation,
    const uco_snap_counts_t *counts, size_t bytes, uint64_t watermark);
void pl_metrics_synced(pl_metrics_t *mx);
void pl_metrics_delta(pl_metrics_t *mx, uint64_t base, uint64_t cards);
void pl_metrics_error(pl_metrics_t *mx, int err);
int pl_metrics_flush(pl_metrics_t *mx, int force);

/* another process's metrics (the journal's): the file only, its fill */
int pl_metrics_write(pl_metrics_t *mx, int force, pl_metrics_fill_pt fill,
    void *data);
void pl_metrics_head(FILE *f, const char *name, const char *type,
    const char *help);

#endif /* PL_METRICS_H */
