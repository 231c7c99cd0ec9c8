/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * TZif parsing.  Every count is bounded before it sizes anything, and
 * each block's size is checked against what is left of the file by
 * subtraction, so that no sum can wrap.
 */

#include <string.h>

#include "uco_tz.h"


static uint32_t uco_tz_be32(const uint8_t *p);
static int64_t uco_tz_be64(const uint8_t *p);


static uint32_t
uco_tz_be32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16
           | (uint32_t) p[2] << 8 | p[3];
}


static int64_t
uco_tz_be64(const uint8_t *p)
{
    return (int64_t) ((uint64_t) uco_tz_be32(p) << 32 | uco_tz_be32(p + 4));
}


/* no "..", no absolute path: the name is joined to the zoneinfo path */

int
uco_tz_name_valid(const char *name, size_t len)
{
    size_t  i;
    char    c;

    if (len == 0 || len > UCO_TZ_MAX_NAME || name[0] == '/'
        || memchr(name, '.', len) != NULL)
    {
        return -1;
    }

    for (i = 0; i < len; i++) {
        c = name[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
              || (c >= 'A' && c <= 'Z') || c == '/' || c == '_'
              || c == '-' || c == '+'))
        {
            return -1;
        }
    }

    return 0;
}


int
uco_tz_open(uco_tz_file_t *f, const uint8_t *p, size_t len)
{
    size_t          need;
    unsigned        tsize;
    uint32_t        isut, isstd, leap, timecnt, typecnt, charcnt;
    const uint8_t  *end;

    end = p + len;
    tsize = 4;

    for ( ;; ) {
        if ((size_t) (end - p) < UCO_TZ_HEADER || memcmp(p, "TZif", 4) != 0)
        {
            return -1;
        }

        isut = uco_tz_be32(p + 20);
        isstd = uco_tz_be32(p + 24);
        leap = uco_tz_be32(p + 28);
        timecnt = uco_tz_be32(p + 32);
        typecnt = uco_tz_be32(p + 36);
        charcnt = uco_tz_be32(p + 40);

        if (timecnt > 65536 || typecnt == 0 || typecnt > 256
            || leap > 65536 || isut > 256 || isstd > 256 || charcnt > 65536)
        {
            return -1;
        }

        need = (size_t) timecnt * (tsize + 1) + (size_t) typecnt * 6
               + charcnt + (size_t) leap * (tsize + 4) + isstd + isut;

        if ((size_t) (end - p) - UCO_TZ_HEADER < need) {
            return -1;
        }

        /* version 2 and later repeat the data with 64-bit times */
        if (tsize == 4 && p[4] >= '2') {
            p += UCO_TZ_HEADER + need;
            tsize = 8;
            continue;
        }

        break;
    }

    f->trans = p + UCO_TZ_HEADER;
    f->idx = f->trans + (size_t) timecnt * tsize;
    f->types = f->idx + timecnt;
    f->timecnt = timecnt;
    f->typecnt = typecnt;
    f->tsize = tsize;

    return 0;
}


size_t
uco_tz_count(const uco_tz_file_t *f)
{
    return (size_t) f->timecnt + 1;
}


int
uco_tz_read(const uco_tz_file_t *f, int64_t *at, int32_t *offset)
{
    uint32_t  i, k;

    /* before the first transition the first type applies */
    at[0] = INT64_MIN;
    offset[0] = (int32_t) uco_tz_be32(f->types);

    for (i = 0; i < f->timecnt; i++) {
        k = f->idx[i];
        if (k >= f->typecnt) {
            return -1;
        }

        at[i + 1] = (f->tsize == 8) ? uco_tz_be64(f->trans + i * 8)
                    : (int32_t) uco_tz_be32(f->trans + i * 4);
        offset[i + 1] = (int32_t) uco_tz_be32(f->types + k * 6);

        if (at[i + 1] <= at[i]
            || offset[i + 1] < -86400 || offset[i + 1] > 86400)
        {
            return -1;
        }
    }

    return 0;
}


size_t
uco_tz_find(const int64_t *at, size_t n, int64_t t)
{
    size_t  lo, hi, mid;

    lo = 0;
    hi = n;

    while (hi - lo > 1) {
        mid = lo + (hi - lo) / 2;

        if (at[mid] <= t) {
            lo = mid;

        } else {
            hi = mid;
        }
    }

    return lo;
}
