# Configuration: bad directive values and contexts fail "nginx -t" with a
# message naming the problem; good time zones are accepted; an empty
# snapshot directory answers 503 no_snapshot (after the method check, before
# the credentials check).

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    VALUES (11, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id)
    VALUES ('social', '1100', 11);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (1001, uco.secret_hash('secret-1001'));
INSERT INTO uco.programme (id, partner_id, discount_type, discount_kopecks)
    VALUES (21, 1001, 'fixed', 5000);
SQL

setup();
mkdir tmpdir() . '/empty', 0755 or die "mkdir: $!";
chmod 0755, tmpdir() . '/empty';

block_defaults(more_headers => 'Authorization: Bearer 1001.secret-1001');

run_tests();

__DATA__

=== TEST 1: unknown time zone
--- http_config
uco_time_zone Mars/Olympus_Mons;
--- must_die
--- error_log eval
qr/\[emerg\].*Mars\/Olympus_Mons/

=== TEST 2: a time zone name must not escape /usr/share/zoneinfo
--- http_config
uco_time_zone ../../../etc/passwd;
--- must_die
--- error_log eval
qr/\[emerg\].*uco_time_zone|\[emerg\].*etc\/passwd/

=== TEST 3: a directory is not a time zone
--- http_config
uco_time_zone Europe;
--- must_die
--- error_log eval
qr/\[emerg\].*Europe/

=== TEST 4: uco_time_zone takes one argument
--- http_config
uco_time_zone Europe/Moscow Asia/Omsk;
--- must_die
--- error_log
invalid number of arguments in "uco_time_zone" directive

=== TEST 5: uco_time_zone is an http-level directive
--- config
location = /v1/eligibility {
    uco_time_zone UTC;
    uco_eligibility;
}
--- must_die
--- error_log
"uco_time_zone" directive is not allowed here

=== TEST 6: uco_snapshot is an http-level directive
--- config
location = /v1/eligibility {
    uco_snapshot /tmp;
    uco_eligibility;
}
--- must_die
--- error_log
"uco_snapshot" directive is not allowed here

=== TEST 7: uco_snapshot given twice
--- http_config
uco_snapshot $TEST_NGINX_SNAPDIR;
uco_snapshot $TEST_NGINX_SNAPDIR;
--- must_die
--- error_log
"uco_snapshot" directive is duplicate

=== TEST 8: uco_eligibility is a location-level directive
--- http_config
uco_eligibility;
--- must_die
--- error_log
"uco_eligibility" directive is not allowed here

=== TEST 9: an unknown directive argument of uco_eligibility
--- config
location = /v1/eligibility {
    uco_eligibility yes please;
}
--- must_die
--- error_log
invalid number of arguments in "uco_eligibility" directive

=== TEST 10: Europe/Moscow is accepted and answers
--- http_config
uco_time_zone Europe/Moscow;
--- request
GET /v1/eligibility?card=1100&kind=social
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":21,"type":"fixed","value":5000}}

=== TEST 11: UTC is accepted
--- http_config
uco_time_zone UTC;
--- request
GET /v1/eligibility?card=1100&kind=social
--- error_code: 200
--- response_json
{"decision":"eligible"}

=== TEST 12: empty snapshot directory -> 503 no_snapshot
--- http_config
uco_snapshot $TEST_NGINX_SERVROOT/../empty;
--- request
GET /v1/eligibility?card=1100&kind=social
--- error_code: 503
--- response_headers
Content-Type: application/json
--- response_json
{"error":"no_snapshot"}
--- response_body_like
^\{"error":"no_snapshot","message":"[^"]+"\}$

=== TEST 13: no snapshot is reported before the credentials are checked
--- http_config
uco_snapshot $TEST_NGINX_SERVROOT/../empty;
--- more_headers
X-Nothing: 1
--- request
GET /v1/eligibility?card=1100&kind=social
--- error_code: 503
--- response_json
{"error":"no_snapshot"}

=== TEST 14: the method is checked before the snapshot
--- http_config
uco_snapshot $TEST_NGINX_SERVROOT/../empty;
--- request
PUT /v1/eligibility?card=1100&kind=social
--- error_code: 405
--- response_json
{"error":"method_not_allowed"}
