#!/bin/bash
# HTTP benchmark: the eligibility endpoint against a `return 200` of the
# same JSON size, side by side, same nginx, same settings, loopback only;
# then each worker's memory for the mapped snapshot.
# Usage: bench/http.sh [cards=1000000] [seconds=10] [connections=50]
# (three alternating rounds of SECONDS each per location)
# Prints requests/s, latency and nginx workers' CPU time per request for
# both, and their ratios.  Bounded: every server it starts is stopped.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

port=${UCO_BENCH_PORT:-18201}

# bench_nginx_conf WORKERS: the configuration, both locations, mirrored
# settings (bench/handler.sh runs the same one under callgrind)
bench_nginx_conf() {
    local body
    body='{"decision":"eligible","programme":{"id":10000001,"type":"percent","value":10,"discount":15000},"generation":1}'
    cat <<CONF
load_module $top/build/ngx_http_uco_module.so;
worker_processes $1;
error_log $run/logs/error.log notice;
pid $run/logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 100000;
    uco_snapshot $run/snap;
    client_body_temp_path $run/body;
    server {
        listen 127.0.0.1:$port;
        location = /v1/eligibility { uco_eligibility; }
        location = /baseline {
            default_type application/json;
            add_header Cache-Control no-store;
            return 200 '$body';
        }
    }
}
CONF
}

# bench_nginx WORKERS: one nginx of bench_nginx_conf
bench_nginx() {
    mkdir -p "$run/logs" "$run/conf"
    [ -f "$run/logs/nginx.pid" ] && { kill "$(cat "$run/logs/nginx.pid")"; sleep 1; }
    bench_nginx_conf "$1" > "$run/conf/nginx.conf"
    nginx -p "$run" -c "$run/conf/nginx.conf" -e "$run/logs/error.log"
    sleep 0.5
}

bench_workers() { pgrep -P "$(cat "$run/logs/nginx.pid")"; }

# bench_wrk NAME LOCATION: one wrk round, added to NAME's totals
bench_wrk() {
    bench_round "$1" "http://127.0.0.1:$port/" "$run/logs/nginx.pid" "$2"
}

bench_http_report() {
    local i
    bench_nginx 1
    cat > "$run/req.lua" <<LUA
math.randomseed(42)
-- the same request to both locations: only the path differs
local loc = "/v1/eligibility"
local kinds, values = {}, {}
for line in io.lines("$run/keys") do
    local k, v = line:match("^(%a+)\t(%w+)$")
    kinds[#kinds + 1] = k; values[#values + 1] = v
end
init = function(args) if args[1] then loc = args[1] end end
request = function()
    -- the keys file: 90 % existing identifiers, 10 % unknown
    local i = math.random(1, #values)
    return wrk.format("GET", loc .. "?kind=" .. kinds[i] .. "&amount=150000"
        .. "&card=" .. values[i],
        {["Authorization"] = "Bearer $partner.bench-secret-$partner"})
end
LUA
    curl -s -H "Authorization: Bearer $partner.bench-secret-$partner" \
        "http://127.0.0.1:$port/v1/eligibility?kind=$(head -n 1 "$run/keys" | sed 's/\t/\&card=/')&amount=150000"
    echo
    # alternating rounds, so that load from elsewhere hits both alike
    rm -f "$run/baseline" "$run/uco"
    for i in 1 2 3; do
        bench_wrk baseline /baseline
        bench_wrk uco /v1/eligibility
    done
    bench_compare baseline uco
}

# each worker's share of the snapshot mapping (2 workers, after a run)
bench_rss_report() {
    local p f
    bench_nginx 2
    f=$(basename "$snap")
    for i in $(seq 1 200); do
        curl -s -o /dev/null -H "Authorization: Bearer $partner.bench-secret-$partner" \
            "http://127.0.0.1:$port/v1/eligibility?kind=social&card=560000000001"
    done
    for p in $(bench_workers); do
        awk -v f="$f" -v p="$p" '
            $0 ~ f { m = 1; next }
            /^[0-9a-f]+-[0-9a-f]+ / { m = 0 }
            m && /^(Rss|Pss|Shared_Clean|Private_Clean|Private_Dirty):/ {
                v[$1] = $2 }
            END { printf "worker %s: snapshot mapping Rss %d MiB, Pss %d MiB," \
                  " shared %d MiB, private %d MiB (dirty %d kB)\n", p,
                  v["Rss:"] / 1024, v["Pss:"] / 1024,
                  v["Shared_Clean:"] / 1024,
                  (v["Private_Clean:"] + v["Private_Dirty:"]) / 1024,
                  v["Private_Dirty:"] }' "/proc/$p/smaps"
        grep -E '^(VmRSS|RssAnon|RssFile)' "/proc/$p/status" | tr -s ' \n' ' '
        echo
    done
}

if bench_main; then
    cards=${1:-1000000}; secs=${2:-10}; conns=${3:-50}
    bench_setup "$cards" 100000
    bench_http_report
    bench_rss_report
    echo "command: bench/http.sh $cards $secs $conns"
fi
