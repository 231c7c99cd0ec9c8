/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The decision journal ring and its msgpack records.  The ring is a
 * bounded multi-producer queue in the manner of D. Vyukov's: each slot
 * carries a sequence word, so a producer claims a slot with one
 * compare-and-swap on head and publishes it with one store; nothing ever
 * waits for another process.  The single consumer releases slots only
 * after the records are delivered, so a consumer that dies re-reads
 * them.  Records are written by hand in their fixed layout and read
 * back the same way; msgpack-c reads any other layout.
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


/*
 * The record's keys, each a msgpack fixstr, in the order they are
 * written; UCO_JOURNAL_KEYS is all of them, for the size bound below.
 */
#define UCO_JOURNAL_K_ID          "\xa2" "id"
#define UCO_JOURNAL_K_TIME        "\xa4" "time"
#define UCO_JOURNAL_K_NODE        "\xa4" "node"
#define UCO_JOURNAL_K_PARTNER     "\xa7" "partner"
#define UCO_JOURNAL_K_TERMINAL    "\xa8" "terminal"
#define UCO_JOURNAL_K_CARD        "\xa4" "card"
#define UCO_JOURNAL_K_PROGRAMME   "\xa9" "programme"
#define UCO_JOURNAL_K_DECISION    "\xa8" "decision"
#define UCO_JOURNAL_K_REASON      "\xa6" "reason"
#define UCO_JOURNAL_K_DISCOUNT    "\xa8" "discount"
#define UCO_JOURNAL_K_AMOUNT      "\xa6" "amount"
#define UCO_JOURNAL_K_GENERATION  "\xaa" "generation"
#define UCO_JOURNAL_KEYS                                                   \
    UCO_JOURNAL_K_ID UCO_JOURNAL_K_TIME UCO_JOURNAL_K_NODE               \
    UCO_JOURNAL_K_PARTNER UCO_JOURNAL_K_TERMINAL UCO_JOURNAL_K_CARD      \
    UCO_JOURNAL_K_PROGRAMME UCO_JOURNAL_K_DECISION UCO_JOURNAL_K_REASON  \
    UCO_JOURNAL_K_DISCOUNT UCO_JOURNAL_K_AMOUNT UCO_JOURNAL_K_GENERATION

/*
 * The most a record takes but for its two names: the map's byte, the
 * keys, nine integers of at most 9 bytes, the terminal as a str 8, the
 * names' str headers.  The encoder checks this bound once and then
 * writes without a check per item.
 */
#define UCO_JOURNAL_FIXED_MAX                                              \
    (1 + sizeof(UCO_JOURNAL_KEYS) - 1 + 9 * 9                            \
     + 2 + UCO_SNAP_TERMINAL_LEN + 2 * 2)

#define uco_mp_raw(p, s)   (memcpy(p, s, sizeof(s) - 1), p + sizeof(s) - 1)

#if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
#define uco_mp_be16(v)     __builtin_bswap16(v)
#define uco_mp_be32(v)     __builtin_bswap32(v)
#define uco_mp_be64(v)     __builtin_bswap64(v)
#else
#define uco_mp_be16(v)     (v)
#define uco_mp_be32(v)     (v)
#define uco_mp_be64(v)     (v)
#endif


static inline uint8_t *uco_mp_uint(uint8_t *p, uint64_t v);
static inline uint8_t *uco_mp_str(uint8_t *p, const void *s, size_t len);

static int uco_journal_lookup(const void *s, size_t len, int reason,
    uint8_t *v);
static int uco_journal_name(const msgpack_object *o, int reason,
    uint8_t *v);
static const uint8_t *uco_mp_get_uint(const uint8_t *p, const uint8_t *end,
    uint64_t *v);
static const uint8_t *uco_mp_get_opt_int(const uint8_t *p,
    const uint8_t *end, int64_t *v);
static const uint8_t *uco_mp_get_str(const uint8_t *p, const uint8_t *end,
    const uint8_t **s, size_t *len);
static int uco_journal_uint(const msgpack_object *o, uint64_t *v);
static int uco_journal_opt_int(const msgpack_object *o, int64_t *v);


typedef char uco_journal_header_is_384[
    sizeof(uco_journal_header_t) == 384 ? 1 : -1];
typedef char uco_journal_slot_fits[
    sizeof(uco_journal_slot_t) == UCO_JOURNAL_SLOT_SIZE ? 1 : -1];
/* a record with names of 32 bytes together fits (the longest are 27) */
typedef char uco_journal_record_fits[
    UCO_JOURNAL_FIXED_MAX + 32 <= UCO_JOURNAL_RECORD_MAX ? 1 : -1];


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
    "record too big for a slot",
    "not the journal's own record layout"
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


/*
 * A slot for the record at the returned position, or NULL when the ring
 * is full.  The caller writes the record into the slot's data and
 * publishes it; between the two the consumer sees the slot busy, so the
 * encoding goes straight into the slot, with no copy on the way.
 */

uco_journal_slot_t *
uco_journal_claim(uco_journal_t *j, uint64_t *claimed)
{
    int64_t              dif;
    uint8_t             *next;
    uint64_t             pos, seq;
    uco_journal_slot_t  *s;

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
            return NULL;

        } else {
            pos = __atomic_load_n(&j->header->head, __ATOMIC_RELAXED);
        }
    }

    *claimed = pos;

    /*
     * The next slot's lines, most likely this process's next record's:
     * a lap ago the consumer released them, so they are out of this
     * core's cache, and a worker has a request's worth of time before
     * it writes there.
     */
    next = (uint8_t *) &j->slots[(pos + 1) & j->mask];
    __builtin_prefetch(next, 1);
    __builtin_prefetch(next + 64, 1);
    __builtin_prefetch(next + 128, 1);

    return s;
}


/* len 0 publishes an empty record, which the consumer passes over */

void
uco_journal_publish(uco_journal_slot_t *s, uint64_t pos, size_t len)
{
    s->len = (uint32_t) len;
    uco_store(&s->seq, pos + 1);
}


int
uco_journal_append(uco_journal_t *j, const void *rec, size_t len)
{
    uint64_t             pos;
    uco_journal_slot_t  *s;

    if (len > UCO_JOURNAL_RECORD_MAX) {
        return UCO_JOURNAL_ETOOBIG;
    }

    s = uco_journal_claim(j, &pos);

    if (s == NULL) {
        return UCO_JOURNAL_FULL;
    }

    memcpy(s->data, rec, len);
    uco_journal_publish(s, pos, len);

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


/*
 * The kernel's page tables are made at the mapping (MAP_POPULATE,
 * MADV_POPULATE_WRITE), but under a hypervisor that shadows them (the
 * project's test machines; docs/performance.md) a process's first
 * access to each page still traps, about 5 us: a first lap paid it
 * every 16 records, 430 ns an append, more than ten appends' own cost.
 * Paid here once, at start.  Another process may be writing the same
 * word: hence the atomic add of zero.
 */

void
uco_journal_touch(uco_journal_t *j)
{
    char      *p;
    uint64_t   off, len;

    p = (char *) j->header;
    len = uco_journal_size(j->mask + 1);

    for (off = 0; off < len; off += 4096) {
        (void) __atomic_fetch_add((uint64_t *) (p + off), 0,
                                  __ATOMIC_RELAXED);
    }
}


/*
 * The consumer's reads are sequential but each slot's lines were last
 * written by a worker on another core (or fell out to memory): without
 * a prefetch a batch pays that miss once a slot, one after the other.
 */

void
uco_journal_prefetch(uco_journal_t *j, uint64_t pos)
{
    const char  *p;

    p = (const char *) &j->slots[pos & j->mask];

    __builtin_prefetch(p, 0, 0);
    __builtin_prefetch(p + 64, 0, 0);
    __builtin_prefetch(p + 128, 0, 0);
    __builtin_prefetch(p + 192, 0, 0);
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


/*
 * msgpack's smallest form of an unsigned integer, as msgpack-c's packers
 * choose it (so records are byte for byte what msgpack_pack_uint64() and,
 * for values >= 0, msgpack_pack_int64() make): a type byte and one
 * byte-swapped store.
 */

static inline uint8_t *
uco_mp_uint(uint8_t *p, uint64_t v)
{
    uint16_t  v16;
    uint32_t  v32;

    if (v < 0x80) {
        *p = (uint8_t) v;
        return p + 1;
    }

    if (v <= 0xff) {
        p[0] = 0xcc;
        p[1] = (uint8_t) v;
        return p + 2;
    }

    if (v <= 0xffff) {
        p[0] = 0xcd;
        v16 = uco_mp_be16((uint16_t) v);
        memcpy(p + 1, &v16, 2);
        return p + 3;
    }

    if (v <= 0xffffffff) {
        p[0] = 0xce;
        v32 = uco_mp_be32((uint32_t) v);
        memcpy(p + 1, &v32, 4);
        return p + 5;
    }

    p[0] = 0xcf;
    v = uco_mp_be64(v);
    memcpy(p + 1, &v, 8);

    return p + 9;
}


/* a string below 256 bytes: fixstr or str 8 */

static inline uint8_t *
uco_mp_str(uint8_t *p, const void *s, size_t len)
{
    if (len < 32) {
        *p++ = (uint8_t) (0xa0 | len);

    } else {
        *p++ = 0xd9;
        *p++ = (uint8_t) len;
    }

    memcpy(p, s, len);

    return p + len;
}


/*
 * A map with named fields, so that any msgpack reader can make sense of
 * a record without this header; absent values are nil.  Written by hand
 * for the fixed layout: the keys are constants and the size is checked
 * once, where msgpack-c's packer checks and copies item by item (it was
 * four fifths of an append's instructions).  The unit test holds the
 * bytes equal to msgpack-c's.
 */

size_t
uco_journal_encode(const uco_journal_rec_t *r, uint8_t *buf, size_t size)
{
    size_t       dlen, rlen;
    uint8_t     *p;
    const char  *dname, *rname;

    dname = uco_snap_decision_name(r->decision);
    dlen = strlen(dname);
    rname = r->reason != UCO_REASON_NONE ? uco_snap_reason_name(r->reason)
                                         : NULL;
    rlen = rname != NULL ? strlen(rname) : 0;

    if (r->terminal_len > UCO_SNAP_TERMINAL_LEN || dlen > 0xff
        || rlen > 0xff || size < UCO_JOURNAL_FIXED_MAX + dlen + rlen)
    {
        return 0;
    }

    p = buf;
    *p++ = 0x80 | UCO_JOURNAL_NKEYS;

    p = uco_mp_raw(p, UCO_JOURNAL_K_ID);
    p = uco_mp_uint(p, r->id);
    p = uco_mp_raw(p, UCO_JOURNAL_K_TIME);
    p = uco_mp_uint(p, r->time_ms);
    p = uco_mp_raw(p, UCO_JOURNAL_K_NODE);
    p = uco_mp_uint(p, r->node);
    p = uco_mp_raw(p, UCO_JOURNAL_K_PARTNER);
    p = uco_mp_uint(p, r->partner);

    p = uco_mp_raw(p, UCO_JOURNAL_K_TERMINAL);
    p = r->terminal_len != 0 ? uco_mp_str(p, r->terminal, r->terminal_len)
                             : uco_mp_raw(p, "\xc0");

    p = uco_mp_raw(p, UCO_JOURNAL_K_CARD);
    p = r->card != 0 ? uco_mp_uint(p, r->card) : uco_mp_raw(p, "\xc0");
    p = uco_mp_raw(p, UCO_JOURNAL_K_PROGRAMME);
    p = r->programme != 0 ? uco_mp_uint(p, r->programme)
                          : uco_mp_raw(p, "\xc0");

    p = uco_mp_raw(p, UCO_JOURNAL_K_DECISION);
    p = uco_mp_str(p, dname, dlen);
    p = uco_mp_raw(p, UCO_JOURNAL_K_REASON);
    p = rname != NULL ? uco_mp_str(p, rname, rlen) : uco_mp_raw(p, "\xc0");

    p = uco_mp_raw(p, UCO_JOURNAL_K_DISCOUNT);
    p = r->discount >= 0 ? uco_mp_uint(p, (uint64_t) r->discount)
                         : uco_mp_raw(p, "\xc0");
    p = uco_mp_raw(p, UCO_JOURNAL_K_AMOUNT);
    p = r->amount >= 0 ? uco_mp_uint(p, (uint64_t) r->amount)
                       : uco_mp_raw(p, "\xc0");

    p = uco_mp_raw(p, UCO_JOURNAL_K_GENERATION);
    p = uco_mp_uint(p, r->generation);

    return (size_t) (p - buf);
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


/*
 * A decision or (reason != 0) a reason by its name.  The first byte
 * tells most names apart, so strlen() runs for one or two.
 */

static int
uco_journal_lookup(const void *s, size_t len, int reason, uint8_t *v)
{
    int          i, first, last;
    const char  *n;

    if (len == 0) {
        return -1;
    }

    first = reason ? UCO_REASON_NO_PROGRAMME : UCO_DECISION_ELIGIBLE;
    last = reason ? UCO_REASON_OUTSIDE_WINDOW : UCO_DECISION_LAST;

    for (i = first; i <= last; i++) {
        n = reason ? uco_snap_reason_name((uco_reason_e) i)
                   : uco_snap_decision_name((uco_decision_e) i);

        if (n[0] == *(const char *) s && strlen(n) == len
            && memcmp(n, s, len) == 0)
        {
            *v = (uint8_t) i;
            return 0;
        }
    }

    return -1;
}


static int
uco_journal_name(const msgpack_object *o, int reason, uint8_t *v)
{
    if (o->type != MSGPACK_OBJECT_STR) {
        return -1;
    }

    return uco_journal_lookup(o->via.str.ptr, o->via.str.size, reason, v);
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

            if (v->type != MSGPACK_OBJECT_STR
                || !uco_snap_terminal_valid(v->via.str.ptr,
                                            v->via.str.size))
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


/*
 * The encoder's layout read directly: an unsigned integer in its
 * smallest form (as uco_mp_uint() writes it), a str as fixstr or, from
 * 32 bytes, str 8.  NULL for anything else, or past end.
 */

static const uint8_t *
uco_mp_get_uint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    size_t    i, n;
    uint64_t  x, min;

    if (p >= end) {
        return NULL;
    }

    if (*p < 0x80) {
        *v = *p;
        return p + 1;
    }

    switch (*p) {

    case 0xcc:
        n = 1;
        min = 0x80;
        break;

    case 0xcd:
        n = 2;
        min = 0x100;
        break;

    case 0xce:
        n = 4;
        min = 0x10000;
        break;

    case 0xcf:
        n = 8;
        min = 0x100000000ULL;
        break;

    default:
        return NULL;
    }

    if ((size_t) (end - p) - 1 < n) {
        return NULL;
    }

    x = 0;

    for (i = 1; i <= n; i++) {
        x = x << 8 | p[i];
    }

    if (x < min) {
        return NULL;
    }

    *v = x;

    return p + 1 + n;
}


static const uint8_t *
uco_mp_get_str(const uint8_t *p, const uint8_t *end, const uint8_t **s,
    size_t *len)
{
    size_t  n;

    if (p >= end) {
        return NULL;
    }

    if ((*p & 0xe0) == 0xa0) {
        n = *p & 0x1f;
        p++;

    } else if (*p == 0xd9 && end - p >= 2 && p[1] >= 32) {
        n = p[1];
        p += 2;

    } else {
        return NULL;
    }

    if ((size_t) (end - p) < n) {
        return NULL;
    }

    *s = p;
    *len = n;

    return p + n;
}


/* nil is -1; a value must be below 2^63; p may be NULL (a failed step) */

static const uint8_t *
uco_mp_get_opt_int(const uint8_t *p, const uint8_t *end, int64_t *v)
{
    uint64_t  u;

    if (p == NULL || p >= end) {
        return NULL;
    }

    if (*p == 0xc0) {
        *v = -1;
        return p + 1;
    }

    p = uco_mp_get_uint(p, end, &u);

    if (p == NULL || u > (uint64_t) INT64_MAX) {
        return NULL;
    }

    *v = (int64_t) u;

    return p;
}


/* the next key, exactly; p may be NULL (an earlier step failed) */
#define uco_mp_key(p, end, k)                                              \
    ((p) != NULL && (size_t) ((end) - (p)) >= sizeof(k) - 1               \
     && memcmp(p, k, sizeof(k) - 1) == 0 ? (p) + sizeof(k) - 1 : NULL)

#define uco_mp_nil(p, end)  ((p) != NULL && (p) < (end) && *(p) == 0xc0)


/*
 * The loader's fast path: the twelve keys in the encoder's order, every
 * value in the form the encoder writes, the same checks as
 * uco_journal_decode() on the values; no allocation, no msgpack-c.  A
 * record another writer made (a key added by a later module, another
 * integer width, another order) is UCO_JOURNAL_ELAYOUT: the caller reads
 * it with uco_journal_decode() and counts it.  The fuzzer holds every
 * record this accepts to the same values through both.
 */

int
uco_journal_decode_fixed(const void *data, size_t len, uco_journal_rec_t *r)
{
    size_t          n;
    uint64_t        u;
    const uint8_t  *p, *end, *s;

    memset(r, 0, sizeof(uco_journal_rec_t));

    p = data;
    end = p + len;

    if (len == 0 || len > UCO_JOURNAL_RECORD_MAX
        || *p++ != (0x80 | UCO_JOURNAL_NKEYS))
    {
        return UCO_JOURNAL_ELAYOUT;
    }

    p = uco_mp_key(p, end, UCO_JOURNAL_K_ID);
    if (p == NULL || (p = uco_mp_get_uint(p, end, &r->id)) == NULL
        || r->id == 0)
    {
        return UCO_JOURNAL_ELAYOUT;
    }

    p = uco_mp_key(p, end, UCO_JOURNAL_K_TIME);
    if (p == NULL || (p = uco_mp_get_uint(p, end, &r->time_ms)) == NULL) {
        return UCO_JOURNAL_ELAYOUT;
    }

    p = uco_mp_key(p, end, UCO_JOURNAL_K_NODE);
    if (p == NULL || (p = uco_mp_get_uint(p, end, &u)) == NULL
        || u > UCO_JOURNAL_MAX_NODE)
    {
        return UCO_JOURNAL_ELAYOUT;
    }

    r->node = (uint32_t) u;

    p = uco_mp_key(p, end, UCO_JOURNAL_K_PARTNER);
    if (p == NULL || (p = uco_mp_get_uint(p, end, &r->partner)) == NULL) {
        return UCO_JOURNAL_ELAYOUT;
    }

    p = uco_mp_key(p, end, UCO_JOURNAL_K_TERMINAL);
    if (uco_mp_nil(p, end)) {
        p++;

    } else if (p == NULL || (p = uco_mp_get_str(p, end, &s, &n)) == NULL
               || !uco_snap_terminal_valid(s, n))
    {
        return UCO_JOURNAL_ELAYOUT;

    } else {
        memcpy(r->terminal, s, n);
        r->terminal_len = (uint8_t) n;
    }

    p = uco_mp_key(p, end, UCO_JOURNAL_K_CARD);
    if (uco_mp_nil(p, end)) {
        p++;

    } else if (p == NULL || (p = uco_mp_get_uint(p, end, &r->card)) == NULL) {
        return UCO_JOURNAL_ELAYOUT;
    }

    p = uco_mp_key(p, end, UCO_JOURNAL_K_PROGRAMME);
    if (uco_mp_nil(p, end)) {
        p++;

    } else if (p == NULL
               || (p = uco_mp_get_uint(p, end, &r->programme)) == NULL)
    {
        return UCO_JOURNAL_ELAYOUT;
    }

    p = uco_mp_key(p, end, UCO_JOURNAL_K_DECISION);
    if (p == NULL || (p = uco_mp_get_str(p, end, &s, &n)) == NULL
        || uco_journal_lookup(s, n, 0, &r->decision) != 0)
    {
        return UCO_JOURNAL_ELAYOUT;
    }

    p = uco_mp_key(p, end, UCO_JOURNAL_K_REASON);
    if (uco_mp_nil(p, end)) {
        p++;

    } else if (p == NULL || (p = uco_mp_get_str(p, end, &s, &n)) == NULL
               || uco_journal_lookup(s, n, 1, &r->reason) != 0)
    {
        return UCO_JOURNAL_ELAYOUT;
    }

    p = uco_mp_key(p, end, UCO_JOURNAL_K_DISCOUNT);
    p = uco_mp_get_opt_int(p, end, &r->discount);
    p = uco_mp_key(p, end, UCO_JOURNAL_K_AMOUNT);
    p = uco_mp_get_opt_int(p, end, &r->amount);

    p = uco_mp_key(p, end, UCO_JOURNAL_K_GENERATION);
    if (p == NULL || (p = uco_mp_get_uint(p, end, &r->generation)) == NULL
        || p != end)
    {
        return UCO_JOURNAL_ELAYOUT;
    }

    return UCO_JOURNAL_OK;
}
