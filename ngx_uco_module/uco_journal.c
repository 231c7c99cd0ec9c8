/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The decision journal ring and its msgpack records.  The ring is a
 * bounded multi-producer queue in the manner of D. Vyukov's: each slot
 * carries a sequence word, so a producer claims a slot with one
 * compare-and-swap on head and publishes it with one store; nothing ever
 * waits for another process.  The single consumer releases slots only
 * after the records are delivered, so a consumer that dies re-reads
 * them.
 */

#include <string.h>

#include <msgpack.h>

#include "uco_journal.h"
#include "uco_msgpack.h"


#define uco_load(p)        __atomic_load_n(p, __ATOMIC_ACQUIRE)
#define uco_store(p, v)    __atomic_store_n(p, v, __ATOMIC_RELEASE)
#define uco_cas(p, e, v)   __atomic_compare_exchange_n(p, e, v, 0,       \
                               __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)

#define UCO_JOURNAL_NKEYS  12


typedef struct {
    uint8_t  *buf;
    size_t    size;
    size_t    len;
    int       overflow;     /* the record did not fit */
} uco_journal_buf_t;


static inline int uco_journal_put(uco_journal_buf_t *b, const void *p,
    size_t len);

/*
 * msgpack-c's pack template, instantiated over a fixed buffer: the
 * packers (uco_mp_uint64(), uco_mp_str(), ...) inline down to stores,
 * where the stock msgpack_packer calls a write callback for every item.
 */
#define msgpack_pack_inline_func(name)                                     \
    static inline int uco_mp ## name
#define msgpack_pack_inline_func_cint(name)                                \
    static inline int uco_mp ## name
#define msgpack_pack_inline_func_fixint(name)                              \
    static inline int uco_mp_fix ## name
#define msgpack_pack_user  uco_journal_buf_t *
#define msgpack_pack_append_buffer(user, buf, len)                         \
    return uco_journal_put(user, buf, len)

#include <msgpack/pack_template.h>


static inline void uco_journal_pack_str(uco_journal_buf_t *b,
    const char *s, size_t len);
static int uco_journal_name(const msgpack_object *o, int reason,
    uint8_t *v);
static int uco_journal_uint(const msgpack_object *o, uint64_t *v);
static int uco_journal_opt_int(const msgpack_object *o, int64_t *v);


typedef char uco_journal_header_is_384[
    sizeof(uco_journal_header_t) == 384 ? 1 : -1];
typedef char uco_journal_slot_fits[
    sizeof(uco_journal_slot_t) == UCO_JOURNAL_SLOT_SIZE ? 1 : -1];


static const char  *uco_journal_errors[] = {
    "ok",
    "the ring is full",
    "the ring is empty",
    "a record is being written",
    "the file is shorter than its header says",
    "not a journal file (bad magic)",
    "unsupported journal version",
    "bad journal geometry",
    "malformed record",
    "record too big for a slot"
};


const char *
uco_journal_strerror(int rc)
{
    if (rc < 0 || rc >= UCO_JOURNAL_NERRORS) {
        return "unknown error";
    }

    return uco_journal_errors[rc];
}


uint64_t
uco_journal_size(uint64_t nslots)
{
    if (nslots < UCO_JOURNAL_MIN_SLOTS || nslots > UCO_JOURNAL_MAX_SLOTS
        || (nslots & (nslots - 1)) != 0)
    {
        return 0;
    }

    return UCO_JOURNAL_HEADER_SIZE + nslots * UCO_JOURNAL_SLOT_SIZE;
}


int
uco_journal_init(void *p, size_t len, uint64_t nslots)
{
    uint64_t               i, size;
    uco_journal_slot_t    *slots;
    uco_journal_header_t  *h;

    size = uco_journal_size(nslots);

    if (size == 0 || len < size) {
        return UCO_JOURNAL_EGEOMETRY;
    }

    h = p;
    memset(h, 0, UCO_JOURNAL_HEADER_SIZE);
    h->version = UCO_JOURNAL_VERSION;
    h->header_size = UCO_JOURNAL_HEADER_SIZE;
    h->byte_order = UCO_SNAP_BYTE_ORDER;
    h->slot_size = UCO_JOURNAL_SLOT_SIZE;
    h->nslots = nslots;
    h->file_size = size;

    slots = (uco_journal_slot_t *) ((uint8_t *) p + UCO_JOURNAL_HEADER_SIZE);

    for (i = 0; i < nslots; i++) {
        slots[i].seq = i;
        slots[i].len = 0;
    }

    /* the magic last: a half-initialised file is not a journal */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(h->magic, UCO_JOURNAL_MAGIC, sizeof(h->magic));

    return UCO_JOURNAL_OK;
}


int
uco_journal_open(uco_journal_t *j, void *p, size_t len)
{
    uco_journal_header_t  *h;

    if (len < UCO_JOURNAL_HEADER_SIZE) {
        return UCO_JOURNAL_ETRUNCATED;
    }

    h = p;

    if (memcmp(h->magic, UCO_JOURNAL_MAGIC, sizeof(h->magic)) != 0) {
        return UCO_JOURNAL_EMAGIC;
    }

    if (h->version != UCO_JOURNAL_VERSION) {
        return UCO_JOURNAL_EVERSION;
    }

    if (h->byte_order != UCO_SNAP_BYTE_ORDER
        || h->header_size != UCO_JOURNAL_HEADER_SIZE
        || h->slot_size != UCO_JOURNAL_SLOT_SIZE
        || uco_journal_size(h->nslots) == 0
        || h->file_size != uco_journal_size(h->nslots))
    {
        return UCO_JOURNAL_EGEOMETRY;
    }

    if (len < h->file_size) {
        return UCO_JOURNAL_ETRUNCATED;
    }

    j->header = h;
    j->slots = (uco_journal_slot_t *) ((uint8_t *) p
                                       + UCO_JOURNAL_HEADER_SIZE);
    j->mask = h->nslots - 1;

    return UCO_JOURNAL_OK;
}


/*
 * Strictly increasing per ring, whatever the clock does: a candidate at
 * or below the last id issued becomes the last id's successor, which
 * borrows from the next millisecond when 4096 were issued in one.  The
 * node stays in the low bits, so nodes never collide.
 */

uint64_t
uco_journal_next_id(uco_journal_t *j, uint64_t now_ms, unsigned node)
{
    uint64_t  last, id, ms;

    ms = now_ms > UCO_JOURNAL_EPOCH_MS ? now_ms - UCO_JOURNAL_EPOCH_MS : 0;
    last = uco_load(&j->header->last_id);

    do {
        id = (ms << (UCO_JOURNAL_SEQ_BITS + UCO_JOURNAL_NODE_BITS)) | node;

        if (id <= last) {
            id = (((last >> UCO_JOURNAL_NODE_BITS) + 1)
                  << UCO_JOURNAL_NODE_BITS) | node;
        }

    } while (!uco_cas(&j->header->last_id, &last, id));

    return id;
}


int
uco_journal_append(uco_journal_t *j, const void *rec, size_t len)
{
    int64_t              dif;
    uint64_t             pos, seq;
    uco_journal_slot_t  *s;

    if (len > UCO_JOURNAL_RECORD_MAX) {
        return UCO_JOURNAL_ETOOBIG;
    }

    pos = __atomic_load_n(&j->header->head, __ATOMIC_RELAXED);

    for ( ;; ) {
        s = &j->slots[pos & j->mask];
        seq = uco_load(&s->seq);
        dif = (int64_t) (seq - pos);

        if (dif == 0) {
            if (uco_cas(&j->header->head, &pos, pos + 1)) {
                break;
            }

            /* pos now holds the current head: try there */

        } else if (dif < 0) {
            return UCO_JOURNAL_FULL;

        } else {
            pos = __atomic_load_n(&j->header->head, __ATOMIC_RELAXED);
        }
    }

    memcpy(s->data, rec, len);
    s->len = (uint32_t) len;
    uco_store(&s->seq, pos + 1);

    return UCO_JOURNAL_OK;
}


/* the record stays in the slot until released: the caller copies it */

int
uco_journal_read(uco_journal_t *j, uint64_t pos, const void **rec,
    size_t *len)
{
    uint64_t             seq;
    uco_journal_slot_t  *s;

    s = &j->slots[pos & j->mask];
    seq = uco_load(&s->seq);

    if (seq != pos + 1) {
        return pos < uco_load(&j->header->head) ? UCO_JOURNAL_BUSY
                                                : UCO_JOURNAL_EMPTY;
    }

    if (s->len > UCO_JOURNAL_RECORD_MAX) {
        *rec = NULL;
        *len = 0;
        return UCO_JOURNAL_ERECORD;
    }

    *rec = s->data;
    *len = s->len;

    return UCO_JOURNAL_OK;
}


void
uco_journal_release(uco_journal_t *j, uint64_t upto)
{
    uint64_t  pos;

    for (pos = j->header->tail; pos < upto; pos++) {
        uco_store(&j->slots[pos & j->mask].seq, pos + j->mask + 1);
    }

    uco_store(&j->header->tail, upto);
}


/*
 * A worker that died between claiming a slot and publishing it leaves
 * the slot unpublished for ever; the consumer gives up on it after a
 * while.  Published as empty, it is released like any other.
 */

void
uco_journal_skip(uco_journal_t *j, uint64_t pos)
{
    uco_journal_slot_t  *s;

    s = &j->slots[pos & j->mask];
    s->len = 0;
    uco_store(&s->seq, pos + 1);
    __atomic_fetch_add(&j->header->skipped, 1, __ATOMIC_RELAXED);
}


static inline int
uco_journal_put(uco_journal_buf_t *b, const void *p, size_t len)
{
    if (len > b->size - b->len) {
        b->len = b->size;
        b->overflow = 1;
        return -1;
    }

    memcpy(b->buf + b->len, p, len);
    b->len += len;

    return 0;
}


static inline void
uco_journal_pack_str(uco_journal_buf_t *b, const char *s, size_t len)
{
    uco_mp_str(b, len);
    uco_mp_str_body(b, s, len);
}


#define uco_journal_key(b, k)  uco_journal_pack_str(b, k, sizeof(k) - 1)


/*
 * A map with named fields, so that any msgpack reader can make sense of
 * a record without this header; absent values are nil.
 */

size_t
uco_journal_encode(const uco_journal_rec_t *r, uint8_t *buf, size_t size)
{
    const char         *name;
    uco_journal_buf_t   b;

    b.buf = buf;
    b.size = size;
    b.len = 0;
    b.overflow = 0;

    uco_mp_map(&b, UCO_JOURNAL_NKEYS);

    uco_journal_key(&b, "id");
    uco_mp_uint64(&b, r->id);
    uco_journal_key(&b, "time");
    uco_mp_uint64(&b, r->time_ms);
    uco_journal_key(&b, "node");
    uco_mp_uint32(&b, r->node);
    uco_journal_key(&b, "partner");
    uco_mp_uint64(&b, r->partner);

    uco_journal_key(&b, "terminal");
    if (r->terminal_len != 0) {
        uco_journal_pack_str(&b, r->terminal, r->terminal_len);
    } else {
        uco_mp_nil(&b);
    }

    uco_journal_key(&b, "card");
    if (r->card != 0) {
        uco_mp_uint64(&b, r->card);
    } else {
        uco_mp_nil(&b);
    }

    uco_journal_key(&b, "programme");
    if (r->programme != 0) {
        uco_mp_uint64(&b, r->programme);
    } else {
        uco_mp_nil(&b);
    }

    uco_journal_key(&b, "decision");
    name = uco_snap_decision_name(r->decision);
    uco_journal_pack_str(&b, name, strlen(name));

    uco_journal_key(&b, "reason");
    if (r->reason != UCO_REASON_NONE) {
        name = uco_snap_reason_name(r->reason);
        uco_journal_pack_str(&b, name, strlen(name));
    } else {
        uco_mp_nil(&b);
    }

    uco_journal_key(&b, "discount");
    if (r->discount >= 0) {
        uco_mp_int64(&b, r->discount);
    } else {
        uco_mp_nil(&b);
    }

    uco_journal_key(&b, "amount");
    if (r->amount >= 0) {
        uco_mp_int64(&b, r->amount);
    } else {
        uco_mp_nil(&b);
    }

    uco_journal_key(&b, "generation");
    uco_mp_uint64(&b, r->generation);

    return b.overflow ? 0 : b.len;
}


static int
uco_journal_uint(const msgpack_object *o, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return -1;
    }

    *v = o->via.u64;

    return 0;
}


/* nil is -1; a value must be a non-negative integer below 2^63 */

static int
uco_journal_opt_int(const msgpack_object *o, int64_t *v)
{
    if (o->type == MSGPACK_OBJECT_NIL) {
        *v = -1;
        return 0;
    }

    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER
        || o->via.u64 > (uint64_t) INT64_MAX)
    {
        return -1;
    }

    *v = (int64_t) o->via.u64;

    return 0;
}


/* a decision or (reason != 0) a reason by its name */

static int
uco_journal_name(const msgpack_object *o, int reason, uint8_t *v)
{
    int          i, first, last;
    const char  *n;

    if (o->type != MSGPACK_OBJECT_STR) {
        return -1;
    }

    first = reason ? UCO_REASON_NO_PROGRAMME : UCO_DECISION_ELIGIBLE;
    last = reason ? UCO_REASON_OUTSIDE_WINDOW : UCO_DECISION_LAST;

    for (i = first; i <= last; i++) {
        n = reason ? uco_snap_reason_name((uco_reason_e) i)
                   : uco_snap_decision_name((uco_decision_e) i);

        if (strlen(n) == o->via.str.size
            && memcmp(n, o->via.str.ptr, o->via.str.size) == 0)
        {
            *v = (uint8_t) i;
            return 0;
        }
    }

    return -1;
}


int
uco_journal_decode(const void *p, size_t len, uco_journal_rec_t *r)
{
    int                rc;
    size_t             off;
    int64_t            n;
    uint32_t           i, seen;
    uint64_t           u64;
    msgpack_object    *k, *v;
    msgpack_unpacked   u;

    static const char  *keys[UCO_JOURNAL_NKEYS] = {
        "id", "time", "node", "partner", "terminal", "card", "programme",
        "decision", "reason", "discount", "amount", "generation"
    };

    memset(r, 0, sizeof(uco_journal_rec_t));
    msgpack_unpacked_init(&u);

    off = 0;
    rc = UCO_JOURNAL_ERECORD;

    /* before msgpack-c allocates what the record claims */
    if (len > UCO_JOURNAL_RECORD_MAX
        || uco_msgpack_skip(p, (const uint8_t *) p + len, 0, 1)
           != (const uint8_t *) p + len)
    {
        goto done;
    }

    if (msgpack_unpack_next(&u, p, len, &off) != MSGPACK_UNPACK_SUCCESS
        || off != len || u.data.type != MSGPACK_OBJECT_MAP)
    {
        goto done;
    }

    seen = 0;

    for (i = 0; i < u.data.via.map.size; i++) {
        k = &u.data.via.map.ptr[i].key;
        v = &u.data.via.map.ptr[i].val;

        if (k->type != MSGPACK_OBJECT_STR) {
            goto done;
        }

        for (n = 0; n < UCO_JOURNAL_NKEYS; n++) {
            if (strlen(keys[n]) == k->via.str.size
                && memcmp(keys[n], k->via.str.ptr, k->via.str.size) == 0)
            {
                break;
            }
        }

        /* unknown keys are for newer readers; a repeated key is not */
        if (n == UCO_JOURNAL_NKEYS) {
            continue;
        }

        if (seen & (1u << n)) {
            goto done;
        }

        seen |= 1u << n;

        switch (n) {

        case 0:
            if (uco_journal_uint(v, &r->id) != 0 || r->id == 0) {
                goto done;
            }
            break;

        case 1:
            if (uco_journal_uint(v, &r->time_ms) != 0) {
                goto done;
            }
            break;

        case 2:
            if (uco_journal_uint(v, &u64) != 0
                || u64 > UCO_JOURNAL_MAX_NODE)
            {
                goto done;
            }

            r->node = (uint32_t) u64;
            break;

        case 3:
            if (uco_journal_uint(v, &r->partner) != 0) {
                goto done;
            }
            break;

        case 4:
            if (v->type == MSGPACK_OBJECT_NIL) {
                break;
            }

            if (v->type != MSGPACK_OBJECT_STR || v->via.str.size == 0
                || v->via.str.size > UCO_SNAP_TERMINAL_LEN)
            {
                goto done;
            }

            memcpy(r->terminal, v->via.str.ptr, v->via.str.size);
            r->terminal_len = (uint8_t) v->via.str.size;
            break;

        case 5:
        case 6:
            if (v->type == MSGPACK_OBJECT_NIL) {
                break;
            }

            if (uco_journal_uint(v, n == 5 ? &r->card : &r->programme)
                != 0)
            {
                goto done;
            }
            break;

        case 7:
            if (uco_journal_name(v, 0, &r->decision) != 0) {
                goto done;
            }
            break;

        case 8:
            if (v->type == MSGPACK_OBJECT_NIL) {
                r->reason = UCO_REASON_NONE;
                break;
            }

            if (uco_journal_name(v, 1, &r->reason) != 0) {
                goto done;
            }
            break;

        case 9:
            if (uco_journal_opt_int(v, &r->discount) != 0) {
                goto done;
            }
            break;

        case 10:
            if (uco_journal_opt_int(v, &r->amount) != 0) {
                goto done;
            }
            break;

        default:
            if (uco_journal_uint(v, &r->generation) != 0) {
                goto done;
            }
            break;
        }
    }

    /* every field is required, nil or not */
    if (seen == (1u << UCO_JOURNAL_NKEYS) - 1) {
        rc = UCO_JOURNAL_OK;
    }

done:

    msgpack_unpacked_destroy(&u);

    return rc;
}
