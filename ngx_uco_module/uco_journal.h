/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The decision journal ring: a file every nginx worker and the loader
 * map MAP_SHARED.  Workers append (many producers, lock-free, never
 * blocking), the loader's journal process drains and acknowledges (one
 * consumer).  Records are msgpack maps.  Plain C like uco_snap.[ch]: the
 * module, the loader, the tests and the fuzzers link this one copy.
 * docs/journal.md describes the layout.
 */

#ifndef UCO_JOURNAL_H
#define UCO_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "uco_snap.h"


#define UCO_JOURNAL_MAGIC         "UCOJRNL\0"
#define UCO_JOURNAL_VERSION       1
#define UCO_JOURNAL_HEADER_SIZE   4096
#define UCO_JOURNAL_SLOT_SIZE     256
#define UCO_JOURNAL_SLOT_HEADER   16
#define UCO_JOURNAL_RECORD_MAX    (UCO_JOURNAL_SLOT_SIZE               \
                                   - UCO_JOURNAL_SLOT_HEADER)
#define UCO_JOURNAL_MIN_SLOTS     64
#define UCO_JOURNAL_MAX_SLOTS     (1ULL << 32)
#define UCO_JOURNAL_MAX_NODE      1023

/* decision_id: ms since 2020-01-01 UTC, 12-bit sequence, 10-bit node */
#define UCO_JOURNAL_EPOCH_MS      1577836800000ULL
#define UCO_JOURNAL_NODE_BITS     10
#define UCO_JOURNAL_SEQ_BITS      12

enum {
    UCO_JOURNAL_OK = 0,
    UCO_JOURNAL_FULL,           /* append: every slot holds a record */
    UCO_JOURNAL_EMPTY,          /* read: nothing published yet */
    UCO_JOURNAL_BUSY,           /* read: the next slot is being written */
    UCO_JOURNAL_ETRUNCATED,
    UCO_JOURNAL_EMAGIC,
    UCO_JOURNAL_EVERSION,
    UCO_JOURNAL_EGEOMETRY,
    UCO_JOURNAL_ERECORD,
    UCO_JOURNAL_ETOOBIG,
    UCO_JOURNAL_ELAYOUT,        /* decode_fixed: not the encoder's layout */
    UCO_JOURNAL_NERRORS
};


/*
 * The header page.  Producer, consumer and counter words each own a
 * cache line, so that appending workers and the draining loader do not
 * bounce one line between cores.  Every integer is host order (the
 * byte_order word refuses a file from another host); the file lives in
 * one machine's memory.
 */
typedef struct {
    uint8_t            magic[8];
    uint32_t           version;
    uint32_t           header_size;
    uint32_t           byte_order;
    uint32_t           slot_size;
    uint64_t           nslots;      /* a power of two */
    uint64_t           file_size;
    uint8_t            pad0[24];

    /* producers: next position to reserve; last decision_id issued */
    volatile uint64_t  head;
    uint8_t            pad1[56];
    volatile uint64_t  last_id;
    uint8_t            pad2[56];

    /* the consumer: first position not yet acknowledged */
    volatile uint64_t  tail;
    uint8_t            pad3[56];

    /* producers' counters */
    volatile uint64_t  appended;
    volatile uint64_t  dropped;     /* full, drop_and_count */
    volatile uint64_t  rejected;    /* full, reject */
    volatile uint64_t  too_big;     /* a record that cannot be encoded */
    uint8_t            pad4[32];

    /* the loader's figures, for the module's metrics */
    volatile uint64_t  delivered;
    volatile uint64_t  spool_bytes;
    volatile uint64_t  spool_records;
    volatile uint64_t  skipped;     /* slots a dead writer left empty */
    volatile uint64_t  loader_seen; /* unix seconds of its last drain */
    uint8_t            pad5[24];
} uco_journal_header_t;

typedef struct {
    volatile uint64_t  seq;         /* pos + 1 when published */
    uint32_t           len;
    uint32_t           pad;
    uint8_t            data[UCO_JOURNAL_RECORD_MAX];
} uco_journal_slot_t;

typedef struct {
    uco_journal_header_t  *header;
    uco_journal_slot_t    *slots;
    uint64_t               mask;
} uco_journal_t;


/* one decision; the record never holds a card identifier */
typedef struct {
    uint64_t   id;
    uint64_t   time_ms;         /* unix milliseconds */
    uint64_t   partner;
    uint64_t   card;            /* the card's id; 0 = unknown card */
    uint64_t   programme;       /* 0 = none */
    int64_t    discount;        /* kopecks; -1 = no amount sent */
    int64_t    amount;          /* kopecks; -1 = none */
    uint64_t   generation;
    uint32_t   node;
    uint8_t    decision;        /* uco_decision_e */
    uint8_t    reason;          /* uco_reason_e */
    uint8_t    terminal_len;    /* 0 = none */
    char       terminal[UCO_SNAP_TERMINAL_LEN];
} uco_journal_rec_t;


const char *uco_journal_strerror(int rc);

/* layout: file size for nslots; fresh header and slots in zeroed memory */
uint64_t uco_journal_size(uint64_t nslots);
int uco_journal_init(void *p, size_t len, uint64_t nslots);
/* attach to a mapped file after checking its header */
int uco_journal_open(uco_journal_t *j, void *p, size_t len);

/*
 * producers: an id; a slot claimed (NULL: full), its data written, the
 * slot published; or append, which copies a record in
 */
uint64_t uco_journal_next_id(uco_journal_t *j, uint64_t now_ms,
    unsigned node);
uco_journal_slot_t *uco_journal_claim(uco_journal_t *j, uint64_t *pos);
void uco_journal_publish(uco_journal_slot_t *s, uint64_t pos, size_t len);
int uco_journal_append(uco_journal_t *j, const void *rec, size_t len);

/* the consumer: read at pos without releasing; release up to pos */
int uco_journal_read(uco_journal_t *j, uint64_t pos, const void **rec,
    size_t *len);
void uco_journal_release(uco_journal_t *j, uint64_t upto);
/*
 * every page of the ring written once by this process, values unchanged
 * (an atomic add of zero): at a producer's or consumer's start
 */
void uco_journal_touch(uco_journal_t *j);
/* the slot at pos on its way into the cache: a consumer reads ahead */
void uco_journal_prefetch(uco_journal_t *j, uint64_t pos);
void uco_journal_skip(uco_journal_t *j, uint64_t pos);

/*
 * msgpack records: encode into buf (the length, or 0 when buf is too
 * small: UCO_JOURNAL_RECORD_MAX bytes always do); decode one, any msgpack
 * map with the fields (msgpack-c); decode_fixed reads only the encoder's
 * own layout, byte by byte, and answers UCO_JOURNAL_ELAYOUT for anything
 * else (decode may still read it); what it accepts, decode reads to the
 * same values
 */
size_t uco_journal_encode(const uco_journal_rec_t *r, uint8_t *buf,
    size_t size);
int uco_journal_decode(const void *p, size_t len, uco_journal_rec_t *r);
int uco_journal_decode_fixed(const void *p, size_t len,
    uco_journal_rec_t *r);

#endif /* UCO_JOURNAL_H */
