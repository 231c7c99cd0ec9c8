# Partners: credentials (missing, malformed, wrong, unknown partner -> 401
# with WWW-Authenticate), a suspended partner (403), terminal allow-lists
# (403 terminal_not_allowed) and the order of these checks; a partner is
# only ever offered its own programmes.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    VALUES (11, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id)
    VALUES ('social', '4242', 11);

INSERT INTO uco.partner (id, name, status, secret_sha256) VALUES
    (2001, 'shop with terminals', 'active', uco.secret_hash('s3cret-2001')),
    (2002, 'shop', 'active', uco.secret_hash('s3cret-2002')),
    (2003, 'suspended', 'suspended', uco.secret_hash('s3cret-2003'));
INSERT INTO uco.partner_terminal (partner_id, terminal) VALUES
    (2001, 'POS-1'),
    (2001, 'shop.7:till-2');

-- 2002's programme is bigger; 2001 must never be offered it
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent)
    VALUES (201, 2001, 'percent', 5),
           (202, 2002, 'percent', 20),
           (203, 2003, 'percent', 30);
SQL

block_defaults(request => 'GET /v1/eligibility?card=4242&kind=social');

run_tests();

__DATA__

=== TEST 1: no Authorization header
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="uco"
Content-Type: application/json
--- response_body_like
^\{"error":"unauthorized","message":"[^"]+"\}$

=== TEST 2: Basic instead of Bearer
--- more_headers
Authorization: Basic MjAwMjpzM2NyZXQtMjAwMg==
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="uco"
--- response_json
{"error":"unauthorized"}

=== TEST 3: no dot between partner and secret
--- more_headers
Authorization: Bearer 2002s3cret-2002
--- error_code: 401
--- response_json
{"error":"unauthorized"}

=== TEST 4: an empty secret
--- more_headers
Authorization: Bearer 2002.
--- error_code: 401
--- response_json
{"error":"unauthorized"}

=== TEST 5: a partner id that is not a number
--- more_headers
Authorization: Bearer shop.s3cret-2002
--- error_code: 401
--- response_json
{"error":"unauthorized"}

=== TEST 6: a wrong secret
--- more_headers
Authorization: Bearer 2002.s3cret-2001
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="uco"
--- response_json
{"error":"unauthorized"}
--- no_error_log
s3cret

=== TEST 7: an unknown partner
--- more_headers
Authorization: Bearer 9999.s3cret-2002
--- error_code: 401
--- response_json
{"error":"unauthorized"}

=== TEST 8: the secret's hash instead of the secret
--- more_headers
Authorization: Bearer 2002.2e3a23a1e235068e1c8c9ab8a1392ac0813afd50fefcd6c619a62014326a67ff
--- error_code: 401
--- response_json
{"error":"unauthorized"}

=== TEST 9: right credentials
--- more_headers
Authorization: Bearer 2002.s3cret-2002
--- error_code: 200
--- response_headers
!WWW-Authenticate
--- response_json
{"decision":"eligible","programme":{"id":202,"type":"percent","value":20}}
--- no_error_log
s3cret

=== TEST 10: a suspended partner
--- more_headers
Authorization: Bearer 2003.s3cret-2003
--- error_code: 403
--- response_headers
!WWW-Authenticate
--- response_body_like
^\{"error":"partner_suspended","message":"[^"]+"\}$

=== TEST 11: a suspended partner with a wrong secret is just unauthorized
--- more_headers
Authorization: Bearer 2003.wrong
--- error_code: 401
--- response_json
{"error":"unauthorized"}

=== TEST 12: credentials are checked before the query
--- request
GET /v1/eligibility?card=bad&kind=nonsense
--- error_code: 401
--- response_json
{"error":"unauthorized"}

=== TEST 13: a suspended partner is refused before the query is checked
--- more_headers
Authorization: Bearer 2003.s3cret-2003
--- request
GET /v1/eligibility?card=bad&kind=nonsense
--- error_code: 403
--- response_json
{"error":"partner_suspended"}

=== TEST 14: allow-list: an allowed terminal
--- more_headers
Authorization: Bearer 2001.s3cret-2001
--- request
GET /v1/eligibility?card=4242&kind=social&terminal=POS-1
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":201,"type":"percent","value":5}}

=== TEST 15: allow-list: another allowed terminal, with every allowed sign
--- more_headers
Authorization: Bearer 2001.s3cret-2001
--- request
GET /v1/eligibility?card=4242&kind=social&terminal=shop.7:till-2&amount=1000
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":201,"type":"percent","value":5,"discount":50}}

=== TEST 16: allow-list: a terminal not on it
--- more_headers
Authorization: Bearer 2001.s3cret-2001
--- request
GET /v1/eligibility?card=4242&kind=social&terminal=POS-2
--- error_code: 403
--- response_body_like
^\{"error":"terminal_not_allowed","message":"[^"]+"\}$

=== TEST 17: allow-list: terminals are compared exactly (case)
--- more_headers
Authorization: Bearer 2001.s3cret-2001
--- request
GET /v1/eligibility?card=4242&kind=social&terminal=pos-1
--- error_code: 403
--- response_json
{"error":"terminal_not_allowed"}

=== TEST 18: allow-list: a prefix of an allowed terminal is not allowed
--- more_headers
Authorization: Bearer 2001.s3cret-2001
--- request
GET /v1/eligibility?card=4242&kind=social&terminal=POS
--- error_code: 403
--- response_json
{"error":"terminal_not_allowed"}

=== TEST 19: allow-list: a missing terminal
--- more_headers
Authorization: Bearer 2001.s3cret-2001
--- error_code: 403
--- response_json
{"error":"terminal_not_allowed"}

=== TEST 20: the query is checked before the terminal
--- more_headers
Authorization: Bearer 2001.s3cret-2001
--- request
GET /v1/eligibility?card=4242&kind=social&terminal=POS-2&amount=-5
--- error_code: 400
--- response_json
{"error":"invalid_amount"}

=== TEST 21: the terminal is checked before the card
--- more_headers
Authorization: Bearer 2001.s3cret-2001
--- request
GET /v1/eligibility?card=999&kind=social&terminal=POS-2
--- error_code: 403
--- response_json
{"error":"terminal_not_allowed"}

=== TEST 22: without an allow-list any terminal is fine
--- more_headers
Authorization: Bearer 2002.s3cret-2002
--- request
GET /v1/eligibility?card=4242&kind=social&terminal=ANY-1
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":202,"type":"percent","value":20}}

=== TEST 23: a partner never gets another partner's programme
--- more_headers
Authorization: Bearer 2001.s3cret-2001
--- request
GET /v1/eligibility?card=4242&kind=social&terminal=POS-1&amount=100000
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":201,"type":"percent","value":5,"discount":5000}}
