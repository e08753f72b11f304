"""Ranking with FMs: rapidfm.FMRanker against LightFM on MovieLens 100k, implicit feedback.

Protocol (the usual ml-100k implicit set-up):

  data      $RAPIDFM_DATA/ml-100k/<split>.base and <split>.test (--split, default u1; tab
            separated: user item rating timestamp, 1-based ids, 943 users, 1682 items).
            Positives are ratings >= 4. Every contender trains on the positives of the
            .base file alone; the held-out positives are those of the .test file.
  ranking   for each user, all items the user has NOT rated (any rating) in the .base file
            are ranked; a user with at least one held-out positive among them is evaluated
            (--first-users N: only users 1..N are evaluated; training still uses them all).
  metrics   rapidfm.ranking_metrics.recommendation_metrics(scores, positives,
            exclude=<rated in .base>, k=10) on the dense (943, 1682) score matrix of each
            model, the same function for every contender: per-user AUC (ties 1/2) and
            precision@10, both plain means over the evaluated users.
  seeds     random_state 0..--seeds-1 (default 3) for every seeded contender; the table
            shows the median (min..max) over the seeds. s/epoch: the median (min..max) of
            all the per-epoch times of all seeds; fit wall s: median (min..max) over the
            seeds of the wall time of the whole training.

Contenders (--factors latent factors, default 16; --epochs epochs, default 20):

  rapidfm-bpr   FMRanker(n_factors, n_epochs, n_jobs=1, random_state=seed,
                negative_candidates=1): plain BPR with uniform negatives
  rapidfm       FMRanker(n_factors, n_epochs, n_jobs=1, random_state=seed), the defaults
                (negative_candidates=3: dynamic negative sampling, the negative of a pair
                is the best-scored of 3 draws)
  rapidfm-2t    as rapidfm with n_jobs=2
                All three: fit(Interactions(users0, items0, n_users=943, n_items=1682)) on
                the 0-based ids of the training positives; s/epoch from history_[i]
                ["seconds"] (the kernel's epoch); fit wall = time.perf_counter() around
                fit (its pair set-up included); scores = score_items(train).
  popularity    score of an item = its number of training positives, the same for every
                user (no seeds, nothing timed)
  lightfm-bpr   LightFM(no_components=n_factors, loss="bpr", random_state=seed)
  lightfm-warp  the same with loss="warp"
                Run with the interpreter named by LIGHTFM_PYTHON (a virtualenv with
                LightFM built by hand outside this repository), in a subprocess: this
                script writes its own small runner to a temporary folder together with
                the training positives (an .npz); the runner trains with
                fit_partial(train_coo, epochs=1, num_threads=1) --epochs times, timing
                each call with time.perf_counter (fit wall = the sum of those calls),
                and writes back model.predict(uids, iids, num_threads=1) reshaped to
                (943, 1682) and the epoch times; this script evaluates the scores.
                Without LIGHTFM_PYTHON, or when that interpreter cannot import lightfm,
                both are reported as skipped with the reason, never estimated.

Note on s/epoch: rapidfm's figure is its kernel's epoch as history_ records it, LightFM's
the wall time of one fit_partial call (its Python-side checks and conversion included).

Headline targets (each reported as met or MISSED, with the figures):
  - rapidfm (defaults) per-user AUC median above that of the best LightFM contender
    (the one with the higher AUC median)
  - rapidfm P@10 median above that LightFM contender's
  - rapidfm s/epoch median no slower than that LightFM contender's
The popularity baseline is stated next to them. When no LightFM contender ran, the
targets are reported as not evaluated.

Environment:
  LIGHTFM_PYTHON  a python interpreter that can `import lightfm`
  RAPIDFM_DATA    the data folder (default ../shared/data beside the repository), as in
                  tests/conftest.py; without the ml-100k files the benchmark is skipped
                  (the report says so) and the script exits 0

    python bench/bench_ranking.py
    LIGHTFM_PYTHON=/path/to/lfm-venv/bin/python python bench/bench_ranking.py
    python bench/bench_ranking.py --split u4 --first-users 300 --out bench/results/ranking_u4.json
    python bench/bench_ranking.py --quick        # 1 seed, 3 epochs (the smoke test)

Writes bench/results/ranking.json and ranking.md (--out; the .md goes beside the .json).
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.sparse as sp
from bench_report import cpu_model, data_dir, failed, med, ok, skipped, write_report

import rapidfm
from rapidfm import FMRanker, Interactions
from rapidfm.ranking_metrics import recommendation_metrics

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"

N_USERS, N_ITEMS = 943, 1682
K = 10
POSITIVE = 4                     # ratings >= 4 are positives
SPLITS = [f"u{i}" for i in range(1, 6)]
LIGHTFM_LOSSES = ("bpr", "warp")
LIGHTFM_TIMEOUT = 1800           # seconds for one loss, all seeds

RAPIDFM_CONTENDERS = {
    "rapidfm-bpr": dict(negative_candidates=1, n_jobs=1),
    "rapidfm": dict(n_jobs=1),
    "rapidfm-2t": dict(n_jobs=2),
}
HEADLINE = "rapidfm"








# -- data -----------------------------------------------------------------------------------
def read_ratings(path):
    """(users0, items0, ratings) of a u.data-style file (1-based ids in the file)."""
    a = np.loadtxt(path, dtype=np.int64, delimiter="\t", ndmin=2)
    if a.shape[1] < 3:
        raise ValueError(f"{path}: expected user item rating [timestamp] columns")
    users, items, ratings = a[:, 0] - 1, a[:, 1] - 1, a[:, 2]
    if users.min() < 0 or users.max() >= N_USERS or items.min() < 0 or items.max() >= N_ITEMS:
        raise ValueError(f"{path}: ids outside 1..{N_USERS} / 1..{N_ITEMS}")
    return users, items, ratings


def indicator(users, items):
    """Boolean CSR (N_USERS, N_ITEMS) with True at the (user, item) pairs."""
    m = sp.csr_matrix((np.ones(users.size, dtype=bool), (users, items)),
                      shape=(N_USERS, N_ITEMS))
    m.sum_duplicates()
    return m


def load_split(folder, split, first_users):
    """The training positives, the items rated in .base and the held-out positives."""
    bu, bi, br = read_ratings(folder / f"{split}.base")
    tu, ti, tr = read_ratings(folder / f"{split}.test")
    pos = br >= POSITIVE
    tpos = tr >= POSITIVE
    if first_users is not None:
        tpos &= tu < first_users
    return {"train_users": bu[pos], "train_items": bi[pos],
            "rated": indicator(bu, bi), "test": indicator(tu[tpos], ti[tpos]),
            "n_base_ratings": int(bu.size), "n_train_positives": int(pos.sum()),
            "n_test_ratings": int(tu.size), "n_test_positives": int(tpos.sum())}


def evaluate(scores, data):
    res = recommendation_metrics(np.asarray(scores, np.float64), data["test"],
                                 exclude=data["rated"], k=K)
    return {"auc": res["auc"], "precision_at_k": res["precision_at_k"],
            "n_users": res["n_users"]}


def summarise(name, per_seed, extra=None):
    """The record of a seeded contender from its per-seed results."""
    rec = ok(name,
             auc=med([r["auc"] for r in per_seed]),
             precision_at_k=med([r["precision_at_k"] for r in per_seed]),
             seconds_per_epoch=med([s for r in per_seed for s in r["epoch_seconds"]]),
             fit_wall_seconds=med([r["fit_wall_seconds"] for r in per_seed]),
             n_users=per_seed[0]["n_users"], seeds=[r["seed"] for r in per_seed],
             per_seed=per_seed)
    rec.update(extra or {})
    return rec


# -- rapidfm --------------------------------------------------------------------------------
def run_rapidfm(name, params, data, args):
    train = Interactions(data["train_users"], data["train_items"], n_users=N_USERS,
                         n_items=N_ITEMS)
    per_seed, modes = [], set()
    for seed in range(args.seeds):
        model = FMRanker(n_factors=args.factors, n_epochs=args.epochs, random_state=seed,
                         **params)
        t0 = time.perf_counter()
        try:
            model.fit(train)
        except Exception as exc:  # noqa: BLE001 - reported as a failed contender
            return failed(name, f"failed: {type(exc).__name__}: {exc}", params=params)
        wall = time.perf_counter() - t0
        secs = [float(h["seconds"]) for h in model.history_]
        modes.update(str(h["parallel_mode"]) for h in model.history_ if "parallel_mode" in h)
        res = evaluate(model.score_items(train), data)
        per_seed.append({"seed": seed, **res, "epoch_seconds": secs, "fit_wall_seconds": wall})
        print(f"  {name} seed {seed}: AUC {res['auc']:.4f}  P@{K} {res['precision_at_k']:.4f}"
              f"  {np.median(secs) * 1e3:.2f} ms/epoch  fit {wall:.2f} s", flush=True)
    return summarise(name, per_seed, {"params": params, "parallel_mode": sorted(modes)})


# -- popularity ---------------------------------------------------------------------------
def run_popularity(data):
    counts = np.bincount(data["train_items"], minlength=N_ITEMS).astype(np.float64)
    res = evaluate(np.tile(counts, (N_USERS, 1)), data)
    print(f"  popularity: AUC {res['auc']:.4f}  P@{K} {res['precision_at_k']:.4f}", flush=True)
    return ok("popularity", auc=med([res["auc"]]), precision_at_k=med([res["precision_at_k"]]),
              n_users=res["n_users"])


# -- LightFM (a peer, in its own interpreter) ---------------------------------------------------
# The runner executed by $LIGHTFM_PYTHON: argv = input .npz, output .npz.
LIGHTFM_RUNNER = '''\
import sys
import time

import numpy as np
import scipy.sparse as sp

import lightfm
from lightfm import LightFM

src = np.load(sys.argv[1])
n_users, n_items = int(src["n_users"]), int(src["n_items"])
epochs, factors = int(src["epochs"]), int(src["factors"])
loss = str(src["loss"])
seeds = [int(s) for s in src["seeds"]]
train = sp.coo_matrix((np.ones(src["users"].size, dtype=np.float32),
                       (src["users"].astype(np.int32), src["items"].astype(np.int32))),
                      shape=(n_users, n_items))
uids = np.repeat(np.arange(n_users, dtype=np.int32), n_items)
iids = np.tile(np.arange(n_items, dtype=np.int32), n_users)
scores, times = [], []
for seed in seeds:
    model = LightFM(no_components=factors, loss=loss, random_state=seed)
    epoch_times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.fit_partial(train, epochs=1, num_threads=1)
        epoch_times.append(time.perf_counter() - t0)
    pred = model.predict(uids, iids, num_threads=1).reshape(n_users, n_items)
    scores.append(np.asarray(pred, dtype=np.float32))
    times.append(epoch_times)
np.savez(sys.argv[2], scores=np.stack(scores), epoch_seconds=np.asarray(times),
         seeds=np.asarray(seeds), version=np.asarray(lightfm.__version__))
'''


def lightfm_python():
    """(interpreter, version, None) or (None, None, why)."""
    exe = os.environ.get("LIGHTFM_PYTHON")
    if not exe:
        return None, None, ("skipped (not found): set LIGHTFM_PYTHON to a python "
                            "interpreter that can import lightfm")
    if not (Path(exe).is_file() and os.access(exe, os.X_OK)):
        return None, None, f"skipped (not found): LIGHTFM_PYTHON={exe} is not an executable"
    try:
        res = subprocess.run([exe, "-c", "import lightfm; print(lightfm.__version__)"],
                             capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, None, f"skipped: LIGHTFM_PYTHON={exe} could not be run ({exc})"
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
        return None, None, f"skipped: LIGHTFM_PYTHON={exe} cannot import lightfm ({tail[0]})"
    return exe, res.stdout.strip(), None


def run_lightfm(exe, loss, data, args, work):
    name = f"lightfm-{loss}"
    src, dst = work / f"train-{loss}.npz", work / f"result-{loss}.npz"
    np.savez(src, users=data["train_users"], items=data["train_items"], n_users=N_USERS,
             n_items=N_ITEMS, epochs=args.epochs, factors=args.factors, loss=loss,
             seeds=np.arange(args.seeds))
    runner = work / "lightfm_runner.py"
    runner.write_text(LIGHTFM_RUNNER)
    params = {"no_components": args.factors, "loss": loss, "num_threads": 1}
    try:
        res = subprocess.run([exe, str(runner), str(src), str(dst)], capture_output=True,
                             text=True, cwd=work, timeout=LIGHTFM_TIMEOUT)
    except subprocess.TimeoutExpired:
        return failed(name, f"failed: the runner took over {LIGHTFM_TIMEOUT} s", params=params)
    if res.returncode != 0 or not dst.exists():
        return failed(name, f"failed (exit {res.returncode}): "
                            f"{(res.stderr or res.stdout).strip()[-300:]}", params=params)
    with np.load(dst) as out:
        scores, times, seeds = out["scores"], out["epoch_seconds"], out["seeds"]
    if scores.shape != (len(seeds), N_USERS, N_ITEMS) or not np.isfinite(scores).all():
        return failed(name, f"failed: score matrix of shape {scores.shape} or not finite",
                      params=params)
    per_seed = []
    for seed, s, t in zip(seeds, scores, times):
        r = evaluate(s, data)
        secs = [float(x) for x in t]
        per_seed.append({"seed": int(seed), **r, "epoch_seconds": secs,
                         "fit_wall_seconds": float(sum(secs))})
        print(f"  {name} seed {seed}: AUC {r['auc']:.4f}  P@{K} {r['precision_at_k']:.4f}"
              f"  {np.median(secs) * 1e3:.2f} ms/epoch  fit {sum(secs):.2f} s", flush=True)
    return summarise(name, per_seed, {"params": params})


# -- targets and report -----------------------------------------------------------------------
def targets(runs):
    """The headline targets: a list of {"target", "met", "detail"} (met None: not evaluated)."""
    by = {r["contender"]: r for r in runs}
    ours = by.get(HEADLINE)
    lfm = [r for r in runs if r["contender"].startswith("lightfm") and r["status"] == "ok"]
    out = []
    pop = by.get("popularity")
    if ours is None or ours["status"] != "ok":
        return [{"target": "all", "met": None,
                 "detail": f"{HEADLINE} did not run: {ours and ours.get('reason')}"}], None
    best = max(lfm, key=lambda r: r["auc"]["median"]) if lfm else None
    checks = [("auc", "per-user AUC median", "above", 4),
              ("precision_at_k", f"P@{K} median", "above", 4),
              ("seconds_per_epoch", "s/epoch median", "no slower than", 5)]
    for key, label, how, digits in checks:
        text = f"{HEADLINE} {label} {how} the best LightFM's"
        if best is None:
            out.append({"target": text, "met": None,
                        "detail": "not evaluated: no LightFM contender ran"})
            continue
        a, b = ours[key]["median"], best[key]["median"]
        met = a <= b if key == "seconds_per_epoch" else a > b
        ratio = f" (x{a / b:.2f})" if key == "seconds_per_epoch" and b > 0 else ""
        out.append({"target": text, "met": bool(met),
                    "detail": f"{a:.{digits}f} vs {best['contender']} {b:.{digits}f}{ratio}"})
    if pop is not None and pop["status"] == "ok":
        pa, pp = pop["auc"]["median"], pop["precision_at_k"]["median"]

        def beats(key, value):
            return "beats" if ours[key]["median"] > value else "does NOT beat"

        out.append({"target": "popularity baseline (stated, not a target)", "met": None,
                    "detail": f"AUC {pa:.4f}, P@{K} {pp:.4f}; {HEADLINE} {beats('auc', pa)} "
                              f"its AUC and {beats('precision_at_k', pp)} its P@{K}"})
    return out, best and best["contender"]


def fmt_med(m, digits=4, scale=1.0):
    if m is None:
        return "-"
    v = [m["median"] * scale, m["min"] * scale, m["max"] * scale]
    if m["min"] == m["max"]:
        return f"{v[0]:.{digits}f}"
    return f"{v[0]:.{digits}f} ({v[1]:.{digits}f}..{v[2]:.{digits}f})"


def markdown(report):
    m, s = report["machine"], report["settings"]
    users = (f"users 1..{s['first_users']}" if s["first_users"] else "all users")
    lines = ["## bench_ranking", "",
             f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, numpy {m['numpy']}, "
             f"scipy {m['scipy']}, rapidfm {m['rapidfm']}, LightFM {m['lightfm'] or 'not run'}; "
             f"{report['date']}; load average (1 min) {m['load_average_start'][0]:.2f} at the "
             f"start, {m.get('load_average_end', [float('nan')])[0]:.2f} at the end.", "",
             f"MovieLens 100k {s['split']}, implicit: every model trains on the ratings >= "
             f"{POSITIVE} of {s['split']}.base and ranks, for each user, all the items the user "
             f"has not rated in {s['split']}.base, against the ratings >= {POSITIVE} of "
             f"{s['split']}.test. Per-user AUC and P@{K} (recommendation_metrics, the same for "
             f"every contender) are averaged over the evaluated users ({users} with a held-out "
             f"positive); k={s['factors']}, {s['epochs']} epochs, 1 thread unless said, seeds "
             f"0..{s['seeds'] - 1}, median (min..max) over the seeds (s/epoch: over all epochs of "
             f"all seeds).", ""]
    if "skipped" in report:
        lines += [f"Skipped: {report['skipped']}", ""]
        return "\n".join(lines)
    lines += [f"| contender | AUC median (min..max) | P@{K} | s/epoch | fit wall s | status |",
              "|---|---:|---:|---:|---:|---|"]
    for r in report["runs"]:
        if r["status"] != "ok":
            lines.append(f"| {r['contender']} | - | - | - | - | {r['reason']} |")
            continue
        n = len(r.get("seeds", []))
        status = "ok" + (f", {n} seed{'s' if n > 1 else ''}" if n else "")
        if r.get("parallel_mode"):
            status += f" [{', '.join(r['parallel_mode'])}]"
        lines.append(f"| {r['contender']} | {fmt_med(r['auc'])} | "
                     f"{fmt_med(r['precision_at_k'])} | "
                     f"{fmt_med(r.get('seconds_per_epoch'), 4)} | "
                     f"{fmt_med(r.get('fit_wall_seconds'), 2)} | {status} |")
    n_users = {r["n_users"] for r in report["runs"] if r["status"] == "ok"}
    lines += ["", f"Evaluated users: {', '.join(map(str, sorted(n_users)))}; training "
              f"positives {report['data']['n_train_positives']}, held-out positives "
              f"{report['data']['n_test_positives']}.", "", "Targets:", ""]
    for t in report["targets"]:
        mark = {True: "met", False: "MISSED", None: "-"}[t["met"]]
        lines.append(f"- {t['target']}: **{mark}** ({t['detail']})")
    lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="u1", choices=SPLITS,
                        help="the ml-100k split uX.base / uX.test (default u1)")
    parser.add_argument("--first-users", type=int, default=None,
                        help="evaluate only users 1..N (training uses all; default all)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per fit (default 20)")
    parser.add_argument("--factors", type=int, default=16,
                        help="latent factors, rapidfm n_factors / LightFM no_components "
                             "(default 16)")
    parser.add_argument("--seeds", type=int, default=3,
                        help="random_state 0..N-1 of each seeded contender (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="1 seed and 3 epochs (overrides --seeds and --epochs)")
    parser.add_argument("--out", default=str(RESULTS / "ranking.json"),
                        help="JSON path; the .md goes beside it (default "
                             "bench/results/ranking.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs = 1, 3
    for name in ("epochs", "factors", "seeds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    if args.first_users is not None and not 1 <= args.first_users <= N_USERS:
        parser.error(f"--first-users must be in 1..{N_USERS}")

    started = time.time()
    exe, lfm_version, lfm_reason = lightfm_python()
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
              "machine": {"cpu": cpu_model(), "cores": os.cpu_count(),
                          "python": platform.python_version(), "numpy": np.__version__,
                          "scipy": scipy.__version__, "rapidfm": rapidfm.__version__,
                          "lightfm": lfm_version, "lightfm_python": exe,
                          "load_average_start": list(os.getloadavg())},
              "settings": {k: v for k, v in vars(args).items() if k != "out"}}
    m = report["machine"]
    print(f"# {m['cpu']}, {m['cores']} cores; LightFM: {lfm_version or lfm_reason}", flush=True)

    folder = data_dir() / "ml-100k"
    missing = [str(folder / f"{args.split}.{p}") for p in ("base", "test")
               if not (folder / f"{args.split}.{p}").is_file()]
    if missing:
        report["skipped"] = (f"ml-100k data not found ({', '.join(missing)}); set "
                             "RAPIDFM_DATA")
        print(f"skipped: {report['skipped']}", flush=True)
        runs = []
    else:
        data = load_split(folder, args.split, args.first_users)
        report["data"] = {k: v for k, v in data.items() if k.startswith("n_")}
        report["data"]["folder"] = str(folder)
        runs = [run_popularity(data)]
        for name, params in RAPIDFM_CONTENDERS.items():
            runs.append(run_rapidfm(name, params, data, args))
        with tempfile.TemporaryDirectory(prefix="bench_ranking-") as work:
            for loss in LIGHTFM_LOSSES:
                if exe is None:
                    runs.append(skipped(f"lightfm-{loss}", lfm_reason))
                    continue
                runs.append(run_lightfm(exe, loss, data, args, Path(work)))
                if runs[-1]["status"] != "ok":
                    print(f"  lightfm-{loss} {runs[-1]['reason']}", flush=True)
        report["targets"], report["best_lightfm"] = targets(runs)
    report["runs"] = runs
    write_report(report, args.out, markdown, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
