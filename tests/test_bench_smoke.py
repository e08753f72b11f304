"""The benchmark scripts run end to end on tiny settings and write the report they document.

Benchmarks report speed; nothing here asserts a timing. The one behaviour checked is
that rapidfm and the independent textbook NumPy loop of bench/compare.py
(bench/contenders/numpy_loop.py), trained on the same rows with the same settings, reach
about the same test RMSE.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXTERNAL = {"libfm": "LIBFM_BIN", "libffm": "LIBFFM_TRAIN", "xlearn-cli": "XLEARN_TRAIN"}


def run_script(name, tmp_path, *args):
    out = tmp_path / f"{name}.json"
    # without the external solvers' variables, whatever the caller's shell has set
    env = {k: v for k, v in os.environ.items() if k not in EXTERNAL.values()}
    subprocess.run([sys.executable, str(REPO / "bench" / f"{name}.py"), *args, "--no-plots",
                    "--out", str(out)], check=True, capture_output=True, text=True, env=env,
                   cwd=tmp_path)
    assert out.with_suffix(".md").read_text().startswith(f"## {name}")
    return json.loads(out.read_text())


def test_microbench_reports_every_point(tmp_path):
    report = run_script("microbench", tmp_path, "--k", "4,8", "--nnz-per-row", "2",
                        "--features", "1000", "--dtypes", "float32,float64", "--threads", "1",
                        "--nnz-total", "20000", "--repeats", "2", "--no-roofline",
                        "--check-point", "1000,2,4")
    points = report["points"]
    assert sorted((p["k"], p["dtype"]) for p in points) == [
        (4, "float32"), (4, "float64"), (8, "float32"), (8, "float64")]
    for p in points:
        for op in ("epoch", "predict"):
            s = p[op]["ns_per_nnz"]
            assert 0 < s["min"] <= s["median"] <= s["max"]
            assert p[op]["rows_per_s"]["median"] > 0
        assert p["epoch"]["mode"] == "serial"
    assert set(report["estimator_check"]["threads"]) == {"1"}


def test_compare_runs_contenders_and_numpy_loop_agrees(tmp_path):
    report = run_script("compare", tmp_path, "--datasets", "planted", "--rows", "8000",
                        "--planted-values", "200", "--numpy-rows", "4000", "--epochs", "3",
                        "--contenders", "rapidfm,numpy,libfm,libffm,xlearn-cli,fastfm")
    ds = report["datasets"]["planted"]
    runs = {r["contender"]: r for r in ds["runs"]}
    for name in ("rapidfm-1t", "numpy-loop", "rapidfm-1t-sub"):
        r = runs[name]
        assert r["status"] == "ok", r
        assert r["seconds_per_epoch"] > 0 and r["ns_per_nonzero"] > 0
        assert len(r["curve"]) == r["epochs"] == 3
    numpy_loop, same_rows = runs["numpy-loop"], runs["rapidfm-1t-sub"]
    assert numpy_loop["extrapolated"] and numpy_loop["train_rows"] == same_rows["train_rows"]
    # both learn (well below the best constant) and agree on the same rows
    for r in (numpy_loop, same_rows):
        assert r["test_metric"] < 0.95 * ds["constant_metric"]
    assert abs(same_rows["test_metric"] - numpy_loop["test_metric"]) < 0.05 * numpy_loop[
        "test_metric"]
    for name, var in EXTERNAL.items():
        assert runs[name]["status"] == "skipped" and var in runs[name]["reason"]
    if runs["fastfm"]["status"] == "skipped":
        assert "fastFM" in runs["fastfm"]["reason"]


def test_bench_shuffle_runs_both_modes(tmp_path):
    res = subprocess.run([sys.executable, str(REPO / "bench" / "bench_shuffle.py"), "--rows",
                          "20000", "--epochs", "5", "--rounds", "1"],
                         check=True, capture_output=True, text=True, cwd=tmp_path)
    lines = res.stdout.splitlines()
    assert [line.split()[0] for line in lines[:2]] == ["shuffle=epoch", "shuffle=copy"]
    # both modes learn: test RMSE under the constant prediction's (about 1.20 on this
    # planted set), and about equal to each other
    rmses = [float(line.rsplit("RMSE", 1)[1]) for line in lines[:2]]
    assert max(rmses) < 1.1 and abs(rmses[0] - rmses[1]) < 0.05 * rmses[0]
    assert lines[2].startswith("copy in random order: median")


def test_bench_ffm_runs_without_libffm(tmp_path):
    out = tmp_path / "ffm.json"
    env = {k: v for k, v in os.environ.items() if k not in ("LIBFFM_DIR", "LIBFFM_TRAIN")}
    subprocess.run([sys.executable, str(REPO / "bench" / "bench_ffm.py"), "--parts", "speed",
                    "--rows", "3000", "--values", "100", "--epochs", "2", "--repeats", "1",
                    "--out", str(out)], check=True, capture_output=True, text=True, env=env,
                   cwd=tmp_path)
    runs = json.loads(out.read_text())["speed"]["runs"]
    ours = [r for r in runs if r["contender"] == "rapidfm"]
    # rapidfm's epochs at each thread count are measured; libffm is skipped, not faked
    assert sorted(r["threads"] for r in ours) == [1, 2]
    assert all(r["status"] == "ok" and r["seconds_per_epoch"]["median"] > 0 for r in ours)
    assert all(r["status"] != "ok" for r in runs if r["contender"] == "libffm")
    assert out.with_suffix(".md").exists()


def test_bench_ranking_runs_without_lightfm(tmp_path):
    from conftest import data_path

    data_path("ml-100k", "u1.base")
    data_path("ml-100k", "u1.test")
    out = tmp_path / "ranking.json"
    env = {k: v for k, v in os.environ.items() if k != "LIGHTFM_PYTHON"}
    subprocess.run([sys.executable, str(REPO / "bench" / "bench_ranking.py"), "--quick",
                    "--out", str(out)], check=True, capture_output=True, text=True, env=env,
                   cwd=tmp_path)
    runs = {r["contender"]: r for r in json.loads(out.read_text())["runs"]}
    # rapidfm's three configurations are measured and rank far better than chance
    for name in ("rapidfm-bpr", "rapidfm", "rapidfm-2t"):
        r = runs[name]
        assert r["status"] == "ok", r
        assert 0.5 < r["auc"]["median"] <= 1
        assert 0 <= r["precision_at_k"]["median"] <= 1
        assert r["seconds_per_epoch"]["median"] > 0
        assert len(r["per_seed"]) == 1 and len(r["per_seed"][0]["epoch_seconds"]) == 3
    assert runs["popularity"]["status"] == "ok"
    # LightFM is skipped with the reason, not faked
    for name in ("lightfm-bpr", "lightfm-warp"):
        assert runs[name]["status"] == "skipped" and "LIGHTFM_PYTHON" in runs[name]["reason"]
    assert out.with_suffix(".md").read_text().startswith("## bench_ranking")


def test_bench_deep_runs_without_deepctr(tmp_path):
    import pytest
    from conftest import data_path

    pytest.importorskip("torch")
    data_path("frappe", "libfm", "frappe.validation.libfm")
    data_path("frappe", "libfm", "frappe.test.libfm")
    out = tmp_path / "deep.json"
    env = {k: v for k, v in os.environ.items() if k != "DEEPCTR_PYTHON"}
    subprocess.run([sys.executable, str(REPO / "bench" / "bench_deep.py"), "--quick",
                    "--out", str(out)], check=True, capture_output=True, text=True, env=env,
                   cwd=tmp_path)
    report = json.loads(out.read_text())
    assert report["data"]["n_train"] + report["data"]["n_validation"] == 3000
    runs = {r["contender"]: r for r in report["runs"]}
    # rapidfm's four models are measured, on one seed and one epoch, and score the test rows
    for name in ("rapidfm-deepfm", "rapidfm-afm", "rapidfm-fm", "rapidfm-ffm"):
        r = runs[name]
        assert r["status"] == "ok", r
        assert 0 < r["test_logloss"]["median"] < 1
        assert 0 <= r["test_auc"]["median"] <= 1
        assert r["seconds_per_epoch"]["median"] > 0
        assert len(r["per_seed"]) == 1 and r["epochs_run"] == [1] and r["best_epochs"] == [1]
    # DeepCTR-Torch is skipped with the reason, not faked, and its targets not evaluated
    for name in ("deepctr-deepfm", "deepctr-afm"):
        assert runs[name]["status"] == "skipped" and "DEEPCTR_PYTHON" in runs[name]["reason"]
    speed = [t for t in report["targets"] if "s/epoch" in t["target"]]
    assert len(speed) == 2 and all(t["met"] is None for t in speed)
    assert out.with_suffix(".md").read_text().startswith("## bench_deep")
