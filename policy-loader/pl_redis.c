/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The journal's Redis sink.  Each record becomes one stream entry: by
 * default the decision_id and the msgpack record as the module wrote
 * it (two fields: the fewest bytes to write, send and parse), or with
 * --redis-entry fields the record's values as fields of their own,
 * absent values left out (docs/journal.md).  Entry ids are Redis's
 * own: after a loader crash a record may be added twice, and readers
 * drop repeats by the id field (at-least-once).
 * Any error closes the connection: the next batch reconnects.  The
 * password is sent in AUTH and nowhere else: not logged, and an error
 * names the server, never what was sent.  hiredis 0.14 (Debian 12) has
 * no TLS: docs/journal.md says what to do instead.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "pl_redis.h"


/*
 * The most a record's command takes after the batch's head: "*argc",
 * nine numbers with their names, the two names and the terminal.
 */
#define PL_REDIS_RECORD_MAX  640
/* the head: "XADD", the key, "MAXLEN ~ N" or "MINID ~ N", "*" */
#define PL_REDIS_HEAD_MAX    96

/*
 * The shortest reply to an XADD; the most a read waits for (a unix
 * socket's queue is bounded by the sender's buffer, counted per packet);
 * the reader's bites
 */
#define PL_REDIS_REPLY_MIN    9
#define PL_REDIS_LOWAT_MAX    16384
#define PL_REDIS_FEED         1024

/* a record entry's fields around the values: "id" first, "record" */
#define PL_REDIS_ID_FIELD     "$2\r\nid\r\n"
#define PL_REDIS_REC_FIELD    "$6\r\nrecord\r\n"


static int pl_redis_connect(pl_redis_t *rd);
static int pl_redis_auth(pl_redis_t *rd);
static const char *pl_redis_where(pl_redis_t *rd);
static void pl_redis_close(pl_redis_t *rd);
static char *pl_redis_arg(char *p, const void *s, size_t len);
static char *pl_redis_field(char *p, const char *name, size_t nlen,
    uint64_t v);
static char *pl_redis_append(char *p, const uco_journal_rec_t *r,
    const char *head, size_t hlen, unsigned hargs);
static char *pl_redis_append_record(char *p, const pl_jbatch_t *b,
    size_t i, const char *head, size_t hlen);
static int pl_redis_send(pl_redis_t *rd, const char *p, size_t len);
static int pl_redis_replies(pl_redis_t *rd, size_t n);
static void *pl_redis_string(const redisReadTask *task, char *s, size_t len);
static void *pl_redis_array(const redisReadTask *task, int n);
static void *pl_redis_integer(const redisReadTask *task, long long v);
static void *pl_redis_nil(const redisReadTask *task);
static void pl_redis_nofree(void *obj);


/*
 * A batch's replies are read without an allocation: hiredis's reader
 * is given these functions while the batch's replies are read (AUTH's
 * reply is hiredis's own), and every reply becomes one of two static
 * objects.  Only an error reply keeps something, its message for the
 * log (truncated); the loader delivers from one thread.
 */
static char  pl_redis_errmsg[256];

static redisReply  pl_redis_ok = { .type = REDIS_REPLY_STATUS };
static redisReply  pl_redis_err = { .type = REDIS_REPLY_ERROR,
                                    .str = pl_redis_errmsg };

static redisReplyObjectFunctions  pl_redis_batch_fn = {
    pl_redis_string, pl_redis_array, pl_redis_integer, pl_redis_nil,
    pl_redis_nofree
};


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
    rd->entry = cf->redis_entry;
    rd->maxlen = cf->maxlen;
    rd->minid_age = cf->minid_age;
    rd->timeout = cf->timeout;
    rd->head = malloc(strlen(cf->stream) + PL_REDIS_HEAD_MAX);

    if (rd->head == NULL) {
        free(rd);
        return NULL;
    }

    if (cf->redis_socket != NULL) {
        return rd;
    }

    rd->host = strdup(cf->redis);
    if (rd->host == NULL) {
        pl_redis_free(rd);
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
    free(rd->head);
    free(rd->buf);
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

    rd->lowat = 1;

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


/*
 * The batch's XADD commands written by hand in RESP ("*argc", then
 * "$len" and the bytes of each argument), one buffer for the whole
 * batch handed to hiredis at once: its printf-style formatter and a
 * buffer append per command were two thirds of the delivery's CPU.
 */

static char *
pl_redis_arg(char *p, const void *s, size_t len)
{
    *p++ = '$';
    p = pl_journal_u64(p, len);
    memcpy(p, "\r\n", 2);
    memcpy(p + 2, s, len);
    p += 2 + len;
    memcpy(p, "\r\n", 2);

    return p + 2;
}


static char *
pl_redis_field(char *p, const char *name, size_t nlen, uint64_t v)
{
    char   d[20];

    p = pl_redis_arg(p, name, nlen);

    return pl_redis_arg(p, d, (size_t) (pl_journal_u64(d, v) - d));
}


/* a field name as a literal: its length known at compile time */
#define pl_redis_num(p, name, v)                                          \
    pl_redis_field(p, name, sizeof(name) - 1, v)
#define pl_redis_str(p, name, s, len)                                     \
    pl_redis_arg(pl_redis_arg(p, name, sizeof(name) - 1), s, len)


static char *
pl_redis_append(char *p, const uco_journal_rec_t *r, const char *head,
    size_t hlen, unsigned hargs)
{
    unsigned     argc;
    const char  *n;

    argc = hargs + 12 + 2 * ((r->card != 0) + (r->programme != 0)
                             + (r->discount >= 0) + (r->amount >= 0)
                             + (r->reason != UCO_REASON_NONE)
                             + (r->terminal_len != 0));

    *p++ = '*';
    p = pl_journal_u64(p, argc);
    memcpy(p, "\r\n", 2);
    memcpy(p + 2, head, hlen);
    p += 2 + hlen;

    p = pl_redis_num(p, "id", r->id);
    p = pl_redis_num(p, "time", r->time_ms);
    p = pl_redis_num(p, "node", r->node);
    p = pl_redis_num(p, "partner", r->partner);

    if (r->card != 0) {
        p = pl_redis_num(p, "card", r->card);
    }

    if (r->programme != 0) {
        p = pl_redis_num(p, "programme", r->programme);
    }

    if (r->discount >= 0) {
        p = pl_redis_num(p, "discount", (uint64_t) r->discount);
    }

    if (r->amount >= 0) {
        p = pl_redis_num(p, "amount", (uint64_t) r->amount);
    }

    n = uco_snap_decision_name(r->decision);
    p = pl_redis_str(p, "decision", n, strlen(n));

    if (r->reason != UCO_REASON_NONE) {
        n = uco_snap_reason_name(r->reason);
        p = pl_redis_str(p, "reason", n, strlen(n));
    }

    p = pl_redis_num(p, "generation", r->generation);

    if (r->terminal_len != 0) {
        p = pl_redis_str(p, "terminal", r->terminal, r->terminal_len);
    }

    return p;
}


/*
 * The head with its count ("*10", "*7" with no cap), "id" and its
 * digits, "record" and the record's bytes: the field names are
 * constants, the record is copied once, and nothing is formatted but
 * the id and the record's length.
 */

static char *
pl_redis_append_record(char *p, const pl_jbatch_t *b, size_t i,
    const char *head, size_t hlen)
{
    char  d[20];

    memcpy(p, head, hlen);
    p += hlen;
    memcpy(p, PL_REDIS_ID_FIELD, sizeof(PL_REDIS_ID_FIELD) - 1);
    p += sizeof(PL_REDIS_ID_FIELD) - 1;
    p = pl_redis_arg(p, d, (size_t) (pl_journal_u64(d, b->rec[i].id) - d));
    memcpy(p, PL_REDIS_REC_FIELD, sizeof(PL_REDIS_REC_FIELD) - 1);
    p += sizeof(PL_REDIS_REC_FIELD) - 1;

    return pl_redis_arg(p, b->raw[i], b->len[i]);
}


/* the whole batch in one round trip; PL_OK when every entry was added */

int
pl_redis_deliver(pl_redis_t *rd, const pl_jbatch_t *b)
{
    char            *p, *h;
    size_t           i, hlen, size;
    unsigned         hargs;
    uint64_t         trim;
    struct timespec  now;
    char             d[20];

    if (rd->ctx == NULL && pl_redis_connect(rd) != PL_OK) {
        return PL_ERR;
    }

    /* what every command of the batch starts with */
    h = pl_redis_arg(rd->head, "XADD", 4);
    h = pl_redis_arg(h, rd->stream, strlen(rd->stream));
    hargs = 3;

    if (rd->maxlen != 0 || rd->minid_age != 0) {
        if (rd->maxlen != 0) {
            trim = rd->maxlen;
            h = pl_redis_arg(h, "MAXLEN", 6);

        } else {
            clock_gettime(CLOCK_REALTIME, &now);
            trim = (uint64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
            trim = trim > rd->minid_age ? trim - rd->minid_age : 0;
            h = pl_redis_arg(h, "MINID", 5);
        }

        h = pl_redis_arg(h, "~", 1);
        h = pl_redis_arg(h, d, (size_t) (pl_journal_u64(d, trim) - d));
        hargs += 3;
    }

    h = pl_redis_arg(h, "*", 1);
    hlen = (size_t) (h - rd->head);

    if (rd->entry == PL_JCONF_ENTRY_RECORD) {
        /* every command has the same count: it joins the head */
        d[0] = '*';
        h = pl_journal_u64(d + 1, hargs + 4);
        memcpy(h, "\r\n", 2);
        size = (size_t) (h + 2 - d);
        memmove(rd->head + size, rd->head, hlen);
        memcpy(rd->head, d, size);
        hlen += size;
    }

    size = b->n * (hlen + PL_REDIS_RECORD_MAX);

    if (size > rd->size) {
        free(rd->buf);
        rd->buf = malloc(size);
        rd->size = rd->buf != NULL ? size : 0;

        if (rd->buf == NULL) {
            pl_error(rd, PL_ENOMEM, "redis: out of memory");
            return PL_ERR;
        }
    }

    p = rd->buf;

    if (rd->entry == PL_JCONF_ENTRY_RECORD) {
        for (i = 0; i < b->n; i++) {
            p = pl_redis_append_record(p, b, i, rd->head, hlen);
        }

    } else {
        for (i = 0; i < b->n; i++) {
            p = pl_redis_append(p, &b->rec[i], rd->head, hlen, hargs);
        }
    }

    if (pl_redis_send(rd, rd->buf, (size_t) (p - rd->buf)) != PL_OK) {
        return PL_ERR;
    }

    return pl_redis_replies(rd, b->n);
}


/*
 * The batch written to the socket from our buffer: hiredis would copy
 * it into its output buffer and move the rest down after every write.
 * Its buffer is empty between batches (AUTH is written and answered
 * before); should it hold anything, that goes first, so that the
 * replies read next are the batch's alone.  The socket is blocking with
 * hiredis's send timeout: a timeout or error fails the batch like a
 * hiredis error.
 */

static int
pl_redis_send(pl_redis_t *rd, const char *p, size_t len)
{
    int      done;
    ssize_t  n;

    done = sdslen(rd->ctx->obuf) == 0;

    while (!done) {
        if (redisBufferWrite(rd->ctx, &done) != REDIS_OK) {
            pl_error(rd, PL_ECONN, "redis %s: %s", pl_redis_where(rd),
                     rd->ctx->errstr);
            pl_redis_close(rd);
            return PL_ERR;
        }
    }

    while (len != 0) {
        n = send(rd->ctx->fd, p, len, MSG_NOSIGNAL);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            pl_error(rd, PL_ECONN, "redis %s: %s", pl_redis_where(rd),
                     strerror(errno));
            pl_redis_close(rd);
            return PL_ERR;
        }

        p += n;
        len -= (size_t) n;
    }

    return PL_OK;
}


/*
 * n replies; PL_OK when none is an error.  Read here rather than by
 * redisGetReply(): a blocking read returns as soon as any reply has
 * come, and Redis answers a pipeline a read buffer at a time, so a
 * batch cost a dozen reads and as many wake-ups.  SO_RCVLOWAT makes
 * each read wait for the fewest bytes the missing replies can take,
 * less what the reader holds of them (an entry id is at least
 * "$3\r\n0-1\r\n"; an error reply shorter than that would only make a
 * read wait for the timeout, then go on).  The bytes go to hiredis's
 * reader 1 KB at a time: it moves its unread rest down after each 1 KB
 * parsed, which a large piece makes quadratic.
 */

static int
pl_redis_replies(pl_redis_t *rd, size_t n)
{
    int                         rc, lowat;
    size_t                      got, off, have, len, need;
    ssize_t                     nread;
    redisReply                 *reply;
    redisReader                *reader;
    redisReplyObjectFunctions  *fn;

    reader = rd->ctx->reader;
    fn = reader->fn;
    reader->fn = &pl_redis_batch_fn;
    rc = PL_OK;
    got = 0;
    off = 0;
    have = 0;

    for ( ;; ) {
        while (got < n) {
            if (redisReaderGetReply(reader, (void **) &reply) != REDIS_OK) {
                pl_error(rd, PL_ECONN, "redis %s: %s", pl_redis_where(rd),
                         reader->errstr);
                goto failed;
            }

            if (reply == NULL) {
                break;
            }

            got++;

            if (reply == &pl_redis_err && rc == PL_OK) {
                pl_error(rd, PL_EQUERY, "redis XADD: %.*s",
                         (int) pl_redis_err.len, pl_redis_err.str);
                rc = PL_ERR;
            }
        }

        if (got == n) {
            break;
        }

        if (off == have) {
            /* the fewest bytes to come: the reader may hold a part */
            need = (n - got) * PL_REDIS_REPLY_MIN;
            need = need > reader->len - reader->pos
                   ? need - (reader->len - reader->pos) : 1;
            lowat = need < PL_REDIS_LOWAT_MAX ? (int) need
                                              : PL_REDIS_LOWAT_MAX;

            if (lowat != rd->lowat) {
                if (setsockopt(rd->ctx->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat,
                               sizeof(int)) == -1)
                {
                    pl_error(rd, PL_ECONN, "redis %s: SO_RCVLOWAT: %s",
                             pl_redis_where(rd), strerror(errno));
                    goto failed;
                }

                rd->lowat = lowat;
            }

            nread = recv(rd->ctx->fd, rd->rbuf, sizeof(rd->rbuf), 0);

            if (nread <= 0) {
                if (nread == -1 && errno == EINTR) {
                    continue;
                }

                pl_error(rd, PL_ECONN, "redis %s: %s", pl_redis_where(rd),
                         nread == 0 ? "connection closed by the server"
                         : errno == EAGAIN ? "timeout reading replies"
                         : strerror(errno));
                goto failed;
            }

            off = 0;
            have = (size_t) nread;
        }

        len = have - off < PL_REDIS_FEED ? have - off : PL_REDIS_FEED;

        if (redisReaderFeed(reader, rd->rbuf + off, len) != REDIS_OK) {
            pl_error(rd, PL_ENOMEM, "redis: out of memory");
            goto failed;
        }

        off += len;
    }

    /*
     * Nothing may follow the batch's replies: the next batch would take
     * them for its own and misplace an error.  The connection is not
     * to be trusted; the batch spools and is sent again.
     */
    if (off < have || reader->pos < reader->len) {
        pl_error(rd, PL_ECONN, "redis %s: bytes after the batch's %zu "
                 "replies", pl_redis_where(rd), n);
        goto failed;
    }

    reader->fn = fn;

    if (rc != PL_OK) {
        pl_redis_close(rd);
    }

    return rc;

failed:

    /* not restored: a reply parsed in part is freed by our functions */
    pl_redis_close(rd);

    return PL_ERR;
}


static void *
pl_redis_string(const redisReadTask *task, char *s, size_t len)
{
    if (task->type != REDIS_REPLY_ERROR || task->parent != NULL) {
        return &pl_redis_ok;
    }

    len = len < sizeof(pl_redis_errmsg) ? len : sizeof(pl_redis_errmsg);
    memcpy(pl_redis_errmsg, s, len);
    pl_redis_err.len = len;

    return &pl_redis_err;
}


static void *
pl_redis_array(const redisReadTask *task, int n)
{
    (void) task;
    (void) n;

    return &pl_redis_ok;
}


static void *
pl_redis_integer(const redisReadTask *task, long long v)
{
    (void) task;
    (void) v;

    return &pl_redis_ok;
}


static void *
pl_redis_nil(const redisReadTask *task)
{
    (void) task;

    return &pl_redis_ok;
}


/* the objects are static */

static void
pl_redis_nofree(void *obj)
{
    (void) obj;
}
