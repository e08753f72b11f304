"""libffm-1t / libffm-Nt: libffm's ffm-train (field-aware FM, AdaGrad, its own default
eta and lambda, --ffm-lr / --ffm-lambda), classification only. Enabled by
LIBFFM_TRAIN=/path/to/ffm-train.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from .common import epoch_timing, result, skipped
from .data import shuffled_train, write_libsvm


def run_libffm(data, cfg, threads, seed, workdir, lr, lam):
    name = f"libffm-{threads}t"
    exe = os.environ.get("LIBFFM_TRAIN")
    if not exe:
        return skipped(name, "skipped (not found): set LIBFFM_TRAIN to ffm-train", threads)
    if not (shutil.which(exe) or Path(exe).is_file()):
        return skipped(name, f"skipped (not found): LIBFFM_TRAIN={exe} does not exist", threads)
    if data.task != "classification":
        return skipped(name, "skipped: libffm is classification-only (logistic loss)", threads)
    work = Path(workdir) / f"libffm-{data.name}-{threads}"
    work.mkdir(exist_ok=True)
    Xtr, ytr = shuffled_train(data, seed)
    # libffm labels are 0/1; fields and indices 0-based
    write_libsvm(work / "train.ffm", Xtr, (ytr > 0).astype(int), fields=data.fields)
    write_libsvm(work / "test.ffm", data.X_test, (data.y_test > 0).astype(int),
                 fields=data.fields)
    cmd = [exe, "-k", str(cfg["k"]), "-t", str(cfg["epochs"]), "-r", str(lr), "-l", str(lam),
           "-s", str(threads), "-p", str(work / "test.ffm"), str(work / "train.ffm"),
           str(work / "model")]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        return skipped(name, f"failed (exit {res.returncode}): {res.stdout.strip()[-300:]}",
                       threads)
    header, rows = None, []
    for line in res.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == "iter":
            header = parts
        elif header and parts and parts[0].isdigit() and len(parts) == len(header):
            rows.append(dict(zip(header, map(float, parts))))
    if not rows or "va_logloss" not in rows[-1]:
        return skipped(name, "failed: no per-iteration table in the ffm-train output", threads)
    if "tr_time" in rows[-1]:  # newer libffm: cumulative training seconds
        cum = [r["tr_time"] for r in rows]
        timing = epoch_timing(np.diff([0.0] + cum))
        note = "FFM (AdaGrad); s/epoch from tr_time (printed to 0.1 s)"
    else:
        cum = [wall * (i + 1) / len(rows) for i in range(len(rows))]
        timing = {"seconds_per_epoch": wall / len(rows)}
        note = "FFM (AdaGrad); s/epoch = process wall time / iterations (includes loading)"
    curve = [[c, r["va_logloss"]] for c, r in zip(cum, rows)]
    return result(name, threads, train_rows=Xtr.shape[0], epochs=len(rows), **timing,
                  epoch_nnz=Xtr.nnz, wall_seconds=wall, test_metric=rows[-1]["va_logloss"],
                  curve=curve,
                  command=" ".join(cmd),
                  note=f"{note}; eta {lr}, lambda {lam}")
