# Decisions: every decision and every not_eligible reason, programme
# selection (largest discount with an amount, percent above fixed without
# one, ties to the lowest id, discount never above the amount, floor of
# percent discounts), hashpan case, social numbers, unknown cards, and that
# answers carry nothing personal.  Time windows here are always or never
# open; t/025-time-window.t covers clocks and time zones.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

data_sql(<<'SQL');
INSERT INTO uco.category (bit, code) VALUES
    (0, 'pensioner'), (1, 'student'), (2, 'veteran');
INSERT INTO uco.holder (id, categories) VALUES
    (1, uco.category_mask('pensioner')),
    (2, uco.category_mask('student')),
    (3, 0);

-- card 11: pensioner, bank; 12: student, non-financial; 16: no category
INSERT INTO uco.card (id, holder_id, kind, status, valid_until) VALUES
    (11, 1, 'bank',          'active',   '2099-12-31'),
    (12, 2, 'non_financial', 'active',   '2099-12-31'),
    (13, 1, 'bank',          'blocked',  '2099-12-31'),
    (14, 1, 'bank',          'expired',  '2099-12-31'),
    (15, 1, 'bank',          'replaced', '2099-12-31'),
    (16, 3, 'bank',          'active',   '2099-12-31'),
    (17, 1, 'bank',          'active',   '2001-01-01');
INSERT INTO uco.card_identifier (kind, value, card_id) VALUES
    ('hashpan', repeat('ab', 32), 11),
    ('social',  '0012345',        12),
    ('hashpan', repeat('13', 32), 13),
    ('hashpan', repeat('14', 32), 14),
    ('hashpan', repeat('15', 32), 15),
    ('hashpan', repeat('16', 32), 16),
    ('hashpan', repeat('17', 32), 17);

INSERT INTO uco.partner (id, name, secret_sha256)
    SELECT id, 'partner ' || id, uco.secret_hash('secret-' || id)
    FROM generate_series(1001, 1010) AS id;

-- 1001: selection among three programmes
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent,
                           discount_kopecks, required_categories) VALUES
    (103, 1001, 'percent', 12.25, NULL,  uco.category_mask('pensioner')),
    (102, 1001, 'fixed',   NULL,  20000, 0),
    (101, 1001, 'percent', 10.50, NULL,  0);
-- 1002: only an inactive programme, which must not exist for the snapshot
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent,
                           active)
    VALUES (121, 1002, 'percent', 90, false);
-- 1003: one fails on card kind, one on category (the further one counts)
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent,
                           card_kind, required_categories) VALUES
    (131, 1003, 'percent', 5, 'non_financial', 0),
    (132, 1003, 'percent', 7, NULL, uco.category_mask('veteran'));
-- 1004: ties
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent,
                           discount_kopecks) VALUES
    (143, 1004, 'percent', 5, NULL),
    (142, 1004, 'percent', 5, NULL),
    (141, 1004, 'fixed', NULL, 500);
-- 1005: card kind only
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent,
                           card_kind)
    VALUES (151, 1005, 'percent', 5, 'non_financial');
-- 1006: one fails on card kind, one on its (past) dates
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent,
                           card_kind, valid_from, valid_to) VALUES
    (161, 1006, 'percent', 5, 'non_financial', NULL, NULL),
    (162, 1006, 'percent', 5, NULL, '2000-01-01', '2000-12-31');
-- 1007: fails category and window: category is checked first
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent,
                           required_categories, valid_from, valid_to)
    VALUES (171, 1007, 'percent', 5, uco.category_mask('veteran'),
            '2000-01-01', '2000-12-31');
-- 1008: fails card kind and category: card kind is checked first
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent,
                           card_kind, required_categories)
    VALUES (181, 1008, 'percent', 5, 'non_financial',
            uco.category_mask('veteran'));
-- 1009: no programme at all
-- 1010: a window open every day at every hour, and a future one
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent,
                           weekdays, hour_from, hour_to, valid_from, valid_to)
    VALUES (1101, 1010, 'percent', 3, 127, 0, 24, '2000-01-01', '2099-12-31'),
           (1102, 1010, 'percent', 9, NULL, NULL, NULL, '2098-01-01', NULL);
SQL

block_defaults(more_headers => 'Authorization: Bearer 1001.secret-1001');

run_tests();

__DATA__

=== TEST 1: without an amount a percent programme wins, the highest value
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body_like
^\{"decision":"eligible","programme":\{"id":103,"type":"percent","value":12\.25\},"generation":\d+\}$

=== TEST 2: with an amount the largest discount in kopecks wins (fixed)
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab&amount=150000
--- error_code: 200
--- response_body_like
^\{"decision":"eligible","programme":\{"id":102,"type":"fixed","value":20000,"discount":20000\},"generation":\d+\}$

=== TEST 3: with a large amount the largest discount is a percent one
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab&amount=1000000
--- error_code: 200
--- response_body_like
^\{"decision":"eligible","programme":\{"id":103,"type":"percent","value":12\.25,"discount":122500\},"generation":\d+\}$

=== TEST 4: a fixed discount is never above the amount
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab&amount=100
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":102,"type":"fixed","value":20000,"discount":100}}

=== TEST 5: amount 0: every discount is 0, the lowest id wins
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab&amount=0
--- error_code: 200
--- response_body_like
^\{"decision":"eligible","programme":\{"id":101,"type":"percent","value":10\.5,"discount":0\},"generation":\d+\}$

=== TEST 6: the largest amount (12 digits) does not overflow
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab&amount=999999999999
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":103,"type":"percent","value":12.25,"discount":122499999999}}

=== TEST 7: a holder without the category gets the other programmes
--- request
GET /v1/eligibility?card=1616161616161616161616161616161616161616161616161616161616161616
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":101,"type":"percent","value":10.5}}

=== TEST 8: percent discounts are rounded down
--- more_headers
Authorization: Bearer 1003.secret-1003
--- request
GET /v1/eligibility?card=0012345&kind=social&amount=999
--- error_code: 200
--- response_body_like
^\{"decision":"eligible","programme":\{"id":131,"type":"percent","value":5,"discount":49\},"generation":\d+\}$

=== TEST 9: tie without an amount: percent above fixed, then the lowest id
--- more_headers
Authorization: Bearer 1004.secret-1004
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab
--- error_code: 200
--- response_body_like
^\{"decision":"eligible","programme":\{"id":142,"type":"percent","value":5\},"generation":\d+\}$

=== TEST 10: tie with an amount (500 kopecks each): the lowest id
--- more_headers
Authorization: Bearer 1004.secret-1004
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab&amount=10000
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":141,"type":"fixed","value":500,"discount":500}}

=== TEST 11: tie between two percent programmes with an amount
--- more_headers
Authorization: Bearer 1004.secret-1004
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab&amount=20000
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":142,"type":"percent","value":5,"discount":1000}}

=== TEST 12: a window open every day and hour applies; a future one does not
--- more_headers
Authorization: Bearer 1010.secret-1010
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":1101,"type":"percent","value":3}}

=== TEST 13: no programme at all
--- more_headers
Authorization: Bearer 1009.secret-1009
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab
--- error_code: 200
--- response_body_like
^\{"decision":"not_eligible","reason":"no_programme","generation":\d+\}$

=== TEST 14: inactive programmes do not exist: no_programme
--- more_headers
Authorization: Bearer 1002.secret-1002
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab
--- error_code: 200
--- response_json
{"decision":"not_eligible","reason":"no_programme"}

=== TEST 15: reason card_kind
--- more_headers
Authorization: Bearer 1005.secret-1005
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab
--- error_code: 200
--- response_body_like
^\{"decision":"not_eligible","reason":"card_kind","generation":\d+\}$

=== TEST 16: reason category: the programme that got furthest counts
--- more_headers
Authorization: Bearer 1003.secret-1003
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab
--- error_code: 200
--- response_body_like
^\{"decision":"not_eligible","reason":"category","generation":\d+\}$

=== TEST 17: the same partner, a non-financial card: eligible
--- more_headers
Authorization: Bearer 1003.secret-1003
--- request
GET /v1/eligibility?card=0012345&kind=social
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":131,"type":"percent","value":5}}

=== TEST 18: reason outside_window beats card_kind
--- more_headers
Authorization: Bearer 1006.secret-1006
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab
--- error_code: 200
--- response_body_like
^\{"decision":"not_eligible","reason":"outside_window","generation":\d+\}$

=== TEST 19: one programme failing category and window: category
--- more_headers
Authorization: Bearer 1007.secret-1007
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab
--- error_code: 200
--- response_json
{"decision":"not_eligible","reason":"category"}

=== TEST 20: one programme failing card kind and category: card_kind
--- more_headers
Authorization: Bearer 1008.secret-1008
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab
--- error_code: 200
--- response_json
{"decision":"not_eligible","reason":"card_kind"}

=== TEST 21: blocked card
--- request
GET /v1/eligibility?card=1313131313131313131313131313131313131313131313131313131313131313&amount=5000
--- error_code: 200
--- response_body_like
^\{"decision":"card_blocked","generation":\d+\}$

=== TEST 22: expired card (status)
--- request
GET /v1/eligibility?card=1414141414141414141414141414141414141414141414141414141414141414
--- error_code: 200
--- response_body_like
^\{"decision":"card_expired","generation":\d+\}$

=== TEST 23: replaced card
--- request
GET /v1/eligibility?card=1515151515151515151515151515151515151515151515151515151515151515
--- error_code: 200
--- response_body_like
^\{"decision":"card_replaced","generation":\d+\}$

=== TEST 24: an active card past its valid_until date is expired
--- request
GET /v1/eligibility?card=1717171717171717171717171717171717171717171717171717171717171717
--- error_code: 200
--- response_json
{"decision":"card_expired"}

=== TEST 25: the card is checked before the programmes
--- more_headers
Authorization: Bearer 1009.secret-1009
--- request
GET /v1/eligibility?card=1313131313131313131313131313131313131313131313131313131313131313
--- error_code: 200
--- response_json
{"decision":"card_blocked"}

=== TEST 26: unknown hashpan
--- request
GET /v1/eligibility?card=ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
--- error_code: 200
--- response_body_like
^\{"decision":"card_unknown","generation":\d+\}$

=== TEST 27: upper-case hashpan names the same card
--- request
GET /v1/eligibility?card=ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":103,"type":"percent","value":12.25}}

=== TEST 28: mixed-case hashpan names the same card
--- request
GET /v1/eligibility?card=aBAbabABabababababababababababababababababababababababababababAB&kind=hashpan
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":103,"type":"percent","value":12.25}}

=== TEST 29: a social number
--- request
GET /v1/eligibility?card=0012345&kind=social
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":101,"type":"percent","value":10.5}}

=== TEST 30: leading zeros of a social number are significant
--- request
GET /v1/eligibility?card=12345&kind=social
--- error_code: 200
--- response_json
{"decision":"card_unknown"}

=== TEST 31: a social number is not a hashpan of the same digits
--- request
GET /v1/eligibility?card=0012345&kind=hashpan
--- error_code: 400
--- response_json
{"error":"invalid_card"}

=== TEST 32: the answer carries nothing about the holder or the card
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab&amount=1000000
--- error_code: 200
--- response_body_unlike
(?i)categor|pensioner|holder|"card|abab|valid
--- no_error_log
abababababababababababababababababababababababababababababababab
