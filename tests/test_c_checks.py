"""The C kernel is checked on every test run: it compiles without warnings
(with and without OpenMP), and the kernel tests pass under AddressSanitizer
and UndefinedBehaviorSanitizer (tools/sanitize.sh)."""

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

CC = os.environ.get("CC", "cc")


def _run(script, timeout):
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "tools" / script)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.skipif(shutil.which(CC) is None, reason="no C compiler")
def test_c_library_compiles_without_warnings():
    out = _run("check_c.sh", timeout=300)
    assert "without warnings (openmp" in out
    assert "without warnings (serial" in out


@pytest.mark.slow
@pytest.mark.skipif(shutil.which(CC) is None, reason="no C compiler")
@pytest.mark.skipif(importlib.util.find_spec("Cython") is None, reason="Cython not installed")
@pytest.mark.skipif(os.environ.get("RAPIDFM_SANITIZE") == "0", reason="RAPIDFM_SANITIZE=0")
def test_kernel_tests_clean_under_address_sanitizer():
    libasan = subprocess.run([CC, "-print-file-name=libasan.so"], capture_output=True,
                             text=True).stdout.strip()
    if not os.path.isabs(libasan) or not os.path.exists(libasan):
        pytest.skip(f"{CC} has no AddressSanitizer runtime")
    out = _run("sanitize.sh", timeout=1500)
    assert "clean under ASan+UBSan" in out
    assert " passed" in out


SERIAL_CHECK = r"""
import sys, warnings
import numpy as np, scipy.sparse as sp
import rapidfm
assert rapidfm.__file__.startswith(sys.argv[1]), rapidfm.__file__
assert rapidfm.openmp_enabled() is False
rng = np.random.default_rng(0)
X = sp.random(2000, 50, density=0.1, format="csr", random_state=0, dtype=np.float32)
y = rng.normal(size=2000)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model = rapidfm.FMRegressor(n_epochs=3, n_jobs=2, random_state=0).fit(X, y)
    model.predict(X)
messages = [str(w.message) for w in caught if "without OpenMP" in str(w.message)]
assert len(messages) == 1, messages  # warned once, not at every call
assert model.history_[-1]["n_threads"] == 1
one = rapidfm.FMRegressor(n_epochs=3, n_jobs=1, random_state=0).fit(X, y)
assert np.array_equal(one.V_, model.V_)  # the serial build ran the 1-thread path
print("serial build ok")
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which(CC) is None, reason="no C compiler")
@pytest.mark.skipif(importlib.util.find_spec("Cython") is None, reason="Cython not installed")
def test_serial_build_without_openmp(tmp_path):
    env = dict(os.environ, RAPIDFM_OPENMP="0")
    build = subprocess.run(
        [sys.executable, "setup.py", "-q", "build", "--build-base", str(tmp_path / "build")],
        cwd=REPO_ROOT, capture_output=True, text=True, env=env, timeout=900,
    )
    assert build.returncode == 0, build.stderr
    assert "building the serial kernel" in build.stderr  # setup.py says what it decided
    (lib,) = (tmp_path / "build").glob("lib.*")
    env["PYTHONPATH"] = str(lib)
    run = subprocess.run([sys.executable, "-c", SERIAL_CHECK, str(lib)], capture_output=True,
                         text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "serial build ok" in run.stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which(CC) is None, reason="no C compiler")
def test_predict_harness_builds_and_runs_under_address_sanitizer(tmp_path):
    """bench/predict_harness.c (the batch-predict microbenchmark, FM and FFM): -Werror
    clean, and runs under ASan+UBSan exit 0 with their figure."""
    libasan = subprocess.run([CC, "-print-file-name=libasan.so"], capture_output=True,
                             text=True).stdout.strip()
    if not os.path.isabs(libasan) or not os.path.exists(libasan):
        pytest.skip(f"{CC} has no AddressSanitizer runtime")
    exe = tmp_path / "predict_harness"
    src = REPO_ROOT / "fastfm_core" / "src"
    build = subprocess.run(
        [CC, "-std=c99", "-O0", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Werror",
         "-fopenmp", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
         f"-I{REPO_ROOT / 'fastfm_core' / 'include'}", f"-I{src}",
         str(REPO_ROOT / "bench" / "predict_harness.c"),
         *(str(src / f"{name}.c") for name in ("predict", "ffm", "parallel", "errors", "memory")),
         "-lm", "-o", str(exe)],
        capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    # FFM: a model in cache, and one past the prefetch threshold
    for model, n_features in (("fm", "5000"), ("ffm", "1000"), ("ffm", "20000")):
        run = subprocess.run([str(exe), model, n_features, "2"], capture_output=True,
                             text=True, env=env, timeout=300)
        assert run.returncode == 0, run.stderr
        assert f"{model} {n_features} features: median" in run.stdout
    for args in (["fm", "3"], ["svm", "5000"]):
        bad = subprocess.run([str(exe), *args], capture_output=True, text=True, env=env,
                             timeout=60)
        assert bad.returncode == 2 and "usage" in bad.stderr
