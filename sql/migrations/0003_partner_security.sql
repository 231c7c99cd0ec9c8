-- Every card identifier kind and real partner security (docs/schema.md).
-- Re-runnable: every statement is idempotent.

-- Identifier kinds: barcode (the printed number) and uid (a Mifare chip
-- UID, 4, 7 or 10 bytes as lowercase hex).  A HashPAN row may name the
-- HashPAN key that made it, so that rows of a retired key can be found.
ALTER TABLE uco.card_identifier
    DROP CONSTRAINT IF EXISTS card_identifier_kind_check,
    DROP CONSTRAINT IF EXISTS card_identifier_value_format,
    ADD COLUMN IF NOT EXISTS key_id smallint;
ALTER TABLE uco.card_identifier
    DROP CONSTRAINT IF EXISTS card_identifier_key_id;
ALTER TABLE uco.card_identifier
    ADD CONSTRAINT card_identifier_kind_check
        CHECK (kind IN ('hashpan', 'social', 'barcode', 'uid')),
    ADD CONSTRAINT card_identifier_value_format CHECK (
        (kind = 'hashpan' AND value ~ '^[0-9a-f]{64}$')
        OR (kind IN ('social', 'barcode') AND value ~ '^[0-9]{1,28}$')
        OR (kind = 'uid'
            AND value ~ '^([0-9a-f]{8}|[0-9a-f]{14}|[0-9a-f]{20})$')),
    ADD CONSTRAINT card_identifier_key_id CHECK (
        key_id IS NULL OR (kind = 'hashpan' AND key_id BETWEEN 1 AND 255));

-- Partner authentication, selectable per partner:
--   api_key  Authorization: Bearer <id>.<secret>
--   signed   Authorization: UCO-HMAC-SHA256 partner=..., ts=..., ...
--   mtls     a client certificate listed in uco.partner_certificate
-- secret_sha256 and secret2_sha256 are the two valid secrets during a
-- rotation (SHA-256 of each; for signed partners that hash is the HMAC
-- key).  Scopes say what a partner may ask; contract dates bound when.
ALTER TABLE uco.partner
    ALTER COLUMN secret_sha256 DROP NOT NULL,
    ADD COLUMN IF NOT EXISTS auth text NOT NULL DEFAULT 'api_key',
    ADD COLUMN IF NOT EXISTS secret2_sha256 bytea,
    ADD COLUMN IF NOT EXISTS scopes text[] NOT NULL DEFAULT '{discount}',
    ADD COLUMN IF NOT EXISTS contract_from date,
    ADD COLUMN IF NOT EXISTS contract_to date;
ALTER TABLE uco.partner
    DROP CONSTRAINT IF EXISTS partner_auth,
    DROP CONSTRAINT IF EXISTS partner_secret2,
    DROP CONSTRAINT IF EXISTS partner_scopes,
    DROP CONSTRAINT IF EXISTS partner_contract;
ALTER TABLE uco.partner
    ADD CONSTRAINT partner_auth CHECK (
        auth IN ('api_key', 'signed', 'mtls')
        AND (auth = 'mtls' OR secret_sha256 IS NOT NULL)),
    ADD CONSTRAINT partner_secret2 CHECK (
        secret2_sha256 IS NULL OR octet_length(secret2_sha256) = 32),
    ADD CONSTRAINT partner_scopes CHECK (
        cardinality(scopes) > 0
        AND scopes <@ ARRAY['discount', 'benefit', 'identify']),
    ADD CONSTRAINT partner_contract CHECK (contract_from <= contract_to);

-- Mutual TLS: a verified client certificate names its partner by the
-- SHA-256 of the certificate (DER) or by its subject as nginx prints it
-- ($ssl_client_s_dn, RFC 2253).
CREATE TABLE IF NOT EXISTS uco.partner_certificate (
    partner_id  bigint NOT NULL REFERENCES uco.partner (id) ON DELETE CASCADE,
    fingerprint_sha256 bytea UNIQUE
                CHECK (octet_length(fingerprint_sha256) = 32),
    subject     text UNIQUE CHECK (length(subject) BETWEEN 1 AND 1024),
    CONSTRAINT partner_certificate_one CHECK (
        (fingerprint_sha256 IS NULL) <> (subject IS NULL))
);
CREATE INDEX IF NOT EXISTS partner_certificate_partner_idx
    ON uco.partner_certificate (partner_id);

DROP TRIGGER IF EXISTS partner_certificate_log ON uco.partner_certificate;
CREATE TRIGGER partner_certificate_log AFTER INSERT OR UPDATE OR DELETE
    ON uco.partner_certificate FOR EACH ROW
    EXECUTE FUNCTION uco.log_change();
