"""The `rapidfm` command line. Exit codes: 0 ok, 1 failure, 2 bad usage.

Subcommands: demo (below), train / predict / convert (rapidfm._cli_commands),
libfm (rapidfm._libfm_cli, libFM's own single-dash flags, parsed outside argparse)
and ffm-train / ffm-predict (rapidfm._libffm_cli, libffm's command lines, likewise).
Runtime failures print one line, ``rapidfm: error: ...``, and exit with 1; usage
errors print the usage and exit with 2.
"""

import argparse
import sys
import time

# numpy, scipy and the estimators are imported by the commands that use them:
# `rapidfm --version` and `--help` start in a fraction of the time


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
            "targets from a known FM plus Gaussian noise), trains FMRegressor on 90% of it "
            "and prints per-epoch train/test RMSE, throughput and the noise floor that the "
            "test RMSE should approach."
        ),
    )
    p.add_argument("--rows", type=_positive_int, default=300_000, help="samples (default 300000)")
    p.add_argument("--fields", type=_positive_int, default=6, help="categorical fields (default 6)")
    p.add_argument("--cardinality", type=_positive_int, default=1000,
                   help="values per field (default 1000)")
    p.add_argument("--factors", type=_positive_int, default=8, help="k (default 8)")
    p.add_argument("--epochs", type=_positive_int, default=25, help="epochs (default 25)")
    p.add_argument("--threads", type=_threads, default=-1,
                   help="threads, -1 for all cores (default)")
    p.add_argument("--solver", choices=("adagrad", "sgd", "ftrl"), default="adagrad",
                   help="adagrad (default), sgd or ftrl")
    p.add_argument("--learning-rate", type=_positive_float, default=None,
                   help="step size (default: the solver's, 0.04 for adagrad and ftrl, 0.01 "
                        "for sgd)")
    p.add_argument("--reg", type=_nonnegative_float, default=None,
                   help="L2 strength on w and V (default: FMRegressor's, 0.01 on w and "
                        "0.06 on V)")
    p.add_argument("--noise", type=_nonnegative_float, default=0.5,
                   help="noise standard deviation (default 0.5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(run=_run_demo)


def _run_demo(args):
    import numpy as np

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
        f"training FMRegressor(k={args.factors}, solver={args.solver!r}) for {args.epochs} "
        f"epochs on {threads} thread(s) "
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

    regularization = {} if args.reg is None else dict(reg_linear=args.reg,
                                                          reg_factors=args.reg)
    model = FMRegressor(
        n_factors=args.factors, n_epochs=args.epochs, solver=args.solver,
        learning_rate=args.learning_rate, n_jobs=args.threads, random_state=args.seed,
        callbacks=[report], **regularization,
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


def _nonnegative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def _fraction(text):
    value = _positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be < 1")
    return value


_EXIT_CODES = "Exit codes: 0 ok, 1 failure (one line: rapidfm: error: ...), 2 bad usage."
_DATA_NOTE = (
    "Data files: libsvm/libFM or libffm text (plain, gzip or bzip2) or a cache folder "
    "made by `rapidfm convert`. Reports go to stderr; data (predictions) to files or stdout."
)


def _add_data_options(p, formats=("auto", "svmlight", "libffm", "cache"), threads_default=-1):
    p.add_argument("--format", choices=formats, default="auto",
                   help="data format (default auto: a folder is a cache, field:index:value "
                        "items are libffm, else svmlight)")
    p.add_argument("--zero-based", choices=("auto", "yes", "no"), default="auto",
                   help="feature numbering of text files (default auto: a file without index "
                        "0 is one-based)")
    p.add_argument("--threads", type=_threads, default=threads_default,
                   help=f"threads, -1 for all cores (default {threads_default})")


def _add_progress_options(p, epochs=False):
    group = p.add_mutually_exclusive_group()
    if epochs:
        group.add_argument("--progress", action="store_true",
                           help="show progress even when stderr is not a terminal (there: "
                                "one line per epoch; on a terminal one line redrawn in place)")
        group.add_argument("-v", "--verbose", action="store_true",
                           help="one line per epoch (loss, rows/s, elapsed, ETA), on a "
                                "terminal too")
    else:
        group.add_argument("--progress", action="store_true",
                           help="show the progress line even when stderr is not a terminal")
    group.add_argument("--quiet", action="store_true",
                       help="print nothing but errors (no progress line, no summary)")


def _add_train(subparsers):
    p = subparsers.add_parser(
        "train", help="train a model on a data file or cache and save it", epilog=_EXIT_CODES,
        description="Trains FMRegressor or FMClassifier (--model-kind ffm: FFMRegressor or "
                    "FFMClassifier, a field-aware FM on the fields of libffm data) on DATA "
                    "and saves the model to --model (atomically; load it with rapidfm.load "
                    "or `rapidfm predict`). " + _DATA_NOTE,
    )
    p.add_argument("data", metavar="DATA", help="training data: text file or cache folder")
    p.add_argument("--model", required=True, metavar="OUT", help="model file to write")
    p.add_argument("--model-kind", choices=("fm", "ffm"), default="fm",
                   help="fm (default): a Factorization Machine; ffm: a field-aware FM "
                        "(libffm's model, with the bias and linear terms unless "
                        "--no-linear), which needs libffm data or a cache converted from it")
    p.add_argument("--task", choices=("auto", "regression", "classification"), default="auto",
                   help="squared loss, or logistic loss on two label values (default "
                        "auto: classification when the labels are -1/+1 or 0/1, else "
                        "regression; the choice is printed)")
    _add_data_options(p)
    p.add_argument("--n-features", type=_positive_int, default=None,
                   help="number of features (default: largest index + 1); leave room for "
                        "features that only later files have")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="parameter type (default float32)")
    p.add_argument("--factors", type=_nonnegative_int, default=8,
                   help="k, rank of the pairwise interactions (default 8; 0: linear)")
    p.add_argument("--solver", choices=("adagrad", "sgd", "ftrl", "als", "mcmc"),
                   default="adagrad",
                   help="adagrad (default): SGD with a per-coordinate step (libffm's); "
                        "sgd: plain stochastic gradient descent (libFM's); ftrl: "
                        "FTRL-proximal on w (--reg-linear-l1 makes w sparse), AdaGrad on V; "
                        "als: exact coordinate descent (libFM's ALS); mcmc: Bayesian FM by "
                        "Gibbs sampling (libFM's MCMC: the regularization is learned, "
                        "predictions average the kept samples); classification with "
                        "als/mcmc is probit")
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help="epochs, or sweeps for als/mcmc (default 25; --model-kind ffm: 15)")
    p.add_argument("--learning-rate", type=_positive_float, default=None,
                   help="step size (default 0.04 for adagrad and ftrl, 0.01 for sgd; "
                        "--model-kind ffm: 0.2 and 0.1)")
    p.add_argument("--schedule", choices=("constant", "invscaling"), default="constant",
                   help="learning-rate schedule (default constant; adagrad and sgd)")
    p.add_argument("--reg-linear-l1", type=_nonnegative_float, default=None,
                   help="ftrl: L1 strength on w (default 0)")
    p.add_argument("--ftrl-beta", type=_nonnegative_float, default=None,
                   help="ftrl: beta of the step eta / (beta + sqrt(n)) (default 1)")
    p.add_argument("--reg", type=_nonnegative_float, default=None,
                   help="L2 strength on w and V (sets --reg-linear and --reg-factors; sgd "
                        "and als: mcmc learns them)")
    p.add_argument("--reg-bias", type=_nonnegative_float, default=0.0,
                   help="L2 strength on w0 (default 0; mcmc: the prior precision of w0)")
    p.add_argument("--reg-linear", type=_nonnegative_float, default=None,
                   help="L2 strength on w (default 0.01; --model-kind ffm: 2e-5)")
    p.add_argument("--reg-factors", type=_nonnegative_float, default=None,
                   help="L2 strength on V (default 0.06; --model-kind ffm: 2e-5, libffm's "
                        "-l)")
    p.add_argument("--init-std", type=_nonnegative_float, default=0.1,
                   help="standard deviation of the initial V (default 0.1)")
    p.add_argument("--no-norm", action="store_true",
                   help="--model-kind ffm: do not scale each row to unit L2 norm (libffm's "
                        "--no-norm; by default rows are normalized, as libffm does)")
    p.add_argument("--no-linear", action="store_true",
                   help="--model-kind ffm: no bias and linear terms, pairs only (libffm's "
                        "model)")
    p.add_argument("--n-fields", type=_positive_int, default=None,
                   help="--model-kind ffm: number of fields (default: largest field + 1); "
                        "leave room for fields that only later files have")
    p.add_argument("--feature-groups", metavar="FILE", default=None,
                   help="als/mcmc: one group id (0..G-1) per feature line, libFM's -meta "
                        "file; mcmc draws the priors of w and V per group")
    p.add_argument("--n-kept-samples", type=_positive_int, default=None, metavar="N",
                   help="mcmc: keep the last N samples for prediction (default: every "
                        "sweep after a burn-in of min(5, sweeps/2))")
    p.add_argument("--seed", type=_nonnegative_int, default=None,
                   help="random seed (default: drawn, and printed in the summary)")
    p.add_argument("--validation", metavar="FILE", default=None,
                   help="validation data: its loss is reported every epoch, training stops "
                        "after --patience epochs without improvement and the best epoch is "
                        "kept (mcmc: the loss of the averaged prediction, no stopping)")
    p.add_argument("--early-stopping", action="store_true",
                   help="without --validation: hold out --validation-fraction of DATA and "
                        "stop as with --validation")
    p.add_argument("--validation-fraction", type=_fraction, default=0.1,
                   help="share held out by --early-stopping (default 0.1)")
    p.add_argument("--patience", type=_positive_int, default=5,
                   help="epochs without improvement before stopping (default 5)")
    p.add_argument("--block-rows", type=_positive_int, default=None,
                   help="shuffle blocks of this many rows instead of all rows: reads a "
                        "cache larger than memory block by block (sgd only)")
    p.add_argument("--shuffle", choices=("auto", "copy", "epoch"), default="auto",
                   help="copy: train on a copy of the rows made once in a random order "
                        "(faster epochs, one more copy of the data in memory); epoch: no "
                        "copy, a fresh order of the rows as stored every epoch; auto "
                        "(default): copy unless the data is a cache, --block-rows is "
                        "given or the fit runs 1 epoch; sgd only)")
    p.add_argument("--plot", metavar="FILE", default=None,
                   help="after training, write the train (and validation) loss per epoch "
                        "to this image (.png, .svg, .pdf, ...; needs matplotlib: pip "
                        "install \"rapidfm[plot]\")")
    _add_progress_options(p, epochs=True)
    p.set_defaults(run=_run("run_train"))


def _add_predict(subparsers):
    p = subparsers.add_parser(
        "predict", help="write the predictions of a saved model for a data file",
        epilog=_EXIT_CODES,
        description="Writes one prediction per row of DATA: the value (regression) or the "
                    "probability of the positive class, classes_[1] (classification). "
                    + _DATA_NOTE,
    )
    p.add_argument("model", metavar="MODEL",
                   help="model file written by `rapidfm train` (or ffm-train, model.save); "
                        "a field-aware model reads the fields of libffm DATA")
    p.add_argument("data", metavar="DATA", help="data to predict: text file or cache folder")
    p.add_argument("--out", default="-", metavar="FILE",
                   help="output file, '-' for stdout (default)")
    p.add_argument("--labels", action="store_true",
                   help="classification: write the predicted labels instead of probabilities")
    p.add_argument("--metrics", action="store_true",
                   help="report RMSE and MAE, or log-loss, accuracy and AUC, against DATA's labels "
                        "(on stderr)")
    _add_data_options(p)
    p.set_defaults(run=_run("run_predict"), quiet=False)


def _add_convert(subparsers):
    p = subparsers.add_parser(
        "convert", help="convert a text data file into a memory-mapped cache folder",
        epilog=_EXIT_CODES,
        description="Streams TEXT into a cache folder CACHE (never holding the file in "
                    "memory) that train and predict open memory-mapped.",
    )
    p.add_argument("text", metavar="TEXT", help="libsvm/libFM or libffm text file")
    p.add_argument("cache", metavar="CACHE", help="cache folder to write (an older cache is "
                                                  "replaced)")
    _add_data_options(p, formats=("auto", "svmlight", "libffm"))
    p.add_argument("--n-features", type=_positive_int, default=None,
                   help="number of features (default: largest index + 1)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="type of the stored values (default float32)")
    _add_progress_options(p)
    p.set_defaults(run=_run("run_convert"))


def _add_libfm(subparsers):
    # listed for `rapidfm --help`; main() hands the arguments to _libfm_cli itself
    # because argparse cannot take libFM's single-dash long flags
    subparsers.add_parser(
        "libfm", add_help=False,
        help="libFM's command line (-task -train -test -dim -iter -method mcmc|als|sgd "
             "...); `rapidfm libfm -help` lists the flags",
    )


def _add_libffm(subparsers):
    # listed for `rapidfm --help`; main() hands the arguments to _libffm_cli, which
    # parses libffm's flags as libffm does (options, then the files)
    subparsers.add_parser(
        "ffm-train", add_help=False,
        help="libffm's ffm-train (-l -k -t -r -s -p --auto-stop --no-norm --quiet) on "
             "rapidfm's field-aware FM; `rapidfm ffm-train --help` lists the flags",
    )
    subparsers.add_parser(
        "ffm-predict", add_help=False,
        help="libffm's ffm-predict test_file model_file output_file (a model of "
             "`rapidfm ffm-train`)",
    )


def _run(name):
    def run(args):
        from rapidfm import _cli_commands

        return getattr(_cli_commands, name)(args)

    return run


def build_parser():
    parser = argparse.ArgumentParser(
        prog="rapidfm", description="Factorization Machines on large sparse data.",
        epilog=_EXIT_CODES,
    )
    parser.add_argument("--version", action="store_true", help="print the version and build")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(subparsers)
    _add_predict(subparsers)
    _add_convert(subparsers)
    _add_libfm(subparsers)
    _add_libffm(subparsers)
    _add_demo(subparsers)
    return parser


def _one_line(exc):
    """The message of a runtime failure, on one line."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    if isinstance(exc, MemoryError):
        text = f"out of memory ({text})"
    return " ".join(text.split())


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["libfm"]:
        command = "libfm"
        from rapidfm import _libfm_cli

        def run(_args):
            return _libfm_cli.run(argv[1:])

        parser = None
    elif argv[:1] in (["ffm-train"], ["ffm-predict"]):
        command = argv[0]
        from rapidfm import _libffm_cli

        def run(_args):
            return _libffm_cli.run(command, argv[1:])

        parser = None
    else:
        parser = build_parser()
        args = parser.parse_args(argv)  # exits with 2 on bad usage
        if args.version:
            import rapidfm

            print(f"rapidfm {rapidfm.__version__} (OpenMP: {rapidfm.openmp_enabled()})")
            return 0
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        command = args.command
        run = args.run
    from rapidfm._cli_commands import UsageError  # numpy and scipy: not for --version

    try:
        return run(None if parser is None else args)
    except UsageError as exc:
        hint = "rapidfm libfm -help" if command == "libfm" else f"rapidfm {command} --help"
        print(f"rapidfm {command}: error: {exc} (see {hint})", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError, FloatingPointError, MemoryError) as exc:
        # DataFileError, CacheError, ModelFileError, LibFMModelError (ValueErrors),
        # DivergenceError (a FloatingPointError), missing files: one line, no traceback
        print(f"rapidfm: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rapidfm: interrupted", file=sys.stderr)
        return 1
