#!/bin/bash
# The decision journal's cost.
#
# 1. The append alone (bench/journal_append.c): ns per append of one and
#    of two processes into one ring, with nothing and with a consumer
#    reading behind them; instructions per append under callgrind.
# 2. The eligibility endpoint with the journal on against the same
#    endpoint with it off: nginx instances with one worker each,
#    identical but for uco_journal, wrk alternating between them with
#    the same requests.  What is compared is the nginx worker's CPU time
#    per answer (/proc/PID/schedstat of the worker only: wrk, the
#    delivery process and PostgreSQL are not in it) and the rate, in
#    two phases, each with its own rounds of the journal-off nginx:
#      ring       a ring that holds every record of the rounds, and no
#                 delivery process running: the module's cost alone;
#      delivered  a ring of the default 64 MiB, drained meanwhile
#                 by `policy-loader journal` into the throwaway
#                 PostgreSQL, as in production; on this machine the
#                 delivery shares the two cores with nginx and wrk, so
#                 the rate carries its CPU too (printed apart).
#    Then the first ring is delivered too, and every record is counted
#    in PostgreSQL.
# 3. The node's cost, what the journal adds on an nginx node where
#    PostgreSQL (and Redis) run elsewhere: (worker CPU per answer with
#    the journal + the delivery process's CPU per record) / worker CPU
#    per answer without it, from the delivered phase's own figures; the
#    target is under 1.05.  PostgreSQL's CPU is printed apart: on this
#    machine it shares the cores, so the delivered phase's rate carries
#    it too ("rate with local PostgreSQL").
# Loopback only, bounded: every process it starts is stopped.
# Usage: bench/journal.sh [cards=100000] [seconds=5] [connections=50]
#        UCO_BENCH_ROUNDS=N: rounds of each nginx per phase (3)
#        UCO_BENCH_PERF=1: perf record of the worker, one more round of
#          the ring nginx and one of the delivered one
#        UCO_BENCH_LOADER_BEFORE=BIN: another policy-loader (e.g. main's,
#          built in a directory of its own) drains a delivered phase of
#          its own first, for a before/after in one run
#        UCO_BENCH_PERF_LOADER=1: perf record -g of the delivery process
#          during the (last) delivered phase; its report at the end
#        UCO_BENCH_REDIS=1: a local redis-server too (no persistence), a
#          second sink for the delivery process (its CPU printed apart)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

port=${UCO_BENCH_PORT:-18301}
rounds=${UCO_BENCH_ROUNDS:-3}

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

# journal_loader DIR [BIN]: policy-loader journal (BIN's) draining DIR's
# ring
journal_loader() {
    mkdir -p "$run/spool-$(basename "$1")"
    "${2:-$top/build/policy-loader}" journal --ring "$1" --db "$db" \
        ${redis_port:+--redis 127.0.0.1:$redis_port --maxlen 2000000} \
        --spool "$run/spool-$(basename "$1")" \
        >>"$run/journal-$(basename "$1").log" 2>&1 &
    bench_pids+=($!)
}

# journal_redis: with UCO_BENCH_REDIS, a redis-server of the bench's own
journal_redis() {
    redis_port=
    [ -n "${UCO_BENCH_REDIS:-}" ] || return 0
    redis_port=$((port + 3))
    mkdir -p "$run/redis"
    redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$run/redis" \
        --save '' --appendonly no --daemonize no \
        --logfile "$run/redis/redis.log" &
    bench_pids+=($!)
    redis_pid=$!
    for _ in $(seq 1 50); do
        redis-cli -p "$redis_port" PING 2>/dev/null | grep -q PONG && return 0
        sleep 0.1
    done
    echo "redis-server did not start"; return 1
}

# journal_drained DIR: waits (up to 2 minutes) until DIR's ring is empty
journal_drained() {
    local i
    for i in $(seq 1 240); do
        [ "$(ring_field "$1" tail)" = "$(ring_field "$1" head)" ] && return 0
        sleep 0.5
    done
    echo "$1: not drained"
}

# ring_field DIR FIELD: a counter of DIR's ring header (the first line of
# journal-dump, which then stops on the closed pipe)
ring_field() {
    { "$top/tools/journal-dump" "$1/journal.ring" 2>/dev/null || true; } |
        head -n 1 |
        python3 -c "import json, sys; print(json.load(sys.stdin)['header']['$2'])"
}

# cpu_of PID...: their CPU time, ns; pg_cpu: PostgreSQL's processes'
cpu_of() {
    local t=0 p
    for p in "$@"; do
        t=$((t + $(cut -d' ' -f1 "/proc/$p/schedstat" 2>/dev/null || echo 0)))
    done
    echo $t
}
pg_cpu() {
    local pm
    pm=$(head -n 1 "$run/pg/postmaster.pid")
    cpu_of "$pm" $(pgrep -P "$pm")
}

load() { echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"; }

# journal_phase NAME PORT [LABEL]: $rounds alternating rounds (off
# first, then on first) of the journal-off nginx against NAME's, their
# totals under LABEL (default NAME)
journal_phase() {
    local i l=${3:-$1}
    rm -f "$run/off-$l" "$run/on-$l"
    echo "phase $l ($(load)):"
    for i in $(seq 1 "$rounds"); do
        if [ $((i % 2)) = 1 ]; then
            bench_round "off-$l" "http://127.0.0.1:$port/" \
                "$run/off/logs/nginx.pid"
        fi
        bench_round "on-$l" "http://127.0.0.1:$2/" "$run/$1/logs/nginx.pid"
        if [ $((i % 2)) = 0 ]; then
            bench_round "off-$l" "http://127.0.0.1:$port/" \
                "$run/off/logs/nginx.pid"
        fi
    done
    bench_compare "off-$l" "on-$l"
    echo "($(load) after phase $l)"
}

# per_answer LABEL: worker ns per answer of LABEL's totals
per_answer() {
    local t r c
    read -r t r c < "$run/$1"
    echo $(( c / r ))
}

# journal_delivered LABEL [BIN]: the delivered phase with BIN's journal
# process draining the ring meanwhile; its CPU and PostgreSQL's from the
# phase's start until the ring is drained again, per record appended in
# the phase; then the node's cost
journal_delivered() {
    local l=$1 pid pl0 pl1 pg0 pg1 rd0=0 rd1=0 a n pl pg off on rate
    journal_loader "$jdeliv" "${2:-}"
    pid=${bench_pids[-1]}
    journal_drained "$jdeliv"
    if [ -n "${UCO_BENCH_PERF_LOADER:-}" ]; then
        perf record -q -g -e cpu-clock -F 999 -p "$pid" \
            -o "$run/perf-loader.data" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    pl0=$(cpu_of "$pid"); pg0=$(pg_cpu)
    [ -z "$redis_port" ] || rd0=$(cpu_of "$redis_pid")
    a=$(ring_field "$jdeliv" appended)
    journal_phase delivered $((port + 2)) "$l"
    journal_drained "$jdeliv"
    pl1=$(cpu_of "$pid"); pg1=$(pg_cpu)
    [ -z "$redis_port" ] || rd1=$(cpu_of "$redis_pid")
    if [ -n "${perf_pid:-}" ]; then
        kill -INT "$perf_pid"; wait "$perf_pid" || true; perf_pid=
    fi
    kill "$pid"; wait "$pid" || true
    local keep=() q
    for q in "${bench_pids[@]}"; do [ "$q" = "$pid" ] || keep+=("$q"); done
    bench_pids=("${keep[@]}")
    n=$(( $(ring_field "$jdeliv" appended) - a ))
    pl=$(( (pl1 - pl0) / (n + 1) ))
    pg=$(( (pg1 - pg0) / (n + 1) ))
    off=$(per_answer "off-$l"); on=$(per_answer "on-$l")
    rate=$(awk '{print $2 / $1}' "$run/on-$l")
    echo "$l: delivered to PostgreSQL${redis_port:+ and Redis} (local)"
    echo "$l: appended $n in the phase," \
         "dropped $(ring_field "$jdeliv" dropped);" \
         "policy-loader journal (${2:-$top/build/policy-loader})" \
         "$(( (pl1 - pl0) / 1000000 )) ms of CPU ($pl ns/record)," \
         "PostgreSQL $(( (pg1 - pg0) / 1000000 )) ms ($pg ns/record)" \
         ${redis_port:+"Redis $(( (rd1 - rd0) / 1000000 )) ms" \
             "($(( (rd1 - rd0) / (n + 1) )) ns/record)"}
    echo "$l: NODE COST (worker CPU/answer on $on ns + journal process" \
         "$pl ns/record) / worker CPU/answer off $off ns =" \
         "$(echo "scale=3; ($on + $pl) / $off" | bc) (target < 1.05);" \
         "worker alone $(echo "scale=3; $on / $off" | bc)," \
         "journal process $(echo "scale=3; $pl / $off" | bc)"
    echo "$l: node cost with the worker's own ratio from the ring phase" \
         "(no delivery process beside it):" \
         "$(echo "scale=3; $(per_answer on-ring) / $(per_answer off-ring)" \
              "+ $pl / $off" | bc) (worker" \
         "$(echo "scale=3; $(per_answer on-ring) / $(per_answer off-ring)" \
              | bc) + journal process $(echo "scale=3; $pl / $off" | bc))"
    echo "$l: rate with delivery AND PostgreSQL on the same $(nproc)" \
         "cores: $(printf '%.0f' "$rate") req/s," \
         "$(echo "scale=3; $(awk '{print $2 / $1}' "$run/on-$l") /" \
              "$(awk '{print $2 / $1}' "$run/off-$l")" | bc) of off" \
         "(PostgreSQL's $pg ns/record are the node's only where it runs" \
         "on the node)"
}

# journal_perf NAME PORT: one more round of NAME under perf record
journal_perf() {
    local w
    w=$(pgrep -P "$(cat "$run/$1/logs/nginx.pid")")
    perf record -q -e cpu-clock -F 4999 -p "$w" -o "$run/perf.data" \
        -- sleep "$secs" >/dev/null 2>&1 &
    wrk -t1 -c"$conns" -d"${secs}s" -s "$run/req.lua" \
        "http://127.0.0.1:$2/" >/dev/null
    wait $!
    perf report -i "$run/perf.data" --no-children --sort dso,symbol \
        --stdio > "$run/perf.txt" 2>/dev/null || true
    echo "perf, worker of $1, self time by object:"
    awk '/^ +[0-9]/ { sub("%", "", $1); t[$2] += $1 }
         END { for (o in t) printf "  %5.1f%%  %s\n", t[o], o }' \
        "$run/perf.txt" | sort -rn
    echo "perf, worker of $1, self time by symbol (top 30):"
    grep -E '^ +[0-9]' "$run/perf.txt" | head -n 30 || true
    echo "perf, worker of $1, the journal's functions:"
    grep -E '^ +[0-9].*(journal|uco_mp)' "$run/perf.txt" || true
}

# bench_append_ir N: sets $ir_per_append, the instructions callgrind
# counts in N appends of one producer (bench_append_loop only), per
# append; prints them
bench_append_ir() {
    local ir
    valgrind --tool=callgrind --callgrind-out-file="$run/cg-append.out" \
        --collect-atstart=no --toggle-collect=bench_append_loop \
        "$top/build/bench_journal_append" -1 1 "$1" \
        > "$run/cg-append.log" 2>&1 || { cat "$run/cg-append.log"; return 1; }
    ir=$(awk '/^summary:/ {print $2}' "$run/cg-append.out")
    ir_per_append=$(( ir / $1 ))
    echo "callgrind: $ir instructions over $1 appends:" \
         "$ir_per_append instructions/append"
}

bench_journal_report() {
    local rsize need pl0 pl1 pg0 pg1 a b n i rows

    echo "append microbenchmark:"
    for i in 1 2; do
        "$top/build/bench_journal_append" "$i" 200000 | sed 's/^/  /'
    done
    bench_append_ir 100000 | sed 's/^/  /'

    rows=$(psql -X -At "$db" -c 'SELECT count(*) FROM uco.decision')

    # the ring phase's ring holds 120 000 answers a second for all its
    # rounds: a power of two in MiB
    need=$(( 120000 * secs * rounds * 256 / 1048576 ))
    rsize=1
    while [ "$rsize" -lt "$need" ]; do rsize=$((rsize * 2)); done

    # on tmpfs, as docs/directives.md advises
    jring=$(mktemp -d /dev/shm/uco-bench-jring.XXXXXX)
    jdeliv=$(mktemp -d /dev/shm/uco-bench-jdeliv.XXXXXX)
    trap 'rm -rf "$jring" "$jdeliv"; bench_cleanup' EXIT
    journal_redis
    journal_nginx off "$port" ""
    journal_nginx ring $((port + 1)) "uco_journal $jring;
    uco_journal_size ${rsize}m;
    uco_journal_full drop_and_count;"
    journal_nginx delivered $((port + 2)) "uco_journal $jdeliv;
    uco_journal_size 64m;
    uco_journal_full drop_and_count;"
    bench_req_lua "&amount=150000&terminal=till-1"
    curl -s -H "Authorization: Bearer $partner.bench-secret-$partner" \
        "http://127.0.0.1:$((port + 1))/v1/eligibility?kind=$(head -n 1 "$run/keys" | sed 's/\t/\&card=/')&amount=150000"
    echo
    echo "ring phase: a ${rsize} MiB ring, nothing drains it during the rounds"

    journal_phase ring $((port + 1))
    echo "ring: appended $(ring_field "$jring" appended)," \
         "dropped $(ring_field "$jring" dropped)"

    if [ -n "${UCO_BENCH_LOADER_BEFORE:-}" ]; then
        journal_delivered delivered-before "$UCO_BENCH_LOADER_BEFORE"
    fi
    journal_delivered delivered

    if [ -n "${UCO_BENCH_PERF:-}" ]; then
        journal_perf ring $((port + 1))
        # and the production-sized ring, lapped already by the delivered
        # phase (its loader is gone: the round fits in the empty ring)
        journal_perf delivered $((port + 2))
    fi

    if [ -f "$run/perf-loader.data" ]; then
        perf report -i "$run/perf-loader.data" --no-children \
            --sort dso,symbol --stdio 2>/dev/null |
            grep -E '^ +[0-9]' | head -n 40 > "$run/perf-loader.txt" || true
        echo "perf, policy-loader journal (delivered), self time by" \
             "symbol (top 40):"
        cat "$run/perf-loader.txt"
    fi

    # deliver the first ring too, and what the perf round of the
    # delivered nginx appended after its loader stopped; every record
    # must arrive
    journal_loader "$jring"
    journal_loader "$jdeliv"
    a=$(ring_field "$jring" appended)
    b=$(ring_field "$jdeliv" appended)
    journal_drained "$jring"
    journal_drained "$jdeliv"
    echo "records appended $((a + b)) ($a + $b), arrived in PostgreSQL" \
         "$(( $(psql -X -At "$db" -c 'SELECT count(*) FROM uco.decision') \
              - rows ))"
}

if bench_main; then
    cards=${1:-100000}; secs=${2:-5}; conns=${3:-50}
    echo "$(date -u '+%F %T') UTC, $(nproc) cores, $(load)"
    bench_setup "$cards" 100000
    bench_journal_report
    echo "$(load) at the end"
    echo "command: bench/journal.sh $cards $secs $conns"
fi
