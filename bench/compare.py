"""Factorization Machine solvers side by side: seconds per epoch and the test metric.

Same data, k, epochs, learning rate, regularisation and initialisation for every
SGD contender; each result states its thread count. Data sets:

  planted    rapidfm.datasets.make_planted_fm: --rows training rows (default 1M) plus
             10% more for the test set, 4 one-hot fields x --planted-values values
             (default 17,500: 70,000 features), Zipf(1.1) value frequencies, noise sd
             0.5 (the RMSE floor); regression (RMSE)
  movielens  MovieLens 100k u1.base / u1.test, one-hot user + item; regression (RMSE)
  a9a        LIBSVM a9a / a9a.t, 123 binary features; classification (log-loss)

MovieLens and a9a are read from $RAPIDFM_DATA (default ../shared/data beside the
repository), as in tests/conftest.py; a missing file skips that data set.

Contenders (each is skipped, with the reason, when unavailable; the code of each is
in bench/contenders/, one module per tool):

  rapidfm-1t, rapidfm-Nt  FMRegressor / FMClassifier, 1 thread and all cores; float32.
                          s/epoch: history_[i]["seconds"] (the kernel call); the JSON's
                          fit_wall_seconds adds input validation and initialisation.
  rapidfm-adagrad-1t/-Nt  solver="adagrad" (and rapidfm-ftrl-*: solver="ftrl"): the data
                          set's k, epochs, L2 and init, each solver's own default learning
                          rate (0.04). rapidfm-ftrl-l1-1t adds reg_linear_l1 (FTRL_L1) and
                          reports the fraction of exactly-zero w (w_zero_fraction).
  rapidfm-defaults-1t/-Nt FMRegressor() / FMClassifier() with every parameter at its
                          default (only n_jobs and random_state set).
  numpy-loop              the textbook per-sample SGD in NumPy: for each row, fancy-index
                          the row's w and V, numpy dot products for the prediction, and
                          the same update as rapidfm (float64, same init, same clipping).
                          It trains on at most --numpy-rows rows (a random subsample,
                          default 100,000): its s/epoch is extrapolated to the full
                          training set (seconds per row x rows) and its test metric is
                          that of the subsample model, both labelled. rapidfm-1t is
                          then also trained on the same subsample ("rapidfm-1t-sub"),
                          so the metrics compare like with like.
  torch-1t, torch-Nt      a PyTorch FM module (sum-pooled embeddings, EmbeddingBag
                          style: one gather of the batch's V rows, per-row segment sums
                          by index_add), mini-batch Adam (--torch-batch, --torch-lr);
                          only when `import torch` works.
  libfm                   $LIBFM_BIN (libFM 1.4.x) with -method sgd. The script writes
                          train/test files in libFM text format ("label idx:value", rows
                          of the training file shuffled once: libFM's SGD does not
                          shuffle) and runs
                            $LIBFM_BIN -task r|c -train train.libfm -test test.libfm
                              -dim '1,1,k' -iter N -method sgd -learn_rate L
                              -regular 'r0,r1,r2' -init_stdev s -seed S
                              -out pred.txt -rlog rlog.txt
                          s/epoch: the time_learn column of the rlog file (libFM's
                          per-iteration learning time, user CPU seconds); curve: the
                          "#Iter= i Train= Test=" lines (test RMSE; for -task c libFM
                          prints accuracy, so the curve is left out); test metric: from
                          pred.txt (predictions, or P(+1) for -task c). One thread.
  libffm                  $LIBFFM_TRAIN (ffm-train): field-aware FM with AdaGrad, its own
                          defaults -r 0.2 -l 0.00002 (--ffm-lr, --ffm-lambda), classification
                          only:  ffm-train -k k -t N -r eta -l lambda -s threads
                          -p test.ffm train.ffm model.  The va_logloss column is the test
                          log-loss per iteration; tr_time (newer libffm) the time.
  xlearn-cli              $XLEARN_TRAIN (xlearn_train, xLearn >= 0.4: -s 1 FM classification,
                          -s 4 FM regression):  xlearn_train train.txt -s 1|4 -v test.txt
                          -m model.bin -k k -r L -b lambda -e N -p sgd -nthread T --dis-es
                          --no-norm [-x rmse].  Per-epoch rows are parsed from its table
                          ("Time cost (sec)" includes its test evaluation); predictions
                          come from xlearn_predict ($XLEARN_PREDICT, or beside
                          $XLEARN_TRAIN) with --sigmoid for classification.
  xlearn                  the xlearn Python package (create_fm, opt sgd, no early stop,
                          no instance normalisation), when it imports.
  fastfm                  fastFM.sgd.FMRegression / FMClassification (n_iter = epochs x
                          rows single-sample steps), when fastFM imports. One thread.
  rapidfm-mcmc-1t/-Nt     FMRegressor / FMClassifier(solver="mcmc"), float64, one sweep
                          per epoch (the same k, epochs and init_std; no learning rate or
                          regularisation: the sampler learns them); classification is
                          the probit model. Test metric: predict / predict_proba (the mean
                          over the kept samples); curve: the running mean of the per-sweep
                          predictions, as libFM prints it.
  rapidfm-als-1t/-Nt      solver="als", L2 strengths als_reg of the data set (default
                          0,10,10); test metric of the last iterate.
  libfm-mcmc, libfm-als   $LIBFM_BIN -method mcmc | als (-regular als_reg for ALS), same
                          files and flags as libfm otherwise; s/epoch from time_learn
                          (which includes libFM's prediction of train and test in every
                          iteration). libFM's -out is, for MCMC, the prediction averaged
                          over all samples (no burn-in), for ALS the last iterate; its
                          printed "Test=" curve is the running average for both.
  myfm                    myfm.MyFMRegressor / MyFMClassifier (Gibbs sampler, its own
                          priors), n_kept_samples = epochs - min(5, epochs // 2); when
                          `import myfm` works. One thread; s/epoch = fit wall / epochs.

Timing: s/epoch is the median (min..max) over the epochs after the first, which is
the warm-up; every epoch counts for the test metric. Where a tool reports no
per-epoch time, s/epoch is its wall time over the epochs (said in its notes).
ns/nnz is s/epoch over the nonzeros of the rows it refers to.

Without LIBFM_BIN, the planted headline quotes libFM SGD's figure from the project's
latest run with libFM (bench/README.md: 70.4 ns/nnz on its 2 vCPU machine), labelled as
not measured in the run.

Test metrics: RMSE of predictions clipped to the training-target range (as libFM
and rapidfm predict), or mean log-loss of probabilities clipped to [1e-15, 1-1e-15].
Evaluation after each epoch (for the metric-vs-time curve) is not timed.

    python bench/compare.py                       # all data sets (about 7 minutes on 2 cores)
    python bench/compare.py --rows 100000 --datasets planted --contenders rapidfm,numpy
    LIBFM_BIN=~/libfm/bin/libFM python bench/compare.py --datasets movielens

Writes bench/results/compare.json and compare.md, and compare_metric_vs_time.png
when matplotlib is installed.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from contenders.common import constant_metric, metric_name  # bench/ is on sys.path
from contenders.data import load_a9a, load_ml100k, load_planted
from contenders.fastfm import run_fastfm
from contenders.libffm import run_libffm
from contenders.libfm import run_libfm
from contenders.myfm import run_myfm
from contenders.numpy_loop import run_numpy
from contenders.rapidfm_sgd import run_rapidfm
from contenders.rapidfm_solvers import run_rapidfm_solver
from contenders.torch_fm import run_torch
from contenders.xlearn import run_xlearn_cli, run_xlearn_py

import rapidfm
from rapidfm import _core

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# als_reg: the L2 strengths (bias, linear, factors) of the ALS contenders (SGD's reg is far
# too weak for an exact minimiser); MCMC learns its regularisation
DATASETS = {
    "planted": {"task": "regression", "k": 8, "epochs": 10, "lr": 0.01,
                "reg": (0.0, 0.0, 0.0), "init_std": 0.1, "als_reg": (0.0, 10.0, 10.0)},
    "movielens": {"task": "regression", "k": 8, "epochs": 20, "lr": 0.01,
                  "reg": (0.0, 0.01, 0.05), "init_std": 0.1, "als_reg": (0.0, 10.0, 10.0)},
    "a9a": {"task": "classification", "k": 8, "epochs": 10, "lr": 0.01,
            "reg": (0.0, 0.001, 0.001), "init_std": 0.1, "als_reg": (0.0, 10.0, 10.0)},
}
# ns per nonzero of libFM 1.4.4 SGD on the planted set in the project's latest run with
# LIBFM_BIN (bench/README.md, 2026-11-21, 2 vCPU Xeon; not measured here). Quoted for the
# planted set only when libFM did not run, and labelled as not measured in this run.
LIBFM_SGD_CITED_NS = 70.4
CONTENDERS = ["rapidfm", "rapidfm-adagrad", "rapidfm-ftrl", "rapidfm-ftrl-l1",
              "rapidfm-defaults", "numpy", "torch", "libfm", "libffm", "xlearn-cli", "xlearn",
              "fastfm", "rapidfm-mcmc", "rapidfm-als", "libfm-mcmc", "libfm-als", "myfm"]
# rapidfm-ftrl-l1: the L1 strength on w (reg_linear_l1) per data set
FTRL_L1 = {"planted": 3.0, "movielens": 1.0, "a9a": 1.0}


def run_dataset(data, cfg, args, cores, workdir):
    runs = []
    wanted = set(args.contenders)
    thread_counts = sorted({1, cores})

    def log(r):
        if r["status"] == "ok":
            zeros = (f"  w zeros {r['w_zero_fraction']:.1%}" if "w_zero_fraction" in r
                     else "")
            print(f"  {r['contender']:<20} {r['seconds_per_epoch']:10.4f} s/epoch  "
                  f"test {metric_name(data.task)} {r['test_metric']:.4f}{zeros}", flush=True)
        else:
            print(f"  {r['contender']:<16} {r['reason']}", flush=True)
        runs.append(r)

    def per_threads(name, fn):
        """Runs fn(t) for each thread count; a tool unavailable at the first is listed once."""
        for i, t in enumerate(thread_counts):
            r = fn(t)
            if r["status"] == "skipped" and i == 0:
                r["contender"], r["threads"] = name, None
                log(r)
                return
            log(r)

    if "rapidfm" in wanted:
        for t in thread_counts:
            log(run_rapidfm(data, cfg, t, args.seed))
    for solver in ("adagrad", "ftrl"):
        if f"rapidfm-{solver}" in wanted:
            for t in thread_counts:
                log(run_rapidfm(data, cfg, t, args.seed, solver=solver,
                                label=f"rapidfm-{solver}-{t}t"))
    if "rapidfm-ftrl-l1" in wanted:
        log(run_rapidfm(data, cfg, 1, args.seed, solver="ftrl", label="rapidfm-ftrl-l1-1t",
                        params={"reg_linear_l1": FTRL_L1.get(data.name, 1.0)}))
    if "rapidfm-defaults" in wanted:
        for t in thread_counts:
            log(run_rapidfm(data, cfg, t, args.seed, params="defaults",
                            label=f"rapidfm-defaults-{t}t"))
    if "numpy" in wanted:
        r, rows = run_numpy(data, cfg, args.seed, args.numpy_rows)
        log(r)
        if rows is not None and "rapidfm" in wanted:
            log(run_rapidfm(data, cfg, 1, args.seed, rows=rows, label="rapidfm-1t-sub"))
    if "torch" in wanted:
        per_threads("torch", lambda t: run_torch(data, cfg, t, args.seed, args.torch_batch,
                                                 args.torch_lr))
    if "libfm" in wanted:
        log(run_libfm(data, cfg, args.seed, workdir))
    if "libffm" in wanted:
        per_threads("libffm", lambda t: run_libffm(data, cfg, t, args.seed, workdir,
                                                   args.ffm_lr, args.ffm_lambda))
    if "xlearn-cli" in wanted:
        per_threads("xlearn-cli", lambda t: run_xlearn_cli(data, cfg, t, args.seed, workdir))
    if "xlearn" in wanted:
        per_threads("xlearn", lambda t: run_xlearn_py(data, cfg, t, args.seed, workdir))
    if "fastfm" in wanted:
        log(run_fastfm(data, cfg, args.seed))
    for solver in ("mcmc", "als"):
        if f"rapidfm-{solver}" in wanted:
            per_threads(f"rapidfm-{solver}",
                        lambda t, solver=solver: run_rapidfm_solver(data, cfg, solver, t,
                                                                    args.seed))
        if f"libfm-{solver}" in wanted:
            log(run_libfm(data, cfg, args.seed, workdir, method=solver))
    if "myfm" in wanted:
        log(run_myfm(data, cfg, args.seed))
    return runs


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="planted,movielens,a9a",
                        help="comma list of planted, movielens, a9a")
    parser.add_argument("--contenders", default=",".join(CONTENDERS),
                        help=f"comma list of {', '.join(CONTENDERS)} (default: all)")
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="training rows of the planted set (default 1,000,000)")
    parser.add_argument("--planted-values", type=int, default=17_500,
                        help="values per field of the planted set (default 17,500: 70,000 "
                             "features)")
    parser.add_argument("--epochs", type=int, help="override every data set's epochs "
                        "(defaults: planted 10, movielens 20, a9a 10)")
    parser.add_argument("--k", type=int, help="override k (default 8)")
    parser.add_argument("--numpy-rows", type=int, default=100_000,
                        help="most training rows for numpy-loop; more are subsampled and its "
                             "s/epoch extrapolated (0: all rows)")
    parser.add_argument("--torch-batch", type=int, default=1024)
    parser.add_argument("--torch-lr", type=float, default=0.001,
                        help="Adam learning rate (default 0.001)")
    parser.add_argument("--ffm-lr", type=float, default=0.2, help="libffm eta (its default)")
    parser.add_argument("--ffm-lambda", type=float, default=0.00002,
                        help="libffm lambda (its default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS / "compare.json"),
                        help="JSON path; .md and .png go beside it")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    args.contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = set(args.contenders) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders {sorted(unknown)}; choose from {CONTENDERS}")
    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = set(names) - set(DATASETS)
    if unknown:
        parser.error(f"unknown data sets {sorted(unknown)}; choose from {sorted(DATASETS)}")

    cores = _core.max_threads()
    started = time.time()
    report = {"machine": {"cores": cores, "python": sys.version.split()[0],
                          "numpy": np.__version__, "rapidfm": rapidfm.__version__},
              "settings": {k: v for k, v in vars(args).items() if k != "out"},
              "datasets": {}}
    with tempfile.TemporaryDirectory() as workdir:
        for name in names:
            cfg = dict(DATASETS[name])
            if args.epochs:
                cfg["epochs"] = args.epochs
            if args.k:
                cfg["k"] = args.k
            loaded = {"planted": lambda: load_planted(args.rows, args.planted_values, args.seed),
                      "movielens": load_ml100k, "a9a": load_a9a}[name]()
            if isinstance(loaded, str):
                print(f"# {name}: skipped ({loaded})", flush=True)
                report["datasets"][name] = {"skipped": loaded}
                continue
            print(f"# {name}: {loaded.note}; k={cfg['k']}, {cfg['epochs']} epochs, "
                  f"lr {cfg['lr']}, reg {cfg['reg']}", flush=True)
            runs = run_dataset(loaded, cfg, args, cores, workdir)
            report["datasets"][name] = {"task": loaded.task, "note": loaded.note,
                                        "config": cfg, "metric": metric_name(loaded.task),
                                        "constant_metric": constant_metric(loaded),
                                        "runs": runs}
    report["seconds"] = time.time() - started
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    md = markdown(report)
    out.with_suffix(".md").write_text(md)
    print()
    print(md)
    if not args.no_plots:
        print(plot(report, out))
    print(f"wrote {out} and {out.with_suffix('.md')} ({report['seconds']:.0f} s)")


def headline(name, ds):
    """One line per data set: rapidfm-1t against numpy-loop and libFM, ratios of this run."""
    runs = {r["contender"]: r for r in ds["runs"]}
    one = runs.get("rapidfm-1t")
    if not one or one["status"] != "ok":
        return None
    parts = [f"**{name}**: rapidfm 1 thread {one['seconds_per_epoch']:.4g} s/epoch "
             f"({one['ns_per_nonzero']:.1f} ns/nnz)"]
    ref = runs.get("numpy-loop")
    if ref and ref["status"] == "ok":
        sub = runs.get("rapidfm-1t-sub")
        if ref.get("extrapolated") and sub and sub["status"] == "ok":
            parts.append(
                f"x{ref['seconds_per_epoch'] / one['seconds_per_epoch']:.0f} faster than "
                f"numpy-loop on the full set (numpy-loop {ref['seconds_per_epoch']:.4g} s/epoch, "
                f"extrapolated from a {ref['train_rows']:,}-row subsample), "
                f"x{ref['measured_seconds_per_epoch'] / sub['seconds_per_epoch']:.0f} on that "
                f"subsample (both measured); test {ds['metric']} after {ref['epochs']} epochs "
                f"on the same subsample: rapidfm {sub['test_metric']:.4f}, numpy-loop "
                f"{ref['test_metric']:.4f}")
        else:
            parts.append(
                f"x{ref['seconds_per_epoch'] / one['seconds_per_epoch']:.0f} faster than "
                f"numpy-loop ({ref['seconds_per_epoch']:.4g} s/epoch, measured); test "
                f"{ds['metric']} after {ref['epochs']} epochs: rapidfm {one['test_metric']:.4f}, "
                f"numpy-loop {ref['test_metric']:.4f}")
    lib = runs.get("libfm")
    if lib and lib["status"] == "ok":
        parts.append(f"x{lib['seconds_per_epoch'] / one['seconds_per_epoch']:.1f} faster than "
                     f"libFM SGD ({lib['seconds_per_epoch']:.4g} s/epoch, "
                     f"{lib['ns_per_nonzero']:.1f} ns/nnz, test {lib['test_metric']:.4f})")
    elif lib:
        parts.append(f"libFM not run ({lib['reason']})")
        if name == "planted":
            parts.append(
                f"cited, NOT measured in this run: libFM SGD took {LIBFM_SGD_CITED_NS:g} "
                f"ns/nnz in the project's latest run with libFM (bench/README.md), "
                f"x{LIBFM_SGD_CITED_NS / one['ns_per_nonzero']:.1f} rapidfm-1t's "
                f"{one['ns_per_nonzero']:.1f} ns/nnz here")
    return "; ".join(parts) + "."


def solver_headline(name, ds):
    """rapidfm's MCMC and ALS at 1 thread against libFM's, when both ran."""
    runs = {r["contender"]: r for r in ds["runs"] if r["status"] == "ok"}
    parts = []
    for solver in ("mcmc", "als"):
        ours, lib = runs.get(f"rapidfm-{solver}-1t"), runs.get(f"libfm-{solver}")
        if not ours:
            continue
        text = (f"rapidfm {solver.upper()} 1 thread {ours['seconds_per_epoch']:.4g} s/sweep "
                f"({ours['ns_per_nonzero']:.1f} ns/nnz), test {ds['metric']} "
                f"{ours['test_metric']:.4f}")
        if lib:
            text += (f", x{lib['seconds_per_epoch'] / ours['seconds_per_epoch']:.1f} libFM "
                     f"{solver.upper()}'s {lib['seconds_per_epoch']:.4g} s/iteration (test "
                     f"{lib['test_metric']:.4f})")
        parts.append(text)
    if not parts:
        return None
    return f"**{name}**, solvers: " + "; ".join(parts) + "."


def markdown(report):
    lines = ["## compare", ""]
    heads = [headline(n, d) for n, d in report["datasets"].items() if "runs" in d]
    heads += [solver_headline(n, d) for n, d in report["datasets"].items() if "runs" in d]
    lines += [f"- {h}" for h in heads if h]
    if "runs" in report["datasets"].get("planted", {}):
        lines.append("- The project's targets for rapidfm 1 thread on the planted 1M-row set: "
                     "x100 faster than numpy-loop and x4 faster than libFM SGD per epoch, at "
                     "an equal or better test metric after the same epochs.")
    lines.append("")
    for name, ds in report["datasets"].items():
        if "skipped" in ds:
            lines += [f"### {name}: skipped ({ds['skipped']})", ""]
            continue
        cfg = ds["config"]
        lines += [f"### {name}", "",
                  f"{ds['note']}. k={cfg['k']}, {cfg['epochs']} epochs, SGD learning rate "
                  f"{cfg['lr']}, L2 (bias, linear, factors) {tuple(cfg['reg'])}, init sd "
                  f"{cfg['init_std']}. A constant prediction (the training mean or base "
                  f"rate) scores {ds['constant_metric']:.4f}.", "",
                  f"| contender | threads | train rows | epochs | s/epoch | ns/nnz | vs numpy-loop "
                  f"| test {ds['metric']} | notes |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        ref = next((r for r in ds["runs"] if r["contender"] == "numpy-loop"
                    and r["status"] == "ok"), None)
        for r in ds["runs"]:
            if r["status"] != "ok":
                lines.append(f"| {r['contender']} | {r['threads'] or '-'} | - | - | - | - | - | "
                             f"- | {r['reason']} |")
                continue
            speed = ""
            if ref and r is not ref:
                # a run on numpy-loop's subsample compares with its measured epochs
                base = (ref["measured_seconds_per_epoch"] if r.get("subsample")
                        else ref["seconds_per_epoch"])
                speed = f"x{base / r['seconds_per_epoch']:.0f}"
            rng = r.get("seconds_per_epoch_range")
            spe = f"{r['seconds_per_epoch']:.4g}"
            if rng:
                spe += f" ({rng[0]:.3g}..{rng[1]:.3g})"
            lines.append(f"| {r['contender']} | {r['threads']} | {r['train_rows']:,} | "
                         f"{r['epochs']} | {spe} | {r['ns_per_nonzero']:.1f} | {speed} | "
                         f"{r['test_metric']:.4f} | "
                         f"{r.get('note', '')} |")
        lines.append("")
    return "\n".join(lines)


def plot(report, out):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install matplotlib)"
    sets = [(n, d) for n, d in report["datasets"].items() if "runs" in d]
    if not sets:
        return "plot skipped: no data set ran"
    fig, axes = plt.subplots(1, len(sets), figsize=(5.2 * len(sets), 4.0), squeeze=False)
    for ax, (name, ds) in zip(axes[0], sets):
        for i, r in enumerate(r for r in ds["runs"] if r["status"] == "ok" and r["curve"]):
            t = [max(c[0], 1e-4) for c in r["curve"]]
            m = [c[1] for c in r["curve"]]
            style = "--" if r.get("subsample") else "-"
            ax.plot(t, m, style, marker="o", markersize=3, color=f"C{i}", label=r["contender"])
        ax.set_xscale("log")
        ax.set_xlabel("training time, s (log); dashed: subsample, time scaled to full set")
        ax.set_ylabel(f"test {ds['metric']}")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = out.parent / (out.stem + "_metric_vs_time.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"wrote {path}"


if __name__ == "__main__":
    main()
