/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The uco snapshot format: writer, reader, validation, hashing and the
 * decision over a snapshot.  Plain C with no nginx types, no I/O and no
 * globals: the loader, the module, the tests and the fuzzers link this
 * one copy.  docs/snapshot-format.md describes the layout.
 */

#ifndef UCO_SNAP_H
#define UCO_SNAP_H

#include <stddef.h>
#include <stdint.h>


#define UCO_SNAP_MAGIC          "UCOSNAP\0"
/* a delta overlay over a base snapshot (docs/snapshot-format.md) */
#define UCO_SNAP_DELTA_MAGIC    "UCODELT\0"
#define UCO_SNAP_VERSION        4
#define UCO_SNAP_BYTE_ORDER     0x01020304u
#define UCO_SNAP_ALIGN          64
#define UCO_SNAP_NSECTIONS      11
#define UCO_SNAP_EMPTY          0xffffffffu
#define UCO_SNAP_KEY_LEN        16
#define UCO_SNAP_TERMINAL_LEN   32
#define UCO_SNAP_MAX_RECORDS    0xfffffff0u
/* a short identifier slot holds the card index in 28 bits */
#define UCO_SNAP_MAX_CARDS      0x0fffffffu
#define UCO_SNAP_MAX_CATEGORY_SETS  65536

/*
 * The card summary (uco_snap_card_t.summary, and a copy in every
 * identifier slot of the card): bits 0..15 the first day the card is
 * expired, bits 16..18 the status, bit 19 the kind (0 bank, 1
 * non-financial), bits 20..31 the category set, or the escape: the set
 * is in the overflow section.  docs/snapshot-format.md.
 */
#define UCO_SNAP_SUM_OPEN       0xffffu     /* expires: never */
#define UCO_SNAP_SUM_STATUS(s)  (((s) >> 16) & 7)
#define UCO_SNAP_SUM_KIND(s)    ((((s) >> 19) & 1) + 1)
#define UCO_SNAP_SUM_SET(s)     ((s) >> 20)
#define UCO_SNAP_SUM_ESCAPE     0xfffu
#define UCO_SNAP_SUM_TOMBSTONE  0u

/* the name of generation g inside the snapshot directory */
#define UCO_SNAP_FILE_PREFIX    "snap-"
#define UCO_SNAP_FILE_SUFFIX    ".ucs"
#define UCO_SNAP_FILE_FMT       UCO_SNAP_FILE_PREFIX "%020llu" \
                                UCO_SNAP_FILE_SUFFIX
#define UCO_SNAP_CTL_NAME       "uco.ctl"


/* return codes */
enum {
    UCO_SNAP_OK = 0,
    UCO_SNAP_AGAIN,
    UCO_SNAP_ETRUNCATED,
    UCO_SNAP_EMAGIC,
    UCO_SNAP_EVERSION,
    UCO_SNAP_EBYTEORDER,
    UCO_SNAP_EHEADER,
    UCO_SNAP_ESECTION,
    UCO_SNAP_ECHECKSUM,
    UCO_SNAP_ERECORD,
    UCO_SNAP_EINVAL,
    UCO_SNAP_EEXIST,
    UCO_SNAP_ENOSPC,
    UCO_SNAP_ENOMEM,
    UCO_SNAP_EBASE,
    UCO_SNAP_NERRORS
};

enum {
    UCO_SNAP_SEC_CARDS = 1,
    UCO_SNAP_SEC_IDENTS,
    UCO_SNAP_SEC_PARTNERS,
    UCO_SNAP_SEC_PROGRAMMES,
    UCO_SNAP_SEC_TERMINALS,
    UCO_SNAP_SEC_CATEGORY_SETS,
    UCO_SNAP_SEC_SHORT_IDENTS,
    UCO_SNAP_SEC_CERTS,
    UCO_SNAP_SEC_SET_OVERFLOW,
    UCO_SNAP_SEC_ID_RUNS,
    UCO_SNAP_SEC_OVERRIDES,
    UCO_SNAP_SEC_LAST = UCO_SNAP_SEC_OVERRIDES
};

/* the identifier kinds stored in snapshots (key byte 0) */
typedef enum {
    UCO_ID_HASHPAN = 1,
    UCO_ID_SOCIAL,
    UCO_ID_BARCODE,
    UCO_ID_UID
} uco_id_kind_e;

typedef enum {
    UCO_CARD_BANK = 1,
    UCO_CARD_NON_FINANCIAL
} uco_card_kind_e;

typedef enum {
    UCO_CARD_DELETED = 0,       /* a delta's tombstone only */
    UCO_CARD_ACTIVE = 1,
    UCO_CARD_BLOCKED,
    UCO_CARD_EXPIRED,
    UCO_CARD_REPLACED
} uco_card_status_e;

typedef enum {
    UCO_PARTNER_ACTIVE = 1,
    UCO_PARTNER_SUSPENDED
} uco_partner_status_e;

/* how a partner authenticates: exactly one method each */
typedef enum {
    UCO_AUTH_API_KEY = 1,
    UCO_AUTH_SIGNED,
    UCO_AUTH_MTLS
} uco_auth_e;

/* what a partner may ask (bits of uco_snap_partner_t.scopes) */
#define UCO_SCOPE_DISCOUNT      0x01
#define UCO_SCOPE_BENEFIT       0x02
#define UCO_SCOPE_IDENTIFY      0x04
#define UCO_SCOPE_ALL           0x07

/* what a certificate record's hash is of */
typedef enum {
    UCO_CERT_FINGERPRINT = 1,   /* SHA-256 of the certificate, DER */
    UCO_CERT_SUBJECT            /* SHA-256 of the RFC 2253 subject */
} uco_cert_kind_e;

typedef enum {
    UCO_DISCOUNT_PERCENT = 1,
    UCO_DISCOUNT_FIXED
} uco_discount_e;

typedef enum {
    UCO_DECISION_ELIGIBLE = 0,
    UCO_DECISION_NOT_ELIGIBLE,
    UCO_DECISION_CARD_BLOCKED,
    UCO_DECISION_CARD_EXPIRED,
    UCO_DECISION_CARD_REPLACED,
    UCO_DECISION_CARD_UNKNOWN,
    UCO_DECISION_VALID,         /* scope identify: an active, valid card */
    UCO_DECISION_LAST = UCO_DECISION_VALID
} uco_decision_e;

/* ordered: a higher reason means the programme failed later */
typedef enum {
    UCO_REASON_NONE = 0,
    UCO_REASON_NO_PROGRAMME,
    UCO_REASON_CARD_KIND,
    UCO_REASON_CATEGORY,
    UCO_REASON_OUTSIDE_WINDOW
} uco_reason_e;


/*
 * On-file records.  Every integer is little-endian (the byte_order word
 * refuses a file from another host order); every struct has natural
 * alignment and no implicit padding.
 */

typedef struct {
    uint32_t  id;
    uint32_t  record_size;
    uint64_t  offset;
    uint64_t  size;
    uint64_t  count;
} uco_snap_section_t;

typedef struct {
    uint8_t             magic[8];
    uint32_t            version;
    uint32_t            header_size;
    uint32_t            byte_order;
    uint32_t            section_count;
    uint64_t            file_size;
    uint64_t            generation;
    uint64_t            build_time;
    uint64_t            watermark;
    uint8_t             checksum[32];
    uco_snap_section_t  sections[UCO_SNAP_NSECTIONS];
} uco_snap_header_t;

/*
 * 8 bytes: the low half of the card id (the high half from the id runs)
 * and the card's summary.  Sorted by id.
 */
typedef struct {
    uint32_t  id_low;
    uint32_t  summary;          /* UCO_SNAP_SUM_*; 0: a delta's tombstone */
} uco_snap_card_t;

/*
 * The high halves of the card ids: cards first .. the next run's first
 * - 1 have ids high << 32 | id_low.  Sorted; one run while every id is
 * below 2^32.
 */
typedef struct {
    uint32_t  high;
    uint32_t  first;            /* index of the run's first card */
} uco_snap_id_run_t;

/* the category set of a card whose summary holds the escape */
typedef struct {
    uint32_t  card;             /* index into cards, sorted, unique */
    uint32_t  set;              /* UCO_SNAP_SUM_ESCAPE or more */
} uco_snap_set_overflow_t;

/*
 * Identifiers: two open-addressing tables with linear probing, at most
 * 85 % full.  A key whose byte 0 is below 16 and whose bytes 9..15 are
 * zero (a social number of up to 14 digits) lives in the short table,
 * every other key in the long one; the short slot keeps bytes 1..8 and
 * byte 0 in the top 4 bits of the card word, so both are lossless.
 * Each slot carries its card's summary: the decision needs the slot
 * alone.
 */
typedef struct {
    uint8_t   key[UCO_SNAP_KEY_LEN];
    uint32_t  card;             /* index into cards or UCO_SNAP_EMPTY */
    uint32_t  summary;          /* the card's */
} uco_snap_ident_t;

typedef struct {
    uint8_t   key[8];           /* key bytes 1..8 */
    uint32_t  card;             /* key[0] << 28 | card, or UCO_SNAP_EMPTY */
    uint32_t  summary;          /* the card's */
} uco_snap_short_ident_t;

/*
 * Sorted by id; programmes and terminals are contiguous ranges.  The two
 * secret slots are the SHA-256 of the partner's valid secrets (two
 * during a rotation): compared with for API keys, the HMAC key of
 * signed requests.
 */
typedef struct {
    uint64_t  id;
    uint8_t   secret_sha256[32];
    uint8_t   secret2_sha256[32];
    uint32_t  programme_first;
    uint32_t  programme_count;
    uint32_t  terminal_first;
    uint32_t  terminal_count;
    int32_t   contract_from;    /* days, inclusive; INT32_MIN = open */
    int32_t   contract_to;      /* days, inclusive; INT32_MAX = open */
    uint8_t   status;
    uint8_t   auth;             /* uco_auth_e */
    uint8_t   scopes;           /* UCO_SCOPE_* bits, at least one */
    uint8_t   nsecrets;         /* valid secret slots, 0 .. 2 */
    uint8_t   pad[4];
} uco_snap_partner_t;

/* client certificates of mTLS partners, sorted by hash, unique */
typedef struct {
    uint8_t   hash[32];
    uint32_t  partner;          /* index into partners */
    uint8_t   kind;             /* uco_cert_kind_e */
    uint8_t   pad[3];
} uco_snap_cert_t;

typedef struct {
    uint64_t  id;
    uint64_t  required_categories;  /* any-of; 0 = every holder */
    uint64_t  value;            /* percent: 1/100 %; fixed: kopecks */
    int32_t   valid_from;       /* days, inclusive; INT32_MIN = open */
    int32_t   valid_to;         /* days, inclusive; INT32_MAX = open */
    uint8_t   type;
    uint8_t   card_kind;        /* 0 = any */
    uint8_t   weekdays;         /* bit 0 = Monday; 0x7f = every day */
    uint8_t   hour_from;        /* [hour_from, hour_to), wraps if > */
    uint8_t   hour_to;
    uint8_t   pad[3];
} uco_snap_programme_t;

/* zero-padded, sorted within a partner's range */
typedef struct {
    uint8_t   id[UCO_SNAP_TERMINAL_LEN];
} uco_snap_terminal_t;


/*
 * A delta file's header is followed by this record: the base it
 * overlays, named by generation, size and checksum.
 */
#define UCO_SNAP_DELTA_PARTNERS 0x01    /* carries the partner family */

typedef struct {
    uint64_t  base_generation;
    uint64_t  base_size;
    uint8_t   base_checksum[32];
    uint32_t  flags;            /* UCO_SNAP_DELTA_* */
    uint32_t  pad;
    uint64_t  reserved;
} uco_snap_delta_t;


/* A validated view of a mapped file.  Pointers into the caller's bytes. */
typedef struct uco_snap_s  uco_snap_t;

struct uco_snap_s {
    const uint8_t                 *base;
    size_t                         len;
    const uco_snap_header_t       *header;
    const uco_snap_card_t         *cards;
    const uco_snap_ident_t        *idents;
    const uco_snap_partner_t      *partners;
    const uco_snap_programme_t    *programmes;
    const uco_snap_terminal_t     *terminals;
    const uint64_t                *category_sets;
    const uco_snap_short_ident_t  *short_idents;
    const uco_snap_cert_t         *certs;
    const uco_snap_set_overflow_t *overflow;
    const uco_snap_id_run_t       *runs;
    const uint32_t                *overrides;   /* a delta's, sorted */
    uint64_t                       ncards;
    uint64_t                       nidents;         /* table capacity */
    uint64_t                       npartners;
    uint64_t                       nprogrammes;
    uint64_t                       nterminals;
    uint64_t                       ncategory_sets;
    uint64_t                       nshort_idents;   /* table capacity */
    uint64_t                       ncerts;
    uint64_t                       noverflow;
    uint64_t                       nruns;
    uint64_t                       noverrides;
    const uco_snap_delta_t        *delta;   /* NULL: a base snapshot */
    const uco_snap_t              *under;   /* a bound delta's base */
};

/* Incremental validation state: checksum and record checks in steps. */
typedef struct {
    void      *md;              /* EVP_MD_CTX */
    uint64_t   pos;             /* bytes hashed, then records checked */
    uint64_t   used;            /* occupied identifier slots seen */
    uint64_t   short_used;      /* occupied short identifier slots */
    uint64_t   run;             /* the id run of the card checked */
    uint64_t   escapes;         /* cards whose set is in the overflow */
    int        phase;
} uco_snap_verify_t;

typedef struct {
    int32_t   day;              /* local days since 1970-01-01 */
    uint8_t   weekday;          /* 0 = Monday */
    uint8_t   hour;             /* 0 .. 23 */
} uco_snap_when_t;

/*
 * A card found: the file whose card table holds it (a delta or its
 * base), its index there and its summary.  snap NULL: no card.
 */
typedef struct {
    const uco_snap_t            *snap;
    uint32_t                     card;
    uint32_t                     summary;
} uco_snap_ref_t;

typedef struct {
    uco_decision_e               decision;
    uco_reason_e                 reason;
    const uco_snap_programme_t  *programme;
    uint64_t                     discount;  /* kopecks, with an amount */
} uco_snap_result_t;

/*
 * Sizes a writer asks for.  short_idents and long_idents say how many of
 * the idents go to either table (uco_snap_key_is_short()); an estimate
 * that is a little off is absorbed by the free slots, and with both 0
 * each table is sized for all idents.
 */
typedef struct {
    uint64_t  cards;
    uint64_t  idents;           /* identifiers, not table slots */
    uint64_t  partners;
    uint64_t  programmes;
    uint64_t  terminals;
    uint64_t  category_sets;
    uint64_t  short_idents;
    uint64_t  long_idents;
    uint64_t  certs;
    uint64_t  set_overflow;     /* cards with a set index >= the escape */
    uint64_t  id_runs;          /* uco_snap_id_runs() of the card ids */
    uint64_t  overrides;        /* a delta: base cards it overrides */
} uco_snap_counts_t;


/* a card as a writer has it: sorted by id into uco_snap_cards_put() */
typedef struct {
    uint64_t  id;
    uint32_t  summary;          /* uco_snap_summary(), 0 a tombstone */
    uint32_t  set;              /* the category set, even past the escape */
} uco_snap_card_in_t;


const char *uco_snap_strerror(int rc);

/* reader: header and section bounds, O(1); no checksum */
int uco_snap_open(uco_snap_t *s, const void *p, size_t len);
/* full validation in steps of about budget bytes: AGAIN until done */
int uco_snap_verify_init(uco_snap_verify_t *v);
int uco_snap_verify_step(const uco_snap_t *s, uco_snap_verify_t *v,
    size_t budget);
void uco_snap_verify_free(uco_snap_verify_t *v);
/* a verified delta over its verified base: EBASE if not its base */
int uco_snap_bind(uco_snap_t *s, const uco_snap_t *base);
/* open and verify in one go */
int uco_snap_check(uco_snap_t *s, const void *p, size_t len);

/* identifiers: canonical key of a value as partners send it */
int uco_snap_key(uco_id_kind_e kind, const char *value, size_t len,
    uint8_t key[UCO_SNAP_KEY_LEN]);
int uco_snap_key_is_short(const uint8_t key[UCO_SNAP_KEY_LEN]);
int uco_snap_unhex(const char *value, size_t len, uint8_t *out);
void uco_snap_key_hashpan(const uint8_t hash[32],
    uint8_t key[UCO_SNAP_KEY_LEN]);
int uco_snap_find_card(const uco_snap_t *s,
    const uint8_t key[UCO_SNAP_KEY_LEN], uint32_t *card, uint32_t *summary);
/* the same with the key's hash (uco_snap_key_hash()) already known */
uint64_t uco_snap_key_hash(const uint8_t key[UCO_SNAP_KEY_LEN]);
int uco_snap_find_card_hash(const uco_snap_t *s,
    const uint8_t key[UCO_SNAP_KEY_LEN], uint64_t hash, uint32_t *card,
    uint32_t *summary);
int uco_snap_find_card_id(const uco_snap_t *s, uint64_t id,
    uint32_t *card);
static inline uint64_t uco_snap_card_id(const uco_snap_t *s, uint32_t card);
/* cards through a bound delta and its base; a base alone as well */
static inline int uco_snap_lookup(const uco_snap_t *s,
    const uint8_t key[UCO_SNAP_KEY_LEN], uco_snap_ref_t *ref);
static inline int uco_snap_lookup_hash(const uco_snap_t *s,
    const uint8_t key[UCO_SNAP_KEY_LEN], uint64_t hash, uco_snap_ref_t *ref);
int uco_snap_lookup_delta(const uco_snap_t *s,
    const uint8_t key[UCO_SNAP_KEY_LEN], uint64_t hash,
    uco_snap_ref_t *ref);
int uco_snap_lookup_id(const uco_snap_t *s, uint64_t id,
    uco_snap_ref_t *ref);
/* the id of a card found: a read of its card record */
static inline uint64_t uco_snap_ref_id(const uco_snap_ref_t *ref);
/*
 * Start fetching the slots a key's lookup reads first; returns the key's
 * hash, for uco_snap_lookup_hash() on the same key.
 */
uint64_t uco_snap_prefetch(const uco_snap_t *s,
    const uint8_t key[UCO_SNAP_KEY_LEN]);
const uco_snap_partner_t *uco_snap_find_partner(const uco_snap_t *s,
    uint64_t id);
int uco_snap_terminal_allowed(const uco_snap_t *s,
    const uco_snap_partner_t *p, const char *t, size_t len);
const uco_snap_partner_t *uco_snap_find_cert(const uco_snap_t *s,
    uco_cert_kind_e kind, const uint8_t hash[32]);

/* the decision */
void uco_snap_when(int64_t local_seconds, uco_snap_when_t *w);
uint32_t uco_snap_summary(int32_t valid_until, unsigned status,
    unsigned kind, uint32_t set);
uint64_t uco_snap_card_set(const uco_snap_ref_t *card);
void uco_snap_decide(const uco_snap_t *s, const uco_snap_partner_t *p,
    const uco_snap_ref_t *card, const uco_snap_when_t *w, int64_t amount,
    uco_snap_result_t *res);
const char *uco_snap_decision_name(uco_decision_e d);
const char *uco_snap_reason_name(uco_reason_e r);
/* a terminal id as partners may send it: 1..32 of [A-Za-z0-9._:-] */
int uco_snap_terminal_valid(const void *t, size_t len);

/* writer: size, lay out into zeroed memory, fill, add idents, seal */
size_t uco_snap_size(const uco_snap_counts_t *c);
int uco_snap_init(void *buf, size_t size, const uco_snap_counts_t *c);
/* a delta: card overlay, identifier overlay, d names the base */
size_t uco_snap_delta_size(const uco_snap_counts_t *c);
int uco_snap_init_delta(void *buf, size_t size, const uco_snap_counts_t *c,
    const uco_snap_delta_t *d);
void *uco_snap_section(void *buf, unsigned id);
/* the cards' records, id runs and set overflow: counts, then the file */
void uco_snap_cards_count(const uco_snap_card_in_t *cards, uint64_t n,
    uco_snap_counts_t *c);
int uco_snap_cards_put(void *buf, const uco_snap_card_in_t *cards);
/* after the cards: the slot takes the card's summary */
int uco_snap_ident_add(void *buf, const uint8_t key[UCO_SNAP_KEY_LEN],
    uint32_t card);
int uco_snap_seal(void *buf, uint64_t generation, uint64_t build_time,
    uint64_t watermark);


/*
 * The control file: one page the loader writes and every worker maps.
 * The loader publishes a generation by a single aligned 64-bit store, so
 * a worker's per-request check is one load.
 */

#define UCO_CTL_MAGIC           "UCOCTL\0\0"
#define UCO_CTL_SIZE            4096

typedef struct {
    uint8_t            magic[8];
    uint32_t           version;
    uint32_t           size;
    volatile uint64_t  generation;  /* 0 = nothing published */
    volatile uint64_t  synced_at;   /* unix seconds of last in-sync check */
} uco_ctl_t;

int uco_ctl_check(const void *p, size_t len);

/*
 * Inline, so that a base alone (no delta: under is NULL) costs one test
 * more than uco_snap_find_card() and no call: the path of every request.
 * The decision needs the slot's summary only; the card record (for the
 * card's id, after the decision) is fetched meanwhile.
 */

static inline int
uco_snap_lookup(const uco_snap_t *s, const uint8_t key[UCO_SNAP_KEY_LEN],
    uco_snap_ref_t *ref)
{
    return uco_snap_lookup_hash(s, key, uco_snap_key_hash(key), ref);
}


/* hash: uco_snap_key_hash(key), as uco_snap_prefetch() returns it */

static inline int
uco_snap_lookup_hash(const uco_snap_t *s, const uint8_t key[UCO_SNAP_KEY_LEN],
    uint64_t hash, uco_snap_ref_t *ref)
{
    if (s->under == NULL) {
        if (!uco_snap_find_card_hash(s, key, hash, &ref->card,
                                     &ref->summary))
        {
            ref->snap = NULL;
            return 0;
        }

        ref->snap = s;
        __builtin_prefetch(&s->cards[ref->card]);
        return 1;
    }

    return uco_snap_lookup_delta(s, key, hash, ref);
}


/*
 * The last of n > 0 sorted u32 fields, stride bytes apart from *first,
 * that is at most key (the first one when none is): a binary search
 * without a branch on the comparison.
 */

static inline uint64_t
uco_snap_last_le(const uint32_t *first, size_t stride, uint64_t n,
    uint32_t key)
{
    uint64_t  lo, half;

    lo = 0;

    while (n > 1) {
        half = n / 2;
        lo = *(const uint32_t *) ((const uint8_t *) first
                                  + (lo + half) * stride) <= key
             ? lo + half : lo;
        n -= half;
    }

    return lo;
}


/* the high half of the id from the card's run: one run, or a search */

static inline uint64_t
uco_snap_card_id(const uco_snap_t *s, uint32_t card)
{
    uint64_t  r;

    if (card >= s->ncards || s->nruns == 0) {
        return 0;
    }

    r = uco_snap_last_le(&s->runs[0].first, sizeof(uco_snap_id_run_t),
                         s->nruns, card);

    return (uint64_t) s->runs[r].high << 32 | s->cards[card].id_low;
}


static inline uint64_t
uco_snap_ref_id(const uco_snap_ref_t *ref)
{
    return ref->snap != NULL ? uco_snap_card_id(ref->snap, ref->card) : 0;
}

#endif /* UCO_SNAP_H */
