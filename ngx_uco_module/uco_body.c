/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Request bodies and media types.  JSON is parsed by jansson and msgpack
 * by msgpack-c (docs/api.md says why); both walk their document into the
 * same uco_body_field(), and each check is then validated by
 * uco_query_check(), exactly as a query is.
 */

/* explicit_bzero() */
#define _DEFAULT_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <msgpack.h>

#include "uco_body.h"
#include "uco_msgpack.h"


typedef enum {
    UCO_BODY_VALUE_STR = 0,
    UCO_BODY_VALUE_INT,
    UCO_BODY_VALUE_NULL,
    UCO_BODY_VALUE_OTHER
} uco_body_value_e;

/* one value of a check's field, whatever the encoding */
typedef struct {
    uco_body_value_e   kind;
    const char        *s;       /* UCO_BODY_VALUE_STR */
    size_t             len;
    int                neg;     /* UCO_BODY_VALUE_INT: sign, magnitude */
    uint64_t           mag;
} uco_body_value_t;


static int uco_body_alloc(uco_body_t *body, size_t n, size_t max,
    uco_query_error_t *err);
static void uco_body_field(uco_body_check_t *c, const char *key,
    size_t klen, const uco_body_value_t *v);
static void uco_body_not_object(uco_body_check_t *c);
static int uco_body_json(const char *p, size_t len, size_t max,
    uco_body_t *body, uco_query_error_t *err);
static void uco_body_json_check(json_t *item, uco_body_check_t *c);
static int uco_body_msgpack(const char *p, size_t len, size_t max,
    uco_body_t *body, uco_query_error_t *err);
static void uco_body_msgpack_check(const msgpack_object *item,
    uco_body_check_t *c);
static int uco_body_media_is(const char *p, size_t len, const char *type);
static uco_body_type_e uco_body_media(const char *p, size_t len);
static const char *uco_body_trim(const char *p, const char *end,
    size_t *len);
static unsigned uco_body_q(const char *p, const char *end);


static const char  uco_body_malformed[] =
    "the body is not a JSON or msgpack object or array of objects";


int
uco_body_parse(uco_body_type_e type, const char *p, size_t len, size_t max,
    uco_body_t *body, uco_query_error_t *err)
{
    size_t  i;

    memset(body, 0, sizeof(uco_body_t));
    body->type = type;

    if (type == UCO_BODY_JSON) {
        if (uco_body_json(p, len, max, body, err) != 0) {
            return -1;
        }

    } else if (type == UCO_BODY_MSGPACK) {
        if (uco_body_msgpack(p, len, max, body, err) != 0) {
            return -1;
        }

    } else {
        return uco_query_fail(err, 415, "unsupported_media_type",
                             "send application/json or "
                             "application/msgpack");
    }

    for (i = 0; i < body->n; i++) {
        if (body->checks[i].err.status == 0) {
            (void) uco_query_check(&body->checks[i].q,
                                   &body->checks[i].err);
        }
    }

    return 0;
}


void
uco_body_free(uco_body_t *body)
{
    if (body->doc != NULL) {
        if (body->type == UCO_BODY_JSON) {
            json_decref((json_t *) body->doc);

        } else {
            msgpack_unpacked_destroy((msgpack_unpacked *) body->doc);
            free(body->doc);
        }

        body->doc = NULL;
    }

    free(body->checks);
    body->checks = NULL;
    body->n = 0;
}


/*
 * Card identifiers (PANs among them) are overwritten where the parsed
 * document keeps them (jansson's strings, or the body for msgpack) once
 * the checks are decided, not left in freed memory.
 */

void
uco_body_wipe(uco_body_t *body)
{
    size_t             i;
    uco_body_check_t  *c;

    for (i = 0; i < body->n; i++) {
        c = &body->checks[i];

        if (c->q.card.len != 0) {
            explicit_bzero((char *) c->q.card.data, c->q.card.len);
        }

        explicit_bzero(c->q.pan, sizeof(c->q.pan));
    }
}


/* n checks (a batch when body->batch), each with its fields absent */

static int
uco_body_alloc(uco_body_t *body, size_t n, size_t max,
    uco_query_error_t *err)
{
    if (n == 0) {
        return uco_query_fail(err, 400, "empty_batch",
                             "a batch holds at least one check");
    }

    if (n > max) {
        return uco_query_fail(err, 413, "too_many_checks",
                             "the batch holds more checks than allowed");
    }

    body->checks = calloc(n, sizeof(uco_body_check_t));
    if (body->checks == NULL) {
        return uco_query_fail(err, 500, "out_of_memory",
                             "the server is out of memory");
    }

    body->n = n;

    return 0;
}


/*
 * One field of a check.  Unknown names are ignored, as in a query; a
 * null is an absent field; the first problem is the check's error.
 */

static void
uco_body_field(uco_body_check_t *c, const char *key, size_t klen,
    const uco_body_value_t *v)
{
    int          n;
    uco_str_t   *slot;
    const char  *code, *message;

    static const char  empty[] = "";

    if (c->err.status != 0 || v->kind == UCO_BODY_VALUE_NULL) {
        return;
    }

#define uco_body_key_is(lit)                                                  \
    (klen == sizeof(lit) - 1 && memcmp(key, lit, sizeof(lit) - 1) == 0)

    if (uco_body_key_is("card")) {
        slot = &c->q.card;
        code = "invalid_card";
        message = "card is a string";

    } else if (uco_body_key_is("kind")) {
        slot = &c->q.kind;
        code = "invalid_kind";
        message = "kind is a string: hashpan or social";

    } else if (uco_body_key_is("terminal")) {
        slot = &c->q.terminal;
        code = "invalid_terminal";
        message = "terminal is a string";

    } else if (uco_body_key_is("amount")) {
        slot = &c->q.amount;
        code = "invalid_amount";
        message = "amount is a whole number of kopecks, at most 12 digits";

    } else {
        return;
    }

#undef uco_body_key_is

    if (slot->data != NULL) {
        (void) uco_query_fail(&c->err, 400, "duplicate_parameter",
                             "a field was given more than once");
        return;
    }

    if (slot == &c->q.amount) {
        if (v->kind != UCO_BODY_VALUE_INT) {
            (void) uco_query_fail(&c->err, 400, code, message);
            return;
        }

        /* digits for uco_query_check(), which refuses a sign */
        n = snprintf(c->amount, sizeof(c->amount), "%s%llu",
                     v->neg ? "-" : "", (unsigned long long) v->mag);

        slot->data = c->amount;
        slot->len = (size_t) n;
        return;
    }

    if (v->kind != UCO_BODY_VALUE_STR) {
        (void) uco_query_fail(&c->err, 400, code, message);
        return;
    }

    slot->data = (v->s != NULL) ? v->s : empty;
    slot->len = v->len;
}


static void
uco_body_not_object(uco_body_check_t *c)
{
    (void) uco_query_fail(&c->err, 400, "invalid_check",
                         "a check is an object of card, kind, terminal "
                         "and amount");
}


/*
 * JSON: duplicate names are refused by the parser (they would make a
 * check ambiguous), as are NUL characters in strings.
 */

static int
uco_body_json(const char *p, size_t len, size_t max, uco_body_t *body,
    uco_query_error_t *err)
{
    size_t        i;
    json_t       *root;
    json_error_t  e;

    root = json_loadb(p, len, JSON_REJECT_DUPLICATES, &e);
    if (root == NULL) {
        return uco_query_fail(err, 400, "malformed_body", uco_body_malformed);
    }

    body->doc = root;

    if (json_is_object(root)) {
        if (uco_body_alloc(body, 1, max, err) != 0) {
            return -1;
        }

        uco_body_json_check(root, &body->checks[0]);
        return 0;
    }

    if (!json_is_array(root)) {
        return uco_query_fail(err, 400, "malformed_body", uco_body_malformed);
    }

    body->batch = 1;

    if (uco_body_alloc(body, json_array_size(root), max, err) != 0) {
        return -1;
    }

    for (i = 0; i < body->n; i++) {
        uco_body_json_check(json_array_get(root, i), &body->checks[i]);
    }

    return 0;
}


static void
uco_body_json_check(json_t *item, uco_body_check_t *c)
{
    json_t            *value;
    json_int_t         n;
    const char        *key;
    uco_body_value_t   v;

    if (!json_is_object(item)) {
        uco_body_not_object(c);
        return;
    }

    json_object_foreach(item, key, value) {
        memset(&v, 0, sizeof(uco_body_value_t));

        if (json_is_string(value)) {
            v.kind = UCO_BODY_VALUE_STR;
            v.s = json_string_value(value);
            v.len = json_string_length(value);

        } else if (json_is_integer(value)) {
            v.kind = UCO_BODY_VALUE_INT;
            n = json_integer_value(value);
            v.neg = (n < 0);
            v.mag = (n < 0) ? 0 - (uint64_t) n : (uint64_t) n;

        } else if (json_is_null(value)) {
            v.kind = UCO_BODY_VALUE_NULL;

        } else {
            v.kind = UCO_BODY_VALUE_OTHER;
        }

        uco_body_field(c, key, strlen(key), &v);
    }
}


/*
 * msgpack: the body is first walked here, so that a few bytes declaring
 * a huge array or deep nesting are refused before msgpack-c allocates
 * for them; then exactly one object must span the whole body.
 */

static int
uco_body_msgpack(const char *p, size_t len, size_t max, uco_body_t *body,
    uco_query_error_t *err)
{
    size_t                  i, off;
    const uint8_t          *end;
    msgpack_unpacked       *u;
    msgpack_unpack_return   rc;
    const msgpack_object   *root;

    end = uco_msgpack_skip((const uint8_t *) p, (const uint8_t *) p + len,
                           0, UCO_BODY_MAX_DEPTH);

    if (len == 0 || end != (const uint8_t *) p + len) {
        return uco_query_fail(err, 400, "malformed_body", uco_body_malformed);
    }

    u = malloc(sizeof(msgpack_unpacked));
    if (u == NULL) {
        return uco_query_fail(err, 500, "out_of_memory",
                             "the server is out of memory");
    }

    msgpack_unpacked_init(u);
    body->doc = u;

    off = 0;
    rc = msgpack_unpack_next(u, p, len, &off);

    if (rc != MSGPACK_UNPACK_SUCCESS || off != len) {
        return uco_query_fail(err, 400, "malformed_body", uco_body_malformed);
    }

    root = &u->data;

    if (root->type == MSGPACK_OBJECT_MAP) {
        if (uco_body_alloc(body, 1, max, err) != 0) {
            return -1;
        }

        uco_body_msgpack_check(root, &body->checks[0]);
        return 0;
    }

    if (root->type != MSGPACK_OBJECT_ARRAY) {
        return uco_query_fail(err, 400, "malformed_body", uco_body_malformed);
    }

    body->batch = 1;

    if (uco_body_alloc(body, root->via.array.size, max, err) != 0) {
        return -1;
    }

    for (i = 0; i < body->n; i++) {
        uco_body_msgpack_check(&root->via.array.ptr[i], &body->checks[i]);
    }

    return 0;
}


static void
uco_body_msgpack_check(const msgpack_object *item, uco_body_check_t *c)
{
    uint32_t                  i;
    uco_body_value_t          v;
    const msgpack_object     *val;
    const msgpack_object_kv  *kv;

    if (item->type != MSGPACK_OBJECT_MAP) {
        uco_body_not_object(c);
        return;
    }

    for (i = 0; i < item->via.map.size; i++) {
        kv = &item->via.map.ptr[i];

        if (kv->key.type != MSGPACK_OBJECT_STR) {
            continue;
        }

        val = &kv->val;
        memset(&v, 0, sizeof(uco_body_value_t));

        switch (val->type) {

        case MSGPACK_OBJECT_STR:
            v.kind = UCO_BODY_VALUE_STR;
            v.s = val->via.str.ptr;
            v.len = val->via.str.size;
            break;

        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            v.kind = UCO_BODY_VALUE_INT;
            v.mag = val->via.u64;
            break;

        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            v.kind = UCO_BODY_VALUE_INT;
            v.neg = 1;
            v.mag = 0 - (uint64_t) val->via.i64;
            break;

        case MSGPACK_OBJECT_NIL:
            v.kind = UCO_BODY_VALUE_NULL;
            break;

        default:
            v.kind = UCO_BODY_VALUE_OTHER;
            break;
        }

        uco_body_field(c, kv->key.via.str.ptr, kv->key.via.str.size, &v);
    }
}


/* media types: case-insensitive, parameters (charset ...) ignored */

static int
uco_body_media_is(const char *p, size_t len, const char *type)
{
    return len == strlen(type) && strncasecmp(p, type, len) == 0;
}


static uco_body_type_e
uco_body_media(const char *p, size_t len)
{
    if (uco_body_media_is(p, len, "application/json")) {
        return UCO_BODY_JSON;
    }

    if (uco_body_media_is(p, len, "application/msgpack")
        || uco_body_media_is(p, len, "application/x-msgpack")
        || uco_body_media_is(p, len, "application/vnd.msgpack"))
    {
        return UCO_BODY_MSGPACK;
    }

    return UCO_BODY_NONE;
}


static const char *
uco_body_trim(const char *p, const char *end, size_t *len)
{
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    *len = (size_t) (end - p);

    return p;
}


uco_body_type_e
uco_body_content_type(const char *v, size_t len)
{
    size_t       n;
    const char  *semi, *t;

    if (v == NULL) {
        return UCO_BODY_NONE;
    }

    semi = memchr(v, ';', len);
    t = uco_body_trim(v, semi ? semi : v + len, &n);

    return uco_body_media(t, n);
}


/* a media range's q parameter in thousandths; 1000 when absent */

static unsigned
uco_body_q(const char *p, const char *end)
{
    size_t       n;
    unsigned     q, scale;
    const char  *semi, *t;

    while (p < end) {
        semi = memchr(p, ';', (size_t) (end - p));
        t = uco_body_trim(p, semi ? semi : end, &n);
        p = semi ? semi + 1 : end;

        if (n < 2 || (t[0] != 'q' && t[0] != 'Q') || t[1] != '=') {
            continue;
        }

        t += 2;
        n -= 2;

        if (n == 0 || (t[0] != '0' && t[0] != '1')) {
            return 0;
        }

        q = (unsigned) (t[0] - '0') * 1000;

        if (n > 1 && t[1] == '.') {
            for (t += 2, n -= 2, scale = 100; n > 0 && scale > 0;
                 t++, n--, scale /= 10)
            {
                if (*t < '0' || *t > '9') {
                    return 0;
                }

                q += (unsigned) (*t - '0') * scale;
            }
        }

        return q > 1000 ? 1000 : q;
    }

    return 1000;
}


/*
 * msgpack when the client names it and rates JSON no higher (JSON being
 * rated by application/json, else by the application and the any
 * ranges); JSON otherwise, including for an Accept that names neither:
 * an answer in the API's default type helps more than a 406.
 */

int
uco_body_accept_msgpack(const char *v, size_t len)
{
    int          qj, qj_sub, qj_any, qm;
    size_t       n;
    unsigned     q;
    const char  *p, *end, *comma, *semi, *t;

    if (v == NULL) {
        return 0;
    }

    qj = qj_sub = qj_any = -1;
    qm = 0;

    p = v;
    end = v + len;

    while (p < end) {
        comma = memchr(p, ',', (size_t) (end - p));
        if (comma == NULL) {
            comma = end;
        }

        semi = memchr(p, ';', (size_t) (comma - p));
        t = uco_body_trim(p, semi ? semi : comma, &n);
        q = semi ? uco_body_q(semi + 1, comma) : 1000;

        switch (uco_body_media(t, n)) {

        case UCO_BODY_MSGPACK:
            qm = (int) q > qm ? (int) q : qm;
            break;

        case UCO_BODY_JSON:
            qj = (int) q > qj ? (int) q : qj;
            break;

        default:
            if (uco_body_media_is(t, n, "application/*")) {
                qj_sub = (int) q > qj_sub ? (int) q : qj_sub;

            } else if (uco_body_media_is(t, n, "*/*")) {
                qj_any = (int) q > qj_any ? (int) q : qj_any;
            }

            break;
        }

        p = comma + 1;
    }

    if (qj < 0) {
        qj = (qj_sub >= 0) ? qj_sub : qj_any;
    }

    return qm > 0 && qm >= qj;
}
