/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Unit tests of the journal ring and its records, TAP output for prove.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "uco_journal.h"
#include "tap.h"


static void ref_str(msgpack_packer *pk, const char *s, size_t len);
static void ref_encode(const uco_journal_rec_t *r, msgpack_sbuffer *sb);
static uint64_t rand_uint(uint64_t *state);
static void test_records(void);
static void test_msgpack_c(void);
static void test_fixed(void);
static void test_ring(void);
static void test_ids(void);


/* the largest record there can be still fits a slot */

static void
test_records(void)
{
    size_t             len;
    uint8_t            buf[UCO_JOURNAL_RECORD_MAX], big[512];
    uco_journal_rec_t  r, d;

    memset(&r, 0, sizeof(r));
    r.id = UINT64_MAX >> 1;
    r.time_ms = UINT64_MAX;
    r.partner = UINT64_MAX;
    r.card = UINT64_MAX;
    r.programme = UINT64_MAX;
    r.discount = INT64_MAX;
    r.amount = INT64_MAX;
    r.generation = UINT64_MAX;
    r.node = UCO_JOURNAL_MAX_NODE;
    r.decision = UCO_DECISION_CARD_REPLACED;
    r.reason = UCO_REASON_OUTSIDE_WINDOW;
    r.terminal_len = UCO_SNAP_TERMINAL_LEN;
    memset(r.terminal, 'T', UCO_SNAP_TERMINAL_LEN);

    len = uco_journal_encode(&r, buf, sizeof(buf));
    ok(len != 0, "the largest record fits a slot");
    ok(uco_journal_decode(buf, len, &d) == UCO_JOURNAL_OK
       && memcmp(&r, &d, sizeof(r)) == 0, "and decodes to itself");

    ok(uco_journal_encode(&r, big, 100) == 0, "a short buffer: 0");

    memset(&r, 0, sizeof(r));
    r.id = 1;
    r.discount = -1;
    r.amount = -1;
    r.decision = UCO_DECISION_CARD_UNKNOWN;
    len = uco_journal_encode(&r, buf, sizeof(buf));
    ok(uco_journal_decode(buf, len, &d) == UCO_JOURNAL_OK
       && memcmp(&r, &d, sizeof(r)) == 0, "nil fields decode to none");

    ok(uco_journal_decode(buf, len - 1, &d) == UCO_JOURNAL_ERECORD,
       "a truncated record is refused");
    memcpy(big, buf, len);
    big[len] = 0xc0;
    ok(uco_journal_decode(big, len + 1, &d) == UCO_JOURNAL_ERECORD,
       "trailing bytes are refused");
    ok(uco_journal_decode("\x81\xa2id\x01", 5, &d) == UCO_JOURNAL_ERECORD,
       "a record missing fields is refused");
    ok(uco_journal_decode("\x93\x01\x02\x03", 4, &d) == UCO_JOURNAL_ERECORD,
       "an array is refused");
    ok(uco_journal_decode("\x81\xa2id\xdd\xff\xff\xff\xff", 9, &d)
       == UCO_JOURNAL_ERECORD,
       "a container claiming more elements than bytes is refused");
}


/* the record as msgpack-c's stock packer writes it */

static void
ref_str(msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}


static void
ref_encode(const uco_journal_rec_t *r, msgpack_sbuffer *sb)
{
    const char      *n;
    msgpack_packer   pk;

    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 12);

    ref_str(&pk, "id", 2);
    msgpack_pack_uint64(&pk, r->id);
    ref_str(&pk, "time", 4);
    msgpack_pack_uint64(&pk, r->time_ms);
    ref_str(&pk, "node", 4);
    msgpack_pack_uint32(&pk, r->node);
    ref_str(&pk, "partner", 7);
    msgpack_pack_uint64(&pk, r->partner);
    ref_str(&pk, "terminal", 8);
    if (r->terminal_len != 0) {
        ref_str(&pk, r->terminal, r->terminal_len);
    } else {
        msgpack_pack_nil(&pk);
    }
    ref_str(&pk, "card", 4);
    if (r->card != 0) {
        msgpack_pack_uint64(&pk, r->card);
    } else {
        msgpack_pack_nil(&pk);
    }
    ref_str(&pk, "programme", 9);
    if (r->programme != 0) {
        msgpack_pack_uint64(&pk, r->programme);
    } else {
        msgpack_pack_nil(&pk);
    }
    ref_str(&pk, "decision", 8);
    n = uco_snap_decision_name(r->decision);
    ref_str(&pk, n, strlen(n));
    ref_str(&pk, "reason", 6);
    if (r->reason != UCO_REASON_NONE) {
        n = uco_snap_reason_name(r->reason);
        ref_str(&pk, n, strlen(n));
    } else {
        msgpack_pack_nil(&pk);
    }
    ref_str(&pk, "discount", 8);
    if (r->discount >= 0) {
        msgpack_pack_int64(&pk, r->discount);
    } else {
        msgpack_pack_nil(&pk);
    }
    ref_str(&pk, "amount", 6);
    if (r->amount >= 0) {
        msgpack_pack_int64(&pk, r->amount);
    } else {
        msgpack_pack_nil(&pk);
    }
    ref_str(&pk, "generation", 10);
    msgpack_pack_uint64(&pk, r->generation);
}


/* values around every msgpack integer width, and nil (0 or -1) */

static uint64_t
rand_uint(uint64_t *state)
{
    uint64_t  x;

    static const uint64_t  edges[] = {
        0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff,
        0x100000000ULL, INT64_MAX, UINT64_MAX
    };

    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    x = *state >> 11;

    if (x % 3 == 0) {
        return edges[(x >> 8) % (sizeof(edges) / sizeof(edges[0]))];
    }

    return x >> ((x >> 16) % 53);
}


/*
 * The hand-written encoder against msgpack-c's packer: the same bytes
 * for every kind of value, so any msgpack reader, and the records of
 * earlier versions, stay as they were.
 */

static void
test_msgpack_c(void)
{
    int                i, same, decoded, fixed;
    size_t             len;
    uint64_t           st;
    msgpack_sbuffer    sb;
    uco_journal_rec_t  r, d;
    uint8_t            buf[UCO_JOURNAL_RECORD_MAX];

    same = 0;
    decoded = 0;
    fixed = 0;
    st = 42;

    for (i = 0; i < 20000; i++) {
        memset(&r, 0, sizeof(r));
        r.id = rand_uint(&st) | 1;
        r.time_ms = rand_uint(&st);
        r.node = (uint32_t) (rand_uint(&st) % (UCO_JOURNAL_MAX_NODE + 1));
        r.partner = rand_uint(&st);
        r.card = rand_uint(&st);
        r.programme = rand_uint(&st);
        r.discount = (int64_t) (rand_uint(&st) >> 1) - (i % 5 == 0);
        r.amount = (int64_t) (rand_uint(&st) >> 1) - (i % 7 == 0);
        r.generation = rand_uint(&st);
        r.decision = (uint8_t) (rand_uint(&st) % (UCO_DECISION_LAST + 1));
        r.reason = (uint8_t) (rand_uint(&st)
                              % (UCO_REASON_OUTSIDE_WINDOW + 1));
        r.terminal_len = (uint8_t) (rand_uint(&st)
                                    % (UCO_SNAP_TERMINAL_LEN + 1));
        memset(r.terminal, 'a' + i % 26, r.terminal_len);

        len = uco_journal_encode(&r, buf, sizeof(buf));
        msgpack_sbuffer_init(&sb);
        ref_encode(&r, &sb);
        same += len == sb.size && memcmp(buf, sb.data, len) == 0;
        msgpack_sbuffer_destroy(&sb);

        decoded += uco_journal_decode(buf, len, &d) == UCO_JOURNAL_OK
                   && memcmp(&r, &d, sizeof(r)) == 0;
        fixed += uco_journal_decode_fixed(buf, len, &d) == UCO_JOURNAL_OK
                 && memcmp(&r, &d, sizeof(r)) == 0;
    }

    ok(same == 20000, "20000 records: the bytes of msgpack-c's packer");
    ok(decoded == 20000, "and each decodes to itself");
    ok(fixed == 20000, "through the fixed-layout decoder too");
}



/*
 * The fixed-layout decoder reads the encoder's bytes only: msgpack that
 * is valid but laid out otherwise is left to msgpack-c (ELAYOUT), and
 * what neither accepts is refused by both.
 */

static void
test_fixed(void)
{
    size_t             len;
    uco_journal_rec_t  r, d, g;
    uint8_t            buf[UCO_JOURNAL_RECORD_MAX], alt[512];

    memset(&r, 0, sizeof(r));
    r.id = 5;
    r.time_ms = 1700000000123ULL;
    r.partner = 9001;
    r.card = 91;
    r.discount = 5000;
    r.amount = -1;
    r.generation = 3;
    r.decision = UCO_DECISION_NOT_ELIGIBLE;
    r.reason = UCO_REASON_CATEGORY;
    r.terminal_len = 5;
    memcpy(r.terminal, "bus-7", 5);

    len = uco_journal_encode(&r, buf, sizeof(buf));
    ok(uco_journal_decode_fixed(buf, len, &d) == UCO_JOURNAL_OK
       && memcmp(&r, &d, sizeof(r)) == 0,
       "fixed layout: a record decodes to itself");

    /* id 5 as a uint 8 (0xcc 0x05): valid msgpack, not the smallest form */
    alt[0] = buf[0];
    memcpy(alt + 1, buf + 1, 3);
    alt[4] = 0xcc;
    memcpy(alt + 5, buf + 4, len - 4);
    ok(uco_journal_decode_fixed(alt, len + 1, &d) == UCO_JOURNAL_ELAYOUT,
       "an integer wider than needed: ELAYOUT");
    ok(uco_journal_decode(alt, len + 1, &g) == UCO_JOURNAL_OK
       && memcmp(&r, &g, sizeof(r)) == 0,
       "which msgpack-c reads to the same values");

    /* a thirteenth key, unknown: for newer readers */
    memcpy(alt, buf, len);
    alt[0] = 0x80 | 13;
    memcpy(alt + len, "\xa3new\x01", 5);
    ok(uco_journal_decode_fixed(alt, len + 5, &d) == UCO_JOURNAL_ELAYOUT,
       "a key added: ELAYOUT");
    ok(uco_journal_decode(alt, len + 5, &g) == UCO_JOURNAL_OK
       && memcmp(&r, &g, sizeof(r)) == 0,
       "msgpack-c reads it, ignoring the key");

    ok(uco_journal_decode_fixed(buf, len - 1, &d) == UCO_JOURNAL_ELAYOUT,
       "a truncated record: ELAYOUT");
    memcpy(alt, buf, len);
    alt[len] = 0xc0;
    ok(uco_journal_decode_fixed(alt, len + 1, &d) == UCO_JOURNAL_ELAYOUT,
       "trailing bytes: ELAYOUT");

    /* "bus-7" -> "bus\t7": not a terminal the module accepts */
    memcpy(alt, buf, len);
    alt[(uint8_t *) memmem(buf, len, "bus-7", 5) - buf + 3] = '\t';
    ok(uco_journal_decode_fixed(alt, len, &d) == UCO_JOURNAL_ELAYOUT
       && uco_journal_decode(alt, len, &g) == UCO_JOURNAL_ERECORD,
       "a terminal the module refuses is refused by both decoders");

    memcpy(alt, buf, len);
    alt[(uint8_t *) memmem(buf, len, "category", 8) - buf] = 'k';
    ok(uco_journal_decode_fixed(alt, len, &d) == UCO_JOURNAL_ELAYOUT
       && uco_journal_decode(alt, len, &g) == UCO_JOURNAL_ERECORD,
       "an unknown reason is refused by both");

    ok(uco_journal_decode_fixed("", 0, &d) == UCO_JOURNAL_ELAYOUT
       && uco_journal_decode_fixed("\x8c", 1, &d) == UCO_JOURNAL_ELAYOUT,
       "an empty record, a bare map header: ELAYOUT");
}


static void
test_ring(void)
{
    int                  rc;
    size_t               len, size;
    uint8_t             *mem;
    uint64_t             i;
    const void          *rec;
    uco_journal_t        j;
    uco_journal_slot_t  *s;

    ok(uco_journal_size(63) == 0 && uco_journal_size(100) == 0,
       "slot counts: powers of two from 64");

    size = uco_journal_size(64);
    mem = calloc(1, size);
    if (mem == NULL) {
        ok(0, "memory");
        return;
    }

    ok(uco_journal_open(&j, mem, size) == UCO_JOURNAL_EMAGIC,
       "a zeroed file is not a journal");
    ok(uco_journal_init(mem, size, 64) == UCO_JOURNAL_OK
       && uco_journal_open(&j, mem, size) == UCO_JOURNAL_OK, "init, open");
    ok(uco_journal_open(&j, mem, size - 1) == UCO_JOURNAL_ETRUNCATED,
       "a short file is refused");

    ok(uco_journal_read(&j, 0, &rec, &len) == UCO_JOURNAL_EMPTY,
       "empty");

    for (i = 0; i < 64; i++) {
        if (uco_journal_append(&j, &i, sizeof(i)) != UCO_JOURNAL_OK) {
            break;
        }
    }

    ok(i == 64, "64 appends fill 64 slots");
    ok(uco_journal_append(&j, &i, sizeof(i)) == UCO_JOURNAL_FULL,
       "the 65th finds it full");

    rc = uco_journal_read(&j, 3, &rec, &len);
    ok(rc == UCO_JOURNAL_OK && len == 8 && memcmp(rec, "\3\0\0\0", 4) == 0,
       "read at a position, in order");

    uco_journal_release(&j, 2);
    ok(j.header->tail == 2, "release moves the tail");
    ok(uco_journal_append(&j, &i, sizeof(i)) == UCO_JOURNAL_OK
       && uco_journal_append(&j, &i, sizeof(i)) == UCO_JOURNAL_OK
       && uco_journal_append(&j, &i, sizeof(i)) == UCO_JOURNAL_FULL,
       "released slots are reused, no more");
    ok(uco_journal_read(&j, 64, &rec, &len) == UCO_JOURNAL_OK
       && memcmp(rec, "\x40\0\0\0", 4) == 0, "the next lap reads back");
    ok(uco_journal_claim(&j, &i) == NULL, "full: no slot to claim");

    ok(uco_journal_append(&j, mem, UCO_JOURNAL_RECORD_MAX + 1)
       == UCO_JOURNAL_ETOOBIG, "a record above a slot is refused");

    /* a claimed slot never published: BUSY until skipped */
    uco_journal_release(&j, 66);
    s = uco_journal_claim(&j, &i);
    ok(s != NULL && i == 66
       && uco_journal_read(&j, 66, &rec, &len) == UCO_JOURNAL_BUSY,
       "claimed, unpublished: busy");
    uco_journal_skip(&j, 66);
    ok(uco_journal_read(&j, 66, &rec, &len) == UCO_JOURNAL_OK && len == 0
       && j.header->skipped == 1, "skipped: an empty record, counted");

    s = uco_journal_claim(&j, &i);
    if (s != NULL) {
        memcpy(s->data, "rec", 3);
        uco_journal_publish(s, i, 3);
    }
    ok(s != NULL && i == 67
       && uco_journal_read(&j, 67, &rec, &len) == UCO_JOURNAL_OK
       && len == 3 && memcmp(rec, "rec", 3) == 0,
       "written in the claimed slot, published: read back");

    /* touching and prefetching change no byte, at start or mid-lap */
    {
        uint8_t  *copy;

        copy = malloc(size);
        if (copy != NULL) {
            memcpy(copy, mem, size);
            uco_journal_touch(&j);

            for (i = 0; i < 200; i++) {
                uco_journal_prefetch(&j, i);
            }

            ok(memcmp(copy, mem, size) == 0,
               "touch and prefetch leave the ring as it was");
            free(copy);
        }
    }

    free(mem);
}


static void
test_ids(void)
{
    uint64_t        a, b, c, i, size;
    uint8_t        *mem;
    uco_journal_t   j;

    size = uco_journal_size(64);
    mem = calloc(1, size);
    if (mem == NULL || uco_journal_init(mem, size, 64) != UCO_JOURNAL_OK
        || uco_journal_open(&j, mem, size) != UCO_JOURNAL_OK)
    {
        ok(0, "memory");
        free(mem);
        return;
    }

    a = uco_journal_next_id(&j, UCO_JOURNAL_EPOCH_MS + 1000, 5);
    b = uco_journal_next_id(&j, UCO_JOURNAL_EPOCH_MS + 1000, 5);
    c = uco_journal_next_id(&j, UCO_JOURNAL_EPOCH_MS + 10, 5);
    ok(a == ((1000ULL << 22) | 5), "time in the high bits, node low");
    ok(b > a && c > b, "same ms and a clock going back still increase");
    ok(a % 1024 == 5 && b % 1024 == 5 && c % 1024 == 5, "node kept");

    for (i = 0; i < 5000; i++) {
        c = uco_journal_next_id(&j, UCO_JOURNAL_EPOCH_MS + 1000, 5);
    }

    ok((c >> 22) == 1001 && c % 1024 == 5,
       "over 4096 in one ms borrow the next ms");

    free(mem);
}


int
main(void)
{
    test_records();
    test_msgpack_c();
    test_fixed();
    test_ring();
    test_ids();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
