/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Unit tests of the journal ring and its records, TAP output for prove.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uco_journal.h"
#include "tap.h"


static void test_records(void);
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


static void
test_ring(void)
{
    int             rc;
    size_t          len, size;
    uint8_t        *mem;
    uint64_t        i;
    const void     *rec;
    uco_journal_t   j;

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

    ok(uco_journal_append(&j, mem, UCO_JOURNAL_RECORD_MAX + 1)
       == UCO_JOURNAL_ETOOBIG, "a record above a slot is refused");

    /* a claimed slot never published: BUSY until skipped */
    uco_journal_release(&j, 66);
    j.header->head++;
    ok(uco_journal_read(&j, 66, &rec, &len) == UCO_JOURNAL_BUSY,
       "claimed, unpublished: busy");
    uco_journal_skip(&j, 66);
    ok(uco_journal_read(&j, 66, &rec, &len) == UCO_JOURNAL_OK && len == 0
       && j.header->skipped == 1, "skipped: an empty record, counted");

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
    test_ring();
    test_ids();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
