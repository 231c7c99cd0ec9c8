#!/bin/bash
# HTTP benchmark: the eligibility endpoint against a `return 200` of the
# same JSON size, side by side, same nginx, same settings, loopback only.
# Usage: bench/http.sh [cards=1000000] [seconds=10] [connections=50]
# Prints requests/s, latency and nginx workers' CPU time per request for
# both, and their ratios.  Bounded: every server it starts is stopped.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cards=${1:-1000000}; secs=${2:-10}; conns=${3:-50}
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
run=$(mktemp -d /tmp/uco-bench.XXXXXX); chmod 0755 "$run"
mkdir -p "$run/snap" "$run/logs" "$run/conf"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi; }
cleanup() {
    [ -f "$run/logs/nginx.pid" ] && kill "$(cat "$run/logs/nginx.pid")" 2>/dev/null || true
    as_pg "$pgbin/pg_ctl" -D "$run/pg" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$run"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] && chown nobody "$run"
as_pg "$pgbin/initdb" -D "$run/pg" -A trust -U postgres --no-sync >/dev/null
as_pg "$pgbin/pg_ctl" -D "$run/pg" -l "$run/pg.log" -w \
    -o "-k $run -c listen_addresses='' -c fsync=off" start >/dev/null
db="host=$run user=postgres dbname=postgres"
"$top/sql/migrate" "$db" 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$db" -f "$top/sql/sample-data.sql"
# synthetic cards: bulk load without the change-log triggers
psql -X -q -v ON_ERROR_STOP=1 "$db" <<SQL
SET session_replication_role = replica;
INSERT INTO uco.holder SELECT 100 + g, g % 32 FROM generate_series(1, $cards) g;
INSERT INTO uco.card SELECT 100 + g, 100 + g, 'bank', 'active', '2030-12-31'
    FROM generate_series(1, $cards) g;
INSERT INTO uco.card_identifier
    SELECT 'social', lpad(g::text, 12, '0'), 100 + g
    FROM generate_series(1, $cards) g;
SQL
t0=$(date +%s.%N)
"$top/build/policy-loader" --once --db "$db" --dir "$run/snap" \
    --file-mode 0644 2>&1 | tail -n 1
echo "loader build: $(echo "$(date +%s.%N) - $t0" | bc) s"

body='{"decision":"eligible","programme":{"id":101,"type":"percent","value":10,"discount":1000},"generation":1}'
cat > "$run/conf/nginx.conf" <<CONF
load_module $top/build/ngx_http_uco_module.so;
worker_processes 1;
error_log $run/logs/error.log notice;
pid $run/logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 100000;
    uco_snapshot $run/snap;
    client_body_temp_path $run/body;
    server {
        listen 127.0.0.1:18201;
        location = /v1/eligibility { uco_eligibility; }
        location = /baseline {
            default_type application/json;
            add_header Cache-Control no-store;
            return 200 '$body';
        }
    }
}
CONF
nginx -p "$run" -c "$run/conf/nginx.conf" -e "$run/logs/error.log"
sleep 0.5
cat > "$run/req.lua" <<LUA
math.randomseed(42)
-- the same request to both locations: only the path differs
local loc = "/v1/eligibility"
init = function(args) if args[1] then loc = args[1] end end
request = function()
    -- 90 % existing cards, 10 % unknown
    local n = math.random(1, math.floor($cards / 0.9))
    return wrk.format("GET", string.format(
        loc .. "?kind=social&amount=10000&card=%012d", n), {
        ["Authorization"] = "Bearer 1001.demo-secret-1001-0123456789abcdef"})
end
LUA
cpu() {  # user+sys clock ticks of the nginx workers
    local t=0
    for p in $(pgrep -P "$(cat "$run/logs/nginx.pid")"); do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo $t
}
bench() {  # name location
    local c0 c1 out rps reqs
    c0=$(cpu)
    out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$run/req.lua" \
          "http://127.0.0.1:18201/" "$2")
    c1=$(cpu)
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    echo "$1: $rps req/s, p50 $(echo "$out" | awk '$1=="50%"{print $2}')," \
         "p99 $(echo "$out" | awk '$1=="99%"{print $2}')," \
         "non-2xx $(echo "$out" | awk '/Non-2xx/ {print $4}' | grep . || echo 0)," \
         "worker CPU $(echo "($c1 - $c0) * 10000000 / $reqs" | bc) ns/req"
    echo "$rps $(echo "($c1 - $c0) * 10000000 / $reqs" | bc)" > "$run/$1"
}
curl -s -H 'Authorization: Bearer 1001.demo-secret-1001-0123456789abcdef' \
    "http://127.0.0.1:18201/v1/eligibility?kind=social&card=000000000007&amount=10000"; echo
bench baseline /baseline
bench uco /v1/eligibility
read -r brps bcpu < "$run/baseline"; read -r urps ucpu < "$run/uco"
echo "ratio uco/baseline: rate $(echo "scale=3; $urps / $brps" | bc)," \
     "CPU per request $(echo "scale=3; $ucpu / $bcpu" | bc)"
echo "command: bench/http.sh $cards $secs $conns"
