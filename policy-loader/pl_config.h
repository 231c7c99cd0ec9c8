/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Command-line options and the config file.
 */

#ifndef PL_CONFIG_H
#define PL_CONFIG_H

#include <stdio.h>
#include <stdint.h>

#include "pl_log.h"


#define PL_VERSION          "0.1.0"

#define PL_DEFAULT_DIR      "/dev/shm/uco"
#define PL_DEFAULT_KEEP     3
#define PL_DEFAULT_MODE     0640
#define PL_DEFAULT_INTERVAL 1000    /* ms */

#define PL_CONFIG_SHORT     ":c:d:o:i:k:vhV"


typedef enum {
    PL_MODE_DAEMON = 0,
    PL_MODE_ONCE,
    PL_MODE_ROLLBACK,
    PL_MODE_INSPECT,
    PL_MODE_HELP,
    PL_MODE_VERSION
} pl_mode_e;

typedef struct {
    int          err;
    char         errstr[PL_ERRSTR_LEN];
    pl_mode_e    mode;
    const char  *conninfo;
    const char  *dir;
    const char  *inspect;       /* the file for --inspect */
    const char  *metrics_file;  /* NULL: no metrics */
    uint64_t     rollback;      /* the generation for --rollback */
    unsigned     interval;      /* ms */
    unsigned     keep;
    unsigned     file_mode;
    int          log_level;     /* PL_LOG_* */
    int          syslog;
    int          no_listen;     /* poll only */
    int          help;
    int          version;
    char        *file_buf;      /* the --config file; settings point in */
} pl_config_t;


void pl_config_init(pl_config_t *cf);
void pl_config_free(pl_config_t *cf);
int pl_config_parse(pl_config_t *cf, int argc, char **argv);
int pl_config_prepare_dir(pl_config_t *cf);
void pl_config_usage(FILE *out);

#endif /* PL_CONFIG_H */
