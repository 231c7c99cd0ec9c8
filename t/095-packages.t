# The Debian packages (make deb): installed on this machine with dpkg,
# the module is enabled the distribution's way and passes "nginx -t"
# with the shipped example configurations, the loader's user, config
# files and tmpfs directories have the right owners and modes, its units
# (the loader's and the journal's) pass "systemd-analyze verify" and
# rate "OK" in "systemd-analyze security"; then both are purged again
# (packages that were installed before the test are left installed).
#
# Run by "make test-deb" (it builds the packages first and sets
# UCO_TEST_DEBS); skipped otherwise, and when not root.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);

my $DEBS = $ENV{UCO_TEST_DEBS};
plan skip_all => 'packages not built: run "make test-deb"'
    unless $DEBS && -d $DEBS;
plan skip_all => 'installing packages needs root' if $> != 0;

my @PKGS = qw(libnginx-mod-http-uco uco-policy-loader);
my $NGINX = '/usr/sbin/nginx';
my @UNITS = map { "/lib/systemd/system/$_.service" }
    qw(uco-policy-loader uco-journal);
my $LOADER = '/usr/sbin/policy-loader';

sub run {
    my (@cmd) = @_;
    my $out = `@{[ join ' ', map { "'$_'" } @cmd ]} 2>&1`;
    return ($? >> 8, $out);
}

sub installed {
    my ($pkg) = @_;
    my ($rc, $out) = run('dpkg-query', '-W', '-f=${Status}', $pkg);
    return $rc == 0 && $out =~ /ok installed/;
}

my %before = map { ($_ => installed($_)) } @PKGS;
my @debs = map { glob("$DEBS/${_}_*.deb") } @PKGS;
is(scalar @debs, 2, 'both packages were built') or BAIL_OUT('no .debs');

my ($rc, $out) = run('dpkg', '-i', @debs);
is($rc, 0, 'dpkg -i installs both') or diag($out);

END {
    # purge what this test installed, keep what was there before
    my @purge = grep { !$before{$_} && installed($_) } @PKGS;
    system('dpkg', '--purge', @purge) if @purge;
}

# ---- the module
my $enabled = '/etc/nginx/modules-enabled/50-mod-http-uco.conf';
ok(-l $enabled, 'the module is enabled in /etc/nginx/modules-enabled');
like(eval { local (@ARGV, $/) = ($enabled); <> } // '',
    qr{load_module modules/ngx_http_uco_module\.so;},
    'by a load_module line');

($rc, $out) = run($NGINX, '-t');
is($rc, 0, "the system's nginx -t passes with the module loaded")
    or diag($out);

my $tmp = tempdir('uco-deb-XXXXXX', TMPDIR => 1, CLEANUP => 1);
($rc, $out) = run('openssl', 'req', '-x509', '-newkey', 'rsa:2048',
    '-nodes', '-days', '1', '-subj', '/CN=uco-test', '-keyout',
    "$tmp/key.pem", '-out', "$tmp/cert.pem");
is($rc, 0, 'a throwaway certificate') or diag($out);

my $examples = '/usr/share/doc/libnginx-mod-http-uco/examples';
for my $example (qw(uco-site.conf auth-request-gateway.conf)) {
    my $text = eval { local (@ARGV, $/) = ("$examples/$example"); <> };
    ok(defined $text, "$example is installed") or next;
    $text =~ s{/etc/ssl/certs/ssl-cert-snakeoil\.pem}{$tmp/cert.pem}g;
    $text =~ s{/etc/ssl/private/ssl-cert-snakeoil\.key}{$tmp/key.pem}g;
    $text =~ s{/var/log/nginx/}{$tmp/}g;
    open my $fh, '>', "$tmp/$example" or die "$tmp/$example: $!";
    print {$fh} $text;
    close $fh;

    open $fh, '>', "$tmp/nginx.conf" or die "$tmp/nginx.conf: $!";
    print {$fh} <<"CONF";
include /etc/nginx/modules-enabled/*.conf;
error_log $tmp/error.log;
pid $tmp/nginx.pid;
events {}
http {
    access_log $tmp/access.log;
    include $tmp/$example;
}
CONF
    close $fh;
    # Debian's prefix: modules-enabled names modules/ relative to it
    ($rc, $out) = run($NGINX, '-t', '-p', '/usr/share/nginx/', '-c',
        "$tmp/nginx.conf", '-e', "$tmp/error.log");
    is($rc, 0, "nginx -t passes with the example $example") or diag($out);
}

# ---- the loader
my @pw = getpwnam('uco');
ok(@pw, 'the uco user exists');
is((getpwnam('uco'))[8], '/usr/sbin/nologin', 'with no login shell');
ok(-x $LOADER, "$LOADER is installed");
($rc, $out) = run($LOADER, '--version');
like($out, qr/^policy-loader \d+\.\d+\.\d+/, 'and runs');

my @st = stat '/run/uco';
ok(@st, '/run/uco exists (tmpfiles.d)');
is(sprintf('%04o', $st[2] & 07777), '2750', '/run/uco is 2750')
    if @st;
is(scalar getpwuid($st[4]), 'uco', '/run/uco is owned by uco') if @st;
is(scalar getgrgid($st[5]), 'www-data', '/run/uco has group www-data')
    if @st;

for my $dir (['/run/uco-journal', '2750', 'root', 'uco'],
    ['/var/spool/uco', '0750', 'uco', 'uco'])
{
    my ($path, $mode, $user, $group) = @$dir;
    @st = stat $path;
    ok(@st, "$path exists (tmpfiles.d)") or next;
    is(sprintf('%04o', $st[2] & 07777), $mode, "$path is $mode");
    is(scalar getpwuid($st[4]), $user, "$path is owned by $user");
    is(scalar getgrgid($st[5]), $group, "$path has group $group");
}

for my $conf ('/etc/uco/policy-loader.conf', '/etc/uco/journal.conf') {
    @st = stat $conf;
    ok(@st, "$conf is installed") or next;
    is(sprintf('%04o', $st[2] & 07777), '0640', "$conf is 0640");
    is(scalar getgrgid($st[5]), 'uco', "$conf has group uco");
}
my $conf = '/etc/uco/policy-loader.conf';

# the default config parses, read as the loader's user (exit 1 is the
# missing snapshot file, 2 would be a bad config)
($rc, $out) = run('runuser', '-u', 'uco', '--', $LOADER, '--config', $conf,
    'inspect', '/nonexistent.ucs');
is($rc, 1, 'the default config file parses as the uco user') or diag($out);
($rc, $out) = run('runuser', '-u', 'uco', '--', $LOADER, 'journal',
    '--config', '/etc/uco/journal.conf', '--help');
is($rc, 0, 'so does the journal\'s, /etc/uco/journal.conf') or diag($out);

ok(-x '/usr/share/uco/sql/migrate', 'sql/migrate is in /usr/share/uco');
ok(-f '/usr/share/uco/sql/migrations/0001_core.sql',
    'and the migrations');
ok(-x '/usr/share/uco/tools/journal-dump'
    && -x '/usr/share/uco/tools/journal-stream',
    'the journal\'s tools are in /usr/share/uco/tools');

SKIP: {
    my $analyze = -x '/usr/bin/systemd-analyze' ? '/usr/bin/systemd-analyze'
        : -x '/bin/systemd-analyze' ? '/bin/systemd-analyze' : undef;
    skip('systemd-analyze is missing (package systemd): the units are not '
        . 'verified', 5 * @UNITS) unless $analyze;
    for my $unit (@UNITS) {
        my ($name) = $unit =~ m{([^/]+)$};
        ok(-f $unit, "$unit is installed");
        ($rc, $out) = run($analyze, 'verify', $unit);
        is($rc, 0, "systemd-analyze verify accepts $name") or diag($out);
        unlike($out, qr/\Q$name\E:/, 'without a warning about it')
            or diag($out);
        # --offline: no running systemd needed (containers, CI)
        ($rc, $out) = run($analyze, 'security', '--offline=true', $unit);
        my ($exposure) = $out =~ /Overall exposure level for \S+: ([\d.]+)/;
        ok(defined $exposure && $exposure <= 2.0,
            "systemd-analyze security rates $name OK (exposure "
            . ($exposure // '?') . ' <= 2.0)') or diag($out);
        like($out,
            qr{User=/DynamicUser=\s+Service runs under a static non-root},
            "$name runs as a non-root user") or diag($out);
    }
}

done_testing();
