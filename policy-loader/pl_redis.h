/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The journal's Redis sink: one XADD per record (the msgpack record
 * whole, or its values as fields), pipelined per batch
 * (written by hand in RESP, handed to hiredis in one piece),
 * the stream capped by MAXLEN or MINID (hiredis 0.14 API); over TCP or
 * a unix socket, with AUTH.
 */

#ifndef PL_REDIS_H
#define PL_REDIS_H

#include <stdint.h>
#include <hiredis/hiredis.h>

#include "pl_log.h"
#include "pl_journal.h"
#include "pl_journal_conf.h"


typedef struct {
    int               err;
    char              errstr[PL_ERRSTR_LEN];
    char             *host;         /* NULL: socket */
    int               port;
    const char       *socket;
    const char       *user;         /* NULL: AUTH password alone */
    const char       *password;     /* NULL: no AUTH */
    const char       *stream;
    pl_jconf_entry_e  entry;
    uint64_t          maxlen;       /* 0: none */
    uint64_t          minid_age;    /* ms; 0: none */
    unsigned          timeout;      /* ms */
    redisContext     *ctx;
    char             *head;         /* what each XADD of a batch begins with */
    char             *buf;          /* a batch's commands */
    size_t            size;
    char              where[80];    /* host:port, for messages */
    int               lowat;        /* the socket's SO_RCVLOWAT */
    char              rbuf[65536];  /* a batch's replies, as read */
} pl_redis_t;


/* NULL: out of memory, or cf->redis is not HOST[:PORT] */
pl_redis_t *pl_redis_new(const pl_jconf_t *cf);
void pl_redis_free(pl_redis_t *rd);
int pl_redis_deliver(pl_redis_t *rd, const pl_jbatch_t *b);

#endif /* PL_REDIS_H */
