#!/usr/bin/env bash
# Measures what sharing w0 costs a hogwild epoch: the kernel compiled with the
# private w0 folded into the shared one every row (as good as a shared w0) and
# every 256 rows (the default), same data, same run.
#   bench/w0_contention.sh [ROWS] [VALUES_PER_FIELD] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}; card=${2:-17500}; threads=${3:-2}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
for sync in 1 256; do
    ${CC:-cc} -O3 -march=native -fopenmp -std=c99 -DFM_W0_SYNC=$sync -Ifastfm_core/include \
        bench/epoch_harness.c fastfm_core/src/*.c -lm -o "$out/h$sync"
done
echo "hogwild, $threads threads, $rows rows x 4 fields x $card values, k=8: ns/nnz (median of 5 epochs)"
for sync in 1 256 1 256; do
    med=$("$out/h$sync" "$rows" "$card" "$threads" 1 6 | tail -n 5 | sort -n | sed -n 3p)
    echo "  w0 folded every $sync rows: $med"
done
