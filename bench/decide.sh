#!/bin/bash
# In-process decision cost on a real snapshot: ns per decision with
# random keys (cache-cold) and repeated keys (cache-hot), without and
# with the read of the card's id after it, the cost of one dependent
# cache miss at the same time (bench_chase), and instructions per
# decision under valgrind --tool=callgrind.
# Usage: bench/decide.sh [cards=1000000] [keys=1000000]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# bench_decide_ir N: sets $ir_per_decision, the instructions callgrind
# counts inside the decision loop (only) over the first N keys and the
# 64 repeated ones, per decision; prints them
bench_decide_ir() {
    local ir n
    head -n "$1" "$run/keys" > "$run/keys.cg"
    n=$(( $(wc -l < "$run/keys.cg") + 64 ))
    [ "$n" -lt 128 ] && n=$(( 2 * (n - 64) ))
    valgrind --tool=callgrind --callgrind-out-file="$run/cg.out" \
        --collect-atstart=no --toggle-collect=bench_decide_loop \
        "$top/build/bench_decide" -n "$snap" "$run/keys.cg" "$partner" 1 \
        > "$run/cg.log" 2>&1 || { cat "$run/cg.log"; return 1; }
    ir=$(awk '/^summary:/ {print $2}' "$run/cg.out")
    ir_per_decision=$(( ir / n ))
    echo "callgrind: $ir instructions over $n decisions:" \
         "$ir_per_decision instructions/decision" \
         "(random and repeated keys alike)"
}

bench_decide_report() {
    "$top/build/bench_decide" "$snap" "$run/keys" "$partner"
    # one dependent cache miss on this machine now, to read the above by
    "$top/build/bench_chase" 512
    bench_decide_ir 20000
}

if bench_main; then
    cards=${1:-1000000}; nkeys=${2:-1000000}
    bench_setup "$cards" "$nkeys"
    bench_decide_report
    echo "command: bench/decide.sh $cards $nkeys"
fi
