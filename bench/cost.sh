#!/bin/bash
# Regression guard of the answer's cost (make test-cost, run by CI):
# instructions under callgrind, each against its budget with 10 %
# headroom:
#   per decision, on a small real snapshot (bench/decide.budget);
#   per journal append, the worker's path (bench/journal.budget).
# Instruction counts do not depend on the machine's load, and the data
# (sql/generate.sql's fixed seed), the keys (a fixed sample), the
# partner and the records are the same on every run, so the figures are
# deterministic for one compiler and valgrind.  docs/performance.md
# says how to update the budgets.
# Usage: bench/cost.sh [cards=20000]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$top/bench/decide.sh"
source "$top/bench/journal.sh"

# cost_check WHAT FIGURE FILE: instructions per WHAT against the budget
# in FILE (one line, "name N"); false when over it by more than 10 %
cost_check() {
    local budget limit
    budget=$(awk '{print $2}' "$3")
    limit=$(( budget * 110 / 100 ))
    if [ "$2" -gt "$limit" ]; then
        echo "FAIL: $2 instructions per $1, over the budget of" \
             "$budget + 10 % = $limit (${3#$top/})"
        return 1
    fi
    echo "ok: $2 instructions per $1, budget $budget (at most $limit)"
    if [ "$2" -lt $(( budget * 90 / 100 )) ]; then
        echo "note: more than 10 % under the budget: lower it in" \
             "${3#$top/} to keep the gain"
    fi
}

cards=${1:-20000}
rc=0

bench_append_ir 20000
cost_check "journal append" "$ir_per_append" "$top/bench/journal.budget" ||
    rc=1

bench_setup "$cards" 5000
bench_decide_ir 5000
cost_check decision "$ir_per_decision" "$top/bench/decide.budget" || rc=1

exit $rc
