"""The `rapidfm` command's entry point: what a command-line process sets before
the library loads, then rapidfm.cli.main.

A command needs none of scikit-learn's base classes (without them the
estimators use rapidfm's own, with the same get_params / set_params), and
importing scikit-learn took 0.9 s of every command's 1.4 s start-up
(RAPIDFM_SKLEARN=1 keeps it). Each is only a default: a value in the
environment wins.
"""

import os
import sys


def main(argv=None):
    os.environ.setdefault("RAPIDFM_SKLEARN", "0")
    from rapidfm.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
