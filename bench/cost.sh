#!/bin/bash
# Regression guard of the decision's cost (make test-cost, run by CI):
# instructions per decision under callgrind on a small real snapshot,
# against the budget recorded in bench/decide.budget, with 10 % headroom.
# Instruction counts do not depend on the machine's load, and the data
# (sql/generate.sql's fixed seed), the keys (a fixed sample) and the
# partner are the same on every run, so the figure is deterministic for
# one compiler and valgrind.  docs/performance.md says how to update it.
# Usage: bench/cost.sh [cards=20000]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$top/bench/decide.sh"

cards=${1:-20000}
budget=$(awk '/^instructions_per_decision/ {print $2}' \
             "$top/bench/decide.budget")
limit=$(( budget * 110 / 100 ))

bench_setup "$cards" 5000
bench_decide_ir 5000

if [ "$ir_per_decision" -gt "$limit" ]; then
    echo "FAIL: $ir_per_decision instructions per decision, over the" \
         "budget of $budget + 10 % = $limit (bench/decide.budget)"
    exit 1
fi

echo "ok: $ir_per_decision instructions per decision, budget $budget" \
     "(at most $limit)"
if [ "$ir_per_decision" -lt $(( budget * 90 / 100 )) ]; then
    echo "note: more than 10 % under the budget: lower it in" \
         "bench/decide.budget to keep the gain"
fi
