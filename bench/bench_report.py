"""What every benchmark report of bench_ranking.py and bench_deep.py shares: where the
data are, the machine's CPU, summaries of repeated figures and the contender records."""

import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def data_dir():
    """RAPIDFM_DATA, default ../shared/data beside the repository (as tests/conftest.py)."""
    return Path(os.environ.get("RAPIDFM_DATA", REPO.parent / "shared" / "data"))


def cpu_model():
    """lscpu's 'Model name' (else /proc/cpuinfo, else platform)."""
    try:
        res = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10)
        for line in res.stdout.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def med(values):
    """{"median", "min", "max", "n"} of a list of numbers."""
    v = np.asarray(values, np.float64)
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()),
            "n": int(v.size)}


def ok(name, **kw):
    return {"contender": name, "status": "ok", **kw}


def skipped(name, reason, **kw):
    return {"contender": name, "status": "skipped", "reason": reason, **kw}


def failed(name, reason, **kw):
    return {"contender": name, "status": "failed", "reason": reason, **kw}


def write_report(report, out, markdown, started):
    """Adds the run's seconds and the closing load average to report, writes it as JSON
    to `out` and markdown(report) beside it (.md), each through a temporary file renamed
    into place (an interrupted run leaves the previous results whole), and prints the
    markdown."""
    report["seconds"] = time.time() - started
    report["machine"]["load_average_end"] = list(os.getloadavg())
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(report)
    for path, content in ((out, json.dumps(report, indent=2)), (out.with_suffix(".md"), text)):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(content)
        os.replace(tmp, path)
    print()
    print(text)
    print(f"wrote {out} and {out.with_suffix('.md')} ({report['seconds']:.0f} s)")
