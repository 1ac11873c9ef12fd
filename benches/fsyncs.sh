#!/usr/bin/env bash
# Counts the fsync-family calls of a three-step durable run on SQLite `FULL`: runs the
# three_step_run bench binary with 0 and with N sequential runs under `strace -f -c`, and
# divides the difference by N (so opening the store, migrations and the warm-up cancel out).
# Usage: benches/fsyncs.sh [N]   (needs strace)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-200}"
cargo bench -p connector-benches --bench three_step_run --no-run 2>/dev/null
bin=$(ls -t target/release/deps/three_step_run-* | grep -v '\.d$' | head -1)
count() {
  BENCH_ONLY_FULL_RUNS="$1" strace -f -c -e trace=fsync,fdatasync,sync_file_range "$bin" --bench 2>&1 >/dev/null \
    | awk '$NF ~ /^(fsync|fdatasync|sync_file_range)$/ { sum += $4 } END { print sum + 0 }'
}
base=$(count 0)
loaded=$(count "$runs")
echo "fsync calls: $base with no runs, $loaded with $runs runs"
awk -v a="$base" -v b="$loaded" -v n="$runs" 'BEGIN { printf "fsyncs per three-step run: %.2f\n", (b - a) / n }'
