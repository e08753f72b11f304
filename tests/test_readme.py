"""Every code block of README.md, run as a reader would paste it.

Blocks are fenced with a language: ``python`` blocks run in order in one
namespace (later blocks use the model of earlier ones), ``sh`` blocks run in
bash with a `rapidfm` command on PATH, ``text`` blocks are not code. Both run
in a temporary folder that holds the datasets the README names (links into
$RAPIDFM_DATA), as the README asks; the tests skip when the data are absent.
Only the install commands are not run (listed below with the reason).
"""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, data_path
from reference import ML100K_SETTINGS

README = REPO_ROOT / "README.md"
DATASETS = ("ml-100k", "a9a", "frappe", "criteo")  # the folders the examples read
NOT_RUN = {
    "python3 -m pip install . && rapidfm demo":
        "installs the package (tests/test_cli.py runs `rapidfm demo`)",
    'python3 -m pip install ".[test]" && python3 -m pytest tests':
        "installs the package and runs this suite",
}
_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)


def readme_blocks():
    """[(language, code, line number of the opening fence)] in README order."""
    text = README.read_text(encoding="utf-8")
    return [(m.group(1).strip(), m.group(2), text.count("\n", 0, m.start()) + 1)
            for m in _FENCE.finditer(text)]


def _blocks(language):
    return [(code, line) for lang, code, line in readme_blocks() if lang == language]


def test_every_block_says_what_it_is():
    blocks = readme_blocks()
    assert len(blocks) >= 8
    for lang, _, line in blocks:
        assert lang in ("python", "sh", "text"), f"README line {line}: fence {lang!r}"
    not_run = [code.strip() for lang, code, _ in blocks if lang == "sh"
               and code.strip() in NOT_RUN]
    assert sorted(not_run) == sorted(NOT_RUN)  # the list names real blocks only


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    for name in DATASETS:
        (tmp_path / name).symlink_to(data_path(name), target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run_python_block(code, line, namespace):
    try:
        exec(compile(code, f"README.md block at line {line}", "exec"), namespace)
    except Exception as exc:
        raise AssertionError(f"README block at line {line} failed:\n{code}") from exc


def test_python_blocks_run(workdir):
    blocks = _blocks("python")
    namespace = {"__name__": "__readme__"}
    for number, (code, line) in enumerate(blocks):
        if "import pandas" in code:
            continue  # test_dataframe_pipeline_block runs it (it skips without pandas)
        if "rapidfm.deep" in code:
            continue  # test_deep_block runs it (it skips without torch)
        if "rapidfm.dask" in code:
            continue  # test_dask_block runs it (it skips without dask)
        _run_python_block(code, line, namespace)
        if number == 0:
            # the first example's settings are the tested ones (tests/test_movielens.py)
            params = namespace["model"].get_params()
            assert {k: params[k] for k in ML100K_SETTINGS} == ML100K_SETTINGS
    # the libFM round trip predicts as the model it came from (the block asserts it too)
    assert "libfm_model" in namespace
    # the FFM block's figure (libffm's best on the test file itself is 0.2700)
    assert "ffm" in namespace and 0.2 < namespace["logloss"] < 0.25


def test_dataframe_pipeline_block(workdir):
    pytest.importorskip("pandas")
    pytest.importorskip("sklearn")
    blocks = [(code, line) for code, line in _blocks("python") if "import pandas" in code]
    assert len(blocks) == 2
    namespace = {"__name__": "__readme__"}
    _run_python_block(*blocks[0], namespace)
    assert namespace["rmse"] < 0.95
    # the FFM block: encode_frame and FieldEncoder on the same frame (it uses rapidfm and
    # numpy from the README's earlier blocks)
    namespace = {"__name__": "__readme__", "rapidfm": __import__("rapidfm")}
    _run_python_block(*blocks[1], namespace)
    assert namespace["feature_fields"].max() == 3 and namespace["ffm"].n_fields_ == 4
    assert namespace["ffm"].V_.shape == (namespace["X"].shape[1], 4, 8)


@pytest.mark.slow  # nine command-line processes, about 6 s
def test_shell_blocks_run(workdir):
    bin_dir = workdir / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "rapidfm"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m rapidfm \"$@\"\n")
    shim.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    ran = 0
    for lang, code, line in readme_blocks():
        if lang != "sh" or code.strip() in NOT_RUN:
            continue
        result = subprocess.run(["bash", "-e", "-c", code], cwd=workdir, env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, (
            f"README block at line {line} failed:\n{textwrap.indent(code, '  ')}\n"
            f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}")
        ran += 1
    assert ran >= 1
    # what the command-line block leaves behind, as its comments say
    assert Path(workdir / "p.txt").read_text().count("\n") == 16_281  # a9a.t's rows
    assert (workdir / "frappe.cache" / "header.json").exists()


def test_dask_block(workdir):
    pytest.importorskip("distributed")
    blocks = [(code, line) for code, line in _blocks("python") if "rapidfm.dask" in code]
    assert len(blocks) == 1
    namespace = {"__name__": "__readme__"}
    _run_python_block(*blocks[0], namespace)
    assert namespace["rmse"] < 0.95  # the mean rating's RMSE on u1.test is 1.15
    assert type(namespace["local_model"]).__name__ == "FMRegressor"


def test_deep_block(workdir):
    pytest.importorskip("torch")
    blocks = [(code, line) for code, line in _blocks("python") if "rapidfm.deep" in code]
    assert len(blocks) == 1
    namespace = {"__name__": "__readme__"}
    _run_python_block(*blocks[0], namespace)
    p, y = namespace["p"], namespace["y"][20000:]
    logloss = -np.mean(np.log(np.where(y > 0, p, 1 - p)))
    assert logloss < 0.45  # a constant prediction scores 0.63 on these rows
