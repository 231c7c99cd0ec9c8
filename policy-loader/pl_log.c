/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Logging: "2026-11-24T06:00:00Z policy-loader[pid]: info: ..." on
 * stderr.  One line goes out in one write() so that lines from a
 * restarting loader and its successor do not interleave.  With
 * --syslog the same message goes to syslog (facility daemon, the level
 * as its priority) without the timestamp and name syslog adds itself.
 */

#include <stdio.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <syslog.h>

#include "pl_log.h"


#define PL_LOG_LINE_LEN     1024


static void pl_log_write(const char *line, size_t len);


/* the one piece of loader-wide state: set once at start-up */
static int  pl_log_level = PL_LOG_INFO;
static int  pl_log_syslog;

static const char  *pl_log_levels[] = {
    "error", "warn", "info", "debug"
};

static const int  pl_log_priorities[] = {
    LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG
};


void
pl_log_init(int level, int use_syslog)
{
    pl_log_level = level;

    if (use_syslog && !pl_log_syslog) {
        openlog("policy-loader", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        pl_log_syslog = 1;
    }
}


int
pl_log_enabled(int level)
{
    return level <= pl_log_level;
}


void
pl_log(int level, const char *fmt, ...)
{
    int        n;
    char       line[PL_LOG_LINE_LEN];
    size_t     len;
    time_t     now;
    va_list    ap;
    struct tm  tm;

    if (level > pl_log_level || level < PL_LOG_ERROR) {
        return;
    }

    if (pl_log_syslog) {
        va_start(ap, fmt);
        n = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);

        if (n >= 0) {
            syslog(pl_log_priorities[level], "%s", line);
        }

        return;
    }

    now = time(NULL);
    gmtime_r(&now, &tm);

    len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ", &tm);

    n = snprintf(line + len, sizeof(line) - len, " policy-loader[%ld]: %s: ",
                 (long) getpid(), pl_log_levels[level]);
    if (n < 0) {
        return;
    }
    len += (size_t) n;

    va_start(ap, fmt);
    n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
    va_end(ap);

    if (n < 0) {
        return;
    }

    /* a truncated message still ends with a newline */
    len += (size_t) n;
    if (len > sizeof(line) - 2) {
        len = sizeof(line) - 2;
    }

    line[len++] = '\n';

    pl_log_write(line, len);
}


static void
pl_log_write(const char *line, size_t len)
{
    ssize_t  n;

    while (len > 0) {
        n = write(STDERR_FILENO, line, len);
        if (n <= 0) {
            return;
        }

        line += n;
        len -= (size_t) n;
    }
}


void
pl_err_set(int *err, char *errstr, int code, const char *fmt, ...)
{
    va_list  ap;

    *err = code;

    va_start(ap, fmt);
    vsnprintf(errstr, PL_ERRSTR_LEN, fmt, ap);
    va_end(ap);
}
