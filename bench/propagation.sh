#!/bin/bash
# Propagation: time from the COMMIT of a card block to the first answer
# saying card_blocked, idle and under load.
# Usage: bench/propagation.sh [cards=1000000] [changes=30] [conns=16]
#
# Generates CARDS synthetic cards (sql/generate.sql), starts the loader
# daemon (LISTEN/NOTIFY, --interval 1) and nginx (2 workers), then blocks
# CHANGES random active cards one at a time.  For each, a client on
# libpq (ctypes) runs the UPDATE in autocommit: the clock starts when
# PQexec returns, i.e. after the COMMIT; a second client on a keep-alive
# connection asks for that card in a tight loop until it answers
# card_blocked.  The same is repeated while wrk sends CONNS connections
# of random eligibility requests.  Prints p50/p99/max per phase.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

port=${UCO_BENCH_PORT:-18202}

prop_measure() {  # $1: phase name
    python3 - "$db" "$port" "$partner" "$changes" "$1" "$run/cards" <<'PY'
import ctypes, http.client, json, random, sys, time

db, port, partner, n, phase, cards_file = sys.argv[1:]
pq = ctypes.CDLL("libpq.so.5")
pq.PQconnectdb.restype = ctypes.c_void_p
pq.PQexec.restype = ctypes.c_void_p
pq.PQexec.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
pq.PQresultStatus.argtypes = [ctypes.c_void_p]
pq.PQclear.argtypes = [ctypes.c_void_p]
pq.PQstatus.argtypes = [ctypes.c_void_p]
conn = pq.PQconnectdb(db.encode())
assert pq.PQstatus(conn) == 0, "cannot connect"

cards = [l.split("\t") for l in open(cards_file).read().split("\n") if l]
random.seed(phase)
h = http.client.HTTPConnection("127.0.0.1", int(port))
auth = {"Authorization": "Bearer %s.bench-secret-%s" % (partner, partner)}

def ask(value):
    global closed
    for _ in range(2):
        try:
            h.request("GET", "/v1/eligibility?kind=social&card=" + value,
                      headers=auth)
            r = h.getresponse()
            return json.loads(r.read())
        except (http.client.RemoteDisconnected, ConnectionError):
            # counted and reported: a keep-alive connection closed
            closed += 1
            h.close()
    sys.exit("no answer")

closed = 0

lat, polls = [], 0
for card_id, value in cards[:int(n)]:
    assert ask(value)["decision"] != "card_blocked"
    res = pq.PQexec(conn, ("UPDATE uco.card SET status = 'blocked' "
                           "WHERE id = %s" % card_id).encode())
    t0 = time.monotonic()          # the COMMIT is done
    assert pq.PQresultStatus(res) == 1, "update failed"
    pq.PQclear(res)
    while True:
        polls += 1
        if ask(value)["decision"] == "card_blocked":
            break
        if time.monotonic() - t0 > 60:
            sys.exit("no card_blocked within 60 s")
    lat.append(time.monotonic() - t0)
    time.sleep(random.uniform(0.2, 0.6))

lat.sort()
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
print("%s: %d changes, COMMIT -> first card_blocked: p50 %.0f ms, "
      "p99 %.0f ms, max %.0f ms, min %.0f ms (%d polls, %d closed)"
      % (phase, len(lat), pick(0.5), pick(0.99), lat[-1] * 1000,
         lat[0] * 1000, polls, closed))
PY
}

if bench_main; then
    cards=${1:-1000000}
    changes=${2:-30}
    conns=${3:-16}

    bench_pg_start
    bench_generate "$cards"
    partner=$(bench_partner)
    # cards to block: active, current, 2 * changes of them
    psql -X -q -At -F $'\t' "$db" > "$run/cards" <<SQL
SELECT c.id, i.value FROM uco.card c
JOIN uco.card_identifier i ON i.card_id = c.id AND i.kind = 'social'
WHERE c.status = 'active' AND c.valid_until > now() + interval '1 year'
ORDER BY random() LIMIT $((changes * 2));
SQL
    bench_keys "$run/keys" 100000

    bench_shm_dir
    bench_daemon
    grep 'published generation' "$run/loader.log" | tail -n 1 |
        sed 's/.*\(published generation\)/full build: \1/'
    bench_uco_nginx "$port"

    prop_measure idle

    bench_req_lua
    wrk -t1 -c"$conns" -d600s -s "$run/req.lua" \
        "http://127.0.0.1:$port/" > "$run/wrk.out" 2>&1 &
    wrk_pid=$!
    bench_pids+=($wrk_pid)
    sleep 1
    # the second half of the cards
    tail -n "$changes" "$run/cards" > "$run/cards2" && \
        mv "$run/cards2" "$run/cards"
    prop_measure "under load (wrk -c$conns)"
    kill -INT "$wrk_pid"; wait "$wrk_pid" || true
    grep -E 'Requests/sec|Non-2xx|Socket errors' "$run/wrk.out" |
        sed 's/^/  wrk: /'
    echo "loader builds: $(grep -c 'published generation' "$run/loader.log")," \
         "last: $(grep 'published generation' "$run/loader.log" |
                  tail -n 1 | sed 's/.*(\(.*\))/\1/')"
    echo "nginx error log: $(grep -cE '\[(error|crit|alert|emerg)\]' \
          "$run/logs/error.log" || true) lines above warn" \
         "$(grep -E '\[(crit|alert|emerg)\]' "$run/logs/error.log" |
            head -n 3)"
    echo "command: bench/propagation.sh $cards $changes $conns"
fi
