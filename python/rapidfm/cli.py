"""The `rapidfm` command line. Exit codes: 0 ok, 1 failure, 2 bad usage."""

import argparse
import sys
import time

import numpy as np


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def _float_above(low, strict):
    """An argparse type: a finite float > low (strict) or >= low."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        ok = value > low if strict else value >= low
        if not ok or value == float("inf"):
            relation = ">" if strict else ">="
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number {relation} {low}")
        return value

    return parse


_positive_float = _float_above(0, strict=True)
_nonnegative_float = _float_above(0, strict=False)


def _threads(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value == 0:
        raise argparse.ArgumentTypeError("0 threads: use a positive count or -1 for all cores")
    return value


def _add_demo(subparsers):
    p = subparsers.add_parser(
        "demo",
        help="train on a synthetic click-log style dataset and report speed and accuracy",
        description=(
            "Draws a planted-FM dataset (one-hot fields with power-law value frequencies, "
            "targets from a known FM plus Gaussian noise), trains FMRegressor on 90%% of it "
            "and prints per-epoch train/test RMSE, throughput and the noise floor that the "
            "test RMSE should approach."
        ),
    )
    p.add_argument("--rows", type=_positive_int, default=300_000, help="samples (default 300000)")
    p.add_argument("--fields", type=_positive_int, default=6, help="categorical fields (default 6)")
    p.add_argument("--cardinality", type=_positive_int, default=1000,
                   help="values per field (default 1000)")
    p.add_argument("--factors", type=_positive_int, default=8, help="k (default 8)")
    p.add_argument("--epochs", type=_positive_int, default=15, help="epochs (default 15)")
    p.add_argument("--threads", type=_threads, default=-1,
                   help="threads, -1 for all cores (default)")
    p.add_argument("--learning-rate", type=_positive_float, default=0.01,
                   help="SGD step (default 0.01)")
    p.add_argument("--reg", type=_nonnegative_float, default=0.01,
                   help="L2 strength on w and V (default 0.01)")
    p.add_argument("--noise", type=_nonnegative_float, default=0.5,
                   help="noise standard deviation (default 0.5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(run=_run_demo)


def _run_demo(args):
    from rapidfm import FMRegressor, openmp_enabled
    from rapidfm._validation import effective_n_threads
    from rapidfm.datasets import make_planted_fm

    t0 = time.perf_counter()
    data = make_planted_fm(
        n_samples=args.rows, n_fields=args.fields, field_cardinality=args.cardinality,
        n_factors=4, noise_std=args.noise, random_state=args.seed,
    )
    n_train = int(0.9 * args.rows)
    X_tr, y_tr, X_te, y_te = data.split(n_train)
    threads = effective_n_threads(args.threads)
    print(
        f"planted FM data: {args.rows:,} rows x {data.X.shape[1]:,} features "
        f"({args.fields} one-hot fields, power-law values), {X_tr.nnz:,} training nonzeros, "
        f"made in {time.perf_counter() - t0:.1f} s"
    )
    print(
        f"training FMRegressor(k={args.factors}) for {args.epochs} epochs on {threads} thread(s) "
        f"(OpenMP build: {'yes' if openmp_enabled() else 'no'}); noise floor RMSE "
        f"{data.noise_floor:.4f}, predicting the mean gives {np.std(y_te):.4f}"
    )
    print(f"{'epoch':>5} {'train RMSE':>11} {'test RMSE':>10} {'rows/s':>12} {'ns/nnz':>8} "
          f"{'threads':>7}")

    def report(model, history):
        h = history[-1]
        rmse = float(np.sqrt(np.mean((model.predict(X_te) - y_te) ** 2)))
        print(f"{h['epoch']:5d} {np.sqrt(h['train_loss']):11.4f} {rmse:10.4f} "
              f"{h['rows_per_second']:12,.0f} {h['ns_per_nonzero']:8.2f} {h['n_threads']:7d}",
              flush=True)

    model = FMRegressor(
        n_factors=args.factors, n_epochs=args.epochs, learning_rate=args.learning_rate,
        reg_linear=args.reg, reg_factors=args.reg, n_jobs=args.threads, random_state=args.seed,
        callbacks=[report],
    )
    model.fit(X_tr, y_tr)
    final = float(np.sqrt(np.mean((model.predict(X_te) - y_te) ** 2)))
    total = sum(h["seconds"] for h in model.history_)
    print(
        f"test RMSE {final:.4f} vs noise floor {data.noise_floor:.4f} "
        f"({100 * (final / data.noise_floor - 1):+.1f}%); training took {total:.2f} s, "
        f"median epoch {np.median([h['seconds'] for h in model.history_]):.3f} s"
    )
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="rapidfm", description="Factorization Machines on large sparse data."
    )
    parser.add_argument("--version", action="store_true", help="print the version and build")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_demo(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with 2 on bad usage
    if args.version:
        import rapidfm

        print(f"rapidfm {rapidfm.__version__} (OpenMP: {rapidfm.openmp_enabled()})")
        return 0
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.run(args)
    except (ValueError, TypeError, OSError, FloatingPointError) as exc:
        print(f"rapidfm {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
