/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Command-line options and the config file.
 */

#ifndef PL_CONFIG_H
#define PL_CONFIG_H

#include <stdio.h>
#include <stdint.h>
#include <getopt.h>

#include "pl_log.h"


#define PL_VERSION          "0.1.0"

#define PL_DEFAULT_DIR      "/dev/shm/uco"
#define PL_DEFAULT_KEEP     3
#define PL_DEFAULT_MODE     0640
#define PL_DEFAULT_INTERVAL 1000    /* ms */
#define PL_DEFAULT_DELTA_MAX_CARDS  20000

#define PL_CONFIG_FILE_MAX  65536     /* bytes */

#define PL_CONFIG_SHORT     ":c:d:o:i:k:vhV"


/* options every long-running command has, pl_config_run() */
#define PL_OPT_METRICS_FILE 512
#define PL_OPT_LOG_LEVEL    513
#define PL_OPT_SYSLOG       514


typedef struct {
    const char  *metrics_file;  /* NULL: no metrics */
    int          log_level;     /* PL_LOG_* */
    int          syslog;
} pl_config_run_t;

typedef enum {
    PL_MODE_DAEMON = 0,
    PL_MODE_ONCE,
    PL_MODE_ROLLBACK,
    PL_MODE_INSPECT,
    PL_MODE_HELP,
    PL_MODE_VERSION
} pl_mode_e;

typedef struct {
    int               err;
    char              errstr[PL_ERRSTR_LEN];
    pl_mode_e         mode;
    const char       *conninfo;
    const char       *dir;
    const char       *inspect;      /* the file for --inspect */
    uint64_t          rollback;     /* the generation for --rollback */
    unsigned          interval;     /* ms */
    unsigned          keep;
    uint64_t          delta_max_cards;  /* 0: no deltas */
    int               full;         /* no going on from the live one */
    unsigned          file_mode;
    pl_config_run_t   run;
    int               no_listen;    /* poll only */
    int               help;
    int               version;
    char             *file_buf;     /* the --config file; settings in it */
} pl_config_t;


/* a setting a config file may hold: its key and the option it sets */
typedef struct {
    const char  *key;
    int          opt;
} pl_config_key_t;

/* sets option opt; value is NULL for a flag on the command line */
typedef int (*pl_config_set_pt)(void *ctx, int opt, char *value);

/* how a command reads its options and its --config file */
typedef struct {
    const char             *shortopts;
    const struct option    *options;
    const pl_config_key_t  *keys;       /* what a file may set */
    pl_config_set_pt        set;
    void                   *ctx;
    int                    *err;        /* ctx's */
    char                   *errstr;
    char                  **file_buf;   /* the file; settings point in */
} pl_config_args_t;


void pl_config_init(pl_config_t *cf);
void pl_config_free(pl_config_t *cf);
int pl_config_parse(pl_config_t *cf, int argc, char **argv);
int pl_config_prepare_dir(pl_config_t *cf);
void pl_config_usage(FILE *out);

int pl_config_args(const pl_config_args_t *a, int argc, char **argv);
int pl_config_u64(const char *s, int base, uint64_t *v);
int pl_config_bool(const char *s, int *v);
int pl_config_secs(const char *s, double min, double max, unsigned *ms);
int pl_config_size(const char *s, uint64_t *v);
int pl_config_level(const char *s, int *level);
int pl_config_run(pl_config_run_t *run, int opt, char *value, int *err,
    char *errstr);

#endif /* PL_CONFIG_H */
