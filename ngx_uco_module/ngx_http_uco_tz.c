/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The region's time zone for programme windows: the system's TZif file
 * (RFC 8536) read once at configuration time, so that a request costs
 * one comparison, and nginx's own TZ (used by its logs) stays untouched.
 * Known limit: times after the file's last transition use its last
 * offset; the POSIX footer rule is not evaluated.  Russian zones have
 * had no daylight saving since 2014, so this is exact for them.  The
 * file format itself is read by uco_tz.c, which the fuzzer drives.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_uco_module.h"


#define NGX_HTTP_UCO_TZ_DIR       "/usr/share/zoneinfo/"
#define NGX_HTTP_UCO_TZ_MAX_FILE  (1024 * 1024)


static ngx_int_t ngx_http_uco_tz_parse(ngx_conf_t *cf, u_char *p, size_t len,
    ngx_http_uco_tz_t *tz);


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

    if (uco_tz_name_valid((char *) name->data, name->len) != 0) {
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
    uco_tz_file_t  f;

    if (uco_tz_open(&f, p, len) != 0) {
        return NGX_ERROR;
    }

    tz->n = uco_tz_count(&f);
    tz->at = ngx_palloc(cf->pool, tz->n * sizeof(int64_t));
    tz->offset = ngx_palloc(cf->pool, tz->n * sizeof(int32_t));

    if (tz->at == NULL || tz->offset == NULL) {
        return NGX_ERROR;
    }

    if (uco_tz_read(&f, tz->at, tz->offset) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* local seconds since the epoch; the offset is cached until it changes */

int64_t
ngx_http_uco_local_time(ngx_http_uco_main_conf_t *umcf, time_t now)
{
    ngx_uint_t             lo;
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

    lo = uco_tz_find(tz->at, tz->n, now);

    st->tz_offset = tz->offset[lo];
    st->tz_from = tz->at[lo];
    st->tz_until = (lo + 1 < tz->n) ? tz->at[lo + 1] : INT64_MAX;

    return (int64_t) now + st->tz_offset;
}
