"""The machine a benchmark ran on, as a dict for its JSON and a paragraph for its markdown:
CPU model, logical CPUs (all and those this process may run on), cache sizes, memory,
vector extensions, load average at the start, library versions, rapidfm's OpenMP build
and thread count, the C compiler and the date (UTC)."""

import datetime
import os
import platform
import subprocess
from pathlib import Path

import numpy as np
import scipy
from bench_report import cpu_model

import rapidfm
from rapidfm import _core

CACHES = {"L1d cache": "l1d_cache", "L2 cache": "l2_cache", "L3 cache": "l3_cache"}
VECTOR_FLAGS = ("avx2", "avx512f")


def lscpu_caches():
    """{"l1d_cache", "l2_cache", "l3_cache"}: lscpu's text for each ("64 KiB (2 instances)"),
    None where lscpu does not say."""
    caches = dict.fromkeys(CACHES.values())
    try:
        res = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return caches
    for line in res.stdout.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in CACHES:
            caches[CACHES[name.strip()]] = value.strip()
    return caches


def meminfo_kib(*keys):
    """{key: kB} of /proc/meminfo for the keys asked (None where absent)."""
    found = dict.fromkeys(keys)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in found:
                found[name] = int(value.split()[0])
    except OSError:
        pass
    return found


def vector_extensions():
    """{flag: bool} for avx2 and avx512f in the first CPU's /proc/cpuinfo flags."""
    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    return {flag: flag in flags for flag in VECTOR_FLAGS}


def compiler():
    """First line of `cc --version`, None without a cc."""
    try:
        res = subprocess.run(["cc", "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = res.stdout.splitlines()
    return lines[0].strip() if res.returncode == 0 and lines else None


def describe():
    """The machine and software of this run, read now (the load average is the one at the
    start of the benchmark when describe() is called first)."""
    mem = meminfo_kib("MemTotal", "MemAvailable")
    max_threads = getattr(_core, "max_threads", None)
    return {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)),
        **lscpu_caches(),
        "mem_total_kib": mem["MemTotal"],
        "mem_available_kib": mem["MemAvailable"],
        "vector_extensions": vector_extensions(),
        "load_average_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "rapidfm": rapidfm.__version__,
        "openmp_enabled": bool(rapidfm.openmp_enabled()),
        "rapidfm_max_threads": max_threads() if max_threads else None,
        "compiler": compiler(),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def describe_text(d):
    """A short markdown paragraph of describe()'s dict."""
    def gib(kib):
        return "?" if kib is None else f"{kib / 2**20:.1f} GiB"

    vectors = ", ".join(f for f, present in d["vector_extensions"].items() if present) or "none"
    caches = ", ".join(f"{label} {d[key]}" for label, key in
                       (("L1d", "l1d_cache"), ("L2", "l2_cache"), ("L3", "l3_cache")) if d[key])
    load = ", ".join(f"{x:.2f}" for x in d["load_average_start"])
    return (f"**Machine**: {d['cpu_model']}, {d['logical_cpus']} logical CPUs "
            f"({d['cpus_available']} available to this process); {caches or 'caches unknown'}; "
            f"memory {gib(d['mem_total_kib'])} ({gib(d['mem_available_kib'])} available); "
            f"vector extensions: {vectors}; load average at start {load}. "
            f"Python {d['python']}, NumPy {d['numpy']}, SciPy {d['scipy']}, "
            f"rapidfm {d['rapidfm']} (OpenMP {'on' if d['openmp_enabled'] else 'off'}, "
            f"max threads {d['rapidfm_max_threads']}), compiler: {d['compiler'] or 'none'}. "
            f"{d['date_utc']}.")
