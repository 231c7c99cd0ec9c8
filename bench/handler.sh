#!/bin/bash
# The request path under callgrind: one nginx process (master_process
# off) answers N requests of the keys file (90 % existing identifiers,
# 10 % unknown) on one keep-alive connection, instructions counted only
# inside the event loop (not start-up); prints instructions per request
# and the functions they went to, the module's and nginx's own.
# Usage: bench/handler.sh [cards=100000] [requests=2000]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$top/bench/http.sh"

bench_handler_report() {
    local n=$1 vg ir
    mkdir -p "$run/logs" "$run/conf"
    { echo "master_process off; daemon off;"; bench_nginx_conf 1; } \
        > "$run/conf/cg.conf"
    valgrind --tool=callgrind --callgrind-out-file="$run/handler.cg" \
        --collect-atstart=no --toggle-collect=ngx_process_events_and_timers \
        nginx -p "$run" -c "$run/conf/cg.conf" -e "$run/logs/error.log" \
        > "$run/handler.log" 2>&1 &
    vg=$!
    bench_pids+=($vg)
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        sleep 0.2
    done
    head -n "$n" "$run/keys" | awk -F'\t' -v port="$port" '{
        printf "url = \"http://127.0.0.1:%s/v1/eligibility?kind=%s&amount=150000&card=%s\"\noutput = \"/dev/null\"\n",
               port, $1, $2 }' > "$run/curl.cfg"
    curl -s -K "$run/curl.cfg" \
        -H "Authorization: Bearer $partner.bench-secret-$partner" \
        -w '%{http_code}\n' | sort | uniq -c
    kill -QUIT "$vg"; wait "$vg" || true
    ir=$(awk '/^summary:/ {print $2}' "$run/handler.cg")
    echo "callgrind: $ir instructions for $n requests (and one probe):" \
         "$(( ir / n )) per request"
    callgrind_annotate --inclusive=yes "$run/handler.cg" 2>/dev/null |
        grep -E 'uco_|ngx_http_(parse|send_header|output_filter|finalize)|SHA256|CRYPTO' |
        head -n 30
}

if bench_main; then
    cards=${1:-100000}; requests=${2:-2000}
    bench_setup "$cards" "$requests"
    bench_handler_report "$requests"
    echo "command: bench/handler.sh $cards $requests"
fi
