-- Sample data for `make run` and docs/api.md.  Not for production: the
-- partner secrets below are published.  Re-runnable.

BEGIN;

INSERT INTO uco.category (bit, code, title) VALUES
    (0, 'pensioner',    'Pensioner'),
    (1, 'student',      'Student'),
    (2, 'veteran',      'Veteran'),
    (3, 'large_family', 'Large family'),
    (4, 'disabled',     'Disability')
ON CONFLICT (bit) DO NOTHING;

INSERT INTO uco.holder (id, categories) VALUES
    (1, uco.category_mask('student', 'large_family')),
    (2, uco.category_mask('pensioner')),
    (3, uco.category_mask('veteran', 'pensioner')),
    (4, 0)
ON CONFLICT (id) DO NOTHING;

INSERT INTO uco.card (id, holder_id, kind, status, valid_until) VALUES
    (1, 1, 'bank',          'active',   '2030-12-31'),
    (2, 2, 'bank',          'active',   '2030-12-31'),
    (3, 3, 'non_financial', 'active',   '2030-12-31'),
    (4, 4, 'bank',          'active',   '2030-12-31'),
    (5, 2, 'bank',          'replaced', '2030-12-31')
ON CONFLICT (id) DO NOTHING;

-- HashPANs are the operator's keyed hashes (docs/schema.md); these are
-- made-up values of the right shape.
INSERT INTO uco.card_identifier (kind, value, card_id) VALUES
    ('hashpan',
     '5e9f7f6e00f35fa0440af887c176d35b4e9f722abf2e9f5d4145feb6ca186497', 1),
    ('hashpan',
     '5f92e62eb8d879bd4492d4d1a910e32f8f987f0e341e960427b7502c407fba17', 2),
    ('hashpan',
     'af18bc2d81a2848cd7abb4d9e458a719de9fb9f75e5c8e69cc5b77f0d66676fe', 4),
    ('hashpan',
     'b3721e0b5f0365af5f6836b15d5c2f2fbd5f804e400f386aa36d8e6fe6ca3992', 5),
    ('social', '0560012345', 3),
    ('social', '0560054321', 1)
ON CONFLICT (kind, value) DO NOTHING;

INSERT INTO uco.partner (id, name, status, secret_sha256) VALUES
    (1001, 'Pharmacy chain "Zdorovie"', 'active',
     uco.secret_hash('demo-secret-1001-0123456789abcdef')),
    (1002, 'Suburban railway', 'active',
     uco.secret_hash('demo-secret-1002-0123456789abcdef')),
    (1003, 'Former partner', 'suspended',
     uco.secret_hash('demo-secret-1003-0123456789abcdef'))
ON CONFLICT (id) DO NOTHING;

INSERT INTO uco.partner_terminal (partner_id, terminal) VALUES
    (1002, 'validator-17'),
    (1002, 'ticket-office-1')
ON CONFLICT DO NOTHING;

INSERT INTO uco.programme (id, partner_id, name, discount_type,
    discount_percent, discount_kopecks, required_categories, card_kind,
    weekdays, hour_from, hour_to) VALUES
    (101, 1001, 'Pensioners, weekday mornings', 'percent', 10, NULL,
     uco.category_mask('pensioner'), NULL, 31, 9, 13),
    (102, 1001, 'Students', 'percent', 5, NULL,
     uco.category_mask('student'), NULL, NULL, NULL, NULL),
    (103, 1001, 'Large families', 'fixed', NULL, 30000,
     uco.category_mask('large_family'), 'bank', NULL, NULL, NULL),
    (201, 1002, 'Veterans travel free', 'percent', 100, NULL,
     uco.category_mask('veteran'), NULL, NULL, NULL, NULL),
    (202, 1002, 'Pensioners half fare', 'percent', 50, NULL,
     uco.category_mask('pensioner'), NULL, NULL, NULL, NULL)
ON CONFLICT (id) DO NOTHING;

COMMIT;
