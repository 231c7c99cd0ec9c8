#!/usr/bin/perl
# Unit tests of the shared snapshot format (ngx_uco_module/uco_snap.c):
# the C program prints TAP itself.  UCO_TEST_UNIT overrides the binary
# (make test-asan runs the sanitizer build).
use strict;
use warnings;
use FindBin;
my $bin = $ENV{UCO_TEST_UNIT} // "$FindBin::Bin/../build/uco_snap_test";
die "build $bin first (make unit)\n" unless -x $bin;
exec $bin or die "exec $bin: $!\n";
