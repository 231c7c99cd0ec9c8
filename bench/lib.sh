# Shared by the bench/ scripts (sourced): a throwaway PostgreSQL tuned
# for bulk loading, synthetic data from sql/generate.sql, and cleanup of
# everything started.  Loopback and a private socket directory only.

[ -n "${uco_bench_lib:-}" ] && return 0
uco_bench_lib=1

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
# UCO_BENCH_DIR=/tmp/uco-bench-NAME keeps the database there and reuses
# it on the next run (a 10 million card data set takes minutes to make)
if [ -n "${UCO_BENCH_DIR:-}" ]; then
    run=$UCO_BENCH_DIR; mkdir -p "$run"; UCO_BENCH_KEEP=1
else
    run=$(mktemp -d /tmp/uco-bench.XXXXXX)
fi
chmod 0755 "$run"
bench_reuse=; [ -d "$run/pg" ] && bench_reuse=1
db="host=$run user=postgres dbname=postgres"
bench_pids=()

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi; }

bench_cleanup() {
    local p
    [ -f "$run/logs/nginx.pid" ] && kill "$(cat "$run/logs/nginx.pid")" 2>/dev/null || true
    for p in "${bench_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    as_pg "$pgbin/pg_ctl" -D "$run/pg" -m fast stop >/dev/null 2>&1 || true
    [ -n "${UCO_BENCH_KEEP:-}" ] || rm -rf "$run"
}
trap bench_cleanup EXIT

# PostgreSQL for a benchmark: nothing here needs durability
bench_pg_start() {
    [ "$(id -u)" = 0 ] && chown nobody "$run"
    [ -n "$bench_reuse" ] ||
        as_pg "$pgbin/initdb" -D "$run/pg" -A trust -U postgres --no-sync >/dev/null
    as_pg "$pgbin/pg_ctl" -D "$run/pg" -l "$run/pg.log" -w -o "-k $run \
        -c listen_addresses='' -c fsync=off -c synchronous_commit=off \
        -c full_page_writes=off -c wal_level=minimal -c max_wal_senders=0 \
        -c shared_buffers=1GB -c max_wal_size=8GB" start >/dev/null
    [ -z "$bench_reuse" ] || return 0
    "$top/sql/migrate" "$db" 2>/dev/null
    psql -X -q -v ON_ERROR_STOP=1 "$db" -f "$top/sql/sample-data.sql"
}

# bench_generate CARDS: synthetic data; prints the time it took
bench_generate() {
    local t0
    if [ -n "$bench_reuse" ]; then
        echo "reusing the data in $run:" \
             "$(psql -X -At "$db" -c "SELECT count(*) FROM uco.card") cards"
        return 0
    fi
    t0=$(date +%s.%N)
    psql -X -q -v ON_ERROR_STOP=1 -v cards="$1" "$db" \
        -f "$top/sql/generate.sql" >/dev/null
    echo "generate $1 cards: $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)") s"
}

# bench_keys FILE N: N identifiers (kind TAB value), 90 % of existing
# cards drawn at random, 10 % unknown of both kinds, shuffled
bench_keys() {
    local total pct n=$2
    total=$(psql -X -At "$db" -c "SELECT count(*) FROM uco.card_identifier")
    [ "$n" -gt "$total" ] && n=$total
    pct=$(echo "scale=6; 100 * $n / $total" | bc)
    psql -X -q -At -F $'\t' -v ON_ERROR_STOP=1 "$db" > "$1" <<SQL
SELECT setseed(0.5);
SELECT kind, value FROM (
    (SELECT kind, value FROM uco.card_identifier
        TABLESAMPLE BERNOULLI ($pct) REPEATABLE (7)
        LIMIT $(( n * 9 / 10 )))
    UNION ALL
    SELECT CASE WHEN g % 2 = 0 THEN 'social' ELSE 'hashpan' END,
           CASE WHEN g % 2 = 0 THEN '99' || lpad(g::text, 10, '0')
                ELSE encode(sha256(('unknown:' || g)::bytea), 'hex') END
    FROM generate_series(1, $(( n / 10 ))) g) k
ORDER BY random();
SQL
    sed -i '1{/^$/d}' "$1"
}

# bench_snapshot: one full build by the loader, timed, with its peak
# memory; sets $snap to the published file
bench_snapshot() {
    rm -rf "$run/snap"; mkdir -p "$run/snap"
    /usr/bin/time -f '%e %M' -o "$run/loader.time" \
        "$top/build/policy-loader" --once --db "$db" --dir "$run/snap" \
        --file-mode 0644 >"$run/loader.log" 2>&1 ||
        { cat "$run/loader.log"; return 1; }
    snap=$(ls "$run"/snap/snap-*.ucs | tail -n 1)
}

# a synthetic partner with 10 programmes and no terminal list
bench_partner() {
    psql -X -At "$db" -c "SELECT p.id FROM uco.partner p
        WHERE p.status = 'active' AND p.id >= 100000
          AND NOT EXISTS (SELECT 1 FROM uco.partner_terminal t
                          WHERE t.partner_id = p.id)
          AND (SELECT count(*) FROM uco.programme r
               WHERE r.partner_id = p.id) = 10
        ORDER BY p.id LIMIT 1"
}

# bench_setup CARDS KEYS: PostgreSQL, data, a snapshot, a keys file
bench_setup() {
    bench_pg_start
    bench_generate "$1"
    bench_snapshot
    bench_keys "$run/keys" "$2"
    partner=$(bench_partner)
}

# bench_cpu PIDFILE: the CPU time of that nginx's workers, user and
# system, in nanoseconds (/proc/PID/schedstat: exact, where stat counts
# 10 ms ticks)
bench_cpu() {
    local t=0 p
    for p in $(pgrep -P "$(cat "$1")"); do
        t=$((t + $(cut -d' ' -f1 "/proc/$p/schedstat")))
    done
    echo $t
}

# bench_round NAME URL PIDFILE [ARG]: one wrk round of $secs seconds and
# $conns connections with $run/req.lua (ARG passed to it), printed and
# added to NAME's totals in $run/NAME (time, requests, worker ns)
bench_round() {
    local c0 c1 out rps reqs t=0 r=0 c=0
    c0=$(bench_cpu "$3")
    out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$run/req.lua" \
          "$2" ${4:+"$4"})
    c1=$(bench_cpu "$3")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    echo "  $1: $rps req/s, p50 $(echo "$out" | awk '$1=="50%"{print $2}')," \
         "p99 $(echo "$out" | awk '$1=="99%"{print $2}')," \
         "non-2xx $(echo "$out" | awk '/Non-2xx/ {print $4}' | grep . || echo 0)," \
         "worker CPU $(( (c1 - c0) / reqs )) ns/req"
    [ -f "$run/$1" ] && read -r t r c < "$run/$1"
    echo "$(echo "$t + $reqs / $rps" | bc -l) $((r + reqs)) $((c + c1 - c0))" \
        > "$run/$1"
}

# true when the calling script is run, not sourced by bench/all.sh
# bench_compare BASE NEW: the totals of the rounds in $run/BASE and
# $run/NEW ("seconds requests worker-ns"), and NEW's ratios to BASE
bench_compare() {
    local n t r c
    local -A rps cpu
    for n in "$1" "$2"; do
        read -r t r c < "$run/$n"
        rps[$n]=$(echo "$r / $t" | bc)
        cpu[$n]=$(( c / r ))
        echo "$n total: $r requests, ${rps[$n]} req/s," \
             "worker CPU ${cpu[$n]} ns/req"
    done
    echo "ratio $2/$1: rate $(echo "scale=3; ${rps[$2]} / ${rps[$1]}" | bc)," \
         "CPU per request $(echo "scale=3; ${cpu[$2]} / ${cpu[$1]}" | bc)"
}

bench_main() { [ "${BASH_SOURCE[1]}" = "$0" ]; }

# --- the freshness benchmarks (propagation.sh, hotswap.sh) ---

# bench_shm_dir: the snapshot directory on tmpfs, as in production
bench_shm_dir() {
    snapdir=/dev/shm/$(basename "$run")
    mkdir -p "$snapdir"
    trap 'bench_cleanup; rm -rf "$snapdir"' EXIT
}

# bench_daemon: the loader daemon into $snapdir; waits for its first build
bench_daemon() {
    "$top/build/policy-loader" --db "$db" --dir "$snapdir" \
        --file-mode 0644 --interval 1 >"$run/loader.log" 2>&1 &
    bench_pids+=($!)
    for _ in $(seq 1 1200); do
        grep -q 'published generation' "$run/loader.log" && return 0
        sleep 0.5
    done
    cat "$run/loader.log"; return 1
}

# bench_uco_nginx PORT: two workers, the endpoint on $snapdir
bench_uco_nginx() {
    mkdir -p "$run/logs" "$run/conf"
    cat > "$run/conf/nginx.conf" <<CONF
load_module $top/build/ngx_http_uco_module.so;
worker_processes 2;
error_log $run/logs/error.log notice;
pid $run/logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    uco_snapshot $snapdir;
    client_body_temp_path $run/body;
    server {
        listen 127.0.0.1:$1;
        location = /v1/eligibility { uco_eligibility; }
    }
}
CONF
    nginx -p "$run" -c "$run/conf/nginx.conf" -e "$run/logs/error.log"
    sleep 0.5
}

# bench_lua_keys: the start of a wrk script, the identifiers of
# $run/keys in kinds[] and values[]
bench_lua_keys() {
    cat <<LUA
math.randomseed(42)
local kinds, values = {}, {}
for line in io.lines("$run/keys") do
    local k, v = line:match("^(%a+)\t(%w+)$")
    kinds[#kinds + 1] = k; values[#values + 1] = v
end
LUA
}

# bench_req_lua [PARAMS]: $run/req.lua, GETs of random identifiers from
# $run/keys, with PARAMS ("&amount=...") before the card
bench_req_lua() {
    { bench_lua_keys; cat <<LUA
request = function()
    local i = math.random(1, #values)
    return wrk.format("GET", "/v1/eligibility?kind=" .. kinds[i]
        .. "${1:-}&card=" .. values[i],
        {["Authorization"] = "Bearer $partner.bench-secret-$partner"})
end
LUA
    } > "$run/req.lua"
}
