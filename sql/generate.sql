-- Synthetic data for benchmarks and load tests: N cards with their
-- holders and identifiers, partners, terminals and programmes, in the
-- proportions of a large region (docs/performance.md, "Synthetic data").
-- Never for production: secrets and HashPANs are made up and public.
--
--   psql -v cards=1000000 [-v partners=10000] [-v seed=0.42] \
--        -f sql/generate.sql "host=... dbname=..."
--
-- Ids start at 1000000 (holders, cards) and 100000 (partners), clear of
-- the sample data.  Rows are made inside the server by INSERT ...
-- SELECT FROM generate_series: the same bulk path as COPY without a
-- client formatting and parsing every row.  The change-log triggers are
-- bypassed (session_replication_role = replica; this also skips the
-- foreign-key triggers, and the rows are consistent by construction),
-- so the data reaches snapshots by the loader's full build.  One
-- transaction: all or nothing.  Deterministic for a given seed.
--
-- The mix (see docs/performance.md for where the figures come from):
--   holders      cards / 1.08: 8 % of holders have an older, replaced card
--   categories   pensioner 27 %, student 9 %, veteran 3 %, large family
--                6 %, disabled 6 %, and bits 5..11 each 1..4 %; about
--                half the holders have none
--   cards        65 % bank (Mir), 35 % non-financial; of the current
--                cards 96 % active, 1.5 % blocked, 2.5 % expired
--   identifiers  every card its 12-digit social number; every bank card
--                a HashPAN (64 hex digits): 1.65 identifiers per card
--   partners     :partners (default cards / 100, at most 100000), each
--                with 1..19 programmes (10 on average: 1 million at
--                100000 partners); one partner in ten with 5 terminals

\set ON_ERROR_STOP 1
\if :{?cards}
\else
\echo 'generate.sql: set the number of cards with -v cards=N'
\quit
\endif
\if :{?partners}
\else
SELECT greatest(10, least(100000, :cards / 100)) AS partners \gset
\endif
\if :{?seed}
\else
\set seed 0.42
\endif

BEGIN;
SET LOCAL session_replication_role = replica;
SET LOCAL max_parallel_workers_per_gather = 0;  -- keeps random() seeded
SET LOCAL maintenance_work_mem = '1GB';
SET LOCAL work_mem = '256MB';
SELECT setseed(:seed);

INSERT INTO uco.category (bit, code, title) VALUES
    (0, 'pensioner', 'Pensioner'), (1, 'student', 'Student'),
    (2, 'veteran', 'Veteran'), (3, 'large_family', 'Large family'),
    (4, 'disabled', 'Disability'), (5, 'low_income', 'Low income'),
    (6, 'orphan', 'Orphan'), (7, 'chernobyl', 'Chernobyl liquidator'),
    (8, 'donor', 'Honorary donor'), (9, 'labour_veteran', 'Labour veteran'),
    (10, 'rehabilitated', 'Rehabilitated'),
    (11, 'schoolchild', 'Schoolchild')
ON CONFLICT (bit) DO NOTHING;

CREATE TEMP TABLE gen_param ON COMMIT DROP AS
    SELECT :cards::bigint AS cards,
           ceil(:cards / 1.08)::bigint AS holders,
           :partners::bigint AS partners;

-- each category bit on its own with its share
INSERT INTO uco.holder (id, categories)
SELECT 1000000 + g,
       (CASE WHEN random() < 0.27 THEN 1 ELSE 0 END)
     | (CASE WHEN random() < 0.09 THEN 2 ELSE 0 END)
     | (CASE WHEN random() < 0.03 THEN 4 ELSE 0 END)
     | (CASE WHEN random() < 0.06 THEN 8 ELSE 0 END)
     | (CASE WHEN random() < 0.06 THEN 16 ELSE 0 END)
     | (CASE WHEN random() < 0.04 THEN 32 ELSE 0 END)
     | (CASE WHEN random() < 0.01 THEN 64 ELSE 0 END)
     | (CASE WHEN random() < 0.01 THEN 128 ELSE 0 END)
     | (CASE WHEN random() < 0.02 THEN 256 ELSE 0 END)
     | (CASE WHEN random() < 0.04 THEN 512 ELSE 0 END)
     | (CASE WHEN random() < 0.01 THEN 1024 ELSE 0 END)
     | (CASE WHEN random() < 0.03 THEN 2048 ELSE 0 END)
FROM gen_param, generate_series(1, holders) g;

-- cards 1..holders are current; the rest are the older cards of the
-- first holders, replaced
INSERT INTO uco.card (id, holder_id, kind, status, valid_until)
SELECT 1000000 + g,
       1000000 + CASE WHEN g <= holders THEN g ELSE g - holders END,
       CASE WHEN random() < 0.65 THEN 'bank' ELSE 'non_financial' END,
       CASE WHEN g > holders THEN 'replaced'
            WHEN r < 0.015 THEN 'blocked'
            WHEN r < 0.04 THEN 'expired'
            ELSE 'active' END,
       CASE WHEN g <= holders AND r >= 0.04
            THEN date '2027-01-01' + (random() * 1825)::int
            ELSE date '2021-01-01' + (random() * 1825)::int END
FROM gen_param, generate_series(1, cards) g,
     LATERAL (SELECT random() + 0 * g) x(r);

-- in key order, so the primary key index is filled at its right edge
INSERT INTO uco.card_identifier (kind, value, card_id)
SELECT 'social', '56' || lpad(g::text, 10, '0'), 1000000 + g
FROM gen_param, generate_series(1, cards) g;

INSERT INTO uco.card_identifier (kind, value, card_id)
SELECT 'hashpan', h, id FROM (
    SELECT encode(sha256(('uco-synthetic-pan:' || c.id)::bytea), 'hex') AS h,
           c.id
    FROM uco.card c WHERE c.id >= 1000000 AND c.kind = 'bank'
    ORDER BY 1) s;

INSERT INTO uco.partner (id, name, status, secret_sha256)
SELECT 100000 + g, 'synthetic partner ' || g,
       CASE WHEN g % 50 = 0 THEN 'suspended' ELSE 'active' END,
       uco.secret_hash('bench-secret-' || (100000 + g))
FROM gen_param, generate_series(1, partners) g;

INSERT INTO uco.partner_terminal (partner_id, terminal)
SELECT 100000 + g, 'pos-' || t
FROM gen_param, generate_series(1, partners) g, generate_series(1, 5) t
WHERE g % 10 = 0;

-- 1..19 programmes a partner; ids partner * 100 + n
INSERT INTO uco.programme (id, partner_id, name, discount_type,
    discount_percent, discount_kopecks, required_categories, card_kind,
    valid_from, valid_to, weekdays, hour_from, hour_to)
SELECT (100000 + g) * 100 + n, 100000 + g, 'synthetic ' || n,
       CASE WHEN r1 < 0.8 THEN 'percent' ELSE 'fixed' END,
       CASE WHEN r1 < 0.8 THEN 1 + floor(r2 * 50) END,
       CASE WHEN r1 >= 0.8 THEN 1000 + floor(r2 * 50000)::bigint END,
       CASE WHEN r3 < 0.2 THEN 0
            ELSE (1::bigint << floor(r3 * 60)::int % 12)
                 | (1::bigint << floor(r2 * 60)::int % 12) END,
       CASE WHEN r4 < 0.1 THEN 'bank' WHEN r4 < 0.15 THEN 'non_financial'
       END,
       CASE WHEN r4 > 0.9 THEN date '2026-01-01' END,
       CASE WHEN r4 > 0.9 THEN date '2027-12-31' END,
       CASE WHEN r5 < 0.2 THEN 31 END,
       CASE WHEN r5 < 0.1 THEN 9 WHEN r5 < 0.15 THEN 22 END,
       CASE WHEN r5 < 0.1 THEN 13 WHEN r5 < 0.15 THEN 6 END
FROM gen_param, generate_series(1, partners) g,
     LATERAL generate_series(1, 1 + (g * 7919) % 19) n,
     LATERAL (SELECT random() + 0 * n, random(), random(), random(),
                     random()) x(r1, r2, r3, r4, r5);

COMMIT;
ANALYZE uco.holder, uco.card, uco.card_identifier, uco.partner,
        uco.partner_terminal, uco.programme;
