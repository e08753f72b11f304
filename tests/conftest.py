"""Shared test helpers.

Real datasets are found through one place: the environment variable
RAPIDFM_DATA, else ../shared/data beside the repository root. Tests that need
a file call `data_path(...)`, which skips the test cleanly when it is absent.
"""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir():
    return Path(os.environ.get("RAPIDFM_DATA", REPO_ROOT.parent / "shared" / "data"))


def data_path(*parts):
    path = data_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"dataset file {path} is not available (set RAPIDFM_DATA)")
    return path
