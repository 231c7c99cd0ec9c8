/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The journal's Redis sink.  Each record becomes one stream entry whose
 * fields are the record's (docs/journal.md); absent values are left
 * out.  Entry ids are Redis's own: after a loader crash a record may be
 * added twice, and readers drop repeats by the id field (at-least-once).
 * Any error closes the connection: the next batch reconnects.  The
 * password is sent in AUTH and nowhere else: not logged, and an error
 * names the server, never what was sent.  hiredis 0.14 (Debian 12) has
 * no TLS: docs/journal.md says what to do instead.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

#include "pl_redis.h"


#define PL_REDIS_ARGS      32
#define PL_REDIS_NUM       24


static int pl_redis_connect(pl_redis_t *rd);
static int pl_redis_auth(pl_redis_t *rd);
static const char *pl_redis_where(pl_redis_t *rd);
static void pl_redis_close(pl_redis_t *rd);
static int pl_redis_append(pl_redis_t *rd, const uco_journal_rec_t *r,
    const char *trim);


pl_redis_t *
pl_redis_new(const pl_jconf_t *cf)
{
    char        *colon, *end;
    long         port;
    pl_redis_t  *rd;

    rd = calloc(1, sizeof(pl_redis_t));
    if (rd == NULL) {
        return NULL;
    }

    rd->socket = cf->redis_socket;
    rd->user = cf->redis_user;
    rd->password = cf->redis_password;
    rd->stream = cf->stream;
    rd->maxlen = cf->maxlen;
    rd->minid_age = cf->minid_age;
    rd->timeout = cf->timeout;

    if (cf->redis_socket != NULL) {
        return rd;
    }

    rd->host = strdup(cf->redis);
    if (rd->host == NULL) {
        free(rd);
        return NULL;
    }

    rd->port = 6379;
    colon = strrchr(rd->host, ':');

    if (colon != NULL) {
        *colon = '\0';
        port = strtol(colon + 1, &end, 10);

        if (*end != '\0' || port < 1 || port > 65535) {
            pl_redis_free(rd);
            return NULL;
        }

        rd->port = (int) port;
    }

    return rd;
}


void
pl_redis_free(pl_redis_t *rd)
{
    if (rd == NULL) {
        return;
    }

    pl_redis_close(rd);
    free(rd->host);
    free(rd);
}


static int
pl_redis_connect(pl_redis_t *rd)
{
    struct timeval  tv;

    tv.tv_sec = rd->timeout / 1000;
    tv.tv_usec = (rd->timeout % 1000) * 1000;

    if (rd->socket != NULL) {
        rd->ctx = redisConnectUnixWithTimeout(rd->socket, tv);

    } else {
        rd->ctx = redisConnectWithTimeout(rd->host, rd->port, tv);
    }

    if (rd->ctx == NULL) {
        pl_error(rd, PL_ENOMEM, "redis: out of memory");
        return PL_ERR;
    }

    if (rd->ctx->err != 0 || redisSetTimeout(rd->ctx, tv) != REDIS_OK) {
        pl_error(rd, PL_ECONN, "redis %s: %s", pl_redis_where(rd),
                 rd->ctx->errstr);
        pl_redis_close(rd);
        return PL_ERR;
    }

    if (rd->password != NULL && pl_redis_auth(rd) != PL_OK) {
        pl_redis_close(rd);
        return PL_ERR;
    }

    pl_log(PL_LOG_INFO, "journal: connected to redis %s%s",
           pl_redis_where(rd), rd->password != NULL ? " (AUTH)" : "");

    return PL_OK;
}


/* AUTH [user] password: the reply's text names no secret */

static int
pl_redis_auth(pl_redis_t *rd)
{
    int          argc;
    const char  *argv[3];
    size_t       argvlen[3];
    redisReply  *reply;

    argc = 0;
    argv[argc] = "AUTH";
    argvlen[argc++] = 4;

    if (rd->user != NULL) {
        argv[argc] = rd->user;
        argvlen[argc] = strlen(rd->user);
        argc++;
    }

    argv[argc] = rd->password;
    argvlen[argc] = strlen(rd->password);
    argc++;

    reply = redisCommandArgv(rd->ctx, argc, argv, argvlen);

    if (reply == NULL) {
        pl_error(rd, PL_ECONN, "redis %s: %s", pl_redis_where(rd),
                 rd->ctx->errstr);
        return PL_ERR;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        pl_error(rd, PL_EQUERY, "redis %s AUTH%s refused: %.*s",
                 pl_redis_where(rd), rd->user != NULL ? " (ACL user)" : "",
                 (int) reply->len, reply->str);
        freeReplyObject(reply);
        return PL_ERR;
    }

    freeReplyObject(reply);

    return PL_OK;
}


/* for messages: host:port or the socket's path */

static const char *
pl_redis_where(pl_redis_t *rd)
{
    if (rd->socket != NULL) {
        return rd->socket;
    }

    snprintf(rd->where, sizeof(rd->where), "%s:%d", rd->host, rd->port);

    return rd->where;
}


static void
pl_redis_close(pl_redis_t *rd)
{
    if (rd->ctx != NULL) {
        redisFree(rd->ctx);
        rd->ctx = NULL;
    }
}


static int
pl_redis_append(pl_redis_t *rd, const uco_journal_rec_t *r,
    const char *trim)
{
    int          argc, i;
    const char  *argv[PL_REDIS_ARGS];
    size_t       argvlen[PL_REDIS_ARGS];
    char         num[9][PL_REDIS_NUM];
    uint64_t     v[8];
    const char  *name[8] = {
        "id", "time", "node", "partner", "card", "programme", "discount",
        "amount"
    };

    argc = 0;
    argv[argc++] = "XADD";
    argv[argc++] = rd->stream;

    if (rd->maxlen != 0) {
        argv[argc++] = "MAXLEN";
        argv[argc++] = "~";
        argv[argc++] = trim;

    } else if (rd->minid_age != 0) {
        argv[argc++] = "MINID";
        argv[argc++] = "~";
        argv[argc++] = trim;
    }

    argv[argc++] = "*";

    v[0] = r->id;
    v[1] = r->time_ms;
    v[2] = r->node;
    v[3] = r->partner;
    v[4] = r->card;
    v[5] = r->programme;
    v[6] = (uint64_t) r->discount;
    v[7] = (uint64_t) r->amount;

    for (i = 0; i < 8; i++) {
        if ((i == 4 || i == 5) && v[i] == 0) {
            continue;
        }

        if ((i == 6 && r->discount < 0) || (i == 7 && r->amount < 0)) {
            continue;
        }

        *pl_journal_u64(num[i], v[i]) = '\0';
        argv[argc++] = name[i];
        argv[argc++] = num[i];
    }

    argv[argc++] = "decision";
    argv[argc++] = uco_snap_decision_name(r->decision);

    if (r->reason != UCO_REASON_NONE) {
        argv[argc++] = "reason";
        argv[argc++] = uco_snap_reason_name(r->reason);
    }

    *pl_journal_u64(num[8], r->generation) = '\0';
    argv[argc++] = "generation";
    argv[argc++] = num[8];

    for (i = 0; i < argc; i++) {
        argvlen[i] = strlen(argv[i]);
    }

    /* not NUL-terminated */
    if (r->terminal_len != 0) {
        argv[argc] = "terminal";
        argvlen[argc++] = sizeof("terminal") - 1;
        argv[argc] = r->terminal;
        argvlen[argc++] = r->terminal_len;
    }

    if (redisAppendCommandArgv(rd->ctx, argc, argv, argvlen) != REDIS_OK) {
        pl_error(rd, PL_ENOMEM, "redis: %s", rd->ctx->errstr);
        return PL_ERR;
    }

    return PL_OK;
}


/* the whole batch in one round trip; PL_OK when every entry was added */

int
pl_redis_deliver(pl_redis_t *rd, const pl_jbatch_t *b)
{
    int              rc;
    size_t           i;
    uint64_t         min;
    redisReply      *reply;
    struct timespec  now;
    char             trim[PL_REDIS_NUM];

    if (rd->ctx == NULL && pl_redis_connect(rd) != PL_OK) {
        return PL_ERR;
    }

    if (rd->maxlen != 0) {
        snprintf(trim, sizeof(trim), "%llu",
                 (unsigned long long) rd->maxlen);

    } else {
        clock_gettime(CLOCK_REALTIME, &now);
        min = (uint64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
        min = min > rd->minid_age ? min - rd->minid_age : 0;
        snprintf(trim, sizeof(trim), "%llu", (unsigned long long) min);
    }

    for (i = 0; i < b->n; i++) {
        if (pl_redis_append(rd, &b->rec[i], trim) != PL_OK) {
            pl_redis_close(rd);
            return PL_ERR;
        }
    }

    rc = PL_OK;

    for (i = 0; i < b->n; i++) {
        if (redisGetReply(rd->ctx, (void **) &reply) != REDIS_OK) {
            pl_error(rd, PL_ECONN, "redis %s: %s", pl_redis_where(rd),
                     rd->ctx->errstr);
            pl_redis_close(rd);
            return PL_ERR;
        }

        if (reply->type == REDIS_REPLY_ERROR && rc == PL_OK) {
            pl_error(rd, PL_EQUERY, "redis XADD: %.*s",
                     (int) reply->len, reply->str);
            rc = PL_ERR;
        }

        freeReplyObject(reply);
    }

    if (rc != PL_OK) {
        pl_redis_close(rd);
    }

    return rc;
}
