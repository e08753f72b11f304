"""What a process imports before it does any work: scikit-learn costs about 1 s and
scipy a few tenths, so the `rapidfm` command's --version / --help and the data
readers must not pull them in. Each check runs in a fresh interpreter (this one
has imported everything already) and lists the modules it found; no timings are
asserted (they depend on the machine)."""

import json
import subprocess
import sys

import pytest

_REPORT = """
import json, sys
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"sklearn", "scipy", "pandas"})
print(json.dumps(heavy))
"""


def _heavy_modules_after(code):
    result = subprocess.run([sys.executable, "-c", code + _REPORT], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["train", "--help"]])
def test_command_line_version_and_help_import_neither_scipy_nor_scikit_learn(argv):
    code = ("from rapidfm._console import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n")
    assert _heavy_modules_after(code) == []


def test_data_readers_do_not_import_scikit_learn():
    code = ("import rapidfm, rapidfm.io, rapidfm.datasets, rapidfm.cache, rapidfm.textfiles\n"
            "import rapidfm.libfm_model, rapidfm.cli\n")
    assert _heavy_modules_after(code) == ["scipy"]


def test_estimators_are_scikit_learn_estimators_once_imported():
    """Laziness must not change what the estimators are: reading data first, then
    importing the estimators gives scikit-learn's base classes and NotFittedError."""
    pytest.importorskip("sklearn")
    code = """
import os
os.environ.pop("RAPIDFM_SKLEARN", None)
import numpy as np
import rapidfm.io
from rapidfm import FMClassifier, FMRegressor
from rapidfm._sklearn_compat import NotFittedError
import sklearn.base, sklearn.exceptions
assert issubclass(FMRegressor, sklearn.base.RegressorMixin)
assert issubclass(FMClassifier, sklearn.base.ClassifierMixin)
assert issubclass(FMRegressor, sklearn.base.BaseEstimator)
assert NotFittedError is sklearn.exceptions.NotFittedError
try:
    FMRegressor().predict(np.ones((2, 2)))
except sklearn.exceptions.NotFittedError:
    pass
else:
    raise AssertionError("no NotFittedError")
"""
    assert "sklearn" in _heavy_modules_after(code)
