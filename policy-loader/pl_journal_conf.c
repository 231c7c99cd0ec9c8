/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * policy-loader journal's options: the command line and a config file
 * of the loader's format (pl_config.c), every bad value named.  The
 * Redis password is taken from the file or from a file of its own,
 * never from the command line, where every user could read it in ps.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <getopt.h>

#include "pl_config.h"
#include "pl_journal_conf.h"


#define PL_JCONF_STREAM       "uco:decisions"
#define PL_JCONF_SPOOL_DIR    "/var/spool/uco"
#define PL_JCONF_SPOOL_MAX    (1024ULL * 1024 * 1024)
#define PL_JCONF_MAXLEN       10000000ULL
#define PL_JCONF_PASSWORD_MAX 1024
#define PL_JCONF_MONTHS_MAX   1200

#define PL_JCONF_SHORT        ":c:r:d:R:i:vh"

enum {
    PL_JOPT_STREAM = 256,
    PL_JOPT_MAXLEN,
    PL_JOPT_MINID_AGE,
    PL_JOPT_SPOOL,
    PL_JOPT_SPOOL_MAX,
    PL_JOPT_TIMEOUT,
    PL_JOPT_REDIS_SOCKET,
    PL_JOPT_REDIS_USER,
    PL_JOPT_REDIS_PASSWORD,
    PL_JOPT_REDIS_PASSWORD_ARG,     /* refused */
    PL_JOPT_REDIS_PASSWORD_FILE,
    PL_JOPT_RETENTION_MONTHS,
    PL_JOPT_REDIS_ENTRY,
};


static int pl_jconf_option(void *ctx, int c, char *value);
static int pl_jconf_check(pl_jconf_t *cf);
static int pl_jconf_password_file(pl_jconf_t *cf);


static const struct option  pl_jconf_options[] = {
    { "config",              required_argument, NULL, 'c' },
    { "ring",                required_argument, NULL, 'r' },
    { "db",                  required_argument, NULL, 'd' },
    { "redis",               required_argument, NULL, 'R' },
    { "redis-socket",        required_argument, NULL,
      PL_JOPT_REDIS_SOCKET },
    { "redis-user",          required_argument, NULL, PL_JOPT_REDIS_USER },
    { "redis-password",      required_argument, NULL,
      PL_JOPT_REDIS_PASSWORD_ARG },
    { "redis-password-file", required_argument, NULL,
      PL_JOPT_REDIS_PASSWORD_FILE },
    { "redis-entry",         required_argument, NULL,
      PL_JOPT_REDIS_ENTRY },
    { "stream",              required_argument, NULL, PL_JOPT_STREAM },
    { "maxlen",              required_argument, NULL, PL_JOPT_MAXLEN },
    { "minid-age",           required_argument, NULL, PL_JOPT_MINID_AGE },
    { "spool",               required_argument, NULL, PL_JOPT_SPOOL },
    { "spool-max",           required_argument, NULL, PL_JOPT_SPOOL_MAX },
    { "retention-months",    required_argument, NULL,
      PL_JOPT_RETENTION_MONTHS },
    { "interval",            required_argument, NULL, 'i' },
    { "timeout",             required_argument, NULL, PL_JOPT_TIMEOUT },
    { "metrics-file",        required_argument, NULL,
      PL_OPT_METRICS_FILE },
    { "log-level",           required_argument, NULL, PL_OPT_LOG_LEVEL },
    { "syslog",              no_argument,       NULL, PL_OPT_SYSLOG },
    { "verbose",             no_argument,       NULL, 'v' },
    { "help",                no_argument,       NULL, 'h' },
    { NULL,                  0,                 NULL, 0 }
};

/* what a config file may set: everything but --config and --help */
static const pl_config_key_t  pl_jconf_keys[] = {
    { "ring",                'r' },
    { "db",                  'd' },
    { "redis",               'R' },
    { "redis-socket",        PL_JOPT_REDIS_SOCKET },
    { "redis-user",          PL_JOPT_REDIS_USER },
    { "redis-password",      PL_JOPT_REDIS_PASSWORD },
    { "redis-password-file", PL_JOPT_REDIS_PASSWORD_FILE },
    { "redis-entry",         PL_JOPT_REDIS_ENTRY },
    { "stream",              PL_JOPT_STREAM },
    { "maxlen",              PL_JOPT_MAXLEN },
    { "minid-age",           PL_JOPT_MINID_AGE },
    { "spool",               PL_JOPT_SPOOL },
    { "spool-max",           PL_JOPT_SPOOL_MAX },
    { "retention-months",    PL_JOPT_RETENTION_MONTHS },
    { "interval",            'i' },
    { "timeout",             PL_JOPT_TIMEOUT },
    { "metrics-file",        PL_OPT_METRICS_FILE },
    { "log-level",           PL_OPT_LOG_LEVEL },
    { "syslog",              PL_OPT_SYSLOG },
    { NULL,                  0 }
};


void
pl_jconf_usage(FILE *out)
{
    fprintf(out,
        "usage: policy-loader journal [-c FILE] --ring DIR [--db CONNINFO]"
        " [--redis HOST[:PORT]] [options]\n"
        "  -c, --config FILE     read settings from FILE (\"key = value\""
        " lines, keys\n"
        "                        as the long options below); options on"
        " the command\n"
        "                        line win\n"
        "  -r, --ring DIR        nginx's uco_journal directory\n"
        "  -d, --db CONNINFO     deliver to PostgreSQL (uco.decision)\n"
        "  -R, --redis HOST:PORT deliver to a Redis stream\n"
        "      --redis-socket P  or to Redis on the unix socket P\n"
        "      --redis-user U    AUTH as the ACL user U (with a password)\n"
        "      --redis-password-file F\n"
        "                        AUTH with the password in F (or"
        " redis-password in\n"
        "                        the config file; never on the command"
        " line)\n"
        "      --stream KEY      the stream (default " PL_JCONF_STREAM
        ")\n"
        "      --maxlen N        cap the stream at about N entries"
        " (default 10000000)\n"
        "      --minid-age SECS  or drop entries older than SECS\n"
        "      --redis-entry E   record (default: id and the msgpack"
        " record) or\n"
        "                        fields (a name/value pair per value)\n"
        "      --spool DIR       spool directory (default "
        PL_JCONF_SPOOL_DIR ")\n"
        "      --spool-max SIZE  bytes per sink's spool, k/m/g suffix"
        " (default 1g)\n"
        "      --retention-months N\n"
        "                        drop uco.decision partitions older than"
        " N months\n"
        "                        (default 0: keep for ever)\n"
        "  -i, --interval SECS   the longest wait between two reads of the"
        " ring\n"
        "                        (default 0.1)\n"
        "      --timeout SECS    Redis connect and I/O timeout"
        " (default 2)\n"
        "      --metrics-file F  write Prometheus metrics to F"
        " (node_exporter textfile)\n"
        "      --log-level L     error, warn, info (default) or debug\n"
        "      --syslog          log to syslog (facility daemon), not"
        " stderr\n"
        "  -v, --verbose         same as --log-level debug\n"
        "  -h, --help            this help\n");
}


/* argv[0] is "journal" */

int
pl_jconf_parse(pl_jconf_t *cf, int argc, char **argv)
{
    int               n;
    pl_config_args_t  a;

    memset(cf, 0, sizeof(pl_jconf_t));

    cf->stream = PL_JCONF_STREAM;
    cf->spool_dir = PL_JCONF_SPOOL_DIR;
    cf->spool_max = PL_JCONF_SPOOL_MAX;
    cf->interval = 100;
    cf->timeout = 2000;
    cf->run.log_level = PL_LOG_INFO;

    a.shortopts = PL_JCONF_SHORT;
    a.options = pl_jconf_options;
    a.keys = pl_jconf_keys;
    a.set = pl_jconf_option;
    a.ctx = cf;
    a.err = &cf->err;
    a.errstr = cf->errstr;
    a.file_buf = &cf->file_buf;

    n = pl_config_args(&a, argc, argv);
    if (n < 0) {
        return PL_ERR;
    }

    if (cf->help) {
        return PL_OK;
    }

    if (n < argc) {
        pl_error(cf, PL_EUSAGE, "unexpected argument \"%s\"", argv[n]);
        return PL_ERR;
    }

    return pl_jconf_check(cf);
}


void
pl_jconf_free(pl_jconf_t *cf)
{
    /* the file may hold the Redis password */
    if (cf->file_buf != NULL) {
        explicit_bzero(cf->file_buf, PL_CONFIG_FILE_MAX + 1);
        free(cf->file_buf);
    }

    if (cf->password_buf != NULL) {
        explicit_bzero(cf->password_buf, PL_JCONF_PASSWORD_MAX + 1);
        free(cf->password_buf);
    }

    cf->file_buf = NULL;
    cf->password_buf = NULL;
}


/* one option, from the command line (flags: value NULL) or the file */

static int
pl_jconf_option(void *ctx, int c, char *value)
{
    uint64_t     n;
    pl_jconf_t  *cf;

    cf = ctx;

    switch (c) {

    case 'r':
        cf->ring_dir = value;
        break;

    case 'd':
        cf->conninfo = value;
        break;

    case 'R':
        cf->redis = value;
        break;

    case PL_JOPT_REDIS_SOCKET:
        if (*value == '\0') {
            pl_error(cf, PL_EUSAGE, "--redis-socket: empty path");
            return PL_ERR;
        }

        cf->redis_socket = value;
        break;

    case PL_JOPT_REDIS_USER:
        if (*value == '\0') {
            pl_error(cf, PL_EUSAGE, "--redis-user: empty name");
            return PL_ERR;
        }

        cf->redis_user = value;
        break;

    case PL_JOPT_REDIS_PASSWORD_ARG:
        pl_error(cf, PL_EUSAGE, "--redis-password: not on the command "
                 "line (ps shows it); set redis-password in the --config "
                 "file or use --redis-password-file");
        return PL_ERR;

    case PL_JOPT_REDIS_PASSWORD:
        if (*value == '\0') {
            pl_error(cf, PL_EUSAGE, "redis-password: empty");
            return PL_ERR;
        }

        cf->redis_password = value;
        break;

    case PL_JOPT_REDIS_PASSWORD_FILE:
        if (*value == '\0') {
            pl_error(cf, PL_EUSAGE, "--redis-password-file: empty file "
                     "name");
            return PL_ERR;
        }

        cf->redis_password_file = value;
        break;

    case PL_JOPT_REDIS_ENTRY:
        if (strcmp(value, "record") == 0) {
            cf->redis_entry = PL_JCONF_ENTRY_RECORD;

        } else if (strcmp(value, "fields") == 0) {
            cf->redis_entry = PL_JCONF_ENTRY_FIELDS;

        } else {
            pl_error(cf, PL_EUSAGE, "--redis-entry: \"%s\" is neither "
                     "record nor fields", value);
            return PL_ERR;
        }
        break;

    case PL_JOPT_STREAM:
        if (*value == '\0') {
            pl_error(cf, PL_EUSAGE, "--stream: empty key");
            return PL_ERR;
        }

        cf->stream = value;
        break;

    case PL_JOPT_MAXLEN:
        if (pl_config_size(value, &cf->maxlen) != PL_OK || cf->maxlen == 0) {
            pl_error(cf, PL_EUSAGE, "--maxlen: \"%s\" is not a positive "
                     "number", value);
            return PL_ERR;
        }
        break;

    case PL_JOPT_MINID_AGE:
        if (pl_config_size(value, &cf->minid_age) != PL_OK
            || cf->minid_age == 0 || cf->minid_age > 100000000)
        {
            pl_error(cf, PL_EUSAGE, "--minid-age: \"%s\" is not a number "
                     "of seconds", value);
            return PL_ERR;
        }

        cf->minid_age *= 1000;
        break;

    case PL_JOPT_SPOOL:
        if (*value == '\0') {
            pl_error(cf, PL_EUSAGE, "--spool: empty directory name");
            return PL_ERR;
        }

        cf->spool_dir = value;
        break;

    case PL_JOPT_SPOOL_MAX:
        if (pl_config_size(value, &cf->spool_max) != PL_OK
            || cf->spool_max < 64 * 1024)
        {
            pl_error(cf, PL_EUSAGE, "--spool-max: \"%s\" is not a size of "
                     "at least 64k", value);
            return PL_ERR;
        }
        break;

    case PL_JOPT_RETENTION_MONTHS:
        if (pl_config_u64(value, 10, &n) != PL_OK
            || n > PL_JCONF_MONTHS_MAX)
        {
            pl_error(cf, PL_EUSAGE, "--retention-months: \"%s\" is not a "
                     "number of months from 0 (keep for ever) to %d",
                     value, PL_JCONF_MONTHS_MAX);
            return PL_ERR;
        }

        cf->retention_months = (unsigned) n;
        break;

    case 'i':
        if (pl_config_secs(value, 0.001, 10, &cf->interval) != PL_OK) {
            pl_error(cf, PL_EUSAGE, "--interval: \"%s\" is not a number "
                     "of seconds between 0.001 and 10", value);
            return PL_ERR;
        }
        break;

    case PL_JOPT_TIMEOUT:
        if (pl_config_secs(value, 0.01, 60, &cf->timeout) != PL_OK) {
            pl_error(cf, PL_EUSAGE, "--timeout: \"%s\" is not a number "
                     "of seconds between 0.01 and 60", value);
            return PL_ERR;
        }
        break;

    case PL_OPT_METRICS_FILE:
    case PL_OPT_LOG_LEVEL:
    case PL_OPT_SYSLOG:
        return pl_config_run(&cf->run, c, value, &cf->err, cf->errstr);

    case 'v':
        cf->run.log_level = PL_LOG_DEBUG;
        break;

    case 'h':
        cf->help = 1;
        break;
    }

    return PL_OK;
}


static int
pl_jconf_check(pl_jconf_t *cf)
{
    if (cf->ring_dir == NULL || *cf->ring_dir == '\0') {
        pl_error(cf, PL_EUSAGE, "--ring: the uco_journal directory is "
                 "required");
        return PL_ERR;
    }

    if (cf->redis != NULL && cf->redis_socket != NULL) {
        pl_error(cf, PL_EUSAGE, "--redis and --redis-socket exclude each "
                 "other");
        return PL_ERR;
    }

    if (cf->conninfo == NULL && cf->redis == NULL
        && cf->redis_socket == NULL)
    {
        pl_error(cf, PL_EUSAGE, "nowhere to deliver: give --db, --redis "
                 "(or --redis-socket) or both");
        return PL_ERR;
    }

    if (cf->retention_months != 0 && cf->conninfo == NULL) {
        pl_error(cf, PL_EUSAGE, "--retention-months: partitions are "
                 "PostgreSQL's, give --db");
        return PL_ERR;
    }

    if (cf->maxlen != 0 && cf->minid_age != 0) {
        pl_error(cf, PL_EUSAGE, "--maxlen and --minid-age exclude each "
                 "other");
        return PL_ERR;
    }

    if (cf->redis_password != NULL && cf->redis_password_file != NULL) {
        pl_error(cf, PL_EUSAGE, "redis-password and --redis-password-file "
                 "exclude each other");
        return PL_ERR;
    }

    if (cf->redis_password_file != NULL
        && pl_jconf_password_file(cf) != PL_OK)
    {
        return PL_ERR;
    }

    if (cf->redis_user != NULL && cf->redis_password == NULL) {
        pl_error(cf, PL_EUSAGE, "--redis-user: an ACL user needs a "
                 "password (redis-password or --redis-password-file)");
        return PL_ERR;
    }

    if (cf->redis_password != NULL && cf->redis == NULL
        && cf->redis_socket == NULL)
    {
        pl_error(cf, PL_EUSAGE, "a Redis password without --redis or "
                 "--redis-socket");
        return PL_ERR;
    }

    if ((cf->redis != NULL || cf->redis_socket != NULL)
        && cf->minid_age == 0 && cf->maxlen == 0)
    {
        cf->maxlen = PL_JCONF_MAXLEN;
    }

    return PL_OK;
}


/* the first line of the file, without its line end */

static int
pl_jconf_password_file(pl_jconf_t *cf)
{
    FILE    *f;
    size_t   n;

    f = fopen(cf->redis_password_file, "re");
    if (f == NULL) {
        pl_error(cf, PL_EUSAGE, "--redis-password-file: %s: %s",
                 cf->redis_password_file, strerror(errno));
        return PL_ERR;
    }

    cf->password_buf = calloc(1, PL_JCONF_PASSWORD_MAX + 1);
    if (cf->password_buf == NULL) {
        fclose(f);
        pl_error(cf, PL_ENOMEM, "out of memory");
        return PL_ERR;
    }

    n = fread(cf->password_buf, 1, PL_JCONF_PASSWORD_MAX, f);
    fclose(f);

    cf->password_buf[strcspn(cf->password_buf, "\r\n")] = '\0';

    if (n == PL_JCONF_PASSWORD_MAX || cf->password_buf[0] == '\0') {
        pl_error(cf, PL_EUSAGE, "--redis-password-file: %s: %s",
                 cf->redis_password_file,
                 n == PL_JCONF_PASSWORD_MAX ? "longer than 1 KiB"
                                            : "no password on its first "
                                              "line");
        return PL_ERR;
    }

    cf->redis_password = cf->password_buf;

    return PL_OK;
}
