#!/usr/bin/env bash
# Runs `perf bench sched pipe` (processes and -T threads) and the matching
# `gilbench ctxswitch` probes alternately, pinned to one CPU and unpinned, and
# prints every figure as µs per round trip and per switch, so both tools are
# measured under the same conditions. Needs perf and python3.
#
#   scripts/ctxswitch_vs_perf.sh [REPEATS] [GILBENCH]
set -euo pipefail
repeats=${1:-3}
gilbench=${2:-target/release/gilbench}
loops=200000
cpu=$(taskset -pc $$ | sed 's/.*: *//; s/[,-].*//')

perf_us() { # perf usecs/op: one round trip
  "$@" perf bench sched pipe -l "$loops" ${PERF_T:-} 2>/dev/null | awk '/usecs\/op/ {print $1}'
}
gil_us() { # gilbench p50 and mean round trip of one mode, µs
  "$gilbench" ctxswitch --mode "$1" --pin "$2" --rounds 100000 --format json --quiet |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["results"][0]["round_trip_ns"]; print("%.2f %.2f" % (r["p50"]/1e3, r["mean"]/1e3))'
}

printf '%-6s %-5s %-34s %14s %14s\n' run pin what "µs/round trip" "µs/switch"
for i in $(seq "$repeats"); do
  for pin in same none; do
    wrap=(); [ "$pin" = same ] && wrap=(taskset -c "$cpu")
    p=$(perf_us "${wrap[@]}"); printf '%-6s %-5s %-34s %14s %14.2f\n' "$i" "$pin" "perf bench sched pipe (mean)" "$p" "$(echo "$p/2" | bc -l)"
    read -r p50 mean < <(gil_us process-pipe "$pin")
    printf '%-6s %-5s %-34s %14s %14.2f\n' "$i" "$pin" "gilbench process-pipe (p50)" "$p50" "$(echo "$p50/2" | bc -l)"
    p=$(PERF_T=-T perf_us "${wrap[@]}"); printf '%-6s %-5s %-34s %14s %14.2f\n' "$i" "$pin" "perf bench sched pipe -T (mean)" "$p" "$(echo "$p/2" | bc -l)"
    read -r p50 mean < <(gil_us thread-futex "$pin")
    printf '%-6s %-5s %-34s %14s %14.2f\n' "$i" "$pin" "gilbench thread-futex (p50)" "$p50" "$(echo "$p50/2" | bc -l)"
    read -r p50 mean < <(gil_us thread-pipe "$pin")
    printf '%-6s %-5s %-34s %14s %14.2f\n' "$i" "$pin" "gilbench thread-pipe (p50)" "$p50" "$(echo "$p50/2" | bc -l)"
  done
done
