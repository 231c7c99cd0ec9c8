/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * PostgreSQL's text output: COPY rows split into fields and unescaped,
 * integer and bytea fields decoded.  No libpq, no I/O, no allocation:
 * the COPY fuzzer drives exactly the code the loader runs on each row.
 */

#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "pl_pg_text.h"


static void pl_pg_unescape(char *s);
static int pl_pg_hex(int c);


/*
 * Splits a text-format COPY row at tabs, then undoes each field's escapes
 * in place.  A tab inside data is always escaped, so every raw tab is a
 * separator; a field that is exactly \N is NULL.
 */

int
pl_pg_split(char *row, int len, char **f, int nfields)
{
    int    i, n;
    char  *p, *end;

    end = row + len;
    if (len > 0 && end[-1] == '\n') {
        end--;
    }

    *end = '\0';
    f[0] = row;
    n = 1;

    for (p = row; p < end; p++) {
        if (*p == '\t') {
            if (n == nfields) {
                return PL_ERR;
            }

            *p = '\0';
            f[n++] = p + 1;
        }
    }

    if (n != nfields) {
        return PL_ERR;
    }

    for (i = 0; i < n; i++) {
        if (strcmp(f[i], "\\N") == 0) {
            f[i] = NULL;

        } else {
            pl_pg_unescape(f[i]);
        }
    }

    return PL_OK;
}


/* the backslash escapes of COPY text format; a field only shrinks */

static void
pl_pg_unescape(char *s)
{
    int    c, d, k;
    char  *w;

    w = s;

    while (*s != '\0') {
        if (*s != '\\') {
            *w++ = *s++;
            continue;
        }

        s++;
        if (*s == '\0') {
            break;
        }

        c = (unsigned char) *s++;

        switch (c) {
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'v': c = '\v'; break;

        case 'x':
            c = 0;
            for (k = 0; k < 2 && (d = pl_pg_hex((unsigned char) *s)) >= 0;
                 k++)
            {
                c = c * 16 + d;
                s++;
            }
            break;

        default:
            if (c >= '0' && c <= '7') {
                c -= '0';
                for (k = 1; k < 3 && *s >= '0' && *s <= '7'; k++) {
                    c = c * 8 + (*s++ - '0');
                }
            }
            /* any other character stands for itself */
            break;
        }

        *w++ = (char) c;
    }

    *w = '\0';
}


static int
pl_pg_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


int
pl_pg_u64(const char *s, uint64_t *v)
{
    char                *end;
    unsigned long long   n;

    if (*s < '0' || *s > '9') {
        return PL_ERR;
    }

    errno = 0;
    n = strtoull(s, &end, 10);

    if (errno != 0 || *end != '\0') {
        return PL_ERR;
    }

    *v = n;

    return PL_OK;
}


/* a decimal integer field, NULL refused, within [min, max] */

int
pl_pg_int(const char *s, int64_t min, int64_t max, int64_t *v)
{
    char       *end;
    long long   n;

    if (s == NULL || *s == '\0') {
        return PL_ERR;
    }

    errno = 0;
    n = strtoll(s, &end, 10);

    if (errno != 0 || *end != '\0' || n < min || n > max) {
        return PL_ERR;
    }

    *v = n;

    return PL_OK;
}


/* a bytea field in hex output ("\x0a1b..."), exactly len bytes */

int
pl_pg_bytea(const char *s, uint8_t *out, size_t len)
{
    int     hi, lo;
    size_t  i;

    if (s == NULL || s[0] != '\\' || s[1] != 'x' || strlen(s) != 2 + 2 * len)
    {
        return PL_ERR;
    }

    s += 2;

    for (i = 0; i < len; i++) {
        hi = pl_pg_hex((unsigned char) s[2 * i]);
        lo = pl_pg_hex((unsigned char) s[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return PL_ERR;
        }

        out[i] = (uint8_t) (hi << 4 | lo);
    }

    return PL_OK;
}
