-- Freshness: what the loader's delta overlays need from the change log
-- (docs/schema.md, docs/snapshot-format.md).  Re-runnable.
--
-- An UPDATE that moves a row to another owner (an identifier re-pointed
-- to another card, a terminal or programme to another partner) now logs
-- the old owner as well, with op 'update_from': the loader rewrites the
-- overlay of both cards, so the identifier leaves the card it was moved
-- away from.  Every other change is logged exactly as before.
CREATE OR REPLACE FUNCTION uco.log_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
    o jsonb;
    k text;
    ok text;
BEGIN
    -- jsonb: PL/pgSQL would resolve every field of a record in a CASE.
    IF TG_OP = 'DELETE' THEN r := to_jsonb(OLD); ELSE r := to_jsonb(NEW); END IF;
    -- Key by owning row, never by identifier value.
    k := coalesce(r ->> 'id', r ->> 'card_id', r ->> 'partner_id',
                  r ->> 'bit');
    INSERT INTO uco.change_log (tbl, op, row_key)
        VALUES (TG_TABLE_NAME, lower(TG_OP), k);
    IF TG_OP = 'UPDATE' THEN
        o := to_jsonb(OLD);
        ok := coalesce(o ->> 'id', o ->> 'card_id', o ->> 'partner_id',
                       o ->> 'bit');
        IF ok IS DISTINCT FROM k THEN
            INSERT INTO uco.change_log (tbl, op, row_key)
                VALUES (TG_TABLE_NAME, 'update_from', ok);
        END IF;
    END IF;
    PERFORM pg_notify('uco_change', TG_TABLE_NAME);
    RETURN NULL;
END $$;
