# Time windows under a fake clock (libfaketime; every "faketime" is UTC):
# weekdays, hours (start inclusive, end exclusive, wrapping midnight),
# valid_from / valid_to dates and a card's valid_until, all evaluated in
# uco_time_zone.  Asia/Yekaterinburg is UTC+5 all year, so each case picks
# an instant whose local and UTC answers differ.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until) VALUES
    (11, 1, 'bank', '2099-12-31'),
    (18, 1, 'bank', '2026-11-30');
INSERT INTO uco.card_identifier (kind, value, card_id) VALUES
    ('hashpan', repeat('ab', 32), 11),
    ('hashpan', repeat('18', 32), 18);

INSERT INTO uco.partner (id, secret_sha256)
    SELECT id, uco.secret_hash('secret-' || id)
    FROM generate_series(2501, 2506) AS id;

-- weekdays: bit 0 = Monday .. bit 6 = Sunday
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent,
                           weekdays, hour_from, hour_to, valid_from, valid_to)
VALUES
    -- Monday to Friday, 09:00-13:00
    (251, 2501, 'percent', 10, 31,   9,    13,   NULL, NULL),
    -- Saturdays
    (252, 2502, 'percent', 10, 32,   NULL, NULL, NULL, NULL),
    -- nights, 22:00-06:00
    (253, 2503, 'percent', 10, NULL, 22,   6,    NULL, NULL),
    -- December 2026
    (254, 2504, 'percent', 10, NULL, NULL, NULL, '2026-12-01', '2026-12-31'),
    -- evenings up to midnight
    (255, 2505, 'percent', 10, NULL, 20,   24,   NULL, NULL),
    -- always
    (256, 2506, 'percent', 10, NULL, NULL, NULL, NULL, NULL);
SQL

block_defaults(
    http_config => 'uco_time_zone Asia/Yekaterinburg;',
    request => 'GET /v1/eligibility?card=' . ('ab' x 32),
    error_code => 200,
);

run_tests();

__DATA__

=== TEST 1: Monday 10:00 local (05:00 UTC) is inside 09-13
--- faketime: 2026-11-23 05:00:00
--- more_headers
Authorization: Bearer 2501.secret-2501
--- response_json
{"decision":"eligible","programme":{"id":251,"type":"percent","value":10}}

=== TEST 2: Monday 14:30 local (09:30 UTC) is outside 09-13
--- faketime: 2026-11-23 09:30:00
--- more_headers
Authorization: Bearer 2501.secret-2501
--- response_json
{"decision":"not_eligible","reason":"outside_window"}

=== TEST 3: the same instant in UTC is inside 09-13
--- faketime: 2026-11-23 09:30:00
--- http_config
uco_time_zone UTC;
--- more_headers
Authorization: Bearer 2501.secret-2501
--- response_json
{"decision":"eligible","programme":{"id":251,"type":"percent","value":10}}

=== TEST 4: the default time zone is UTC
--- faketime: 2026-11-23 09:30:00
--- http_config
--- more_headers
Authorization: Bearer 2501.secret-2501
--- response_json
{"decision":"eligible","programme":{"id":251,"type":"percent","value":10}}

=== TEST 5: ... and 10:00 local is then outside (05:00 UTC)
--- faketime: 2026-11-23 05:00:00
--- http_config
--- more_headers
Authorization: Bearer 2501.secret-2501
--- response_json
{"decision":"not_eligible","reason":"outside_window"}

=== TEST 6: 09:00 local, the first hour, is inside
--- faketime: 2026-11-23 04:00:00
--- more_headers
Authorization: Bearer 2501.secret-2501
--- response_json
{"decision":"eligible","programme":{"id":251,"type":"percent","value":10}}

=== TEST 7: 13:00 local, the end hour, is outside
--- faketime: 2026-11-23 08:00:00
--- more_headers
Authorization: Bearer 2501.secret-2501
--- response_json
{"decision":"not_eligible","reason":"outside_window"}

=== TEST 8: Saturday 10:00 local: right hour, wrong weekday
--- faketime: 2026-11-28 05:00:00
--- more_headers
Authorization: Bearer 2501.secret-2501
--- response_json
{"decision":"not_eligible","reason":"outside_window"}

=== TEST 9: Friday 20:00 UTC is Saturday 01:00 local
--- faketime: 2026-11-27 20:00:00
--- more_headers
Authorization: Bearer 2502.secret-2502
--- response_json
{"decision":"eligible","programme":{"id":252,"type":"percent","value":10}}

=== TEST 10: Saturday 20:00 UTC is Sunday 01:00 local
--- faketime: 2026-11-28 20:00:00
--- more_headers
Authorization: Bearer 2502.secret-2502
--- response_json
{"decision":"not_eligible","reason":"outside_window"}

=== TEST 11: Saturday 15:00 local
--- faketime: 2026-11-28 10:00:00
--- more_headers
Authorization: Bearer 2502.secret-2502
--- response_json
{"decision":"eligible","programme":{"id":252,"type":"percent","value":10}}

=== TEST 12: 22:00 local opens a window that wraps midnight
--- faketime: 2026-11-23 17:00:00
--- more_headers
Authorization: Bearer 2503.secret-2503
--- response_json
{"decision":"eligible","programme":{"id":253,"type":"percent","value":10}}

=== TEST 13: 05:30 local is still inside 22-06
--- faketime: 2026-11-23 00:30:00
--- more_headers
Authorization: Bearer 2503.secret-2503
--- response_json
{"decision":"eligible","programme":{"id":253,"type":"percent","value":10}}

=== TEST 14: 06:00 local closes 22-06
--- faketime: 2026-11-23 01:00:00
--- more_headers
Authorization: Bearer 2503.secret-2503
--- response_json
{"decision":"not_eligible","reason":"outside_window"}

=== TEST 15: 21:30 local is before 22-06 (16:30 UTC)
--- faketime: 2026-11-23 16:30:00
--- more_headers
Authorization: Bearer 2503.secret-2503
--- response_json
{"decision":"not_eligible","reason":"outside_window"}

=== TEST 16: 03:00 UTC is 08:00 local, outside 22-06 (inside in UTC)
--- faketime: 2026-11-23 03:00:00
--- more_headers
Authorization: Bearer 2503.secret-2503
--- response_json
{"decision":"not_eligible","reason":"outside_window"}

=== TEST 17: hour_to 24: 23:30 local is inside 20-24
--- faketime: 2026-11-23 18:30:00
--- more_headers
Authorization: Bearer 2505.secret-2505
--- response_json
{"decision":"eligible","programme":{"id":255,"type":"percent","value":10}}

=== TEST 18: 00:30 local is after 20-24 (19:30 UTC, inside in UTC)
--- faketime: 2026-11-23 19:30:00
--- more_headers
Authorization: Bearer 2505.secret-2505
--- response_json
{"decision":"not_eligible","reason":"outside_window"}

=== TEST 19: valid_from: 1 December 00:30 local is 30 November in UTC
--- faketime: 2026-11-30 19:30:00
--- more_headers
Authorization: Bearer 2504.secret-2504
--- response_json
{"decision":"eligible","programme":{"id":254,"type":"percent","value":10}}

=== TEST 20: valid_from: 30 November 23:30 local is before it
--- faketime: 2026-11-30 18:30:00
--- more_headers
Authorization: Bearer 2504.secret-2504
--- response_json
{"decision":"not_eligible","reason":"outside_window"}

=== TEST 21: valid_to is inclusive: 31 December 23:30 local
--- faketime: 2026-12-31 18:30:00
--- more_headers
Authorization: Bearer 2504.secret-2504
--- response_json
{"decision":"eligible","programme":{"id":254,"type":"percent","value":10}}

=== TEST 22: valid_to: 1 January 00:30 local is after it (still 2026 in UTC)
--- faketime: 2026-12-31 19:30:00
--- more_headers
Authorization: Bearer 2504.secret-2504
--- response_json
{"decision":"not_eligible","reason":"outside_window"}

=== TEST 23: a card is valid through its valid_until day, local time
--- faketime: 2026-11-30 18:30:00
--- more_headers
Authorization: Bearer 2506.secret-2506
--- request
GET /v1/eligibility?card=1818181818181818181818181818181818181818181818181818181818181818
--- response_json
{"decision":"eligible","programme":{"id":256,"type":"percent","value":10}}

=== TEST 24: ... and expired the next local day (still 30 November in UTC)
--- faketime: 2026-11-30 19:30:00
--- more_headers
Authorization: Bearer 2506.secret-2506
--- request
GET /v1/eligibility?card=1818181818181818181818181818181818181818181818181818181818181818
--- response_json
{"decision":"card_expired"}

=== TEST 25: the same instant with uco_time_zone UTC: still valid
--- faketime: 2026-11-30 19:30:00
--- http_config
uco_time_zone UTC;
--- more_headers
Authorization: Bearer 2506.secret-2506
--- request
GET /v1/eligibility?card=1818181818181818181818181818181818181818181818181818181818181818
--- response_json
{"decision":"eligible","programme":{"id":256,"type":"percent","value":10}}

=== TEST 26: a card past valid_until is expired whatever the programme
--- faketime: 2026-12-02 12:00:00
--- more_headers
Authorization: Bearer 2504.secret-2504
--- request
GET /v1/eligibility?card=1818181818181818181818181818181818181818181818181818181818181818
--- response_json
{"decision":"card_expired"}
