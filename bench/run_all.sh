#!/usr/bin/env bash
# Runs every benchmark, one after the other, and writes everything under bench/results/
# (JSON, markdown, PNG plots with matplotlib, one log per step, hardware.txt).
#
#   bash bench/run_all.sh           # quick: about 20 minutes on 2 cores
#   bash bench/run_all.sh --full    # microbench --grid full and the NumPy loop on every
#                                   # training row of compare.py (about 40 minutes)
#
# Environment: PYTHON (default python), RAPIDFM_DATA (MovieLens / a9a / Frappe, default
# ../shared/data), LIBFM_BIN, LIBFFM_TRAIN, XLEARN_TRAIN (external solvers, optional;
# myfm is used when it imports).
# The machine should be otherwise idle: every figure is a wall-clock timing.
# A step that fails is reported and the others still run; the exit status is then 1.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
out=bench/results
mkdir -p "$out"

micro_args=()
compare_args=()
case "${1:-}" in
    "") ;;
    --full) micro_args=(--grid full); compare_args=(--numpy-rows 0) ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "usage: bash bench/run_all.sh [--full]" >&2; exit 2 ;;
esac

has() { grep -qw "$1" /proc/cpuinfo 2>/dev/null && echo yes || echo no; }
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), mode: ${1:-quick}"
    uname -srm
    # the CPU flags line is long: only the vector extensions the kernel can use
    lscpu 2>/dev/null | grep -E '^(Model name|CPU\(s\)|Thread\(s\) per core|Core\(s\) per socket|L1d cache|L2 cache|L3 cache|Hypervisor vendor):' || true
    echo "avx2: $(has avx2), avx512f: $(has avx512f)"
    grep MemTotal /proc/meminfo 2>/dev/null || true
    "$PY" - <<'EOF'
import platform

import numpy

import rapidfm

print("python", platform.python_version(), "numpy", numpy.__version__, "rapidfm",
      rapidfm.__version__, "openmp", rapidfm.openmp_enabled(), "threads",
      rapidfm._core.max_threads())
for name in ("scipy", "torch", "matplotlib"):
    try:
        print(name, __import__(name).__version__)
    except ImportError:
        print(name, "not installed")
EOF
    "${CC:-cc}" --version 2>/dev/null | head -n 1 || echo "no C compiler (${CC:-cc})"
} | tee "$out/hardware.txt"

start=$(date +%s)
failed=()
step() {
    local name=$1; shift
    local t0 status=0
    t0=$(date +%s)
    echo; echo "=== $name: $*"
    "$@" 2>&1 | tee "$out/$name.log" || status=$?
    if [ "$status" -ne 0 ]; then
        failed+=("$name")
        echo "=== $name FAILED (exit $status), see $out/$name.log" | tee -a "$out/timings.txt"
    fi
    echo "=== $name took $(( $(date +%s) - t0 )) s" | tee -a "$out/timings.txt"
}
: > "$out/timings.txt"

step microbench "$PY" bench/microbench.py ${micro_args[@]+"${micro_args[@]}"}
step compare "$PY" bench/compare.py ${compare_args[@]+"${compare_args[@]}"}
step solvers "$PY" bench/bench_solvers.py
step bench_core "$PY" bench/bench_core.py
step readers "$PY" bench/bench_readers.py
step out_of_core "$PY" bench/bench_out_of_core.py --gib 4 --memory-limit-gib 1
if command -v "${CC:-cc}" >/dev/null; then
    step w0_contention bash bench/w0_contention.sh
else
    echo "w0_contention skipped: no C compiler" | tee -a "$out/timings.txt"
fi
echo "=== total $(( $(date +%s) - start )) s" | tee -a "$out/timings.txt"
echo "results in $out/: hardware.txt, microbench.{json,md}, compare.{json,md}," \
     "solvers.{json,md}, core.json, *.png, *.log, timings.txt"
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed steps: ${failed[*]}" >&2
    exit 1
fi
