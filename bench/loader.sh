#!/bin/bash
# Loader: full build time, peak memory and snapshot bytes per card.
# Usage: bench/loader.sh [cards=1000000]
# Generates CARDS synthetic cards (sql/generate.sql), runs one full
# build (policy-loader --once) and reports its wall time, peak RSS, the
# file size and the bytes per card of the card and identifier sections.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bench_loader_report() {
    local secs kb cards idents
    read -r secs kb < "$run/loader.time"
    "$top/build/policy-loader" --inspect "$snap" > "$run/inspect"
    cards=$(awk '/^cards:/ {print $2}' "$run/inspect")
    idents=$(awk '/^idents:/ {print $2}' "$run/inspect")
    echo "loader: $cards cards, $idents identifiers: build $secs s," \
         "peak RSS $((kb / 1024)) MiB, file $(stat -c %s "$snap") bytes"
    awk -v c="$cards" '/^section:/ {
            split($4, s, "="); n = $2; sz[n] = s[2]; tot += s[2] }
        END { ci = sz["cards"] + sz["category_sets"] + sz["id_runs"] \
                   + sz["set_overflow"]
              for (n in sz) if (n ~ /ident/) ci += sz[n]
              printf "bytes per card: cards+identifiers %.1f, whole file %.1f\n",
                     ci / c, tot / c }' "$run/inspect"
}

if bench_main; then
    cards=${1:-1000000}
    bench_pg_start
    bench_generate "$cards"
    bench_snapshot
    bench_loader_report
    echo "command: bench/loader.sh $cards"
fi
