"""The contenders of bench/compare.py, one module per tool.

    data.py             the data sets and the text files the external tools read
    common.py           metric, timing and result records every contender uses
    rapidfm_sgd.py      rapidfm SGD, AdaGrad, FTRL and defaults (run_rapidfm)
    rapidfm_solvers.py  rapidfm MCMC and ALS (run_rapidfm_solver)
    numpy_loop.py       the textbook per-sample SGD in NumPy (run_numpy)
    torch_fm.py         an FM module in PyTorch, Adam (run_torch)
    libfm.py            libFM SGD, MCMC and ALS (run_libfm), LIBFM_BIN
    libffm.py           libffm's ffm-train (run_libffm), LIBFFM_TRAIN
    xlearn.py           xLearn, CLI (XLEARN_TRAIN) and Python package (run_xlearn_*)
    fastfm.py           fastFM's SGD (run_fastfm)
    myfm.py             myFM's Gibbs sampler (run_myfm)

bench/ is on sys.path when a script there runs, so they import e.g.
`from contenders.data import load_planted`.
"""
