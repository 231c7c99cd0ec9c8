-- uco decision journal: every decision the nodes gave, as delivered by
-- policy-loader journal, and the reports partners and the operator
-- settle on.  Re-runnable.  See docs/journal.md and docs/schema.md.

-- Carriers are compensated for benefit rides; other partners reconcile
-- discounts.
ALTER TABLE uco.partner ADD COLUMN IF NOT EXISTS kind text NOT NULL
    DEFAULT 'merchant' CHECK (kind IN ('merchant', 'carrier'));

-- Partitioned by month (UTC) of the decision; the loader creates
-- partitions as records arrive (uco.decision_partition).  decided_at is
-- part of the key because a partitioned table's unique keys must hold
-- the partition key; a repeated record has the same decided_at, so
-- (decision_id, decided_at) makes delivery idempotent.
CREATE TABLE IF NOT EXISTS uco.decision (
    decision_id   bigint NOT NULL CHECK (decision_id > 0),
    decided_at    timestamptz NOT NULL,
    node          smallint NOT NULL CHECK (node BETWEEN 0 AND 1023),
    partner_id    bigint NOT NULL,
    terminal      text,
    card_id       bigint,
    programme_id  bigint,
    decision      text NOT NULL CHECK (decision IN ('eligible',
                  'not_eligible', 'card_blocked', 'card_expired',
                  'card_replaced', 'card_unknown')),
    reason        text CHECK (reason IN ('no_programme', 'card_kind',
                  'category', 'outside_window')),
    discount      bigint CHECK (discount >= 0),     -- kopecks
    amount        bigint CHECK (amount >= 0),       -- kopecks
    generation    bigint NOT NULL,
    PRIMARY KEY (decision_id, decided_at)
) PARTITION BY RANGE (decided_at);

CREATE INDEX IF NOT EXISTS decision_partner_idx
    ON uco.decision (partner_id, decided_at);

-- The partition holding "at": created if missing; concurrent loaders
-- racing to create it are harmless.
CREATE OR REPLACE FUNCTION uco.decision_partition(at timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    first timestamptz := date_trunc('month', at AT TIME ZONE 'UTC')
                         AT TIME ZONE 'UTC';
    name  text := 'decision_' || to_char(first AT TIME ZONE 'UTC',
                                         'YYYY_MM');
BEGIN
    IF to_regclass('uco.' || name) IS NULL THEN
        BEGIN
            EXECUTE format('CREATE TABLE IF NOT EXISTS uco.%I PARTITION OF '
                           'uco.decision FOR VALUES FROM (%L) TO (%L)',
                           name, first, first + interval '1 month');
        EXCEPTION WHEN duplicate_table OR unique_violation THEN
            NULL;
        END;
    END IF;
    RETURN name;
END $$;

-- Reports.  Months are calendar months in the time zone given (the
-- region's, e.g. 'Asia/Yekaterinburg'; default UTC), so that they match
-- the partner's own books.

-- Per partner and month: decisions, eligible ones, total discount.
CREATE OR REPLACE FUNCTION uco.partner_month_report(
    tz text DEFAULT 'UTC',
    since timestamptz DEFAULT '-infinity',
    until timestamptz DEFAULT 'infinity')
RETURNS TABLE (partner_id bigint, month date, decisions bigint,
               eligible bigint, discount_total bigint)
LANGUAGE sql STABLE AS $$
    SELECT d.partner_id,
           date_trunc('month', d.decided_at AT TIME ZONE tz)::date,
           count(*),
           count(*) FILTER (WHERE d.decision = 'eligible'),
           coalesce(sum(d.discount) FILTER (WHERE d.decision = 'eligible'),
                    0)::bigint
    FROM uco.decision d
    WHERE d.decided_at >= since AND d.decided_at < until
    GROUP BY 1, 2
$$;

-- Per carrier, month and programme: benefit rides (eligible decisions),
-- the compensation claimed (their discounts) and the rides whose
-- validator sent no fare (no amount, so no discount to claim).
CREATE OR REPLACE FUNCTION uco.carrier_month_report(
    tz text DEFAULT 'UTC',
    since timestamptz DEFAULT '-infinity',
    until timestamptz DEFAULT 'infinity')
RETURNS TABLE (carrier_id bigint, month date, programme_id bigint,
               rides bigint, compensation bigint, rides_without_fare bigint)
LANGUAGE sql STABLE AS $$
    SELECT d.partner_id,
           date_trunc('month', d.decided_at AT TIME ZONE tz)::date,
           d.programme_id,
           count(*),
           coalesce(sum(d.discount), 0)::bigint,
           count(*) FILTER (WHERE d.amount IS NULL)
    FROM uco.decision d
    JOIN uco.partner p ON p.id = d.partner_id AND p.kind = 'carrier'
    WHERE d.decision = 'eligible'
      AND d.decided_at >= since AND d.decided_at < until
    GROUP BY 1, 2, 3
$$;

-- The same in UTC months, for dashboards.
CREATE OR REPLACE VIEW uco.partner_month AS
    SELECT * FROM uco.partner_month_report();
CREATE OR REPLACE VIEW uco.carrier_month AS
    SELECT * FROM uco.carrier_month_report();
