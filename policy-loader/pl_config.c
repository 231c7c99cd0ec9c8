/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Command-line options: parsed strictly, every bad value named.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <getopt.h>
#include <unistd.h>
#include <sys/stat.h>

#include "pl_config.h"


#define PL_MAX_KEEP         1000
#define PL_MAX_DELTA_CARDS  10000000
#define PL_MAX_INTERVAL     86400.0

enum {
    PL_OPT_ONCE = 256,
    PL_OPT_FILE_MODE,
    PL_OPT_ROLLBACK,
    PL_OPT_INSPECT,
    PL_OPT_NO_LISTEN,
    PL_OPT_DELTA_MAX_CARDS,
    PL_OPT_FULL
};


static int pl_config_option(void *ctx, int c, char *value);
static int pl_config_file(const pl_config_args_t *a, const char *path);
static int pl_config_file_line(const pl_config_args_t *a, char *line);
static int pl_config_set_mode(pl_config_t *cf, pl_mode_e mode,
    const char *name);


static const struct option  pl_config_options[] = {
    { "config",       required_argument, NULL, 'c' },
    { "db",           required_argument, NULL, 'd' },
    { "dir",          required_argument, NULL, 'o' },
    { "once",         no_argument,       NULL, PL_OPT_ONCE },
    { "interval",     required_argument, NULL, 'i' },
    { "keep",         required_argument, NULL, 'k' },
    { "file-mode",    required_argument, NULL, PL_OPT_FILE_MODE },
    { "metrics-file", required_argument, NULL, PL_OPT_METRICS_FILE },
    { "log-level",    required_argument, NULL, PL_OPT_LOG_LEVEL },
    { "syslog",       no_argument,       NULL, PL_OPT_SYSLOG },
    { "no-listen",    no_argument,       NULL, PL_OPT_NO_LISTEN },
    { "delta-max-cards", required_argument, NULL, PL_OPT_DELTA_MAX_CARDS },
    { "full",         no_argument,       NULL, PL_OPT_FULL },
    { "rollback",     required_argument, NULL, PL_OPT_ROLLBACK },
    { "inspect",      required_argument, NULL, PL_OPT_INSPECT },
    { "verbose",      no_argument,       NULL, 'v' },
    { "help",         no_argument,       NULL, 'h' },
    { "version",      no_argument,       NULL, 'V' },
    { NULL,           0,                 NULL, 0 }
};

/* what a config file may set: how the daemon runs, not what to do */
static const pl_config_key_t  pl_config_file_keys[] = {
    { "db",           'd' },
    { "dir",          'o' },
    { "interval",     'i' },
    { "keep",         'k' },
    { "file-mode",    PL_OPT_FILE_MODE },
    { "metrics-file", PL_OPT_METRICS_FILE },
    { "log-level",    PL_OPT_LOG_LEVEL },
    { "syslog",       PL_OPT_SYSLOG },
    { "no-listen",    PL_OPT_NO_LISTEN },
    { "delta-max-cards", PL_OPT_DELTA_MAX_CARDS },
    { NULL,           0 }
};

static const char  *pl_config_levels[] = {
    "error", "warn", "info", "debug", NULL
};


void
pl_config_init(pl_config_t *cf)
{
    memset(cf, 0, sizeof(pl_config_t));

    cf->mode = PL_MODE_DAEMON;
    cf->conninfo = "";
    cf->dir = PL_DEFAULT_DIR;
    cf->interval = PL_DEFAULT_INTERVAL;
    cf->keep = PL_DEFAULT_KEEP;
    cf->delta_max_cards = PL_DEFAULT_DELTA_MAX_CARDS;
    cf->file_mode = PL_DEFAULT_MODE;
    cf->run.log_level = PL_LOG_INFO;
}


void
pl_config_free(pl_config_t *cf)
{
    free(cf->file_buf);
    cf->file_buf = NULL;
}


void
pl_config_usage(FILE *out)
{
    fprintf(out,
        "usage: policy-loader [options]\n"
        "       policy-loader inspect FILE\n"
        "  -c, --config FILE     read settings from FILE (\"key = value\""
        " lines, keys\n"
        "                        as the long options below); options on"
        " the command\n"
        "                        line win\n"
        "  -d, --db CONNINFO     libpq connection string"
        " (default \"\": PG* environment)\n"
        "  -o, --dir DIR         snapshot directory (default "
        PL_DEFAULT_DIR ")\n"
        "      --once            build, publish and exit\n"
        "  -i, --interval SECS   daemon mode: how often to check for"
        " changes (default 1)\n"
        "      --no-listen       poll only, no LISTEN for NOTIFY (e.g."
        " through a\n"
        "                        transaction-pooling proxy)\n"
        "  -k, --keep N          generations kept for rollback"
        " (default 3, min 1)\n"
        "      --delta-max-cards N  publish changes as deltas over a"
        " base until\n"
        "                        N cards changed, then build a new base"
        " (default\n"
        "                        20000; 0: every change a full build)\n"
        "      --full            daemon: build in full at start instead"
        " of going on\n"
        "                        from the live generation\n"
        "      --file-mode MODE  octal mode of published files"
        " (default 0640)\n"
        "      --metrics-file F  write Prometheus metrics to F"
        " (node_exporter textfile)\n"
        "      --log-level L     error, warn, info (default) or debug\n"
        "      --syslog          log to syslog (facility daemon), not"
        " stderr\n"
        "      --rollback GEN    republish kept generation GEN and exit\n"
        "      --inspect FILE    validate a snapshot file and print it"
        " (also: inspect FILE)\n"
        "  -v, --verbose         same as --log-level debug\n"
        "  -h, --help            this help\n"
        "  -V, --version         print the version\n"
        "       policy-loader journal [options]: drain the decision"
        " journal\n"
        "       (policy-loader journal --help)\n");
}


/* the whole string must be a number that fits */

int
pl_config_u64(const char *s, int base, uint64_t *v)
{
    char                *end;
    unsigned long long   n;

    if (*s < '0' || *s > '9') {
        return PL_ERR;
    }

    errno = 0;
    n = strtoull(s, &end, base);

    if (errno != 0 || *end != '\0') {
        return PL_ERR;
    }

    *v = n;

    return PL_OK;
}


int
pl_config_bool(const char *s, int *v)
{
    if (strcmp(s, "yes") == 0 || strcmp(s, "on") == 0
        || strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
    {
        *v = 1;
        return PL_OK;
    }

    if (strcmp(s, "no") == 0 || strcmp(s, "off") == 0
        || strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
    {
        *v = 0;
        return PL_OK;
    }

    return PL_ERR;
}


static int
pl_config_set_mode(pl_config_t *cf, pl_mode_e mode, const char *name)
{
    if (cf->mode != PL_MODE_DAEMON && cf->mode != mode) {
        pl_error(cf, PL_EUSAGE, "%s: --once, --rollback and --inspect "
                 "exclude each other", name);
        return PL_ERR;
    }

    cf->mode = mode;

    return PL_OK;
}


int
pl_config_parse(pl_config_t *cf, int argc, char **argv)
{
    int               n;
    pl_config_args_t  a;

    a.shortopts = PL_CONFIG_SHORT;
    a.options = pl_config_options;
    a.keys = pl_config_file_keys;
    a.set = pl_config_option;
    a.ctx = cf;
    a.err = &cf->err;
    a.errstr = cf->errstr;
    a.file_buf = &cf->file_buf;

    n = pl_config_args(&a, argc, argv);
    if (n < 0) {
        return PL_ERR;
    }

    /* "inspect FILE", the command form of --inspect */
    if (n + 2 == argc && strcmp(argv[n], "inspect") == 0) {
        if (pl_config_option(cf, PL_OPT_INSPECT, argv[n + 1]) != PL_OK) {
            return PL_ERR;
        }

        n = argc;
    }

    if (n < argc) {
        pl_error(cf, PL_EUSAGE, "unexpected argument \"%s\"", argv[n]);
        return PL_ERR;
    }

    /* --help and --version win over everything else on the line */
    if (cf->help) {
        cf->mode = PL_MODE_HELP;

    } else if (cf->version) {
        cf->mode = PL_MODE_VERSION;
    }

    return PL_OK;
}


/*
 * Two passes over the command line: the first finds --config (-c),
 * whose settings are read before the second applies the options, so
 * that an option on the command line overrides the file.  Returns the
 * index of the first argument that is not an option, -1 on an error.
 */

int
pl_config_args(const pl_config_args_t *a, int argc, char **argv)
{
    int          c;
    const char  *path;

    opterr = 0;
    optind = 0;
    path = NULL;

    while ((c = getopt_long(argc, argv, a->shortopts, a->options, NULL))
           != -1)
    {
        if (c == 'c') {
            path = optarg;
        }
    }

    if (path != NULL && pl_config_file(a, path) != PL_OK) {
        return -1;
    }

    optind = 0;

    while ((c = getopt_long(argc, argv, a->shortopts, a->options, NULL))
           != -1)
    {
        switch (c) {

        case 'c':
            break;

        case ':':
            pl_err_set(a->err, a->errstr, PL_EUSAGE,
                       "option %s needs a value", argv[optind - 1]);
            return -1;

        case '?':
            if (optopt != 0) {
                pl_err_set(a->err, a->errstr, PL_EUSAGE,
                           "unknown option -%c", optopt);

            } else {
                pl_err_set(a->err, a->errstr, PL_EUSAGE,
                           "unknown option %s", argv[optind - 1]);
            }
            return -1;

        default:
            if (a->set(a->ctx, c, optarg) != PL_OK) {
                return -1;
            }
        }
    }

    return optind;
}


/* one option, from the command line or a config file */

static int
pl_config_option(void *ctx, int c, char *value)
{
    uint64_t      n;
    pl_config_t  *cf;

    cf = ctx;

    switch (c) {

    case 'd':
        cf->conninfo = value;
        break;

    case 'o':
        if (*value == '\0') {
            pl_error(cf, PL_EUSAGE, "--dir: empty directory name");
            return PL_ERR;
        }

        cf->dir = value;
        break;

    case PL_OPT_ONCE:
        return pl_config_set_mode(cf, PL_MODE_ONCE, "--once");

    case 'i':
        if (pl_config_secs(value, 0.001, PL_MAX_INTERVAL, &cf->interval)
            != PL_OK)
        {
            pl_error(cf, PL_EUSAGE, "--interval: \"%s\" is not a "
                     "number of seconds between 0.001 and %.0f",
                     value, PL_MAX_INTERVAL);
            return PL_ERR;
        }
        break;

    case 'k':
        if (pl_config_u64(value, 10, &n) != PL_OK
            || n < 1 || n > PL_MAX_KEEP)
        {
            pl_error(cf, PL_EUSAGE, "--keep: \"%s\" is not a number "
                     "between 1 and %d", value, PL_MAX_KEEP);
            return PL_ERR;
        }

        cf->keep = (unsigned) n;
        break;

    case PL_OPT_FILE_MODE:
        if (pl_config_u64(value, 8, &n) != PL_OK || n > 07777) {
            pl_error(cf, PL_EUSAGE, "--file-mode: \"%s\" is not an "
                     "octal mode such as 0640", value);
            return PL_ERR;
        }

        if ((n & 0600) != 0600) {
            pl_error(cf, PL_EUSAGE, "--file-mode: %s would not let "
                     "the loader read and write its own files", value);
            return PL_ERR;
        }

        cf->file_mode = (unsigned) n;
        break;

    case PL_OPT_METRICS_FILE:
    case PL_OPT_LOG_LEVEL:
    case PL_OPT_SYSLOG:
        return pl_config_run(&cf->run, c, value, &cf->err, cf->errstr);

    case PL_OPT_NO_LISTEN:
        if (value == NULL) {
            cf->no_listen = 1;

        } else if (pl_config_bool(value, &cf->no_listen) != PL_OK) {
            pl_error(cf, PL_EUSAGE, "no-listen: \"%s\" is not yes or no",
                     value);
            return PL_ERR;
        }
        break;

    case PL_OPT_FULL:
        cf->full = 1;
        break;

    case PL_OPT_DELTA_MAX_CARDS:
        if (pl_config_u64(value, 10, &n) != PL_OK
            || n > PL_MAX_DELTA_CARDS)
        {
            pl_error(cf, PL_EUSAGE, "--delta-max-cards: \"%s\" is not a "
                     "number between 0 and %d", value, PL_MAX_DELTA_CARDS);
            return PL_ERR;
        }

        cf->delta_max_cards = n;
        break;

    case PL_OPT_ROLLBACK:
        if (pl_config_set_mode(cf, PL_MODE_ROLLBACK, "--rollback")
            != PL_OK)
        {
            return PL_ERR;
        }

        if (pl_config_u64(value, 10, &cf->rollback) != PL_OK
            || cf->rollback == 0)
        {
            pl_error(cf, PL_EUSAGE, "--rollback: \"%s\" is not a "
                     "generation number", value);
            return PL_ERR;
        }
        break;

    case PL_OPT_INSPECT:
        if (pl_config_set_mode(cf, PL_MODE_INSPECT, "--inspect") != PL_OK) {
            return PL_ERR;
        }

        cf->inspect = value;
        break;

    case 'v':
        cf->run.log_level = PL_LOG_DEBUG;
        break;

    case 'h':
        cf->help = 1;
        break;

    case 'V':
        cf->version = 1;
        break;
    }

    return PL_OK;
}


/*
 * A config file: "key = value" lines; blank lines and lines starting
 * with '#' are skipped; a value may be quoted with "".  The file is kept
 * in memory: settings point into it.
 */

static int
pl_config_file(const pl_config_args_t *a, const char *path)
{
    int       line;
    char     *p, *next, *buf;
    FILE     *f;
    size_t    n;
    char      msg[PL_ERRSTR_LEN];

    f = fopen(path, "re");
    if (f == NULL) {
        pl_err_set(a->err, a->errstr, PL_EUSAGE, "--config: %s: %s", path,
                   strerror(errno));
        return PL_ERR;
    }

    buf = malloc(PL_CONFIG_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        pl_err_set(a->err, a->errstr, PL_ENOMEM, "--config: out of memory");
        return PL_ERR;
    }

    *a->file_buf = buf;

    n = fread(buf, 1, PL_CONFIG_FILE_MAX + 1, f);

    if (ferror(f) || n > PL_CONFIG_FILE_MAX) {
        pl_err_set(a->err, a->errstr, PL_EUSAGE, "--config: %s: %s", path,
                   ferror(f) ? strerror(errno) : "larger than 64 KiB");
        fclose(f);
        return PL_ERR;
    }

    fclose(f);
    buf[n] = '\0';

    if (memchr(buf, '\0', n) != NULL) {
        pl_err_set(a->err, a->errstr, PL_EUSAGE,
                   "--config: %s: not a text file", path);
        return PL_ERR;
    }

    line = 1;

    for (p = buf; *p != '\0'; p = next, line++) {
        next = strchr(p, '\n');

        if (next != NULL) {
            *next++ = '\0';

        } else {
            next = p + strlen(p);
        }

        if (pl_config_file_line(a, p) != PL_OK) {
            /* prefix where; the message names the setting */
            memcpy(msg, a->errstr, PL_ERRSTR_LEN);
            pl_err_set(a->err, a->errstr, PL_EUSAGE, "%s:%d: %s", path,
                       line, msg);
            return PL_ERR;
        }
    }

    return PL_OK;
}


/* keys are the long options; "_" may stand for "-" (metrics_file) */

static int
pl_config_file_line(const pl_config_args_t *a, char *line)
{
    char                   *key, *value, *end, *p;
    const pl_config_key_t  *k;

    key = line + strspn(line, " \t\r");

    if (*key == '\0' || *key == '#') {
        return PL_OK;
    }

    value = strchr(key, '=');
    if (value == NULL) {
        pl_err_set(a->err, a->errstr, PL_EUSAGE,
                   "expected \"key = value\"");
        return PL_ERR;
    }

    for (end = value; end > key && strchr(" \t=", end[-1]); end--) {
        /* void */
    }

    *end = '\0';

    for (p = key; p < end; p++) {
        if (*p == '_') {
            *p = '-';
        }
    }

    value += 1 + strspn(value + 1, " \t");

    for (end = value + strlen(value);
         end > value && strchr(" \t\r", end[-1]) != NULL;
         end--)
    {
        /* void */
    }

    *end = '\0';

    if (end - value >= 2 && *value == '"' && end[-1] == '"') {
        *(end - 1) = '\0';
        value++;
    }

    for (k = a->keys; k->key != NULL; k++) {
        if (strcmp(key, k->key) == 0) {
            return a->set(a->ctx, k->opt, value);
        }
    }

    pl_err_set(a->err, a->errstr, PL_EUSAGE, "unknown setting \"%.40s\"",
               key);

    return PL_ERR;
}


/* seconds, fractions allowed, between min and max, as milliseconds */

int
pl_config_secs(const char *s, double min, double max, unsigned *ms)
{
    char    *end;
    double   secs;

    errno = 0;
    secs = strtod(s, &end);

    if (errno != 0 || end == s || *end != '\0'
        || !(secs >= min && secs <= max))
    {
        return PL_ERR;
    }

    *ms = (unsigned) (secs * 1000 + 0.5);

    return PL_OK;
}


/* a whole number with an optional k, m or g (powers of 1024) */

int
pl_config_size(const char *s, uint64_t *v)
{
    char                *end;
    unsigned long long   n, mul;

    if (*s < '0' || *s > '9') {
        return PL_ERR;
    }

    errno = 0;
    n = strtoull(s, &end, 10);

    mul = 1;

    if (*end == 'k' || *end == 'K') {
        mul = 1024;
        end++;

    } else if (*end == 'm' || *end == 'M') {
        mul = 1024 * 1024;
        end++;

    } else if (*end == 'g' || *end == 'G') {
        mul = 1024 * 1024 * 1024;
        end++;
    }

    if (errno != 0 || *end != '\0' || n > UINT64_MAX / mul) {
        return PL_ERR;
    }

    *v = n * mul;

    return PL_OK;
}


/* --metrics-file, --log-level, --syslog (a flag: value NULL) */

int
pl_config_run(pl_config_run_t *run, int opt, char *value, int *err,
    char *errstr)
{
    switch (opt) {

    case PL_OPT_METRICS_FILE:
        if (*value == '\0') {
            pl_err_set(err, errstr, PL_EUSAGE,
                       "--metrics-file: empty file name");
            return PL_ERR;
        }

        run->metrics_file = value;
        break;

    case PL_OPT_LOG_LEVEL:
        if (pl_config_level(value, &run->log_level) != PL_OK) {
            pl_err_set(err, errstr, PL_EUSAGE, "--log-level: \"%s\" is "
                       "not one of error, warn, info, debug", value);
            return PL_ERR;
        }
        break;

    case PL_OPT_SYSLOG:
        if (value == NULL) {
            run->syslog = 1;

        } else if (pl_config_bool(value, &run->syslog) != PL_OK) {
            pl_err_set(err, errstr, PL_EUSAGE, "syslog: \"%s\" is not yes "
                       "or no", value);
            return PL_ERR;
        }
        break;
    }

    return PL_OK;
}


int
pl_config_level(const char *s, int *level)
{
    int  i;

    for (i = 0; pl_config_levels[i] != NULL; i++) {
        if (strcmp(s, pl_config_levels[i]) == 0) {
            *level = i;
            return PL_OK;
        }
    }

    return PL_ERR;
}


/*
 * The snapshot directory: created 0750 if missing; it must be a
 * directory the loader can write to, checked here so that a mistake is
 * a usage error and not a failure at the first publish.
 */

int
pl_config_prepare_dir(pl_config_t *cf)
{
    struct stat  st;

    if (mkdir(cf->dir, 0750) == 0) {
        /* exactly 0750, whatever the umask */
        (void) chmod(cf->dir, 0750);

    } else if (errno != EEXIST) {
        pl_error(cf, PL_EUSAGE, "--dir: cannot create %s: %s", cf->dir,
                 strerror(errno));
        return PL_ERR;
    }

    if (stat(cf->dir, &st) == -1) {
        pl_error(cf, PL_EUSAGE, "--dir: %s: %s", cf->dir, strerror(errno));
        return PL_ERR;
    }

    if (!S_ISDIR(st.st_mode)) {
        pl_error(cf, PL_EUSAGE, "--dir: %s is not a directory", cf->dir);
        return PL_ERR;
    }

    if (access(cf->dir, W_OK | X_OK) == -1) {
        pl_error(cf, PL_EUSAGE, "--dir: %s is not writable: %s", cf->dir,
                 strerror(errno));
        return PL_ERR;
    }

    return PL_OK;
}
