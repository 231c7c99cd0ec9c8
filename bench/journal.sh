#!/bin/bash
# The decision journal's cost: (1) appends per second of P processes into
# one ring (bench/journal_append.c), (2) the eligibility endpoint with the
# journal on against the same endpoint with it off, side by side: two
# nginx (one worker each, same settings), wrk alternating between them,
# and a policy-loader journal draining the ring into the throwaway
# PostgreSQL meanwhile, as in production.  Loopback only, bounded: every
# process it starts is stopped.
# Usage: bench/journal.sh [cards=100000] [seconds=5] [connections=50]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

port=${UCO_BENCH_PORT:-18301}

# journal_nginx NAME PORT EXTRA: one nginx with the endpoint
journal_nginx() {
    mkdir -p "$run/$1/logs" "$run/$1/conf"
    cat > "$run/$1/conf/nginx.conf" <<CONF
load_module $top/build/ngx_http_uco_module.so;
worker_processes 1;
error_log $run/$1/logs/error.log notice;
pid $run/$1/logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 100000;
    uco_snapshot $run/snap;
    client_body_temp_path $run/$1/body;
    $3
    server {
        listen 127.0.0.1:$2;
        location = /v1/eligibility { uco_eligibility; }
    }
}
CONF
    nginx -p "$run/$1" -c "$run/$1/conf/nginx.conf" -e "$run/$1/logs/error.log"
    bench_pids+=("$(sleep 0.5; cat "$run/$1/logs/nginx.pid")")
}

bench_journal_report() {
    local i
    echo "append microbenchmark (2 processes, 2 000 000 appends each):"
    "$top/build/bench_journal_append" 2 2000000 | sed 's/^/  /'

    # on tmpfs, as docs/directives.md advises; 4m (16384 records) wraps
    # within the first round, so the rounds see the steady state in which
    # every page of the ring is mapped
    jdir=$(mktemp -d /dev/shm/uco-bench-journal.XXXXXX)
    trap 'rm -rf "$jdir"; bench_cleanup' EXIT
    journal_nginx off "$port" ""
    journal_nginx on $((port + 1)) "uco_journal $jdir;
    uco_journal_size 4m;
    uco_journal_full drop_and_count;"
    "$top/build/policy-loader" journal --ring "$jdir" --db "$db" \
        --spool "$run/spool" >"$run/journal.log" 2>&1 &
    bench_pids+=($!)
    bench_req_lua "&amount=150000&terminal=till-1"
    curl -s -H "Authorization: Bearer $partner.bench-secret-$partner" \
        "http://127.0.0.1:$((port + 1))/v1/eligibility?kind=$(head -n 1 "$run/keys" | sed 's/\t/\&card=/')&amount=150000"
    echo
    rm -f "$run/journal-off" "$run/journal-on"
    for i in 1 2 3; do
        bench_round journal-off "http://127.0.0.1:$port/" \
            "$run/off/logs/nginx.pid"
        bench_round journal-on "http://127.0.0.1:$((port + 1))/" \
            "$run/on/logs/nginx.pid"
    done
    bench_compare journal-off journal-on
    sleep 2
    echo "ring: $("$top/tools/journal-dump" "$jdir/journal.ring" | head -n 1)"
    echo "policy-loader journal CPU: $(awk '{print ($14 + $15) / 100}' \
        "/proc/${bench_pids[-1]}/stat") s"
    echo "in PostgreSQL: $(psql -X -At "$db" -c \
        'SELECT count(*) FROM uco.decision') decisions"
}

if bench_main; then
    cards=${1:-100000}; secs=${2:-5}; conns=${3:-50}
    echo "$(date -u '+%F %T') UTC, $(nproc) cores," \
         "load average $(cut -d' ' -f1-3 /proc/loadavg)"
    bench_setup "$cards" 100000
    bench_journal_report
    echo "command: bench/journal.sh $cards $secs $conns"
fi
