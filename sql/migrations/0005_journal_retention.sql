-- uco decision journal: monthly partitions of uco.decision made ahead
-- of time, and those past a retention period dropped (or detached for
-- archiving).  policy-loader journal calls uco.decision_maintain() at
-- start and hourly (retention-months); a cron job or a systemd timer may
-- call it instead.  Re-runnable.  See docs/journal.md, docs/schema.md.

-- The functions that create and drop partitions run as their owner (the
-- schema's, who owns uco.decision): creating a partition needs the
-- parent's ownership, which the journal's role should not have.  So
-- EXECUTE is granted explicitly, never to PUBLIC.

-- The partitions of the current month (UTC) and of the "ahead" months
-- after it, created where missing; returns the names it created.
CREATE OR REPLACE FUNCTION uco.decision_partitions_ahead(
    ahead integer DEFAULT 2)
RETURNS SETOF text LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m      integer;
    first  timestamp := date_trunc('month', now() AT TIME ZONE 'UTC');
    at     timestamptz;
BEGIN
    IF ahead IS NULL OR ahead < 0 OR ahead > 24 THEN
        RAISE EXCEPTION 'ahead: % is not 0 .. 24 months', ahead;
    END IF;
    FOR m IN 0 .. ahead LOOP
        -- in UTC: a session time zone with daylight saving cannot shift it
        at := (first + make_interval(months => m)) AT TIME ZONE 'UTC';
        IF to_regclass('uco.decision_' || to_char(first
                + make_interval(months => m), 'YYYY_MM')) IS NULL
        THEN
            RETURN NEXT 'uco.' || uco.decision_partition(at);
        END IF;
    END LOOP;
END $$;

-- Partitions all of whose rows are older than keep_months whole months
-- before the current month (UTC) are dropped, or with detach only
-- detached (left as tables of their own, to dump and drop by hand).
-- keep_months = 12 in November 2026 keeps November 2025 onwards.
-- Returns what it did ('dropped uco.decision_2025_10').  Partitions
-- without an upper bound (a DEFAULT partition) are never touched.
CREATE OR REPLACE FUNCTION uco.decision_retention(keep_months integer,
    detach boolean DEFAULT false)
RETURNS SETOF text LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r       record;
    name    text;
    cutoff  timestamptz;
    ends    timestamptz;
BEGIN
    IF keep_months IS NULL OR keep_months < 1 OR keep_months > 1200 THEN
        RAISE EXCEPTION 'keep_months: % is not 1 .. 1200', keep_months;
    END IF;
    cutoff := (date_trunc('month', now() AT TIME ZONE 'UTC')
               - make_interval(months => keep_months)) AT TIME ZONE 'UTC';
    FOR r IN
        SELECT c.oid::regclass AS part,
               pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'uco.decision'::regclass
        ORDER BY c.relname
    LOOP
        ends := substring(r.bound FROM 'TO \(''([^'']+)''\)')::timestamptz;
        CONTINUE WHEN ends IS NULL OR ends > cutoff;
        -- before the DROP: a dropped table's regclass is a bare oid
        name := r.part::text;
        IF detach THEN
            EXECUTE format('ALTER TABLE uco.decision DETACH PARTITION %s',
                           r.part);
            RETURN NEXT 'detached ' || name;
        ELSE
            EXECUTE format('DROP TABLE %s', r.part);
            RETURN NEXT 'dropped ' || name;
        END IF;
    END LOOP;
END $$;

-- What the journal process runs: partitions ahead, then the retention
-- (keep_months = 0: keep for ever).
CREATE OR REPLACE FUNCTION uco.decision_maintain(keep_months integer
    DEFAULT 0, ahead integer DEFAULT 2)
RETURNS SETOF text LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY SELECT 'created ' || p
                 FROM uco.decision_partitions_ahead(ahead) p;
    IF keep_months IS NOT NULL AND keep_months > 0 THEN
        RETURN QUERY SELECT * FROM uco.decision_retention(keep_months);
    END IF;
END $$;

REVOKE ALL ON FUNCTION uco.decision_partitions_ahead(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION uco.decision_retention(integer, boolean)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION uco.decision_maintain(integer, integer) FROM PUBLIC;
