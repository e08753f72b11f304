"""The C kernel is checked on every test run: it compiles without warnings
(with and without OpenMP), and the kernel tests pass under AddressSanitizer
and UndefinedBehaviorSanitizer (tools/sanitize.sh)."""

import importlib.util
import os
import shutil
import subprocess

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
