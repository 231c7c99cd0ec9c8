-- uco core schema: the contract an operator's integration writes to.
-- Re-runnable: every statement is idempotent.  See docs/schema.md.

CREATE SCHEMA IF NOT EXISTS uco;

-- Benefit categories: at most 64, each one bit of a holder's mask.
CREATE TABLE IF NOT EXISTS uco.category (
    bit         smallint PRIMARY KEY CHECK (bit BETWEEN 0 AND 63),
    code        text NOT NULL UNIQUE CHECK (code ~ '^[a-z][a-z0-9_]{0,31}$'),
    title       text NOT NULL DEFAULT ''
);

-- Holders: an id and their categories only, never personal data.
CREATE TABLE IF NOT EXISTS uco.holder (
    id          bigint PRIMARY KEY CHECK (id > 0),
    categories  bigint NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS uco.card (
    id          bigint PRIMARY KEY CHECK (id > 0),
    holder_id   bigint NOT NULL REFERENCES uco.holder (id),
    kind        text NOT NULL CHECK (kind IN ('bank', 'non_financial')),
    status      text NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'blocked', 'expired', 'replaced')),
    valid_until date NOT NULL
);
CREATE INDEX IF NOT EXISTS card_holder_idx ON uco.card (holder_id);

-- Ways to name a card.  A HashPAN is the operator's keyed hash of the PAN
-- (64 lowercase hex digits); the PAN itself is never stored.
CREATE TABLE IF NOT EXISTS uco.card_identifier (
    kind        text NOT NULL CHECK (kind IN ('hashpan', 'social')),
    value       text NOT NULL,
    card_id     bigint NOT NULL REFERENCES uco.card (id) ON DELETE CASCADE,
    PRIMARY KEY (kind, value),
    CONSTRAINT card_identifier_value_format CHECK (
        (kind = 'hashpan' AND value ~ '^[0-9a-f]{64}$')
        OR (kind = 'social' AND value ~ '^[0-9]{1,28}$'))
);
CREATE INDEX IF NOT EXISTS card_identifier_card_idx
    ON uco.card_identifier (card_id);

-- Partners: credentials only as SHA-256 of a high-entropy secret.
CREATE TABLE IF NOT EXISTS uco.partner (
    id            bigint PRIMARY KEY CHECK (id > 0),
    name          text NOT NULL DEFAULT '',
    status        text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'suspended')),
    secret_sha256 bytea NOT NULL CHECK (octet_length(secret_sha256) = 32)
);

-- Optional allow-list: a partner with rows here is answered only for
-- these terminals; a partner without rows for any terminal.
CREATE TABLE IF NOT EXISTS uco.partner_terminal (
    partner_id  bigint NOT NULL REFERENCES uco.partner (id) ON DELETE CASCADE,
    terminal    text NOT NULL CHECK (terminal ~ '^[A-Za-z0-9._:-]{1,32}$'),
    PRIMARY KEY (partner_id, terminal)
);

CREATE TABLE IF NOT EXISTS uco.programme (
    id                  bigint PRIMARY KEY CHECK (id > 0),
    partner_id          bigint NOT NULL
                        REFERENCES uco.partner (id) ON DELETE CASCADE,
    name                text NOT NULL DEFAULT '',
    discount_type       text NOT NULL
                        CHECK (discount_type IN ('percent', 'fixed')),
    -- percent: 0.01 .. 100.00; fixed: kopecks.
    discount_percent    numeric(5,2)
                        CHECK (discount_percent > 0
                               AND discount_percent <= 100),
    discount_kopecks    bigint
                        CHECK (discount_kopecks > 0
                               AND discount_kopecks < 1000000000000),
    -- any-of mask; 0 = every holder.
    required_categories bigint NOT NULL DEFAULT 0,
    card_kind           text CHECK (card_kind IN ('bank', 'non_financial')),
    valid_from          date,
    valid_to            date,
    -- bit 0 = Monday .. bit 6 = Sunday; NULL = every day.
    weekdays            smallint CHECK (weekdays BETWEEN 1 AND 127),
    -- local time [hour_from, hour_to); hour_from > hour_to wraps midnight.
    hour_from           smallint CHECK (hour_from BETWEEN 0 AND 23),
    hour_to             smallint CHECK (hour_to BETWEEN 1 AND 24),
    active              boolean NOT NULL DEFAULT true,
    CONSTRAINT programme_discount CHECK (
        (discount_type = 'percent' AND discount_percent IS NOT NULL
         AND discount_kopecks IS NULL)
        OR (discount_type = 'fixed' AND discount_kopecks IS NOT NULL
            AND discount_percent IS NULL)),
    CONSTRAINT programme_hours CHECK (
        (hour_from IS NULL) = (hour_to IS NULL) AND hour_from <> hour_to),
    CONSTRAINT programme_dates CHECK (valid_from <= valid_to)
);
CREATE INDEX IF NOT EXISTS programme_partner_idx
    ON uco.programme (partner_id);

-- Change log: filled by triggers, read by the loader.  txid lets a reader
-- tell which changes may still be uncommitted.
CREATE TABLE IF NOT EXISTS uco.change_log (
    id          bigserial PRIMARY KEY,
    txid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    changed_at  timestamptz NOT NULL DEFAULT now(),
    tbl         text NOT NULL,
    op          text NOT NULL,
    row_key     text NOT NULL
);

CREATE OR REPLACE FUNCTION uco.log_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    -- jsonb: PL/pgSQL would resolve every field of a record in a CASE.
    IF TG_OP = 'DELETE' THEN r := to_jsonb(OLD); ELSE r := to_jsonb(NEW); END IF;
    -- Key by owning row, never by identifier value.
    INSERT INTO uco.change_log (tbl, op, row_key)
        VALUES (TG_TABLE_NAME, lower(TG_OP),
                coalesce(r ->> 'id', r ->> 'card_id', r ->> 'partner_id',
                         r ->> 'bit'));
    PERFORM pg_notify('uco_change', TG_TABLE_NAME);
    RETURN NULL;
END $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['category', 'holder', 'card', 'card_identifier',
                             'partner', 'partner_terminal', 'programme']
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I_log ON uco.%I', t, t);
        EXECUTE format('CREATE TRIGGER %I_log AFTER INSERT OR UPDATE OR '
                       'DELETE ON uco.%I FOR EACH ROW '
                       'EXECUTE FUNCTION uco.log_change()', t, t);
    END LOOP;
END $$;

-- Helpers for integrations.
CREATE OR REPLACE FUNCTION uco.category_mask(VARIADIC codes text[])
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT coalesce(bit_or((1::bigint) << bit), 0)
    FROM uco.category WHERE code = ANY (codes)
$$;

CREATE OR REPLACE FUNCTION uco.secret_hash(secret text)
RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT sha256(convert_to(secret, 'UTF8'))
$$;
