# Sanity: the module loads, a basic configuration passes "nginx -t", broken
# uses of the directives are refused, and one card gets a plain answer.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

data_sql(<<'SQL');
INSERT INTO uco.category (bit, code) VALUES (0, 'pensioner');
INSERT INTO uco.holder (id, categories) VALUES (1, 1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    VALUES (11, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id)
    VALUES ('hashpan', repeat('ab', 32), 11);
INSERT INTO uco.partner (id, name, secret_sha256)
    VALUES (1001, 'Pharmacy', uco.secret_hash('secret-1001'));
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent,
                           required_categories)
    VALUES (17, 1001, 'percent', 10.50, 1);
SQL

my $gen = ctl_generation();
ok($gen && $gen > 0, "the loader published a generation ($gen)");
ok(-e snapshot_path($gen), 'its snapshot file exists');

my ($rc, $out) = nginx_config_test(
    config => "location = /v1/eligibility { uco_eligibility; }");
is($rc, 0, 'nginx -t passes with the module and a basic configuration')
    or diag($out);
like($out, qr/syntax is ok/, 'nginx -t says the syntax is ok');

run_tests();

__DATA__

=== TEST 1: the module loads and nginx starts; no credentials -> 401
--- config
location = /v1/eligibility {
    uco_eligibility;
}
--- request
GET /v1/eligibility
--- error_code: 401
--- response_json
{"error":"unauthorized"}

=== TEST 2: an eligible card
--- request
GET /v1/eligibility?card=abababababababababababababababababababababababababababababababab&amount=15000
--- more_headers
Authorization: Bearer 1001.secret-1001
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body eval
qq({"decision":"eligible","programme":{"id":17,"type":"percent",)
. qq("value":10.5,"discount":1575},"generation":${\ main::ctl_generation()}})
--- no_error_log
[error]
[warn]

=== TEST 3: uco_eligibility takes no argument
--- config
location = /v1/eligibility {
    uco_eligibility on;
}
--- must_die
--- error_log
invalid number of arguments in "uco_eligibility" directive

=== TEST 4: uco_eligibility without uco_snapshot
--- no_uco_snapshot
--- config
location = /v1/eligibility {
    uco_eligibility;
}
--- must_die
--- error_log eval
qr/\[emerg\].*uco_snapshot/

=== TEST 5: uco_snapshot without a directory
--- http_config
uco_snapshot;
--- must_die
--- error_log
invalid number of arguments in "uco_snapshot" directive
