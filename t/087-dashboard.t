# docs/grafana-dashboard.json is valid JSON of a Grafana dashboard whose
# queries name only metrics, and labels, that exist: compared with a real
# scrape of uco_metrics (with a journal), the loader's --metrics-file and
# the journal process's --metrics-file; every metric of the journal
# process is on the dashboard; and the check itself fails a query that
# names a metric or a label nobody emits.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

use POSIX ();

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

# the journal process, draining that ring into the test's database, until
# its file has the sinks' and the ring's metrics
my $jprom = tmpdir() . '/journal.prom';
my $jpid = fork // die "fork: $!\n";
if ($jpid == 0) {
    open STDIN, '<', '/dev/null';
    open STDOUT, '>>', tmpdir() . '/journal.log';
    open STDERR, '>&', \*STDOUT;
    exec loader_path(), 'journal', '--ring', $jdir, '--db', pg_conninfo(),
        '--spool', tmpdir() . '/spool', '--metrics-file', $jprom
        or POSIX::_exit(127);
}
ok(wait_until(sub {
        my $t = -e $jprom ? read_file($jprom) : '';
        $t =~ /^uco_journal_ring_lag /m
            && $t =~ /^uco_journal_sink_delivered_total\{sink="postgresql"\} [1-9]/m
    }, 30),
    'the journal process wrote its metrics, the ring mapped and a record '
    . 'delivered')
    or diag(eval { read_file(tmpdir() . '/journal.log') } // '');
kill 'TERM', $jpid;
waitpid $jpid, 0;
is($?, 0, 'the journal process stopped cleanly');
nginx_stop();
my $journal_file = read_file($jprom);

# metric => { label => 1 } of a text exposition
sub exposition {
    my ($text) = @_;
    my %l;
    for my $line (split /\n/, $text) {
        if ($line =~ /^# TYPE (\S+) /) {
            $l{$1} ||= {};
        } elsif ($line =~ /^(\w+)\{([^}]*)\}/) {
            my ($name, $sel) = ($1, $2);
            $l{$name}{$_} = 1 for $sel =~ /(\w+)=/g;
        }
    }
    return %l;
}
my %journal = exposition($journal_file);
my %labels = (exposition($scrape . "\n" . read_file($prom)), %journal);
ok(exists $labels{uco_decisions_total} && exists $labels{uco_loader_info}
    && exists $labels{uco_journal_queue_depth}
    && exists $labels{uco_journal_sink_spool_bytes}
    && exists $labels{uco_journal_ring_records_total},
    'the scrape, the loader file and the journal file name their metrics');

# Prometheus adds these to every series
my %target = (instance => 1, job => 1);

# what is wrong with one query: metrics and labels nobody emits
sub problems {
    my ($e) = @_;
    my @p;
    my @names = $e =~ /\b(uco_[a-z0-9_]+)/g;
    for my $name (@names) {
        push @p, "no metric \"$name\"" unless exists $labels{$name};
    }
    while ($e =~ /\b(uco_[a-z0-9_]+)\{([^}]*)\}/g) {
        my ($name, $sel) = ($1, $2);
        for my $l ($sel =~ /(\w+)\s*[=!]~?/g) {
            push @p, "$name has no label \"$l\""
                unless $target{$l} || $labels{$name}{$l};
        }
    }
    while ($e =~ /\bby\s*\(([^)]*)\)/g) {
        for my $l (split /\s*,\s*/, $1) {
            push @p, "no metric of the query has the label \"$l\""
                unless $target{$l}
                    || grep { $labels{$_} && $labels{$_}{$l} } @names;
        }
    }
    return @p;
}

for my $e (@exprs) {
    my @p = problems($e);
    ok(!@p, "query names what exists: $e") or diag(join "\n", @p);
}

# the check catches a panel naming what does not exist
ok(scalar problems('sum by (sink) (rate(uco_journal_sink_bogus_total'
    . '[5m]))'), 'a metric nobody emits is caught');
ok(scalar problems('uco_journal_ring_lag{sink="redis"}'),
    'a label the metric lacks is caught');
ok(scalar problems('sum by (shard) (uco_journal_sink_up)'),
    'a grouping label no metric of the query has is caught');

# every metric of the journal process is on the dashboard
my %used = map { $_ => 1 } map { /\b(uco_[a-z0-9_]+)/g } @exprs;
for my $name (sort keys %journal) {
    ok($used{$name}, "the dashboard shows the journal's \"$name\"");
}
