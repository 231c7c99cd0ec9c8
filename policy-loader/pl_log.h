/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Return codes, error strings and logging shared by every loader file.
 * Logs go to stderr or syslog, one line each, never with an identifier
 * or a secret.
 */

#ifndef PL_LOG_H
#define PL_LOG_H


#define PL_OK               0
#define PL_ERR              -1

/* what went wrong, kept in a context's err next to its errstr */
#define PL_EIO              1   /* a system call failed */
#define PL_ENOMEM           2
#define PL_ECONN            3   /* the database connection is gone */
#define PL_EQUERY           4   /* a query failed on a good connection */
#define PL_EDATA            5   /* the data cannot make a snapshot */
#define PL_ESTOP            6   /* interrupted by a signal */
#define PL_EUSAGE           7   /* a bad option or value */
#define PL_EINVALID         8   /* a file failed validation */

#define PL_ERRSTR_LEN       128

#define PL_LOG_ERROR        0
#define PL_LOG_WARN         1
#define PL_LOG_INFO         2
#define PL_LOG_DEBUG        3


void pl_log_init(int level, int use_syslog);
int pl_log_enabled(int level);
void pl_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pl_err_set(int *err, char *errstr, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* fill a context's err and errstr */
#define pl_error(ctx, code, ...)                                            \
    pl_err_set(&(ctx)->err, (ctx)->errstr, code, __VA_ARGS__)

#endif /* PL_LOG_H */
