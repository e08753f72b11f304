"""bench/bench_speed.py runs end to end on --quick and writes the report it documents.

A benchmark reports speed; nothing here asserts a timing, only that every section is
there, measured or skipped with its reason, and that the machine is described.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SECTIONS = ("kernel", "libfm_sgd", "cli", "threads", "predict", "memory", "instructions")


def test_bench_speed_quick_writes_every_section(tmp_path):
    out = tmp_path / "speed.json"
    # without libFM, whatever the caller's shell has set: its side is reported as skipped
    env = {k: v for k, v in os.environ.items() if k != "LIBFM_BIN"}
    res = subprocess.run([sys.executable, str(REPO / "bench" / "bench_speed.py"), "--quick",
                          "--out", str(out)], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["machine"]["cpu_model"]
    assert report["machine"]["logical_cpus"] >= 1
    for name in SECTIONS:
        assert report[name]["status"] in ("ok", "skipped"), (name, report[name])
        if report[name]["status"] == "skipped":
            assert report[name]["reason"]
    for name in ("kernel", "threads", "predict", "memory"):
        assert report[name]["status"] == "ok", report[name]
    assert report["kernel"]["kernel_ns_per_nonzero"]["median"] > 0
    assert set(report["threads"]["modes"]) == {"hogwild", "replicas", "hybrid", "auto"}
    assert report["predict"]["csr_row_microseconds"]["median"] > 0
    assert report["memory"]["data_bytes"] > 0
    assert "LIBFM_BIN" in report["libfm_sgd"]["reason"]
    planted_cli = [r for r in report["cli"]["runs"] if r["data"] == "planted"]
    assert planted_cli[0]["status"] == "ok"
    assert planted_cli[0]["wall_seconds"]["rapidfm -threads 1"]["median"] > 0
    assert all(t["met"] in (True, False) for t in report["targets"])
    md = out.with_suffix(".md").read_text()
    assert md.startswith("## bench_speed") and "**Machine**" in md
