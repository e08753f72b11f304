"""libfm, libfm-mcmc, libfm-als: the libFM 1.4 binary with -method sgd | mcmc | als on
text files written here (training rows shuffled once), s/epoch from its -rlog
time_learn column (parse_rlog). Enabled by LIBFM_BIN=/path/to/libFM.
"""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from .common import epoch_timing, metric, result, skipped
from .data import shuffled_train, write_libsvm


def run_libfm(data, cfg, seed, workdir, method="sgd"):
    """libFM -method sgd (contender "libfm"), or mcmc / als ("libfm-mcmc", "libfm-als")."""
    name = "libfm" if method == "sgd" else f"libfm-{method}"
    exe = os.environ.get("LIBFM_BIN")
    if not exe:
        return skipped(name, "skipped (not found): set LIBFM_BIN to the libFM binary")
    if not (shutil.which(exe) or Path(exe).is_file()):
        return skipped(name, f"skipped (not found): LIBFM_BIN={exe} does not exist")
    work = Path(workdir) / f"libfm-{data.name}"
    work.mkdir(exist_ok=True)
    Xtr, ytr = shuffled_train(data, seed)
    if not (work / "train.libfm").exists():  # the same files for every method
        write_libsvm(work / "train.libfm", Xtr, ytr)
        write_libsvm(work / "test.libfm", data.X_test, data.y_test)
    for stale in ("pred.txt", "rlog.txt"):
        (work / stale).unlink(missing_ok=True)
    cmd = [exe, "-task", "r" if data.task == "regression" else "c",
           "-train", str(work / "train.libfm"), "-test", str(work / "test.libfm"),
           "-dim", f"1,1,{cfg['k']}", "-iter", str(cfg["epochs"]), "-method", method]
    if method == "sgd":
        r0, r1, r2 = cfg["reg"]
        cmd += ["-learn_rate", str(cfg["lr"]), "-regular", f"{r0},{r1},{r2}"]
    elif method == "als":
        cmd += ["-regular", ",".join(f"{r:g}" for r in cfg["als_reg"])]
    cmd += ["-init_stdev", str(cfg["init_std"]), "-seed", str(seed),
            "-out", str(work / "pred.txt"), "-rlog", str(work / "rlog.txt")]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0 or not (work / "pred.txt").exists():
        return skipped(name, f"failed (exit {res.returncode}): {res.stderr.strip()[-300:]}", 1)
    iters = re.findall(r"#Iter=\s*(\d+)\s+Train=(\S+)\s+Test=(\S+)", res.stdout)
    times = parse_rlog(work / "rlog.txt", "time_learn")
    pred = np.loadtxt(work / "pred.txt", ndmin=1)
    y_range = (float(ytr.min()), float(ytr.max()))
    if data.task == "regression":
        final = metric("regression", data.y_test, pred, y_range=y_range)
    else:
        final = metric("classification", data.y_test, proba=pred)
    curve = []
    if data.task == "regression" and times and len(times) == len(iters):
        curve = [[float(sum(times[: i + 1])), float(test)]
                 for i, (_, _, test) in enumerate(iters)]
    timing = (epoch_timing(times) if times
              else {"seconds_per_epoch": wall / cfg["epochs"]})
    if method == "sgd":
        note = ("libFM SGD; s/epoch from -rlog time_learn (user CPU s)" if times
                else "libFM SGD; s/epoch = process wall time / iterations")
    else:
        note = (f"libFM {method.upper()}; s/sweep from -rlog time_learn (user CPU s, includes "
                f"its prediction of train and test each iteration); test metric of -out: "
                + ("the mean over all samples" if method == "mcmc" else "the last iterate")
                + ")")
    return result(name, 1, train_rows=Xtr.shape[0], epochs=len(iters) or cfg["epochs"],
                  **timing, epoch_nnz=Xtr.nnz, wall_seconds=wall, test_metric=final,
                  curve=curve or [[wall, final]],
                  command=" ".join(cmd), note=note)


def parse_rlog(path, column):
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return []
    if not lines:
        return []
    header = lines[0].split("\t")
    if column not in header:
        return []
    col = header.index(column)
    out = []
    for line in lines[1:]:
        parts = line.split("\t")
        if len(parts) > col:
            try:
                out.append(float(parts[col]))
            except ValueError:
                pass
    return out
