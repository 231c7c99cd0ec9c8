#!/bin/bash
# Every benchmark on one data set: loader, decision microbenchmark,
# HTTP and worker memory.  docs/performance.md records its output.
# Usage: bench/all.sh [cards=1000000] [seconds=10] [connections=50] [parts]
# parts: any of "loader decide http" (default all three)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$top/bench/loader.sh"
source "$top/bench/decide.sh"
source "$top/bench/http.sh"

cards=${1:-1000000}; secs=${2:-10}; conns=${3:-50}
parts=${4:-loader decide http}
echo "$(date -u '+%F %T') UTC, $(nproc) cores, $(uname -r)," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
bench_setup "$cards" 1000000
for p in $parts; do
    case $p in
    loader) bench_loader_report ;;
    decide) bench_decide_report ;;
    http)   bench_http_report; bench_rss_report ;;
    esac
done
echo "command: bench/all.sh $cards $secs $conns${4:+ \"$4\"}"
