#!/usr/bin/env bash
# Builds rapidfm with AddressSanitizer and UndefinedBehaviorSanitizer into a
# temporary folder and runs the kernel-facing tests against that build.
# Python itself is not instrumented, so the ASan runtime is preloaded; leak
# detection is off because the interpreter keeps memory until exit.
#
#   tools/sanitize.sh [pytest args...]     (default: the kernel tests)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
CC=${CC:-cc}
asan_lib=$("$CC" -print-file-name=libasan.so)
if [ ! -e "$asan_lib" ]; then
    echo "sanitize: no libasan for $CC; install the compiler's sanitizer runtime" >&2
    exit 3
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export RAPIDFM_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"
echo "sanitize: building with $RAPIDFM_CFLAGS"
"$PYTHON" setup.py -q build --build-base "$work/build" >"$work/build.log" 2>&1 || {
    cat "$work/build.log" >&2
    exit 1
}
lib=$(ls -d "$work"/build/lib.*)
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
    tests=(tests/test_predict.py tests/test_gradients.py tests/test_errors.py
           tests/test_parallel_modes.py tests/test_textfiles.py tests/test_shuffle.py
           tests/test_als.py tests/test_mcmc.py tests/test_adaptive_steps.py
           tests/test_sgda.py tests/test_ffm_kernel.py tests/test_ranking_kernel.py)
fi
export PYTHONPATH="$lib${PYTHONPATH:+:$PYTHONPATH}"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
LD_PRELOAD="$asan_lib" "$PYTHON" - "$lib" <<'PY'
import sys, rapidfm._core as core
assert core.__file__.startswith(sys.argv[1]), f"imported {core.__file__}, not the sanitized build"
print("sanitize: using", core.__file__)
PY
LD_PRELOAD="$asan_lib" "$PYTHON" -m pytest -q -p no:cacheprovider -m "not slow" "${tests[@]}"
echo "sanitize: clean under ASan+UBSan"
