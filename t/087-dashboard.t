# docs/grafana-dashboard.json is valid JSON of a Grafana dashboard whose
# queries name only metrics, and labels, that exist: compared with a real
# scrape of uco_metrics (with a journal) and the loader's --metrics-file.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    VALUES (87, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id)
    VALUES ('hashpan', repeat('87', 32), 87);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (8701, uco.secret_hash('secret-8701'));
SQL

my $file = repo_root() . '/docs/grafana-dashboard.json';
my $dash = json_decode(read_file($file));
ok(ref $dash eq 'HASH', 'the dashboard is a JSON object')
    or BAIL_OUT("$file is not valid JSON");
ok($dash->{uid} && $dash->{title}, 'with a uid and a title');
ok(ref $dash->{panels} eq 'ARRAY' && @{ $dash->{panels} } > 10,
    'and panels');

# every "expr" and template query in the document
my @exprs;
sub walk {
    my ($v) = @_;
    if (ref $v eq 'HASH') {
        for my $k (sort keys %$v) {
            if ($k eq 'expr' || $k eq 'definition') {
                push @exprs, $v->{$k};
            }
            walk($v->{$k});
        }
    } elsif (ref $v eq 'ARRAY') {
        walk($_) for @$v;
    }
}
walk($dash);
cmp_ok(scalar @exprs, '>', 20, scalar(@exprs) . ' queries');
for my $p (grep { $_->{type} ne 'row' } @{ $dash->{panels} }) {
    ok($p->{datasource} && $p->{gridPos} && @{ $p->{targets} || [] },
        "panel \"$p->{title}\" has a data source, a place and queries");
}

# ---- what exists: a scrape with a journal, and the loader's file
setup();
my $jdir = tmpdir() . '/journal';
mkdir $jdir;
my $prom = tmpdir() . '/loader.prom';
loader_once(args => ['--metrics-file', $prom]);
nginx_start(http_config => "uco_journal $jdir;", config => <<'CONF');
location = /v1/eligibility { uco_eligibility; }
location = /metrics { uco_metrics; }
CONF
http_get('/v1/eligibility?card=' . ('87' x 32),
    Authorization => 'Bearer 8701.secret-8701');
http_get('/v1/eligibility');
my $scrape = http_get('/metrics')->{body};
nginx_stop();

my %labels;    # metric => { label => 1 }
for my $line (split /\n/, $scrape . "\n" . read_file($prom)) {
    if ($line =~ /^# TYPE (\S+) /) {
        $labels{$1} ||= {};
    } elsif ($line =~ /^(\w+)\{([^}]*)\}/) {
        my ($name, $sel) = ($1, $2);
        $labels{$name}{$_} = 1 for $sel =~ /(\w+)=/g;
    }
}
ok(exists $labels{uco_decisions_total} && exists $labels{uco_loader_info}
    && exists $labels{uco_journal_queue_depth},
    'the scrape and the loader file name their metrics');

# Prometheus adds these to every series
my %target = (instance => 1, job => 1);
for my $e (@exprs) {
    my @names = $e =~ /\b(uco_[a-z0-9_]+)/g;
    for my $name (@names) {
        ok(exists $labels{$name}, "\"$name\" exists") or diag("in: $e");
    }
    while ($e =~ /\b(uco_[a-z0-9_]+)\{([^}]*)\}/g) {
        my ($name, $sel) = ($1, $2);
        for my $l ($sel =~ /(\w+)\s*[=!]~?/g) {
            ok($target{$l} || $labels{$name}{$l},
                "$name has the label \"$l\"") or diag("in: $e");
        }
    }
    while ($e =~ /\bby\s*\(([^)]*)\)/g) {
        for my $l (split /\s*,\s*/, $1) {
            ok($target{$l} || scalar(grep { $labels{$_} && $labels{$_}{$l} }
                @names), "a metric of the query has the label \"$l\"")
                or diag("in: $e");
        }
    }
}
