#!/bin/bash
# Batch benchmark: the same random checks asked one per GET, and in POST
# batches of 10 and 100 (JSON bodies; answers in JSON and, for 100, in
# msgpack), side by side on one nginx, loopback only.
# Usage: bench/batch.sh [cards=100000] [seconds=5] [connections=20]
# (three alternating rounds of SECONDS each per variant)
# Prints checks/s and the worker's CPU time per check for each variant.
# Bounded: every server it starts is stopped.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

port=${UCO_BENCH_PORT:-18211}

bench_batch_nginx() {
    mkdir -p "$run/logs" "$run/conf"
    cat > "$run/conf/nginx.conf" <<CONF
load_module $top/build/ngx_http_uco_module.so;
worker_processes 1;
error_log $run/logs/error.log notice;
pid $run/logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    uco_snapshot $run/snap;
    client_body_temp_path $run/body;
    server {
        listen 127.0.0.1:$port;
        location = /v1/eligibility {
            uco_eligibility;
            uco_batch_max 100;
            client_body_buffer_size 16k;
            client_max_body_size 64k;
        }
    }
}
CONF
    nginx -p "$run" -c "$run/conf/nginx.conf" -e "$run/logs/error.log"
    sleep 0.5
}

# req.lua ARG: "1" a GET; "N" a JSON batch of N; "Nm" the same, answered
# in msgpack
bench_batch_lua() {
    { bench_lua_keys; cat <<LUA
local n, mp = 1, false
local auth = "Bearer $partner.bench-secret-$partner"
init = function(args)
    n = tonumber(args[1]:match("^(%d+)")); mp = args[1]:sub(-1) == "m"
end
request = function()
    if n == 1 then
        local i = math.random(1, #values)
        return wrk.format("GET", "/v1/eligibility?kind=" .. kinds[i]
            .. "&amount=150000&card=" .. values[i], {["Authorization"] = auth})
    end
    local parts = {}
    for j = 1, n do
        local i = math.random(1, #values)
        parts[j] = '{"kind":"' .. kinds[i] .. '","card":"' .. values[i]
            .. '","amount":150000}'
    end
    local h = {["Authorization"] = auth,
               ["Content-Type"] = "application/json"}
    if mp then h["Accept"] = "application/msgpack" end
    return wrk.format("POST", "/v1/eligibility", h,
        "[" .. table.concat(parts, ",") .. "]")
end
LUA
    } > "$run/req.lua"
}

bench_batch_report() {
    local v t r c n
    bench_batch_nginx
    bench_batch_lua
    rm -f "$run"/get "$run"/b10 "$run"/b100 "$run"/b100m
    for i in 1 2 3; do
        bench_round get "http://127.0.0.1:$port/" "$run/logs/nginx.pid" 1
        bench_round b10 "http://127.0.0.1:$port/" "$run/logs/nginx.pid" 10
        bench_round b100 "http://127.0.0.1:$port/" "$run/logs/nginx.pid" 100
        bench_round b100m "http://127.0.0.1:$port/" "$run/logs/nginx.pid" 100m
    done
    for v in get:1 b10:10 b100:100 b100m:100; do
        n=${v#*:}; v=${v%:*}
        read -r t r c < "$run/$v"
        echo "$v total: $r requests, $(echo "$r * $n / $t" | bc) checks/s," \
             "worker CPU $(( c / (r * n) )) ns/check"
    done
    grep -E '\[(alert|crit|emerg)\]' "$run/logs/error.log" && return 1
    return 0
}

if bench_main; then
    cards=${1:-100000}; secs=${2:-5}; conns=${3:-20}
    bench_setup "$cards" 100000
    bench_batch_report
    echo "command: bench/batch.sh $cards $secs $conns"
fi
