/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The loader's metrics go to a file in node_exporter's textfile format
 * (--metrics-file), not to a port of its own: the loader then listens
 * on nothing, and node_exporter, already on every node, serves them.
 * The file is written to a temp file beside it and renamed, so a scrape
 * never reads half of it; after any change and at least every
 * PL_METRICS_HEARTBEAT seconds, so node_textfile_mtime_seconds tells
 * whether the loader is alive.  Every function is a no-op on NULL.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#include "pl_config.h"
#include "pl_metrics.h"


static void pl_metrics_loader(FILE *f, void *data);


static const char  *pl_metrics_results[PL_METRICS_RESULTS] = {
    "published", "refused", "failed"
};


pl_metrics_t *
pl_metrics_new(const char *path)
{
    size_t         len;
    pl_metrics_t  *mx;

    mx = calloc(1, sizeof(pl_metrics_t));
    if (mx == NULL) {
        return NULL;
    }

    len = strlen(path);
    mx->path = strdup(path);
    mx->tmp = malloc(len + sizeof(".tmp"));

    if (mx->path == NULL || mx->tmp == NULL) {
        pl_metrics_free(mx);
        return NULL;
    }

    /* node_exporter reads only *.prom: the temp name is never scraped */
    memcpy(mx->tmp, path, len);
    memcpy(mx->tmp + len, ".tmp", sizeof(".tmp"));

    mx->started = time(NULL);
    mx->dirty = 1;

    return mx;
}


void
pl_metrics_free(pl_metrics_t *mx)
{
    if (mx == NULL) {
        return;
    }

    free(mx->path);
    free(mx->tmp);
    free(mx);
}


void
pl_metrics_build(pl_metrics_t *mx, pl_metrics_result_e result, long ms)
{
    if (mx == NULL || result >= PL_METRICS_RESULTS) {
        return;
    }

    mx->builds[result]++;
    mx->build_ms = ms;
    mx->dirty = 1;
}


/* after pl_metrics_published() for a delta: what it lies over */

void
pl_metrics_delta(pl_metrics_t *mx, uint64_t base, uint64_t cards)
{
    if (mx == NULL) {
        return;
    }

    mx->base_generation = base;
    mx->delta_cards = cards;
    mx->dirty = 1;
}


void
pl_metrics_published(pl_metrics_t *mx, uint64_t generation,
    const uco_snap_counts_t *counts, size_t bytes, uint64_t watermark)
{
    if (mx == NULL) {
        return;
    }

    mx->generation = generation;
    mx->base_generation = generation;
    mx->delta_cards = 0;
    mx->counts = *counts;
    mx->bytes = bytes;
    mx->watermark = watermark;
    mx->last_build = time(NULL);
    mx->last_sync = mx->last_build;
    mx->dirty = 1;
}


void
pl_metrics_synced(pl_metrics_t *mx)
{
    if (mx != NULL) {
        mx->last_sync = time(NULL);
    }
}


/* errors of the database; the others show as failed builds */

void
pl_metrics_error(pl_metrics_t *mx, int err)
{
    if (mx != NULL && (err == PL_ECONN || err == PL_EQUERY)) {
        mx->db_errors++;
        mx->dirty = 1;
    }
}


int
pl_metrics_flush(pl_metrics_t *mx, int force)
{
    return pl_metrics_write(mx, force, pl_metrics_loader, mx);
}


/*
 * The file as fill writes it, when forced, changed (dirty) or due for
 * the heartbeat; to FILE.tmp, renamed over FILE.
 */

int
pl_metrics_write(pl_metrics_t *mx, int force, pl_metrics_fill_pt fill,
    void *data)
{
    FILE    *f;
    time_t   now;

    if (mx == NULL) {
        return PL_OK;
    }

    now = time(NULL);

    if (!force && !mx->dirty && now - mx->written < PL_METRICS_HEARTBEAT) {
        return PL_OK;
    }

    f = fopen(mx->tmp, "we");
    if (f == NULL) {
        goto failed;
    }

    fill(f, data);

    if (ferror(f) | fclose(f)) {
        f = NULL;
        goto failed;
    }

    if (rename(mx->tmp, mx->path) == -1) {
        f = NULL;
        goto failed;
    }

    mx->written = now;
    mx->dirty = 0;

    return PL_OK;

failed:

    pl_error(mx, PL_EIO, "metrics file %s: %s", mx->path, strerror(errno));

    if (f != NULL) {
        fclose(f);
    }

    (void) unlink(mx->tmp);

    /* not again before the next heartbeat: one log line per interval */
    mx->written = now;
    mx->dirty = 0;

    return PL_ERR;
}


static void
pl_metrics_loader(FILE *f, void *data)
{
    int            i;
    pl_metrics_t  *mx;

    mx = data;

    pl_metrics_head(f, "uco_loader_info", "gauge",
                    "The loader's version, as a label.");
    fprintf(f, "uco_loader_info{version=\"" PL_VERSION "\"} 1\n");

    pl_metrics_head(f, "uco_loader_start_time_seconds", "gauge",
                    "When the loader started (Unix time).");
    fprintf(f, "uco_loader_start_time_seconds %lld\n",
            (long long) mx->started);

    pl_metrics_head(f, "uco_loader_builds_total", "counter",
                    "Snapshot builds since start, by result.");

    for (i = 0; i < PL_METRICS_RESULTS; i++) {
        fprintf(f, "uco_loader_builds_total{result=\"%s\"} %llu\n",
                pl_metrics_results[i],
                (unsigned long long) mx->builds[i]);
    }

    pl_metrics_head(f, "uco_loader_build_duration_seconds", "gauge",
                    "Duration of the last build attempt.");
    fprintf(f, "uco_loader_build_duration_seconds %ld.%03ld\n",
            mx->build_ms / 1000, mx->build_ms % 1000);

    pl_metrics_head(f, "uco_loader_db_errors_total", "counter",
                    "Database connection and query failures since start.");
    fprintf(f, "uco_loader_db_errors_total %llu\n",
            (unsigned long long) mx->db_errors);

    pl_metrics_head(f, "uco_loader_last_build_timestamp_seconds", "gauge",
                    "When the loader last published (Unix time, 0: not "
                    "since start).");
    fprintf(f, "uco_loader_last_build_timestamp_seconds %lld\n",
            (long long) mx->last_build);

    pl_metrics_head(f, "uco_loader_last_sync_timestamp_seconds", "gauge",
                    "When the loader last confirmed the published snapshot "
                    "matches the database (Unix time).");
    fprintf(f, "uco_loader_last_sync_timestamp_seconds %lld\n",
            (long long) mx->last_sync);

    pl_metrics_head(f, "uco_loader_generation", "gauge",
                    "Generation the loader last published.");
    fprintf(f, "uco_loader_generation %llu\n",
            (unsigned long long) mx->generation);

    pl_metrics_head(f, "uco_loader_base_generation", "gauge",
                    "The base the last publication is a delta over (its "
                    "own generation for a full build).");
    fprintf(f, "uco_loader_base_generation %llu\n",
            (unsigned long long) mx->base_generation);

    pl_metrics_head(f, "uco_loader_delta_cards", "gauge",
                    "Cards in the last published delta (0 for a base).");
    fprintf(f, "uco_loader_delta_cards %llu\n",
            (unsigned long long) mx->delta_cards);

    pl_metrics_head(f, "uco_loader_watermark", "gauge",
                    "Change-log id the last published snapshot includes.");
    fprintf(f, "uco_loader_watermark %llu\n",
            (unsigned long long) mx->watermark);

    pl_metrics_head(f, "uco_loader_snapshot_bytes", "gauge",
                    "Size of the last published snapshot file.");
    fprintf(f, "uco_loader_snapshot_bytes %zu\n", mx->bytes);

    pl_metrics_head(f, "uco_loader_rows", "gauge",
                    "Rows in the last published snapshot, by table.");
    fprintf(f, "uco_loader_rows{table=\"cards\"} %llu\n"
            "uco_loader_rows{table=\"identifiers\"} %llu\n"
            "uco_loader_rows{table=\"partners\"} %llu\n"
            "uco_loader_rows{table=\"programmes\"} %llu\n"
            "uco_loader_rows{table=\"terminals\"} %llu\n",
            (unsigned long long) mx->counts.cards,
            (unsigned long long) mx->counts.idents,
            (unsigned long long) mx->counts.partners,
            (unsigned long long) mx->counts.programmes,
            (unsigned long long) mx->counts.terminals);
}


void
pl_metrics_head(FILE *f, const char *name, const char *type,
    const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}
