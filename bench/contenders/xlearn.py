"""xLearn's FM with SGD (no early stop, no instance normalisation), two ways:
xlearn-cli-* runs the xlearn_train binary, enabled by XLEARN_TRAIN=/path/to/xlearn_train
(predictions by xlearn_predict: $XLEARN_PREDICT, or beside xlearn_train); xlearn-* runs
the xlearn Python package, enabled when `import xlearn` works.
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

# the colour codes in xlearn_train's output
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_xlearn_cli(data, cfg, threads, seed, workdir):
    name = f"xlearn-cli-{threads}t"
    exe = os.environ.get("XLEARN_TRAIN")
    if not exe:
        return skipped(name, "skipped (not found): set XLEARN_TRAIN to xlearn_train", threads)
    if not (shutil.which(exe) or Path(exe).is_file()):
        return skipped(name, f"skipped (not found): XLEARN_TRAIN={exe} does not exist", threads)
    work = Path(workdir) / f"xlearn-{data.name}-{threads}"
    work.mkdir(exist_ok=True)
    Xtr, ytr = shuffled_train(data, seed)
    regression = data.task == "regression"
    # xLearn reads 0/1 labels for classification
    write_libsvm(work / "train.txt", Xtr, ytr if regression else (ytr > 0).astype(int))
    write_libsvm(work / "test.txt", data.X_test,
                 data.y_test if regression else (data.y_test > 0).astype(int))
    cmd = [exe, str(work / "train.txt"), "-s", "4" if regression else "1",
           "-v", str(work / "test.txt"), "-m", str(work / "model.bin"), "-k", str(cfg["k"]),
           "-r", str(cfg["lr"]), "-b", str(cfg["reg"][2]), "-e", str(cfg["epochs"]),
           "-p", "sgd", "-nthread", str(threads), "--dis-es", "--no-norm"]
    if regression:
        cmd += ["-x", "rmse"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        return skipped(name, f"failed (exit {res.returncode}): "
                       f"{ANSI.sub('', res.stdout + res.stderr).strip()[-300:]}", threads)
    rows = []
    for line in ANSI.sub("", res.stdout).splitlines():
        m = re.match(r"\s*\[\s*\d+%\s*\]\s+(.*)$", line)
        if m:
            nums = m.group(1).split()
            try:
                rows.append([float(v) for v in nums])
            except ValueError:
                continue
    # columns: epoch, train loss, test loss, [test metric], time cost
    curve, cum = [], 0.0
    for r in rows:
        cum += r[-1]
        curve.append([cum, r[3] if regression and len(r) >= 5 else r[2]])
    final = curve[-1][1] if curve else None
    predict = os.environ.get("XLEARN_PREDICT") or str(Path(exe).with_name("xlearn_predict"))
    if Path(predict).is_file() or shutil.which(predict):
        pcmd = [predict, str(work / "test.txt"), str(work / "model.bin"), "-o",
                str(work / "pred.txt"), "-nthread", str(threads)]
        if not regression:
            pcmd.append("--sigmoid")
        if subprocess.run(pcmd, capture_output=True, cwd=work).returncode == 0:
            pred = np.loadtxt(work / "pred.txt", ndmin=1)
            final = (metric("regression", data.y_test, pred,
                            y_range=(float(ytr.min()), float(ytr.max()))) if regression
                     else metric("classification", data.y_test, proba=pred))
    if final is None:
        return skipped(name, "failed: no epoch table in the xlearn_train output", threads)
    timing = (epoch_timing([r[-1] for r in rows]) if rows
              else {"seconds_per_epoch": wall / cfg["epochs"]})
    return result(name, threads, train_rows=Xtr.shape[0], epochs=len(rows) or cfg["epochs"],
                  **timing, epoch_nnz=Xtr.nnz, wall_seconds=wall, test_metric=final,
                  curve=curve, command=" ".join(cmd),
                  note="xLearn FM, SGD; s/epoch includes its per-epoch test evaluation")


def run_xlearn_py(data, cfg, threads, seed, workdir):
    name = f"xlearn-{threads}t"
    try:
        import xlearn as xl
    except ImportError as exc:
        return skipped(name, f"skipped (not found): import xlearn: {exc}", threads)
    work = Path(workdir) / f"xlearn-py-{data.name}-{threads}"
    work.mkdir(exist_ok=True)
    Xtr, ytr = shuffled_train(data, seed)
    regression = data.task == "regression"
    write_libsvm(work / "train.txt", Xtr, ytr if regression else (ytr > 0).astype(int))
    write_libsvm(work / "test.txt", data.X_test,
                 data.y_test if regression else (data.y_test > 0).astype(int))
    model = xl.create_fm()
    model.setTrain(str(work / "train.txt"))
    model.disableEarlyStop()
    model.disableNorm()
    model.setQuiet()
    param = {"task": "reg" if regression else "binary", "lr": cfg["lr"],
             "lambda": cfg["reg"][2], "k": cfg["k"], "epoch": cfg["epochs"], "opt": "sgd",
             "nthread": threads}
    t0 = time.perf_counter()
    model.fit(param, str(work / "model.bin"))
    wall = time.perf_counter() - t0
    model.setTest(str(work / "test.txt"))
    if not regression:
        model.setSigmoid()
    model.predict(str(work / "model.bin"), str(work / "pred.txt"))
    pred = np.loadtxt(work / "pred.txt", ndmin=1)
    final = (metric("regression", data.y_test, pred,
                    y_range=(float(ytr.min()), float(ytr.max()))) if regression
             else metric("classification", data.y_test, proba=pred))
    return result(name, threads, train_rows=Xtr.shape[0], epochs=cfg["epochs"],
                  seconds_per_epoch=wall / cfg["epochs"], epoch_nnz=Xtr.nnz, wall_seconds=wall,
                  test_metric=final, curve=[[wall, final]],
                  note="xlearn Python package, SGD; s/epoch = fit wall (incl. reading the "
                       "text files) / epochs")
