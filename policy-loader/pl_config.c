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
#define PL_MAX_INTERVAL     86400.0

enum {
    PL_OPT_ONCE = 256,
    PL_OPT_FILE_MODE,
    PL_OPT_ROLLBACK,
    PL_OPT_INSPECT
};


static int pl_config_u64(const char *s, int base, uint64_t *v);
static int pl_config_set_mode(pl_config_t *cf, pl_mode_e mode,
    const char *name);


static const struct option  pl_config_options[] = {
    { "db",        required_argument, NULL, 'd' },
    { "dir",       required_argument, NULL, 'o' },
    { "once",      no_argument,       NULL, PL_OPT_ONCE },
    { "interval",  required_argument, NULL, 'i' },
    { "keep",      required_argument, NULL, 'k' },
    { "file-mode", required_argument, NULL, PL_OPT_FILE_MODE },
    { "rollback",  required_argument, NULL, PL_OPT_ROLLBACK },
    { "inspect",   required_argument, NULL, PL_OPT_INSPECT },
    { "verbose",   no_argument,       NULL, 'v' },
    { "help",      no_argument,       NULL, 'h' },
    { "version",   no_argument,       NULL, 'V' },
    { NULL,        0,                 NULL, 0 }
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
    cf->file_mode = PL_DEFAULT_MODE;
}


void
pl_config_usage(FILE *out)
{
    fprintf(out,
        "usage: policy-loader [options]\n"
        "  -d, --db CONNINFO     libpq connection string"
        " (default \"\": PG* environment)\n"
        "  -o, --dir DIR         snapshot directory (default "
        PL_DEFAULT_DIR ")\n"
        "      --once            build, publish and exit\n"
        "  -i, --interval SECS   daemon mode: how often to check for"
        " changes (default 1)\n"
        "  -k, --keep N          generations kept for rollback"
        " (default 3, min 1)\n"
        "      --file-mode MODE  octal mode of published files"
        " (default 0640)\n"
        "      --rollback GEN    republish kept generation GEN and exit\n"
        "      --inspect FILE    validate a snapshot file and print it\n"
        "  -v, --verbose         debug logging\n"
        "  -h, --help            this help\n"
        "  -V, --version         print the version\n");
}


/* the whole string must be a number that fits */

static int
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
    int        c;
    char      *end;
    double     secs;
    uint64_t   n;
    pl_mode_e  mode;

    mode = PL_MODE_DAEMON;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":d:o:i:k:vhV", pl_config_options,
                            NULL))
           != -1)
    {
        switch (c) {

        case 'd':
            cf->conninfo = optarg;
            break;

        case 'o':
            if (*optarg == '\0') {
                pl_error(cf, PL_EUSAGE, "--dir: empty directory name");
                return PL_ERR;
            }

            cf->dir = optarg;
            break;

        case PL_OPT_ONCE:
            if (pl_config_set_mode(cf, PL_MODE_ONCE, "--once") != PL_OK) {
                return PL_ERR;
            }
            break;

        case 'i':
            errno = 0;
            secs = strtod(optarg, &end);

            if (errno != 0 || end == optarg || *end != '\0'
                || !(secs >= 0.001 && secs <= PL_MAX_INTERVAL))
            {
                pl_error(cf, PL_EUSAGE, "--interval: \"%s\" is not a "
                         "number of seconds between 0.001 and %.0f",
                         optarg, PL_MAX_INTERVAL);
                return PL_ERR;
            }

            cf->interval = (unsigned) (secs * 1000 + 0.5);
            break;

        case 'k':
            if (pl_config_u64(optarg, 10, &n) != PL_OK
                || n < 1 || n > PL_MAX_KEEP)
            {
                pl_error(cf, PL_EUSAGE, "--keep: \"%s\" is not a number "
                         "between 1 and %d", optarg, PL_MAX_KEEP);
                return PL_ERR;
            }

            cf->keep = (unsigned) n;
            break;

        case PL_OPT_FILE_MODE:
            if (pl_config_u64(optarg, 8, &n) != PL_OK || n > 07777) {
                pl_error(cf, PL_EUSAGE, "--file-mode: \"%s\" is not an "
                         "octal mode such as 0640", optarg);
                return PL_ERR;
            }

            if ((n & 0600) != 0600) {
                pl_error(cf, PL_EUSAGE, "--file-mode: %s would not let "
                         "the loader read and write its own files", optarg);
                return PL_ERR;
            }

            cf->file_mode = (unsigned) n;
            break;

        case PL_OPT_ROLLBACK:
            if (pl_config_set_mode(cf, PL_MODE_ROLLBACK, "--rollback")
                != PL_OK)
            {
                return PL_ERR;
            }

            if (pl_config_u64(optarg, 10, &cf->rollback) != PL_OK
                || cf->rollback == 0)
            {
                pl_error(cf, PL_EUSAGE, "--rollback: \"%s\" is not a "
                         "generation number", optarg);
                return PL_ERR;
            }
            break;

        case PL_OPT_INSPECT:
            if (pl_config_set_mode(cf, PL_MODE_INSPECT, "--inspect")
                != PL_OK)
            {
                return PL_ERR;
            }

            cf->inspect = optarg;
            break;

        case 'v':
            cf->verbose = 1;
            break;

        case 'h':
            mode = PL_MODE_HELP;
            break;

        case 'V':
            if (mode != PL_MODE_HELP) {
                mode = PL_MODE_VERSION;
            }
            break;

        case ':':
            pl_error(cf, PL_EUSAGE, "option %s needs a value",
                     argv[optind - 1]);
            return PL_ERR;

        default:
            if (optopt != 0) {
                pl_error(cf, PL_EUSAGE, "unknown option -%c", optopt);

            } else {
                pl_error(cf, PL_EUSAGE, "unknown option %s",
                         argv[optind - 1]);
            }
            return PL_ERR;
        }
    }

    if (optind < argc) {
        pl_error(cf, PL_EUSAGE, "unexpected argument \"%s\"", argv[optind]);
        return PL_ERR;
    }

    /* --help and --version win over everything else on the line */
    if (mode != PL_MODE_DAEMON) {
        cf->mode = mode;
    }

    return PL_OK;
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
