/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The region's time zone for programme windows: the system's TZif file
 * (RFC 8536) read once at configuration time, so that a request costs
 * one comparison, and nginx's own TZ (used by its logs) stays untouched.
 * Known limit: times after the file's last transition use its last
 * offset; the POSIX footer rule is not evaluated.  Russian zones have
 * had no daylight saving since 2014, so this is exact for them.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_uco_module.h"


#define NGX_HTTP_UCO_TZ_DIR       "/usr/share/zoneinfo/"
#define NGX_HTTP_UCO_TZ_MAX_FILE  (1024 * 1024)
#define NGX_HTTP_UCO_TZ_HEADER    44


static uint32_t ngx_http_uco_tz_be32(const u_char *p);
static int64_t ngx_http_uco_tz_be64(const u_char *p);
static ngx_int_t ngx_http_uco_tz_parse(ngx_conf_t *cf, u_char *p, size_t len,
    ngx_http_uco_tz_t *tz);
static ngx_int_t ngx_http_uco_tz_name_valid(ngx_str_t *name);


static uint32_t
ngx_http_uco_tz_be32(const u_char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16
           | (uint32_t) p[2] << 8 | p[3];
}


static int64_t
ngx_http_uco_tz_be64(const u_char *p)
{
    return (int64_t) ((uint64_t) ngx_http_uco_tz_be32(p) << 32
                      | ngx_http_uco_tz_be32(p + 4));
}


static ngx_int_t
ngx_http_uco_tz_name_valid(ngx_str_t *name)
{
    u_char      c;
    ngx_uint_t  i;

    if (name->len == 0 || name->len > 64 || name->data[0] == '/'
        || ngx_strlchr(name->data, name->data + name->len, '.') != NULL)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
              || (c >= 'A' && c <= 'Z') || c == '/' || c == '_'
              || c == '-' || c == '+'))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


char *
ngx_http_uco_tz_load(ngx_conf_t *cf, ngx_str_t *name, ngx_http_uco_tz_t *tz)
{
    char             *rv;
    u_char           *path, *buf;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_info_t   fi;

    if (name->len == 3 && ngx_strncasecmp(name->data, (u_char *) "UTC", 3)
                          == 0)
    {
        tz->n = 0;
        return NGX_CONF_OK;
    }

    if (ngx_http_uco_tz_name_valid(name) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid time zone name \"%V\"", name);
        return NGX_CONF_ERROR;
    }

    path = ngx_pnalloc(cf->temp_pool,
                       sizeof(NGX_HTTP_UCO_TZ_DIR) + name->len);
    if (path == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(path, NGX_HTTP_UCO_TZ_DIR "%V%Z", name);

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "unknown time zone \"%V\": cannot open \"%s\"",
                           name, path);
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > NGX_HTTP_UCO_TZ_MAX_FILE)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "time zone file \"%s\" is not a TZif file",
                           path);
        goto done;
    }

    buf = ngx_pnalloc(cf->temp_pool, (size_t) ngx_file_size(&fi));
    if (buf == NULL) {
        goto done;
    }

    n = ngx_read_fd(fd, buf, (size_t) ngx_file_size(&fi));

    if (n != (ssize_t) ngx_file_size(&fi)
        || ngx_http_uco_tz_parse(cf, buf, (size_t) n, tz) != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "time zone file \"%s\" is not a valid TZif file",
                           path);
        goto done;
    }

    rv = NGX_CONF_OK;

done:

    ngx_close_file(fd);

    return rv;
}


static ngx_int_t
ngx_http_uco_tz_parse(ngx_conf_t *cf, u_char *p, size_t len,
    ngx_http_uco_tz_t *tz)
{
    u_char      *end, *trans, *idx, *types;
    size_t       tsize, need;
    uint32_t     isut, isstd, leap, timecnt, typecnt, charcnt, i, k;

    end = p + len;
    tsize = 4;

    for ( ;; ) {
        if ((size_t) (end - p) < NGX_HTTP_UCO_TZ_HEADER
            || ngx_memcmp(p, "TZif", 4) != 0)
        {
            return NGX_ERROR;
        }

        isut = ngx_http_uco_tz_be32(p + 20);
        isstd = ngx_http_uco_tz_be32(p + 24);
        leap = ngx_http_uco_tz_be32(p + 28);
        timecnt = ngx_http_uco_tz_be32(p + 32);
        typecnt = ngx_http_uco_tz_be32(p + 36);
        charcnt = ngx_http_uco_tz_be32(p + 40);

        if (timecnt > 65536 || typecnt == 0 || typecnt > 256
            || leap > 65536 || isut > 256 || isstd > 256 || charcnt > 65536)
        {
            return NGX_ERROR;
        }

        need = (size_t) timecnt * (tsize + 1) + (size_t) typecnt * 6
               + charcnt + (size_t) leap * (tsize + 4) + isstd + isut;

        if ((size_t) (end - p) - NGX_HTTP_UCO_TZ_HEADER < need) {
            return NGX_ERROR;
        }

        /* version 2 and later repeat the data with 64-bit times */
        if (tsize == 4 && p[4] >= '2') {
            p += NGX_HTTP_UCO_TZ_HEADER + need;
            tsize = 8;
            continue;
        }

        break;
    }

    trans = p + NGX_HTTP_UCO_TZ_HEADER;
    idx = trans + (size_t) timecnt * tsize;
    types = idx + timecnt;

    tz->n = timecnt + 1;
    tz->at = ngx_palloc(cf->pool, tz->n * sizeof(int64_t));
    tz->offset = ngx_palloc(cf->pool, tz->n * sizeof(int32_t));

    if (tz->at == NULL || tz->offset == NULL) {
        return NGX_ERROR;
    }

    /* before the first transition the first type applies */
    tz->at[0] = INT64_MIN;
    tz->offset[0] = (int32_t) ngx_http_uco_tz_be32(types);

    for (i = 0; i < timecnt; i++) {
        k = idx[i];
        if (k >= typecnt) {
            return NGX_ERROR;
        }

        tz->at[i + 1] = (tsize == 8) ? ngx_http_uco_tz_be64(trans + i * 8)
                        : (int32_t) ngx_http_uco_tz_be32(trans + i * 4);
        tz->offset[i + 1] = (int32_t) ngx_http_uco_tz_be32(types + k * 6);

        if (tz->at[i + 1] <= tz->at[i]
            || tz->offset[i + 1] < -86400 || tz->offset[i + 1] > 86400)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* local seconds since the epoch; the offset is cached until it changes */

int64_t
ngx_http_uco_local_time(ngx_http_uco_main_conf_t *umcf, time_t now)
{
    ngx_uint_t             lo, hi, mid;
    ngx_http_uco_tz_t     *tz;
    ngx_http_uco_state_t  *st;

    st = &umcf->state;

    if (now >= st->tz_from && now < st->tz_until) {
        return (int64_t) now + st->tz_offset;
    }

    tz = &umcf->tz;

    if (tz->n == 0) {
        st->tz_offset = 0;
        st->tz_from = INT64_MIN;
        st->tz_until = INT64_MAX;
        return now;
    }

    /* the last transition at or before now */
    lo = 0;
    hi = tz->n;

    while (hi - lo > 1) {
        mid = lo + (hi - lo) / 2;

        if (tz->at[mid] <= now) {
            lo = mid;

        } else {
            hi = mid;
        }
    }

    st->tz_offset = tz->offset[lo];
    st->tz_from = tz->at[lo];
    st->tz_until = (lo + 1 < tz->n) ? tz->at[lo + 1] : INT64_MAX;

    return (int64_t) now + st->tz_offset;
}
