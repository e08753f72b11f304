"""Column names of data frames: the estimators' feature_names_in_, as scikit-learn's.

scikit-learn sets ``feature_names_in_`` when fit sees X with string column names
(a pandas, polars or pyarrow table) and checks the names of the X given to the
other methods against it. These functions do the same without scikit-learn (its
own helpers are private and moved between releases), with its messages:

- fit (and the first partial_fit) keeps the names of X, or drops feature_names_in_
  when X has none;
- predict & co. and a further partial_fit raise ValueError when X's names differ
  from the fitted ones (other names, other order, missing names), and warn
  (UserWarning) when only one of the two has names.
"""

import sys
import warnings

import numpy as np


def _is_instance(X, module, names):
    mod = sys.modules.get(module)  # never imports a data frame library
    if mod is None:
        return False
    return any(isinstance(X, cls) for cls in (getattr(mod, n, None) for n in names)
               if isinstance(cls, type))


def column_names(X):
    """The column labels of a data frame X (pandas, polars, pyarrow) as a list, else None."""
    if _is_instance(X, "pandas", ("DataFrame",)):
        return list(X.columns)
    if _is_instance(X, "polars", ("DataFrame",)):
        return list(X.columns)
    if _is_instance(X, "pyarrow", ("Table", "RecordBatch")):
        return list(X.column_names)
    return None


def feature_names_of(X):
    """Feature names of X as an object ndarray when all its column names are strings,
    else None (arrays, sparse matrices, data frames with integer column labels).

    Column names mixing strings and other types raise TypeError, as in scikit-learn.
    """
    names = column_names(X)
    if not names:
        return None
    types = sorted({type(v).__qualname__ for v in names})
    if len(types) > 1 and "str" in types:
        raise TypeError(
            "Feature names are only supported if all input features have string names, "
            f"but your input has {types} as feature name / column name types. "
            "If you want feature names to be stored and validated, you must convert "
            "them all to strings, by using X.columns = X.columns.astype(str) for "
            "example. Otherwise you can remove feature / column names from your input "
            "data, or convert them all to a non-string data type."
        )
    if types == ["str"]:
        return np.asarray(names, dtype=object)
    return None


def _listed(names, limit=5):
    out = ""
    for i, name in enumerate(names):
        if i >= limit:
            out += "- ...\n"
            break
        out += f"- {name}\n"
    return out


def check_feature_names(fitted, X, owner, stacklevel=4):
    """Compare X's feature names with `fitted` (feature_names_in_ or None).

    ValueError when both have names and they differ; a UserWarning when only one
    side has names (scikit-learn's rules and messages); `owner` is the estimator's
    class name.
    """
    names = feature_names_of(X)
    if fitted is None and names is None:
        return
    if fitted is None:
        warnings.warn(f"X has feature names, but {owner} was fitted without feature names",
                      UserWarning, stacklevel=stacklevel)
        return
    if names is None:
        warnings.warn(f"X does not have valid feature names, but {owner} was fitted with "
                      "feature names", UserWarning, stacklevel=stacklevel)
        return
    if len(fitted) == len(names) and np.all(np.asarray(fitted) == names):
        return
    message = "The feature names should match those that were passed during fit.\n"
    unexpected = sorted(set(names) - set(fitted))
    missing = sorted(set(fitted) - set(names))
    if unexpected:
        message += "Feature names unseen at fit time:\n" + _listed(unexpected)
    if missing:
        message += "Feature names seen at fit time, yet now missing:\n" + _listed(missing)
    if not unexpected and not missing:
        message += "Feature names must be in the same order as they were in fit.\n"
    raise ValueError(message)


def describe_column(j, names):
    """'column 'item' (index 1)' or 'column 1', for messages."""
    if names is not None and j < len(names):
        return f"column {names[j]!r} (index {j})"
    return f"column {j}"
