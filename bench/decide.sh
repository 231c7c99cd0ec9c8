#!/bin/bash
# In-process decision cost on a real snapshot: ns per decision with
# random keys (cache-cold) and repeated keys (cache-hot), and
# instructions per decision under valgrind --tool=callgrind.
# Usage: bench/decide.sh [cards=1000000] [keys=1000000]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bench_decide_report() {
    local ir n
    "$top/build/bench_decide" "$snap" "$run/keys" "$partner"
    # callgrind counts instructions inside the loop only, on 20000 keys
    head -n 20000 "$run/keys" > "$run/keys.cg"
    valgrind --tool=callgrind --callgrind-out-file="$run/cg.out" \
        --collect-atstart=no --toggle-collect=bench_decide_loop \
        "$top/build/bench_decide" -n "$snap" "$run/keys.cg" "$partner" 1 \
        > "$run/cg.log" 2>&1
    ir=$(awk '/^summary:/ {print $2}' "$run/cg.out")
    n=$(( 20000 + 64 ))
    echo "callgrind: $ir instructions over $n decisions:" \
         "$(( ir / n )) instructions/decision" \
         "(random and repeated keys alike)"
}

if bench_main; then
    cards=${1:-1000000}; nkeys=${2:-1000000}
    bench_setup "$cards" "$nkeys"
    bench_decide_report
    echo "command: bench/decide.sh $cards $nkeys"
fi
