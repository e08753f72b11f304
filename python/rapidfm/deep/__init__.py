"""The neural members of the FM family, on PyTorch: AFM and DeepFM.

``pip install "rapidfm[deep]"`` installs torch; ``import rapidfm`` never needs it, and
``import rapidfm.deep`` without it raises an ImportError that says what to install.
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised where torch is absent
    raise ImportError(
        "rapidfm.deep (AFM, DeepFM) needs PyTorch: pip install \"rapidfm[deep]\" (or "
        "torch first, e.g. the CPU build)") from exc

from rapidfm.deep.estimators import (  # noqa: E402
    AFMClassifier,
    AFMRegressor,
    DeepFMClassifier,
    DeepFMRegressor,
)

__all__ = ["AFMClassifier", "AFMRegressor", "DeepFMClassifier", "DeepFMRegressor"]
