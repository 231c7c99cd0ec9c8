#!/bin/bash
# What each sink costs `policy-loader journal`, per record, without the
# noise of nginx beside it: nginx (one worker) fills a ring of real
# records with wrk and is stopped; then, in each round, a copy of that
# ring is drained by the journal process in each configuration, the
# configurations in a rotated order, and its CPU time from its first
# batch until the copy is drained (/proc/PID/schedstat, user + system)
# is divided by the records after that batch, so that
# the start-up (connections, the ring's pages) is printed apart.
# Full batches throughout (the ring is full at the start): what a record
# costs a sink at a sustained rate, not the wait between batches.
#
# Configurations (UCO_BENCH_SINKS, default all but the "before" one):
#   pg               PostgreSQL only
#   redis            Redis only, the default entry (id + msgpack record)
#   redis-fields     Redis only, --redis-entry fields
#   pg+redis         both, the default entry
#   pg+redis-fields  both, fields
#   before           UCO_BENCH_LOADER_BEFORE's binary (e.g. main's), with
#                    both sinks and its defaults
# UCO_BENCH_PERF_SINK=NAME: that configuration's drains under perf
# record; its top symbols at the end.
# Loopback only, bounded: every process it starts is stopped.
# Usage: bench/journal_sinks.sh [cards=100000] [fill seconds=8]
#        [rounds=3]
set -euo pipefail
source "$(dirname "$0")/journal.sh"

port=${UCO_BENCH_PORT:-18331}

# ring_word DIR OFFSET: a 64-bit word of DIR's ring header
ring_word() {
    od -An -t u8 -j "$2" -N 8 "$1/journal.ring" | tr -d ' '
}

# sink_run NAME: one drain of a fresh copy of the filled ring; appends
# "NAME ns records" to $run/sinks
sink_run() {
    local name=$1 dir="$copies/drain-$1" bin="$top/build/policy-loader"
    local opts=() c0 c1 n i pid q t0 keep=()
    rm -rf "$dir" "$run/spool-$1"
    mkdir -p "$dir" "$run/spool-$1"
    cp "$jfill/journal.ring" "$dir/journal.ring"
    psql -X -q "$db" -c 'TRUNCATE uco.decision'
    redis-cli -p "$redis_port" DEL uco:decisions >/dev/null
    case $name in
    pg) opts=(--db "$db") ;;
    redis) opts=(--redis "127.0.0.1:$redis_port") ;;
    redis-fields) opts=(--redis "127.0.0.1:$redis_port"
                        --redis-entry fields) ;;
    pg+redis) opts=(--db "$db" --redis "127.0.0.1:$redis_port") ;;
    pg+redis-fields) opts=(--db "$db" --redis "127.0.0.1:$redis_port"
                           --redis-entry fields) ;;
    before) bin=$UCO_BENCH_LOADER_BEFORE
            opts=(--db "$db" --redis "127.0.0.1:$redis_port") ;;
    esac
    t0=$(ring_word "$dir" 192)
    "$bin" journal --ring "$dir" --spool "$run/spool-$1" "${opts[@]}" \
        --maxlen 2000000 >>"$run/journal-$1.log" 2>&1 &
    pid=$!
    bench_pids+=("$pid")
    if [ "$name" = "${UCO_BENCH_PERF_SINK:-}" ]; then
        perf record -q -g -e cpu-clock -F 2999 -p "$pid" \
            -o "$run/perf-$name-$r.data" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    # the clock starts once the first batch is released: the start-up
    # (connections, the ring's pages) is not a record's cost
    for i in $(seq 1 2000); do
        [ "$(ring_word "$dir" 192)" = "$t0" ] || break
        sleep 0.01
    done
    c0=$(cpu_of "$pid")
    t0=$(ring_word "$dir" 192)
    n=$(( $(ring_word "$dir" 64) - t0 ))
    for i in $(seq 1 1200); do
        [ "$(ring_word "$dir" 192)" = "$(ring_word "$dir" 64)" ] && break
        sleep 0.05
    done
    c1=$(cpu_of "$pid")
    if [ -n "${perf_pid:-}" ]; then
        kill -INT "$perf_pid"; wait "$perf_pid" || true; perf_pid=
    fi
    kill "$pid"; wait "$pid" || true
    for q in "${bench_pids[@]}"; do [ "$q" = "$pid" ] || keep+=("$q"); done
    bench_pids=("${keep[@]}")
    [ "$(ring_word "$dir" 192)" = "$(ring_word "$dir" 64)" ] ||
        { echo "$name: not drained"; return 1; }
    echo "$name $((c1 - c0)) $n $c0" >> "$run/sinks"
    rm -rf "$dir"
}

if bench_main; then
    cards=${1:-100000}; secs=${2:-8}; rounds=${3:-3}
    sinks=${UCO_BENCH_SINKS:-"pg redis redis-fields pg+redis pg+redis-fields"}
    [ -z "${UCO_BENCH_LOADER_BEFORE:-}" ] || sinks="$sinks before"
    echo "$(date -u '+%F %T') UTC, $(nproc) cores, $(load)"
    bench_setup "$cards" 100000
    UCO_BENCH_REDIS=1 journal_redis
    jfill=$(mktemp -d /dev/shm/uco-bench-jfill.XXXXXX)
    # the copies on tmpfs too, as the ring is in production
    copies=$(mktemp -d /dev/shm/uco-bench-jsinks.XXXXXX)
    trap 'rm -rf "$jfill" "$copies"; bench_cleanup' EXIT
    journal_nginx fill "$port" "uco_journal $jfill;
    uco_journal_size 128m;
    uco_journal_full drop_and_count;"
    bench_req_lua "&amount=150000&terminal=till-1"
    wrk -t1 -c50 -d"${secs}s" -s "$run/req.lua" \
        "http://127.0.0.1:$port/" >/dev/null
    kill "$(cat "$run/fill/logs/nginx.pid")"
    sleep 0.5
    echo "filled: $(( $(ring_word "$jfill" 64) - $(ring_word "$jfill" 192) ))" \
         "records, dropped $(ring_word "$jfill" 264)"
    rm -f "$run/sinks"
    set -- $sinks
    for r in $(seq 1 "$rounds"); do
        echo "round $r ($(load)):"
        for s in "$@"; do
            sink_run "$s"
        done
        # rotate: each configuration starts a round in turn
        set -- "${@:2}" "$1"
    done
    awk -v sinks="$sinks" '
        { ns[$1] += $2; n[$1] += $3; up[$1] += $4; runs[$1]++
          each[$1] = each[$1] sprintf(" %.0f", $2 / $3) }
        END {
            printf "%-16s %5s %10s %10s %10s  %s\n", "sink", "runs",
                "records", "ns/record", "start ms", "each run"
            split(sinks, order, " ")
            for (i = 1; i in order; i++) {
                s = order[i]
                printf "%-16s %5d %10d %10.0f %10.1f %s\n", s, runs[s],
                    n[s], ns[s] / n[s], up[s] / runs[s] / 1e6, each[s]
            }
        }' "$run/sinks"
    for f in "$run"/perf-*.data; do
        [ -f "$f" ] || continue
        echo "perf, $(basename "$f" .data), self time by symbol (top 25):"
        perf report -i "$f" --no-children --sort dso,symbol --stdio \
            2>/dev/null | grep -E '^ +[0-9]' | head -n 25 || true
    done
    echo "$(load) at the end"
    echo "command: bench/journal_sinks.sh $cards $secs $rounds"
fi
