"""The `rapidfm` command line (python -m rapidfm): exit codes 0 ok, 1 failure, 2 bad usage."""

import re
import subprocess
import sys

import pytest

import rapidfm


def run(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "rapidfm", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_demo_runs_and_reports():
    result = run("demo", "--rows", "20000", "--epochs", "2", "--threads", "1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "ns/nnz" in out
    assert "noise floor" in out
    lines = out.splitlines()
    header = [i for i, line in enumerate(lines) if "ns/nnz" in line]
    assert len(header) == 1
    # one line per epoch after the header: epoch number then numbers
    epoch_lines = [line for line in lines[header[0] + 1:]
                   if re.match(r"^\s*\d+\s+[\d.]+\s+[\d.]+\s", line)]
    assert [int(line.split()[0]) for line in epoch_lines] == [1, 2]
    for line in epoch_lines:
        assert line.split()[-1] == "1"  # threads column
        train_rmse, test_rmse = float(line.split()[1]), float(line.split()[2])
        assert 0 < train_rmse < 10 and 0 < test_rmse < 10
    assert re.search(r"test RMSE [\d.]+ vs noise floor 0\.5000", out)


@pytest.mark.parametrize("args,pattern", [
    (["demo", "--rows", "-5"], r"--rows"),
    (["nope"], r"invalid choice"),
    ([], r"usage"),
])
def test_bad_usage_exits_2(args, pattern):
    result = run(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert re.search(pattern, result.stderr), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args,pattern", [
    (["demo", "--rows", "abc"], r"--rows"),
    (["demo", "--rows", "0"], r"--rows"),
    (["demo", "--epochs", "0"], r"--epochs"),
    (["demo", "--threads", "0"], r"--threads"),
    (["demo", "--threads", "x"], r"--threads"),
    (["demo", "--no-such-option"], r"unrecognized arguments"),
])
def test_bad_usage_in_process(args, pattern, capsys):
    from rapidfm.cli import main

    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert re.search(pattern, capsys.readouterr().err)


def test_no_command_in_process(capsys):
    from rapidfm.cli import main

    assert main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith(f"rapidfm {rapidfm.__version__}")
    assert "OpenMP" in result.stdout


def test_help(capsys):
    from rapidfm.cli import main

    for args, expected in ((["--help"], "demo"), (["demo", "--help"], "--rows")):
        with pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code == 0
        assert expected in capsys.readouterr().out


def test_training_failure_exits_1(capsys):
    from rapidfm.cli import main

    code = main(["demo", "--rows", "2000", "--epochs", "2", "--threads", "1",
                 "--learning-rate", "1e9"])
    assert code == 1
    assert re.search(r"error: .*smaller learning_rate", capsys.readouterr().err)


def test_demo_in_process_prints_every_epoch(capsys):
    from rapidfm.cli import main

    assert main(["demo", "--rows", "3000", "--epochs", "3", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    epochs = [int(m.group(1)) for m in re.finditer(r"^\s*(\d+)\s+[\d.]+\s+[\d.]+\s", out, re.M)]
    assert epochs == [1, 2, 3]
