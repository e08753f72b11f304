"""The `rapidfm` command's entry point: what a command-line process sets before
the library loads, then rapidfm.cli.main.

A command needs none of scikit-learn's base classes (without them the
estimators use rapidfm's own, with the same get_params / set_params), and
importing scikit-learn took 0.9 s of every command's 1.4 s start-up
(RAPIDFM_SKLEARN=1 keeps it). OpenMP threads wait passively (sleep rather than
spin) at the end of a parallel region: a command runs many short regions (an
ALS/MCMC sweep has a few per feature block), and where another process holds a
core a spinning thread keeps the one it waits for off it (u1, 200 MCMC
iterations, a busy loop on the second core: 1.74 s spinning, 1.36 s passive;
on an idle machine the same within noise, for SGD too). Each is only a
default: a value in the environment wins. Library users keep their process's
OpenMP settings.
"""

import os
import sys


def main(argv=None):
    os.environ.setdefault("RAPIDFM_SKLEARN", "0")
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # before the kernel loads OpenMP
    from rapidfm.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
