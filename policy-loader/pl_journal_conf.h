/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * policy-loader journal's options and config file (docs/journal.md).
 */

#ifndef PL_JOURNAL_CONF_H
#define PL_JOURNAL_CONF_H

#include <stdio.h>
#include <stdint.h>

#include "pl_log.h"
#include "pl_config.h"


/* a stream entry: the msgpack record whole, or its values field by field */
typedef enum {
    PL_JCONF_ENTRY_RECORD = 0,
    PL_JCONF_ENTRY_FIELDS
} pl_jconf_entry_e;


typedef struct {
    int               err;
    char              errstr[PL_ERRSTR_LEN];

    const char       *ring_dir;
    const char       *conninfo;
    const char       *redis;            /* HOST[:PORT] */
    const char       *redis_socket;     /* or a unix socket */
    const char       *redis_user;       /* ACL user; NULL: AUTH password */
    const char       *redis_password;   /* never from the command line */
    const char       *redis_password_file;
    const char       *stream;
    pl_jconf_entry_e  redis_entry;
    const char       *spool_dir;
    uint64_t          spool_max;
    uint64_t          maxlen;
    uint64_t          minid_age;        /* ms */
    unsigned          interval;         /* ms */
    unsigned          timeout;          /* ms */
    unsigned          retention_months; /* 0: keep for ever */
    pl_config_run_t   run;              /* metrics, log level, syslog */
    int               help;

    char             *file_buf;         /* the --config file */
    char             *password_buf;     /* redis-password-file's */
} pl_jconf_t;


int pl_jconf_parse(pl_jconf_t *cf, int argc, char **argv);
void pl_jconf_free(pl_jconf_t *cf);
void pl_jconf_usage(FILE *out);

#endif /* PL_JOURNAL_CONF_H */
