#!/usr/bin/env bash
# Compiles the C kernel library on its own with every warning an error, once
# with OpenMP and once without (the serial build is the same source), so that
# warnings in fastfm_core/ cannot hide among the Cython-generated code's.
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-cc}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flags=(-std=c99 -O2 -Wall -Wextra -Wpedantic -Wshadow -Werror -Ifastfm_core/include)
for mode in openmp serial; do
    extra=()
    if [ "$mode" = openmp ]; then extra=(-fopenmp); else extra=(-Wno-unknown-pragmas); fi
    for src in fastfm_core/src/*.c; do
        "$CC" "${flags[@]}" "${extra[@]}" -c "$src" -o "$out/$(basename "$src" .c).o"
    done
    echo "check_c: fastfm_core compiles without warnings ($mode, $("$CC" --version | head -n 1))"
done
