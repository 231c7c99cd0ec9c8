# Abuse limits: a partner over uco_partner_rate gets 429 rate_limited
# while another partner is still answered; an address with
# uco_auth_fail_limit failed authentications gets 429
# too_many_auth_failures, even with good credentials, until the window
# passes.  Counts are of requests sent back to back, not of timings.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    VALUES (11, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id)
    VALUES ('social', '7001', 11);
INSERT INTO uco.partner (id, secret_sha256) VALUES
    (7001, uco.secret_hash('key-7001')),
    (7002, uco.secret_hash('key-7002'));
SQL

block_defaults(request => 'GET /v1/eligibility?card=7001&kind=social');

run_tests();

__DATA__

=== TEST 1: a burst of 3 at 1 r/s: the fourth and later are 429
--- http_config
uco_partner_rate 1r/s burst=3;
--- request eval
[("GET /v1/eligibility?card=7001&kind=social") x 7]
--- more_headers eval
[("Authorization: Bearer 7001.key-7001") x 6,
 "Authorization: Bearer 7002.key-7002"]
--- error_code eval
[200, 200, 200, 429, 429, 429, 200]
--- response_json eval
[('{"decision":"not_eligible"}') x 3, ('{"error":"rate_limited"}') x 3,
 '{"decision":"not_eligible"}']
--- error_log
partner 7001 is over its rate limit

=== TEST 2: three failures from one address, then even good keys wait
--- http_config
uco_auth_fail_limit 3 60s;
--- request eval
[("GET /v1/eligibility?card=7001&kind=social") x 6]
--- more_headers eval
[("Authorization: Bearer 7001.wrong") x 3,
 "Authorization: Bearer 7001.key-7001",
 "Authorization: Bearer 7002.key-7002",
 "Authorization: Bearer 7001.wrong"]
--- error_code eval
[401, 401, 401, 429, 429, 429]
--- response_json eval
[('{"error":"unauthorized"}') x 3,
 ('{"error":"too_many_auth_failures"}') x 3]
--- error_log
too many authentication failures from this address

=== TEST 3: without the directives nothing is limited
--- request eval
[("GET /v1/eligibility?card=7001&kind=social") x 8]
--- more_headers eval
[("Authorization: Bearer 7001.wrong") x 4,
 ("Authorization: Bearer 7001.key-7001") x 4]
--- error_code eval
[401, 401, 401, 401, 200, 200, 200, 200]

=== TEST 4: a malformed rate stops nginx
--- http_config
uco_partner_rate 10/s;
--- must_die
--- error_log
invalid "uco_partner_rate"
