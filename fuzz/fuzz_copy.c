/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * libFuzzer target: the loader's COPY text parser.  The first byte
 * picks the field count and the mode; the rest is either a raw row (it
 * must split exactly when it has that many tab-separated fields, and
 * every field decoder must stay in bounds and in range) or a set of
 * NUL-separated values escaped as PostgreSQL's COPY TO does, which must
 * come back unchanged.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pl_pg_text.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void fuzz_copy_raw(const uint8_t *data, size_t size, int nfields);
static void fuzz_copy_fields(char *f);
static void fuzz_copy_round_trip(const uint8_t *data, size_t size);
static size_t fuzz_copy_escape(const uint8_t *v, size_t len, char *out);


static void
fuzz_copy_raw(const uint8_t *data, size_t size, int nfields)
{
    int      i, tabs;
    char    *row, *f[PL_PG_MAX_FIELDS];
    size_t   j, len;

    /* row[size] is the byte libpq's NUL stands in; ASan guards past it */
    row = malloc(size + 1);
    if (row == NULL) {
        return;
    }

    memcpy(row, data, size);
    row[size] = 'Z';

    len = (size > 0 && row[size - 1] == '\n') ? size - 1 : size;
    tabs = 0;

    for (j = 0; j < len; j++) {
        tabs += (row[j] == '\t');
    }

    if (pl_pg_split(row, (int) size, f, nfields) == PL_OK) {
        if (tabs != nfields - 1) {
            abort();
        }

        for (i = 0; i < nfields; i++) {
            if (f[i] == NULL) {
                continue;
            }

            if (f[i] < row || f[i] > row + len
                || f[i] + strlen(f[i]) > row + len)
            {
                abort();
            }

            fuzz_copy_fields(f[i]);
        }

    } else if (tabs == nfields - 1) {
        abort();
    }

    free(row);
}


/* every decoder the row callbacks use, with their property */

static void
fuzz_copy_fields(char *f)
{
    int64_t   v;
    uint8_t   key[32];
    uint64_t  u;

    if (pl_pg_int(f, 1, INT64_MAX, &v) == PL_OK && v < 1) {
        abort();
    }

    if (pl_pg_int(f, INT32_MIN, INT32_MAX, &v) == PL_OK
        && (v < INT32_MIN || v > INT32_MAX))
    {
        abort();
    }

    if (pl_pg_int(f, 0, 23, &v) == PL_OK && (v < 0 || v > 23)) {
        abort();
    }

    if (pl_pg_bytea(f, key, sizeof(key)) == PL_OK
        && strlen(f) != 2 + 2 * sizeof(key))
    {
        abort();
    }

    if (pl_pg_u64(f, &u) == PL_OK && (f[0] < '0' || f[0] > '9')) {
        abort();
    }
}


/* COPY TO's text escapes (PostgreSQL's CopyAttributeOutText) */

static size_t
fuzz_copy_escape(const uint8_t *v, size_t len, char *out)
{
    char    e;
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        switch (v[i]) {
        case '\b': e = 'b'; break;
        case '\f': e = 'f'; break;
        case '\n': e = 'n'; break;
        case '\r': e = 'r'; break;
        case '\t': e = 't'; break;
        case '\v': e = 'v'; break;
        case '\\': e = '\\'; break;
        default: e = 0; break;
        }

        if (e != 0) {
            out[n++] = '\\';
            out[n++] = e;

        } else {
            out[n++] = (char) v[i];
        }
    }

    return n;
}


static void
fuzz_copy_round_trip(const uint8_t *data, size_t size)
{
    int             i, nfields;
    char           *row, *f[PL_PG_MAX_FIELDS];
    size_t          n, vlen[PL_PG_MAX_FIELDS];
    const uint8_t  *v[PL_PG_MAX_FIELDS], *p, *end, *nul;

    /* values: the input cut at NUL bytes, which text COPY cannot carry */
    p = data;
    end = data + size;
    nfields = 0;

    for ( ;; ) {
        nul = memchr(p, '\0', (size_t) (end - p));
        v[nfields] = p;
        vlen[nfields] = (nul != NULL ? nul : end) - p;
        nfields++;

        if (nul == NULL || nfields == PL_PG_MAX_FIELDS) {
            break;
        }

        p = nul + 1;
    }

    row = malloc(2 * size + (size_t) nfields + 1);
    if (row == NULL) {
        return;
    }

    n = 0;

    for (i = 0; i < nfields; i++) {
        n += fuzz_copy_escape(v[i], vlen[i], row + n);
        row[n++] = (i + 1 < nfields) ? '\t' : '\n';
    }

    if (pl_pg_split(row, (int) n, f, nfields) != PL_OK) {
        abort();
    }

    for (i = 0; i < nfields; i++) {
        /* an escaped "\N" is data, never NULL */
        if (f[i] == NULL || strlen(f[i]) != vlen[i]
            || memcmp(f[i], v[i], vlen[i]) != 0)
        {
            abort();
        }
    }

    free(row);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 65536) {
        return 0;
    }

    if (data[0] & 0x80) {
        fuzz_copy_round_trip(data + 1, size - 1);

    } else {
        fuzz_copy_raw(data + 1, size - 1, 1 + data[0] % PL_PG_MAX_FIELDS);
    }

    return 0;
}
