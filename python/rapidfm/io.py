"""Reading and writing data and models in other programs' formats.

- Sparse data in text files (:mod:`rapidfm.textfiles`): :func:`load_svmlight` and
  :func:`dump_svmlight` for libsvm / SVMlight / libFM files, :func:`load_libffm` and
  :func:`dump_libffm` for libffm files.
- A memory-mapped binary cache (:mod:`rapidfm.cache`): :func:`save_cache`,
  :func:`open_cache`, and :func:`convert_to_cache` (text -> cache, streaming).
- libFM model files (:mod:`rapidfm.libfm_model`): :func:`load_libfm_model`,
  :func:`save_libfm_model`.
"""

from rapidfm.cache import CacheError, convert_to_cache, open_cache, save_cache
from rapidfm.libfm_model import LibFMModelError, load_libfm_model, save_libfm_model
from rapidfm.textfiles import (
    DataFileError,
    dump_libffm,
    dump_svmlight,
    load_libffm,
    load_svmlight,
)

__all__ = [
    "CacheError",
    "DataFileError",
    "LibFMModelError",
    "convert_to_cache",
    "dump_libffm",
    "dump_svmlight",
    "load_libffm",
    "load_libfm_model",
    "load_svmlight",
    "open_cache",
    "save_cache",
    "save_libfm_model",
]
