/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * --inspect prints a snapshot's header, its counts and the result of
 * the full check, one "name: value" per line for scripts and tests.
 * The header of a file that fails the check is still printed when it
 * is there, marked unverified; records are only read from a valid file.
 */

#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "uco_snap.h"
#include "pl_inspect.h"


static void pl_inspect_header(const uco_snap_header_t *h, int valid,
    FILE *out);
static void pl_inspect_counts(const uco_snap_t *s, FILE *out);
static void pl_inspect_delta(const uco_snap_t *s, FILE *out);


static const char  *pl_inspect_sections[UCO_SNAP_SEC_LAST + 1] = {
    "?", "cards", "idents", "partners", "programmes", "terminals",
    "category_sets", "short_idents", "certificates", "set_overflow",
    "id_runs", "overrides"
};


int
pl_inspect(const char *path, FILE *out)
{
    int          fd, rc;
    void        *map;
    uco_snap_t   s;
    struct stat  st;

    map = MAP_FAILED;
    st.st_size = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1 || fstat(fd, &st) == -1) {
        pl_log(PL_LOG_ERROR, "inspect %s: %s", path, strerror(errno));
        goto failed;
    }

    if (!S_ISREG(st.st_mode)) {
        pl_log(PL_LOG_ERROR, "inspect %s: not a regular file", path);
        goto failed;
    }

    fprintf(out, "file: %s\nfile_bytes: %lld\n", path,
            (long long) st.st_size);

    rc = UCO_SNAP_ETRUNCATED;

    if (st.st_size > 0) {
        map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
            pl_log(PL_LOG_ERROR, "inspect %s: mmap: %s", path,
                   strerror(errno));
            goto failed;
        }

        rc = uco_snap_check(&s, map, (size_t) st.st_size);

        if ((size_t) st.st_size >= sizeof(uco_snap_header_t)) {
            pl_inspect_header(map, rc == UCO_SNAP_OK, out);
        }
    }

    if (rc == UCO_SNAP_OK) {
        pl_inspect_counts(&s, out);
        pl_inspect_delta(&s, out);
        fprintf(out, "result: valid\n");

    } else {
        fprintf(out, "result: invalid: %s\n", uco_snap_strerror(rc));
    }

    if (map != MAP_FAILED) {
        munmap(map, (size_t) st.st_size);
    }

    close(fd);

    return rc == UCO_SNAP_OK ? PL_OK : PL_ERR;

failed:

    if (map != MAP_FAILED) {
        munmap(map, (size_t) st.st_size);
    }

    if (fd != -1) {
        close(fd);
    }

    return PL_ERR;
}


static void
pl_inspect_header(const uco_snap_header_t *h, int valid, FILE *out)
{
    char                       ts[32];
    time_t                     t;
    uint32_t                   i, n;
    struct tm                  tm;
    const uco_snap_section_t  *sec;

    if (!valid) {
        fprintf(out, "header: unverified\n");
    }

    fprintf(out, "magic: %s\n",
            memcmp(h->magic, UCO_SNAP_MAGIC, 8) == 0
            || memcmp(h->magic, UCO_SNAP_DELTA_MAGIC, 8) == 0 ? "ok"
                                                               : "bad");
    fprintf(out, "kind: %s\n",
            memcmp(h->magic, UCO_SNAP_DELTA_MAGIC, 8) == 0 ? "delta"
                                                            : "base");
    fprintf(out, "version: %u\nheader_size: %u\nbyte_order: 0x%08x\n",
            h->version, h->header_size, h->byte_order);
    fprintf(out, "file_size: %llu\ngeneration: %llu\n",
            (unsigned long long) h->file_size,
            (unsigned long long) h->generation);

    t = (time_t) h->build_time;
    ts[0] = '\0';
    if (gmtime_r(&t, &tm) != NULL) {
        strftime(ts, sizeof(ts), " (%Y-%m-%dT%H:%M:%SZ)", &tm);
    }

    fprintf(out, "build_time: %llu%s\nwatermark: %llu\nchecksum: ",
            (unsigned long long) h->build_time, ts,
            (unsigned long long) h->watermark);

    for (i = 0; i < sizeof(h->checksum); i++) {
        fprintf(out, "%02x", h->checksum[i]);
    }

    fprintf(out, "\n");

    n = h->section_count < UCO_SNAP_NSECTIONS ? h->section_count
                                              : UCO_SNAP_NSECTIONS;

    for (i = 0; i < n; i++) {
        sec = &h->sections[i];

        fprintf(out, "section: %s offset=%llu size=%llu count=%llu "
                "record_size=%u\n",
                sec->id <= UCO_SNAP_SEC_LAST ? pl_inspect_sections[sec->id]
                                             : "?",
                (unsigned long long) sec->offset,
                (unsigned long long) sec->size,
                (unsigned long long) sec->count, sec->record_size);
    }
}


/* identifiers are the used slots of the table */

static void
pl_inspect_counts(const uco_snap_t *s, FILE *out)
{
    uint64_t  i, used, short_used;

    used = 0;
    short_used = 0;

    for (i = 0; i < s->nidents; i++) {
        if (s->idents[i].card != UCO_SNAP_EMPTY) {
            used++;
        }
    }

    for (i = 0; i < s->nshort_idents; i++) {
        if (s->short_idents[i].card != UCO_SNAP_EMPTY) {
            short_used++;
        }
    }

    fprintf(out, "cards: %llu\nidents: %llu\nident_slots: %llu\n"
            "short_idents: %llu\nshort_ident_slots: %llu\n"
            "category_sets: %llu\n"
            "partners: %llu\nprogrammes: %llu\nterminals: %llu\n"
            "certificates: %llu\nset_overflow: %llu\nid_runs: %llu\n",
            (unsigned long long) s->ncards,
            (unsigned long long) (used + short_used),
            (unsigned long long) s->nidents,
            (unsigned long long) short_used,
            (unsigned long long) s->nshort_idents,
            (unsigned long long) s->ncategory_sets,
            (unsigned long long) s->npartners,
            (unsigned long long) s->nprogrammes,
            (unsigned long long) s->nterminals,
            (unsigned long long) s->ncerts,
            (unsigned long long) s->noverflow,
            (unsigned long long) s->nruns);
}


/*
 * A delta names its base; whether that base is there and matches is for
 * the loader's publish and the module to check, with the directory.
 */

static void
pl_inspect_delta(const uco_snap_t *s, FILE *out)
{
    uint64_t  i, deleted;

    if (s->delta == NULL) {
        return;
    }

    deleted = 0;

    for (i = 0; i < s->ncards; i++) {
        deleted += s->cards[i].summary == UCO_SNAP_SUM_TOMBSTONE;
    }

    fprintf(out, "base_generation: %llu\nbase_size: %llu\nbase_checksum: ",
            (unsigned long long) s->delta->base_generation,
            (unsigned long long) s->delta->base_size);

    for (i = 0; i < sizeof(s->delta->base_checksum); i++) {
        fprintf(out, "%02x", s->delta->base_checksum[i]);
    }

    fprintf(out, "\ndeleted_cards: %llu\noverridden_base_cards: %llu\n"
            "delta_partners: %s\n",
            (unsigned long long) deleted,
            (unsigned long long) s->noverrides,
            (s->delta->flags & UCO_SNAP_DELTA_PARTNERS) ? "own" : "base's");
}
