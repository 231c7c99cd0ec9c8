# Requests: malformed queries -> 400 with the right error code, other
# methods -> 405, HEAD, JSON error bodies, the $uco_decision, $uco_partner
# and $uco_program variables (add_header and access log), and that no card
# identifier reaches the error log.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    VALUES (11, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id) VALUES
    ('hashpan', repeat('cd', 32), 11),
    ('social', '3535', 11);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (3001, uco.secret_hash('secret-3001'));
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent)
    VALUES (301, 3001, 'percent', 10);
SQL

block_defaults(more_headers => 'Authorization: Bearer 3001.secret-3001');

run_tests();

# the access log written by TEST 31
my @lines = split /\n/, eval { read_file(servroot() . '/logs/uco-vars.log') }
    // '';
is_deeply(\@lines, [
    '200 eligible 3001 301',
    '200 card_unknown 3001 -',
    '400 - 3001 -',
    '401 - - -',
], 'access log: $status $uco_decision $uco_partner $uco_program');

__DATA__

=== TEST 1: no query at all
--- request
GET /v1/eligibility
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body_like
^\{"error":"missing_card","message":"[^"]+"\}$

=== TEST 2: no card parameter
--- request
GET /v1/eligibility?kind=hashpan&amount=5
--- error_code: 400
--- response_json
{"error":"missing_card"}

=== TEST 3: a hashpan of 63 hex digits
--- request
GET /v1/eligibility?card=cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdc
--- error_code: 400
--- response_body_like
^\{"error":"invalid_card","message":"[^"]+"\}$
--- no_error_log
cdcdcdcdcdcd

=== TEST 4: a hashpan of 65 hex digits
--- request
GET /v1/eligibility?card=cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdc
--- error_code: 400
--- response_json
{"error":"invalid_card"}
--- no_error_log
cdcdcdcdcdcd

=== TEST 5: a hashpan with a non-hex digit
--- request
GET /v1/eligibility?card=cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcg
--- error_code: 400
--- response_json
{"error":"invalid_card"}

=== TEST 6: a social number of 29 digits
--- request
GET /v1/eligibility?card=12345678901234567890123456789&kind=social
--- error_code: 400
--- response_json
{"error":"invalid_card"}

=== TEST 7: a social number of 28 digits is well formed
--- request
GET /v1/eligibility?card=1234567890123456789012345678&kind=social
--- error_code: 200
--- response_json
{"decision":"card_unknown"}

=== TEST 8: a social number with a letter
--- request
GET /v1/eligibility?card=35a5&kind=social
--- error_code: 400
--- response_json
{"error":"invalid_card"}

=== TEST 9: a social number with a sign
--- request
GET /v1/eligibility?card=-3535&kind=social
--- error_code: 400
--- response_json
{"error":"invalid_card"}

=== TEST 10: an unknown kind
--- request
GET /v1/eligibility?card=3535&kind=qr
--- error_code: 400
--- response_body_like
^\{"error":"invalid_kind","message":"[^"]+"\}$

=== TEST 11: a negative amount
--- request
GET /v1/eligibility?card=3535&kind=social&amount=-1
--- error_code: 400
--- response_body_like
^\{"error":"invalid_amount","message":"[^"]+"\}$

=== TEST 12: an amount with letters
--- request
GET /v1/eligibility?card=3535&kind=social&amount=12a
--- error_code: 400
--- response_json
{"error":"invalid_amount"}

=== TEST 13: an amount of 13 digits
--- request
GET /v1/eligibility?card=3535&kind=social&amount=1234567890123
--- error_code: 400
--- response_json
{"error":"invalid_amount"}

=== TEST 14: an amount with a decimal point
--- request
GET /v1/eligibility?card=3535&kind=social&amount=10.50
--- error_code: 400
--- response_json
{"error":"invalid_amount"}

=== TEST 15: an amount of 12 digits is well formed
--- request
GET /v1/eligibility?card=3535&kind=social&amount=999999999999
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":301,"type":"percent","value":10,"discount":99999999999}}

=== TEST 16: leading zeros of an amount are digits like others
--- request
GET /v1/eligibility?card=3535&kind=social&amount=000100
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":301,"type":"percent","value":10,"discount":10}}

=== TEST 17: a terminal of 33 characters
--- request
GET /v1/eligibility?card=3535&kind=social&terminal=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456
--- error_code: 400
--- response_body_like
^\{"error":"invalid_terminal","message":"[^"]+"\}$

=== TEST 18: a terminal of 32 characters is well formed
--- request
GET /v1/eligibility?card=3535&kind=social&terminal=ABCDEFGHIJKLMNOPQRSTUVWXYZ012345
--- error_code: 200
--- response_json
{"decision":"eligible"}

=== TEST 19: a terminal with a slash
--- request
GET /v1/eligibility?card=3535&kind=social&terminal=till/1
--- error_code: 400
--- response_json
{"error":"invalid_terminal"}

=== TEST 20: a terminal with a space
--- request
GET /v1/eligibility?card=3535&kind=social&terminal=till%201
--- error_code: 400
--- response_json
{"error":"invalid_terminal"}

=== TEST 21: card given twice (even the same value)
--- request
GET /v1/eligibility?card=3535&kind=social&card=3535
--- error_code: 400
--- response_body_like
^\{"error":"duplicate_parameter","message":"[^"]+"\}$

=== TEST 22: kind given twice
--- request
GET /v1/eligibility?card=3535&kind=social&kind=social
--- error_code: 400
--- response_json
{"error":"duplicate_parameter"}

=== TEST 23: amount given twice
--- request
GET /v1/eligibility?card=3535&kind=social&amount=1&amount=100000
--- error_code: 400
--- response_json
{"error":"duplicate_parameter"}

=== TEST 24: terminal given twice
--- request
GET /v1/eligibility?card=3535&kind=social&terminal=T1&terminal=T2
--- error_code: 400
--- response_json
{"error":"duplicate_parameter"}

=== TEST 25: PATCH
--- request
PATCH /v1/eligibility?card=3535&kind=social
{"card":"3535"}
--- error_code: 405
--- response_headers
Content-Type: application/json
Allow: GET, HEAD, POST
--- response_body_like
^\{"error":"method_not_allowed","message":"[^"]+"\}$

=== TEST 26: PUT and DELETE
--- request eval
["PUT /v1/eligibility?card=3535&kind=social\nx",
 "DELETE /v1/eligibility?card=3535&kind=social"]
--- error_code: 405
--- response_json
{"error":"method_not_allowed"}

=== TEST 27: the method is checked before the credentials
--- more_headers
X-No-Credentials: 1
--- request
PUT /v1/eligibility?card=3535&kind=social
--- error_code: 405
--- response_json
{"error":"method_not_allowed"}

=== TEST 28: HEAD answers the headers of GET, without a body
--- request
HEAD /v1/eligibility?card=3535&kind=social
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body chomp

=== TEST 29: kind defaults to hashpan
--- request
GET /v1/eligibility?card=cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":301,"type":"percent","value":10}}
--- no_error_log
cdcdcdcdcdcd

=== TEST 30: the variables in add_header
--- config
location = /v1/eligibility {
    uco_eligibility;
    add_header X-Uco-Decision $uco_decision always;
    add_header X-Uco-Partner $uco_partner always;
    add_header X-Uco-Program $uco_program always;
}
--- request eval
["GET /v1/eligibility?card=3535&kind=social",
 "GET /v1/eligibility?card=3536&kind=social"]
--- error_code: 200
--- response_headers eval
["X-Uco-Decision: eligible\nX-Uco-Partner: 3001\nX-Uco-Program: 301",
 "X-Uco-Decision: card_unknown\nX-Uco-Partner: 3001\n!X-Uco-Program"]

=== TEST 31: the variables in an access log (checked after the blocks)
--- http_config
log_format uco_vars '$status $uco_decision $uco_partner $uco_program';
--- config
location = /v1/eligibility {
    access_log $TEST_NGINX_SERVROOT/logs/uco-vars.log uco_vars;
    uco_eligibility;
}
--- request eval
["GET /v1/eligibility?card=3535&kind=social",
 "GET /v1/eligibility?card=3536&kind=social",
 "GET /v1/eligibility?card=3536&kind=social&amount=x",
 "GET /v1/eligibility?card=3536&kind=social&wrong=1"]
--- more_headers eval
["Authorization: Bearer 3001.secret-3001",
 "Authorization: Bearer 3001.secret-3001",
 "Authorization: Bearer 3001.secret-3001",
 "Authorization: Bearer 3001.wrong"]
--- error_code eval
[200, 200, 400, 401]

=== TEST 32: the variables through auth_request_set
--- config
location = /_uco {
    internal;
    # the subrequest reads the card from the client's query
    uco_eligibility;
}
location /partner-api/ {
    auth_request /_uco;
    auth_request_set $decision $uco_decision;
    auth_request_set $programme $uco_program;
    try_files /nonexistent @backend;
}
location @backend {
    add_header X-Decision "$decision/$programme" always;
    return 200 "backend\n";
}
--- request eval
["GET /partner-api/sale?card=3535&kind=social",
 "GET /partner-api/sale?card=3536&kind=social",
 "GET /partner-api/sale?card=3536&kind=social&amount=x"]
--- more_headers eval
["Authorization: Bearer 3001.secret-3001",
 "Authorization: Bearer 3001.secret-3001",
 "Authorization: Bearer 3001.wrong"]
--- error_code eval
[200, 200, 401]
--- response_headers eval
["X-Decision: eligible/301", "X-Decision: card_unknown/", ""]
--- no_error_log
card=35
