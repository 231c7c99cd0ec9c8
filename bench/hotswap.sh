#!/bin/bash
# Hot swap under load: wrk on loopback while a new generation is
# published every 100 ms.
# Usage: bench/hotswap.sh [cards=10000] [seconds=30] [conns=16]
#
# The loader daemon (LISTEN/NOTIFY) publishes one generation per change;
# a psql loop commits a card change every 100 ms, so with a build well
# under 100 ms (the default 10 000 cards) a generation is published
# every 100 ms.  Reports the generations published, wrk's non-2xx answers
# and socket errors, error-log lines above warn, and each worker's RSS
# and snapshot files mapped before and after (old mappings must be
# released: at the end each worker maps the live generation, and its base
# when it is a delta).  Exits 1 when any of
# non-2xx, socket errors, error lines or leftover mappings is not zero.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

port=${UCO_BENCH_PORT:-18203}

workers() { pgrep -P "$(cat "$run/logs/nginx.pid")"; }

# "pid rss_kB snapshot_mappings" per worker
worker_mem() {
    local p
    for p in $(workers); do
        echo "$p $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status")" \
             "$(grep -o 'snap-[0-9]*\.ucs' "/proc/$p/maps" | sort -u |
                wc -l)"
    done
}

if bench_main; then
    cards=${1:-10000}
    secs=${2:-30}
    conns=${3:-16}

    bench_pg_start
    bench_generate "$cards"
    partner=$(bench_partner)
    bench_keys "$run/keys" 20000
    card=$(psql -X -At "$db" -c "SELECT id FROM uco.card
        WHERE status = 'active' ORDER BY id LIMIT 1")

    bench_shm_dir
    bench_daemon
    bench_uco_nginx "$port"
    bench_req_lua
    # warm up, then the steady state
    wrk -t1 -c"$conns" -d3s -s "$run/req.lua" "http://127.0.0.1:$port/" \
        >/dev/null
    worker_mem > "$run/mem.before"
    g0=$(od -An -t u8 -j 16 -N 8 "$snapdir/uco.ctl" | tr -d ' ')
    errmark=$(stat -c %s "$run/logs/error.log")

    wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$run/req.lua" \
        "http://127.0.0.1:$port/" > "$run/wrk.out" 2>&1 &
    wrk_pid=$!
    end=$(( $(date +%s%N) + secs * 1000000000 ))
    s=blocked
    # one psql, one change every 100 ms
    while [ "$(date +%s%N)" -lt "$end" ]; do
        echo "UPDATE uco.card SET status = '$s' WHERE id = $card;"
        [ $s = blocked ] && s=active || s=blocked
        sleep 0.1
    done | psql -X -q "$db" >/dev/null
    wait "$wrk_pid"
    g1=$(od -An -t u8 -j 16 -N 8 "$snapdir/uco.ctl" | tr -d ' ')

    # idle a moment: every worker swaps to the last generation at its next
    # request and releases the one before
    sleep 2
    wrk -t1 -c"$conns" -d2s -s "$run/req.lua" "http://127.0.0.1:$port/" \
        >/dev/null
    worker_mem > "$run/mem.after"

    non2xx=$(awk '/Non-2xx/ {print $5}' "$run/wrk.out" | grep . || echo 0)
    sockerr=$(awk -F'[ ,]+' '/Socket errors/ {print $4 + $6 + $8 + $10}' \
              "$run/wrk.out" | grep . || echo 0)
    errors=$(tail -c +"$((errmark + 1))" "$run/logs/error.log" |
             grep -cE '\[(error|crit|alert|emerg)\]' || true)
    # the live generation, and its base if it is a delta
    expect=1
    "$top/build/policy-loader" inspect \
        "$snapdir/$(printf 'snap-%020d.ucs' "$g1")" |
        grep -q '^kind: delta' && expect=2
    maps=$(awk -v e="$expect" '{n += ($3 > e ? $3 - e : e - $3)}
                               END {print n + 0}' "$run/mem.after")

    echo "$(grep -E 'requests in' "$run/wrk.out" | sed 's/^ *//')," \
         "$(awk '/Requests\/sec/ {print $2}' "$run/wrk.out") req/s," \
         "p99 $(awk '$1 == "99%" {print $2}' "$run/wrk.out")," \
         "max $(awk '/Latency/ {print $4}' "$run/wrk.out")"
    echo "generations published: $((g1 - g0)) in $secs s" \
         "($(echo "scale=0; $secs * 1000 / ($g1 - $g0)" | bc) ms apart)"
    echo "non-2xx: $non2xx, socket errors: $sockerr," \
         "error-log lines above warn: $errors"
    join "$run/mem.before" "$run/mem.after" | while read -r p r0 m0 r1 m1; do
        echo "worker $p: RSS $((r0 / 1024)) MiB -> $((r1 / 1024)) MiB," \
             "snapshot mappings $m0 -> $m1"
    done
    echo "command: bench/hotswap.sh $cards $secs $conns"
    [ "$non2xx" = 0 ] && [ "$sockerr" = 0 ] && [ "$errors" = 0 ] &&
        [ "$maps" = 0 ]
fi
