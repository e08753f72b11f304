"""Model persistence: rapidfm's own file format (save/load), its integrity checks and
atomic writes, and pickle/joblib/deepcopy/clone.

The reference for a loaded model is the model that was saved (its predictions, its
parameters and fitted attributes). Corrupted and inconsistent files are built here
by `write_model_file`, an independent writer that follows the format described in
rapidfm.persistence's docstring; it is itself checked to produce loadable files, so
that each negative test fails only because of its one modification.
"""

import copy
import hashlib
import io
import json
import os
import pickle
import stat
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

import rapidfm
from rapidfm import FMClassifier, FMRegressor, persistence
from rapidfm._sklearn_compat import NotFittedError
from rapidfm.persistence import FORMAT_VERSION, ModelFileError, load, save_model

N_ROWS, N_FEATURES = 150, 20
# the files of these tests are SGD models (the solver of version 1 files); the adaptive
# solvers' state is tested in test_adaptive_solvers.py
TRAIN = dict(solver="sgd", n_epochs=2, learning_rate=0.05, n_jobs=1, random_state=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(42)
    X = sp.random(N_ROWS, N_FEATURES, density=0.25, random_state=1, format="csr",
                  data_rvs=lambda n: rng.normal(size=n))
    y = X @ rng.normal(size=N_FEATURES) + 0.1 * rng.normal(size=N_ROWS)
    X_new = sp.random(60, N_FEATURES, density=0.3, random_state=2, format="csr",
                      data_rvs=lambda n: rng.normal(size=n))
    return X, np.asarray(y), X_new


def fit_regressor(data, dtype=np.float32, n_factors=3, **params):
    X, y, _ = data
    return FMRegressor(n_factors=n_factors, dtype=dtype, **TRAIN, **params).fit(X, y)


def fit_classifier(data, labels=("no", "yes"), dtype=np.float32, n_factors=3, **params):
    X, y, _ = data
    labels = np.asarray(labels)
    return FMClassifier(n_factors=n_factors, dtype=dtype, **TRAIN, **params).fit(
        X, labels[(y > np.median(y)).astype(int)])


def assert_same_value(a, b, where="value"):
    """Equal values of the same types, recursively (NaN equals NaN)."""
    assert type(a) is type(b), (where, type(a), type(b))
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, (where, a.dtype, b.dtype)
        if a.dtype.kind == "O":
            for i, (x, z) in enumerate(zip(a.ravel().tolist(), b.ravel().tolist())):
                assert_same_value(x, z, f"{where}[{i}]")
        else:
            assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            assert_same_value(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, z) in enumerate(zip(a, b)):
            assert_same_value(x, z, f"{where}[{i}]")
    elif isinstance(a, (float, np.floating)) and np.isnan(a):
        assert np.isnan(b), where
    else:
        assert a == b, (where, a, b)


def fitted_state(model):
    return {k: v for k, v in vars(model).items() if k.endswith("_") and not k.startswith("_")}


def assert_same_model(original, loaded, X, dropped=()):
    assert type(loaded) is type(original)
    expected = original.get_params()
    got = loaded.get_params()
    for name in dropped:
        assert got[name] is None
        expected[name] = got[name] = None
    assert_same_value(got, expected, "params")  # not ==: parameters may be arrays
    state, loaded_state = fitted_state(original), fitted_state(loaded)
    assert sorted(state) == sorted(loaded_state)
    for name in state:
        assert_same_value(state[name], loaded_state[name], name)
    if isinstance(original, FMClassifier):
        assert np.array_equal(loaded.decision_function(X), original.decision_function(X))
        assert np.array_equal(loaded.predict_proba(X), original.predict_proba(X))
    assert np.array_equal(loaded.predict(X), original.predict(X))
    assert loaded.predict(X).dtype == original.predict(X).dtype


# -- an independent reader/writer of the documented format ---------------------------------------


def read_model_file(path):
    """(header dict, {name: ndarray}) read with zipfile and numpy, no rapidfm code."""
    with zipfile.ZipFile(path) as zf:
        header = json.loads(zf.read("header.json").decode("utf-8"))
        arrays = {name[:-4]: np.lib.format.read_array(io.BytesIO(zf.read(name)),
                                                      allow_pickle=False)
                  for name in zf.namelist() if name.endswith(".npy")}
    return header, arrays


def write_model_file(path, header, arrays, *, array_digests=True, members=None, raw_header=None):
    """A model file as the module docstring describes it.

    array_digests: recompute each array's "arrays" entry (shape, dtype, sha256) from the
    array. members: extra (name, bytes) members. raw_header: header.json bytes to use.
    The trailing whole-file checksum is always correct.
    """
    header = copy.deepcopy(header)
    if array_digests:
        header["arrays"] = {
            name: {"shape": list(a.shape), "dtype": a.dtype.str,
                   "sha256": hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()}
            for name, a in arrays.items()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.comment = b"rapidfm-sha256:" + b"0" * 64
        zf.writestr("header.json", raw_header if raw_header is not None
                    else json.dumps(header).encode("utf-8"))
        for name, a in arrays.items():
            npy = io.BytesIO()
            np.lib.format.write_array(npy, a, allow_pickle=False)
            zf.writestr(name + ".npy", npy.getvalue())
        for name, content in members or ():
            zf.writestr(name, content)
    content = buffer.getvalue()
    content = content[:-64] + hashlib.sha256(content[:-64]).hexdigest().encode("ascii")
    with open(path, "wb") as fh:
        fh.write(content)
    return path


@pytest.fixture(scope="module")
def saved(data, tmp_path_factory):
    """A small fitted float32 regressor, its file and the file's parts."""
    model = fit_regressor(data)
    path = tmp_path_factory.mktemp("saved") / "model.rfm"
    model.save(path)
    header, arrays = read_model_file(path)
    return model, path, header, arrays


# -- round trips -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_factors", [0, 4])
def test_regressor_round_trip_is_bit_identical(data, tmp_path, dtype, n_factors):
    model = fit_regressor(data, dtype=dtype, n_factors=n_factors)
    model.save(tmp_path / "m.rfm")
    loaded = rapidfm.load(tmp_path / "m.rfm")
    assert loaded.V_.dtype == dtype and loaded.V_.shape == (N_FEATURES, n_factors)
    assert_same_model(model, loaded, data[2])
    assert_same_model(model, loaded, data[0])


def test_unclipped_regressor_round_trip(data, tmp_path):
    model = fit_regressor(data, clip_predictions=False)
    save_model(model, str(tmp_path / "m.rfm"))  # str paths work as well as Path
    loaded = load(str(tmp_path / "m.rfm"))
    assert loaded.clip_predictions is False
    assert_same_model(model, loaded, data[2])


@pytest.mark.parametrize("labels", [
    ("no", "yes"),                                     # strings: JSON {"__ndarray__"}
    (-1, 1), (0, 7),                                   # ints: an .npy member
    (False, True),                                     # bools
    (0.5, 2.25),                                       # floats
    np.array(["cat", "dog"], dtype=object),            # object dtype (pandas-like labels)
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_classifier_round_trip_keeps_classes_and_outputs(data, tmp_path, labels, dtype):
    model = fit_classifier(data, labels=labels, dtype=dtype)
    model.save(tmp_path / "c.rfm")
    loaded = load(tmp_path / "c.rfm")
    assert loaded.classes_.dtype == model.classes_.dtype
    assert loaded.classes_.tolist() == model.classes_.tolist()
    assert_same_model(model, loaded, data[2])


def test_loaded_model_has_writable_contiguous_parameters(saved):
    model, path, _, _ = saved
    loaded = load(path)
    for name in ("w_", "V_"):
        array = getattr(loaded, name)
        assert array.flags.c_contiguous and array.flags.writeable and array.dtype.isnative


def test_loaded_model_continues_training_like_the_original(data, tmp_path):
    X, y, X_new = data
    if "warm_start" not in FMRegressor().get_params():
        pytest.skip("this rapidfm has no warm_start")
    model = fit_regressor(data, dtype=np.float64)
    model.save(tmp_path / "m.rfm")
    loaded = load(tmp_path / "m.rfm")
    for m in (model, loaded):
        m.set_params(warm_start=True, n_epochs=1).fit(X, y)
    assert np.array_equal(loaded.V_, model.V_) and np.array_equal(loaded.w_, model.w_)
    assert np.array_equal(loaded.predict(X_new), model.predict(X_new))


def test_saving_twice_gives_identical_bytes(saved, tmp_path):
    model, path, _, _ = saved
    model.save(tmp_path / "again.rfm")
    assert (tmp_path / "again.rfm").read_bytes() == path.read_bytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, "float64", np.dtype("float32"), float])
def test_dtype_parameter_round_trips_in_its_own_form(data, tmp_path, dtype):
    model = fit_regressor(data, dtype=dtype)
    model.save(tmp_path / "m.rfm")
    loaded = load(tmp_path / "m.rfm")
    assert type(loaded.dtype) is type(dtype) and loaded.dtype == dtype
    assert_same_model(model, loaded, data[2])


def test_unrepresentable_parameters_are_dropped_and_named(data, tmp_path):
    model = fit_regressor(data)
    model.set_params(callbacks=[lambda estimator, history: False],
                     random_state=np.random.default_rng(3))
    model.save(tmp_path / "m.rfm")
    header, _ = read_model_file(tmp_path / "m.rfm")
    assert sorted(header["params_dropped"]) == ["callbacks", "random_state"]
    assert header["params"]["callbacks"] is None and header["params"]["random_state"] is None
    loaded = load(tmp_path / "m.rfm")
    assert_same_model(model, loaded, data[2], dropped=("callbacks", "random_state"))

    model.set_params(callbacks=None, random_state=np.random.RandomState(0))
    model.save(tmp_path / "m2.rfm")
    assert read_model_file(tmp_path / "m2.rfm")[0]["params_dropped"] == ["random_state"]


def test_parameters_missing_from_an_older_file_take_their_defaults(saved, tmp_path):
    model, _, header, arrays = saved
    older = copy.deepcopy(header)
    del older["params"]["init_std"], older["params"]["schedule"]
    loaded = load(write_model_file(tmp_path / "old.rfm", older, arrays))
    defaults = FMRegressor().get_params()
    assert loaded.init_std == defaults["init_std"] and loaded.schedule == defaults["schedule"]
    assert loaded.n_factors == model.n_factors
    assert np.array_equal(loaded.predict(data_rows()), model.predict(data_rows()))


def data_rows():
    return sp.random(30, N_FEATURES, density=0.3, random_state=5, format="csr")


@pytest.mark.parametrize("class_weight", [{"no": 1.0, "yes": 3.0}, "balanced"])
def test_classifier_with_class_weight_round_trips(data, tmp_path, class_weight):
    if "class_weight" not in FMClassifier().get_params():
        pytest.skip("this rapidfm has no class_weight")
    model = fit_classifier(data, class_weight=class_weight)
    model.save(tmp_path / "c.rfm")
    assert_same_model(model, load(tmp_path / "c.rfm"), data[2])
    int_labels = fit_classifier(data, labels=(0, 1), class_weight={0: 1.0, np.int64(1): 2})
    int_labels.save(tmp_path / "i.rfm")
    assert_same_model(int_labels, load(tmp_path / "i.rfm"), data[2])


def test_extra_fitted_attributes_of_many_types_round_trip(data, tmp_path):
    """Fitted attributes added later (by the estimators or a subclass) are saved too."""
    model = fit_classifier(data)
    model.counts_ = np.arange(5, dtype=np.int32)                # numeric arrays: .npy members
    model.mask_ = np.array([[True, False], [False, True]])
    model.best_epoch_ = None
    model.extra_ = {
        "ints": [1, -2, 2**70],
        "floats": [0.1, float("inf"), float("-inf"), float("nan"), -0.0, 5e-324],
        "tuple": (1, "a", None, (2.5,)),
        3: "an int key",
        (1, 2): "a tuple key",
        "__dunder": "a key that looks like a tag",
        "numpy": [np.int64(7), np.float32(0.1), np.bool_(True), np.str_("s"), np.uint8(255)],
        "bytes": b"\x00\xff",
        "strings": np.array([["a", "bc"], ["d", "e"]]),
        "objects": np.array(["x", 1, None], dtype=object),
        "matrix": np.arange(6.0).reshape(2, 3),
        "dtypes": [np.dtype("int16"), float, np.float64, np.dtype(">f8")],
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    model.save(tmp_path / "m.rfm")
    header, arrays = read_model_file(tmp_path / "m.rfm")
    assert {"counts_", "mask_", "w_", "V_"} <= set(arrays)
    assert "classes_" in header["attributes"]  # strings are JSON
    json.loads(zipfile.ZipFile(tmp_path / "m.rfm").read("header.json"),
               parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert_same_model(model, load(tmp_path / "m.rfm"), data[2])


def test_models_from_fit_predict_the_same_after_every_kind_of_copy(data, tmp_path):
    import joblib
    from sklearn.base import clone

    X_new = data[2]
    for model in (fit_regressor(data), fit_classifier(data, labels=(0, 1)),
                  fit_regressor(data, dtype=np.float64, n_factors=0)):
        copies = [pickle.loads(pickle.dumps(model)), copy.deepcopy(model)]
        joblib.dump(model, tmp_path / "m.joblib")
        copies.append(joblib.load(tmp_path / "m.joblib"))
        for other in copies:
            assert_same_model(model, other, X_new)
        cloned = clone(model)
        assert cloned.get_params() == model.get_params() and not hasattr(cloned, "V_")
    for unfitted in (FMRegressor(n_factors=2), FMClassifier(dtype=np.float64)):
        for other in (pickle.loads(pickle.dumps(unfitted)), copy.deepcopy(unfitted),
                      clone(unfitted)):
            assert other.get_params() == unfitted.get_params() and not hasattr(other, "V_")
        joblib.dump(unfitted, tmp_path / "u.joblib")
        assert joblib.load(tmp_path / "u.joblib").get_params() == unfitted.get_params()


def test_fresh_process_predicts_bit_identically_after_pickle_and_load(data, tmp_path):
    X_new = data[2]
    regressor = fit_regressor(data, dtype=np.float64)
    classifier = fit_classifier(data, labels=("neg", "pos"))
    sp.save_npz(tmp_path / "X.npz", X_new)
    for name, model in (("reg", regressor), ("clf", classifier)):
        with open(tmp_path / f"{name}.pkl", "wb") as fh:
            pickle.dump(model, fh)
        model.save(tmp_path / f"{name}.rfm")
    script = textwrap.dedent("""
        import pickle, sys
        import numpy as np, scipy.sparse as sp
        import rapidfm
        X = sp.load_npz("X.npz")
        for name in ("reg", "clf"):
            with open(name + ".pkl", "rb") as fh:
                models = {"pkl": pickle.load(fh)}
            models["rfm"] = rapidfm.load(name + ".rfm")
            for how, model in models.items():
                np.save(f"{name}_{how}_predict.npy", model.predict(X), allow_pickle=False)
                if name == "clf":
                    np.save(f"{name}_{how}_proba.npy", model.predict_proba(X))
                    np.save(f"{name}_{how}_decision.npy", model.decision_function(X))
    """)
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True, timeout=120)
    for how in ("pkl", "rfm"):
        got = np.load(tmp_path / f"reg_{how}_predict.npy")
        assert np.array_equal(got, regressor.predict(X_new))
        got = np.load(tmp_path / f"clf_{how}_predict.npy")
        assert got.dtype == classifier.classes_.dtype
        assert np.array_equal(got, classifier.predict(X_new))
        assert np.array_equal(np.load(tmp_path / f"clf_{how}_proba.npy"),
                              classifier.predict_proba(X_new))
        assert np.array_equal(np.load(tmp_path / f"clf_{how}_decision.npy"),
                              classifier.decision_function(X_new))


# -- the file layout is the documented one ------------------------------------------------------


def test_file_layout_matches_the_documentation(saved):
    model, path, header, arrays = saved
    content = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == ["header.json", "V_.npy", "w_.npy"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
        assert zf.comment.startswith(b"rapidfm-sha256:")
        assert content.endswith(zf.comment)
    assert content[-64:].decode() == hashlib.sha256(content[:-64]).hexdigest()

    assert header["format"] == "rapidfm-model" and header["format_version"] == FORMAT_VERSION
    assert header["estimator"] == "FMRegressor"
    assert header["rapidfm_version"] == rapidfm.__version__
    assert header["params"]["n_factors"] == 3 and header["params"]["random_state"] == 0
    assert header["params"]["dtype"] == {"__type__": "numpy.float32"}
    assert header["params_dropped"] == []
    attrs = header["attributes"]
    assert attrs["w0_"] == model.w0_ and attrs["n_features_in_"] == N_FEATURES
    assert attrs["y_min_"] == model.y_min_ and attrs["y_max_"] == model.y_max_
    assert attrs["n_iter_"] == model.n_iter_ == 2 and len(attrs["history_"]) == 2
    for name in ("w_", "V_"):
        array = getattr(model, name)
        assert np.array_equal(arrays[name], array) and arrays[name].dtype == array.dtype
        meta = header["arrays"][name]
        assert meta["shape"] == list(array.shape) and np.dtype(meta["dtype"]) == array.dtype
        assert meta["sha256"] == hashlib.sha256(array.tobytes()).hexdigest()
    npz = np.load(path, allow_pickle=False)  # NumPy reads it as an .npz without pickle
    assert np.array_equal(npz["V_"], model.V_) and json.loads(npz["header.json"]) == header


def test_independent_writer_produces_loadable_files(saved, tmp_path):
    """The writer the negative tests use is right: unmodified, its output loads."""
    model, _, header, arrays = saved
    path = write_model_file(tmp_path / "copy.rfm", header, arrays)
    assert_same_model(model, load(path), sp.eye(5, N_FEATURES, format="csr"))


# -- saving errors and atomic writes --------------------------------------------------------------


@pytest.mark.parametrize("model", [FMRegressor(), FMClassifier(n_factors=2)])
def test_saving_an_unfitted_model_raises_not_fitted(model, tmp_path):
    with pytest.raises(NotFittedError, match="not fitted"):
        model.save(tmp_path / "m.rfm")
    with pytest.raises(NotFittedError):
        save_model(model, tmp_path / "m.rfm")
    assert os.listdir(tmp_path) == []


def test_saving_something_else_raises_type_error(tmp_path):
    with pytest.raises(TypeError, match="FMRegressor"):
        save_model({"w0_": 1.0}, tmp_path / "m.rfm")
    assert os.listdir(tmp_path) == []


def test_attribute_without_pickle_free_form_is_refused_before_writing(data, tmp_path):
    model = fit_regressor(data)
    model.save(tmp_path / "m.rfm")
    before = (tmp_path / "m.rfm").read_bytes()
    model.sampler_ = np.random.default_rng(0)
    with pytest.raises(TypeError, match="sampler_"):
        model.save(tmp_path / "m.rfm")
    assert (tmp_path / "m.rfm").read_bytes() == before
    assert os.listdir(tmp_path) == ["m.rfm"]


def failing_write_array(fh, array, *args, **kwargs):
    fh.write(b"\x93NUMPY partial data")
    raise OSError(28, "No space left on device (simulated)")


@pytest.mark.parametrize("existing", [True, False])
@pytest.mark.parametrize("failure", ["write", "fsync", "replace", "interrupt"])
def test_failed_save_leaves_the_old_file_and_no_temporary(data, saved, tmp_path, monkeypatch,
                                                          existing, failure):
    model, old_path, _, _ = saved
    target = tmp_path / "model.rfm"
    old = old_path.read_bytes() if existing else None
    if existing:
        target.write_bytes(old)
    other = fit_regressor(data, dtype=np.float64)  # a different model, to overwrite the old one
    expected = {
        "write": (np.lib.format, "write_array", failing_write_array, OSError),
        "fsync": (os, "fsync", _raiser(OSError(5, "I/O error (simulated)")), OSError),
        "replace": (os, "replace", _raiser(PermissionError(13, "denied (simulated)")),
                    PermissionError),
        "interrupt": (os, "fsync", _raiser(KeyboardInterrupt()), KeyboardInterrupt),
    }[failure]
    module, name, replacement, error = expected
    monkeypatch.setattr(module, name, replacement)
    with pytest.raises(error):
        other.save(target)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == (["model.rfm"] if existing else [])
    if existing:
        assert target.read_bytes() == old
        assert_same_model(model, load(target), sp.eye(5, N_FEATURES, format="csr"))


def _raiser(exc):
    def raise_it(*args, **kwargs):
        raise exc
    return raise_it


def test_save_keeps_the_mode_of_the_replaced_file(saved, tmp_path):
    model, _, _, _ = saved
    model.save(tmp_path / "new.rfm")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "new.rfm").st_mode) == 0o666 & ~umask
    (tmp_path / "private.rfm").write_bytes(b"old")
    os.chmod(tmp_path / "private.rfm", 0o600)
    model.save(tmp_path / "private.rfm")
    assert stat.S_IMODE(os.stat(tmp_path / "private.rfm").st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["new.rfm", "private.rfm"]


def test_saving_onto_a_directory_fails_cleanly(saved, tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError):
        saved[0].save(tmp_path / "folder")
    assert os.listdir(tmp_path) == ["folder"] and os.listdir(tmp_path / "folder") == []


# -- loading errors ------------------------------------------------------------------------------


def assert_refused(path, *fragments):
    with pytest.raises(ModelFileError) as info:
        load(path)
    message = str(info.value)
    assert os.fspath(path) in message, message
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message
    return message


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)
    assert persistence.ModelFileError is ModelFileError


def test_truncated_files_are_refused(saved, tmp_path):
    _, path, _, _ = saved
    content = path.read_bytes()
    size = len(content)
    cuts = [1, 3, 4, 30, 200, size // 3, size // 2, size - 200, size - 80, size - 65, size - 64,
            size - 10, size - 1]
    for cut in cuts:
        target = tmp_path / f"cut{cut}.rfm"
        target.write_bytes(content[:cut])
        assert_refused(target)


def test_every_single_flipped_byte_is_detected(saved, tmp_path):
    _, path, _, _ = saved
    content = path.read_bytes()
    target = tmp_path / "flipped.rfm"
    target.write_bytes(content)
    undetected = []
    fd = os.open(target, os.O_RDWR)  # flip in place: rewriting whole files is 100x slower
    try:
        for position in range(len(content)):
            for mask in (0x01, 0x80) if position % 5 == 0 else (0x01,):
                os.pwrite(fd, bytes([content[position] ^ mask]), position)
                try:
                    load(target)
                except ModelFileError as exc:
                    if str(target) not in str(exc):
                        undetected.append((position, mask, str(exc)))
                else:
                    undetected.append((position, mask, "loaded"))
                os.pwrite(fd, content[position:position + 1], position)
    finally:
        os.close(fd)
    assert target.read_bytes() == content
    assert undetected == []


def test_flips_in_array_data_and_header_report_corruption(saved, tmp_path):
    _, path, _, _ = saved
    content = path.read_bytes()
    for member, offset_in_member in (("V_.npy", -3), ("w_.npy", -1), ("header.json", 40),
                                     ("header.json", 400)):
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo(member)
            member_bytes = zf.read(member)
        # the member's data lies in the file as is (stored, uncompressed) after its local header
        data_start = content.index(member_bytes, info.header_offset)
        position = data_start + (offset_in_member % len(member_bytes))
        corrupted = bytearray(content)
        corrupted[position] ^= 0x10
        target = tmp_path / f"{member}.{offset_in_member}.rfm"
        target.write_bytes(bytes(corrupted))
        assert_refused(target, "corrupt")


def test_array_checksum_in_the_header_is_checked(saved, tmp_path):
    _, _, header, arrays = saved
    changed = dict(arrays)
    changed["V_"] = arrays["V_"].copy()
    changed["V_"][3, 1] += 1.0
    path = write_model_file(tmp_path / "m.rfm", header, changed, array_digests=False)
    assert_refused(path, "checksum", "V_")


def test_files_that_are_not_models_are_refused(tmp_path):
    np.savez(tmp_path / "plain.npz", w_=np.zeros(3), V_=np.zeros((3, 2)))
    assert_refused(tmp_path / "plain.npz", "not a rapidfm model", "header.json")
    (tmp_path / "notes.txt").write_text("hello, this is text\n")
    assert_refused(tmp_path / "notes.txt", "not a rapidfm model")
    (tmp_path / "empty.rfm").write_bytes(b"")
    assert_refused(tmp_path / "empty.rfm", "empty")
    np.save(tmp_path / "array.npy", np.arange(4))
    assert_refused(tmp_path / "array.npy", "not a rapidfm model")
    (tmp_path / "folder.rfm").mkdir()
    assert_refused(tmp_path / "folder.rfm", "directory")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("header.json", json.dumps({"format": "something-else", "format_version": 1}))
    assert_refused(tmp_path / "other.zip", "not a rapidfm model", "something-else")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.rfm")


def test_newer_format_version_asks_for_an_upgrade(saved, tmp_path):
    _, _, header, arrays = saved
    newer = dict(header, format_version=FORMAT_VERSION + 1, rapidfm_version="9.0")
    path = write_model_file(tmp_path / "newer.rfm", newer, arrays)
    message = assert_refused(path, "upgrade rapidfm", f"format version {FORMAT_VERSION + 1}")
    assert "9.0" in message
    # a future format may change everything but the header: still "upgrade", not "corrupted"
    with zipfile.ZipFile(tmp_path / "future.rfm", "w") as zf:
        zf.writestr("header.json", json.dumps({"format": "rapidfm-model", "format_version": 7}))
        zf.writestr("model.bin", b"\x00" * 10)
    assert_refused(tmp_path / "future.rfm", "upgrade rapidfm")


def _edit(header=None, attributes=None, params=None, arrays=None, drop_arrays=()):
    """A change to (header, arrays) for test_inconsistent_files_are_refused."""
    def apply(h, a):
        h = copy.deepcopy(h)
        a = {name: value for name, value in a.items() if name not in drop_arrays}
        h.update(header or {})
        if attributes:
            h["attributes"].update(attributes)
        if params:
            h["params"].update(params)
        for name, make in (arrays or {}).items():
            a[name] = make(a)
        return h, a
    return apply


def _without_attribute(name):
    def apply(h, a):
        h = copy.deepcopy(h)
        del h["attributes"][name]
        return h, a
    return apply


INCONSISTENT = {
    "n_features_in_ != V_ rows": (_edit(attributes={"n_features_in_": N_FEATURES - 1}),
                                  "n_features_in_"),
    "w_ shorter than V_": (_edit(arrays={"w_": lambda a: a["w_"][:-2].copy()}), "w_ has"),
    "V_ one row short": (_edit(arrays={"V_": lambda a: a["V_"][:-1].copy()}), "rows"),
    "float16 parameters": (_edit(arrays={"w_": lambda a: a["w_"].astype(np.float16),
                                         "V_": lambda a: a["V_"].astype(np.float16)}),
                           "float16"),
    "integer V_": (_edit(arrays={"V_": lambda a: a["V_"].astype(np.int64),
                                 "w_": lambda a: a["w_"].astype(np.int64)}), "int64"),
    "w_ float64 but V_ float32": (_edit(arrays={"w_": lambda a: a["w_"].astype(np.float64)}),
                                  "dtype"),
    "1-D V_": (_edit(arrays={"V_": lambda a: a["V_"].ravel().copy()}), "2-D"),
    "NaN in V_": (_edit(arrays={"V_": lambda a: np.where(np.eye(*a["V_"].shape) > 0, np.nan,
                                                         a["V_"]).astype(a["V_"].dtype)}),
                  "nan"),
    "Fortran-order V_": (_edit(arrays={"V_": lambda a: np.asfortranarray(
        np.tile(a["V_"], (1, 2)))}), "fortran"),
    "missing V_": (_edit(drop_arrays=("V_",)), "missing"),
    "missing w0_": (_without_attribute("w0_"), "w0_"),
    "missing y_max_": (_without_attribute("y_max_"), "y_max_"),
    "w0_ not a number": (_edit(attributes={"w0_": "0.5"}), "w0_"),
    "infinite w0_": (_edit(attributes={"w0_": {"__float__": "inf"}}), "w0_"),
    "y_min_ > y_max_": (_edit(attributes={"y_min_": 5.0, "y_max_": 1.0}), "range"),
    "unknown estimator": (_edit(header={"estimator": "LinearRegression"}), "unknown estimator"),
    "unknown parameter": (_edit(params={"quantum_mode": True}), "upgrade rapidfm"),
    "format_version 0": (_edit(header={"format_version": 0}), "format_version"),
    "format_version as string": (_edit(header={"format_version": "1"}), "format_version"),
    "params not an object": (_edit(header={"params": [1, 2]}), "params"),
    "unknown tag": (_edit(attributes={"w0_": {"__pickle__": "cos\nsystem\n"}}), "malformed"),
    "private attribute name": (_edit(attributes={"_secret": 1}), "invalid"),
    "method name as attribute": (_edit(attributes={"predict": 1}), "invalid"),
    "negative n_iter_": (_edit(attributes={"n_iter_": -1}), "n_iter_"),
}


@pytest.mark.parametrize("case", sorted(INCONSISTENT))
def test_inconsistent_files_are_refused(saved, tmp_path, case):
    _, _, header, arrays = saved
    change, fragment = INCONSISTENT[case]
    changed_header, changed_arrays = change(header, arrays)
    path = write_model_file(tmp_path / "bad.rfm", changed_header, changed_arrays)
    assert_refused(path, fragment)


def test_header_declaring_other_shapes_than_stored_is_refused(saved, tmp_path):
    _, _, header, arrays = saved
    changed = copy.deepcopy(header)
    changed["arrays"]["V_"]["shape"] = [N_FEATURES - 1, 3]
    path = write_model_file(tmp_path / "m.rfm", changed, arrays, array_digests=False)
    assert_refused(path, "declares")
    changed = copy.deepcopy(header)
    changed["arrays"]["w_"]["dtype"] = "<f8"
    path = write_model_file(tmp_path / "m2.rfm", changed, arrays, array_digests=False)
    assert_refused(path, "declares")


def test_classifier_with_three_classes_is_refused(data, tmp_path):
    model = fit_classifier(data, labels=(0, 1))
    model.save(tmp_path / "c.rfm")
    header, arrays = read_model_file(tmp_path / "c.rfm")
    arrays["classes_"] = np.array([0, 1, 2])
    assert_refused(write_model_file(tmp_path / "bad.rfm", header, arrays), "classes_")


def test_malformed_header_json_and_members_are_refused(saved, tmp_path):
    _, _, header, arrays = saved
    bad_json = write_model_file(tmp_path / "a.rfm", header, arrays, raw_header=b"{not json")
    assert_refused(bad_json, "json")
    text = json.dumps(header).replace(f'"w0_": {header["attributes"]["w0_"]!r}', '"w0_": NaN')
    assert "NaN" in text
    assert_refused(write_model_file(tmp_path / "b.rfm", header, arrays,
                                    raw_header=text.encode()), "json")
    extra = write_model_file(tmp_path / "c.rfm", header, arrays,
                             members=[("payload.pkl", pickle.dumps(object))])
    assert_refused(extra, "members")
    no_arrays = {k: v for k, v in header.items() if k != "arrays"}
    assert_refused(write_model_file(tmp_path / "d.rfm", no_arrays, {}, array_digests=False),
                   "arrays")


def test_load_is_exported_and_save_method_uses_the_format(saved):
    assert rapidfm.load is load
    model, path, _, _ = saved
    assert_same_model(model, rapidfm.load(path), sp.eye(3, N_FEATURES, format="csr"))


# -- format version 2: model kind, task, solver and solver state ---------------------------------

MCMC_STATE = ("samples_w0_", "samples_w_", "samples_V_", "alpha_", "mu_w_", "lambda_w_",
              "mu_v_", "lambda_v_")
DATA_DIR = os.path.join(os.path.dirname(__file__), "data")


def has_solver_param():
    return "solver" in FMRegressor().get_params()


def test_v2_header_records_kind_task_solver_and_solver_state(data, saved, tmp_path):
    model, _, header, _ = saved
    assert FORMAT_VERSION == 2 and header["format_version"] == 2
    assert header["model_kind"] == "fm" and header["task"] == "regression"
    assert header["solver"] == getattr(model, "solver", "sgd") == "sgd"
    assert header["solver_state"] == []
    if has_solver_param():
        assert header["params"]["solver"] == "sgd"
    classifier = fit_classifier(data)
    classifier.save(tmp_path / "c.rfm")
    c_header, _ = read_model_file(tmp_path / "c.rfm")
    assert (c_header["estimator"], c_header["model_kind"], c_header["task"],
            c_header["solver"], c_header["solver_state"]) == (
        "FMClassifier", "fm", "binary_classification", "sgd", [])


# the parameters of FMRegressor and FMClassifier when format version 1 was current
V1_PARAMS = {"block_rows", "callbacks", "clip_predictions", "dtype", "early_stopping",
             "init_std", "learning_rate", "n_epochs", "n_factors", "n_iter_no_change",
             "n_jobs", "parallel", "power_t", "random_state", "reg_bias", "reg_factors",
             "reg_linear", "schedule", "shuffle", "tol", "validation_fraction", "verbose",
             "warm_start", "class_weight"}


def write_v1_file(path, model):
    """`model` in format version 1 as the rapidfm before version 2 wrote it: the header
    without model_kind/task/solver/solver_state, params of the version 1 estimators."""
    model.save(path)
    header, arrays = read_model_file(path)
    v1 = {key: header[key] for key in ("format", "rapidfm_version", "estimator", "params",
                                       "params_dropped", "attributes", "arrays")}
    v1["format_version"] = 1
    v1["params"] = {k: v for k, v in header["params"].items() if k in V1_PARAMS}
    assert set(v1["params"]) == V1_PARAMS - ({"clip_predictions"} if header["estimator"]
                                             == "FMClassifier" else {"class_weight"})
    return write_model_file(path, v1, arrays)


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_v1_file_loads_and_predicts_identically(data, tmp_path, kind):
    model = fit_regressor(data) if kind == "regressor" else fit_classifier(data)
    path = write_v1_file(tmp_path / "v1.rfm", model)
    assert read_model_file(path)[0]["format_version"] == 1
    loaded = load(path)
    if has_solver_param():
        assert loaded.solver == "sgd"
    assert_same_model(model, loaded, data[2])
    assert_same_model(model, loaded, data[0])


@pytest.mark.parametrize("name", ["v1_regressor", "v1_classifier"])
def test_v1_files_written_by_the_version_1_writer_load(name, tmp_path):
    """tests/data/v1_*.rfm: bytes written by rapidfm's own writer before format version 2."""
    path = os.path.join(DATA_DIR, name + ".rfm")
    header, _ = read_model_file(path)
    assert header["format_version"] == 1 and "solver" not in header
    expected = np.load(os.path.join(DATA_DIR, "v1_expected.npz"))
    X = sp.csr_matrix(expected["X"])
    model = load(path)
    assert getattr(model, "solver", "sgd") == "sgd"
    if name == "v1_regressor":
        assert type(model) is FMRegressor and model.V_.dtype == np.float64
        np.testing.assert_allclose(model.predict(X), expected["reg_predict"], rtol=1e-12)
    else:
        assert type(model) is FMClassifier and model.classes_.tolist() == ["no", "yes"]
        np.testing.assert_allclose(model.decision_function(X), expected["clf_decision"],
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(model.predict_proba(X), expected["clf_proba"],
                                   rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "again.rfm")  # saved again: a version 2 file of an SGD model
    header, _ = read_model_file(tmp_path / "again.rfm")
    assert (header["format_version"], header["solver"], header["solver_state"]) == (2, "sgd", [])
    assert np.array_equal(load(tmp_path / "again.rfm").predict(X), model.predict(X))



def add_mcmc_state(model, n_samples=3, n_groups=2, seed=0):
    """Give a fitted model an MCMC chain state by hand (shapes as the solver's API has them)
    and, where the estimators have the solver parameter, solver="mcmc"."""
    rng = np.random.default_rng(seed)
    n, k = model.V_.shape
    dtype = model.V_.dtype
    model.samples_w0_ = rng.normal(size=n_samples)
    model.samples_w_ = rng.normal(size=(n_samples, n)).astype(dtype)
    model.samples_V_ = rng.normal(size=(n_samples, n, k)).astype(dtype)
    model.samples_V_[-1] = model.V_
    model.samples_w_[-1] = model.w_
    model.samples_w0_[-1] = model.w0_
    model.alpha_ = 2.5
    model.mu_w_ = rng.normal(size=n_groups)
    model.lambda_w_ = rng.gamma(2.0, size=n_groups) + 0.1
    model.mu_v_ = rng.normal(size=(n_groups, k))
    model.lambda_v_ = rng.gamma(2.0, size=(n_groups, k)) + 0.1
    if has_solver_param():
        model.set_params(solver="mcmc")
    return model


@pytest.fixture(scope="module")
def mcmc_saved(data, tmp_path_factory):
    """A regressor with a hand-made MCMC state, its file and the file's parts."""
    model = add_mcmc_state(fit_regressor(data))
    path = tmp_path_factory.mktemp("mcmc") / "mcmc.rfm"
    model.save(path)
    header, arrays = read_model_file(path)
    return model, path, header, arrays


def test_mcmc_state_round_trips(data, mcmc_saved):
    model, path, header, arrays = mcmc_saved
    if has_solver_param():
        assert header["solver"] == "mcmc" and header["params"]["solver"] == "mcmc"
        assert header["solver_state"] == list(MCMC_STATE)
    assert {"samples_w0_", "samples_w_", "samples_V_", "mu_w_", "lambda_w_", "mu_v_",
            "lambda_v_"} <= set(arrays)
    assert header["attributes"]["alpha_"] == 2.5
    loaded = load(path)
    assert_same_model(model, loaded, data[2])
    for name in MCMC_STATE[:3] + MCMC_STATE[4:]:
        array = getattr(loaded, name)
        assert array.flags.c_contiguous and array.flags.writeable


def test_independent_writer_produces_loadable_mcmc_files(data, mcmc_saved, tmp_path):
    model, _, header, arrays = mcmc_saved
    assert_same_model(model, load(write_model_file(tmp_path / "m.rfm", header, arrays)),
                      data[2])


def _set_array(name, make):
    return _edit(arrays={name: make})


def _header_with(**changes):
    return _edit(header=changes)


def _drop_state(name):
    def apply(h, a):
        h = copy.deepcopy(h)
        h["solver_state"] = [s for s in h["solver_state"] if s != name]
        h["attributes"].pop(name, None)
        return h, {k: v for k, v in a.items() if k != name}
    return apply


BAD_SOLVER_STATE = {
    "samples_V_ for other n_features": (
        _set_array("samples_V_", lambda a: a["samples_V_"][:, :-1].copy()), "samples_V_"),
    "samples_V_ for other n_factors": (
        _set_array("samples_V_", lambda a: np.concatenate([a["samples_V_"]] * 2, axis=2)),
        "samples_V_"),
    "samples_V_ 2-D": (_set_array("samples_V_", lambda a: a["samples_V_"][0].copy()),
                       "samples_V_"),
    "samples_w_ with another sample count": (
        _set_array("samples_w_", lambda a: a["samples_w_"][:-1].copy()), "samples_w_"),
    "samples_w0_ empty": (_edit(arrays={
        "samples_w0_": lambda a: a["samples_w0_"][:0].copy(),
        "samples_w_": lambda a: a["samples_w_"][:0].copy(),
        "samples_V_": lambda a: a["samples_V_"][:0].copy()}), "no sample"),
    "NaN in samples_w0_": (
        _set_array("samples_w0_", lambda a: np.r_[np.nan, a["samples_w0_"][1:]]), "nan"),
    "inf in samples_V_": (
        _set_array("samples_V_", lambda a: np.where(a["samples_V_"] > 1, np.inf,
                                                    a["samples_V_"]).astype(a["V_"].dtype)),
        "samples_V_"),
    "integer samples_w_": (_set_array("samples_w_", lambda a: a["samples_w_"].astype(np.int64)),
                           "float"),
    "zero lambda_w_": (_set_array("lambda_w_", lambda a: a["lambda_w_"] * 0), "> 0"),
    "negative lambda_v_": (_set_array("lambda_v_", lambda a: -a["lambda_v_"]), "> 0"),
    "lambda_v_ of another shape": (
        _set_array("lambda_v_", lambda a: a["lambda_v_"][:, :-1].copy()), "lambda_v_"),
    "lambda_w_ for fewer groups": (_set_array("lambda_w_", lambda a: a["lambda_w_"][:1].copy()),
                                   "lambda_w_"),
    "inf in mu_v_": (_set_array("mu_v_", lambda a: a["mu_v_"] + np.inf), "mu_v_"),
    "no groups": (_edit(arrays={name: (lambda a, name=name: a[name][:0].copy())
                                for name in ("mu_w_", "lambda_w_", "mu_v_", "lambda_v_")}),
                  "group"),
    "negative alpha_": (_edit(attributes={"alpha_": -1.0}), "alpha_"),
    "NaN alpha_": (_edit(attributes={"alpha_": {"__float__": "nan"}}), "alpha_"),
    "alpha_ a string": (_edit(attributes={"alpha_": "2.5"}), "alpha_"),
    "incomplete chain": (_drop_state("mu_v_"), "incomplete"),
    "solver_state names a missing array": (_edit(drop_arrays=("samples_V_",)),
                                           "does not store"),
    "solver_state not a list": (_header_with(solver_state="samples_w_"), "solver_state"),
    "solver_state missing": (lambda h, a: ({k: v for k, v in h.items() if k != "solver_state"},
                                           a), "solver_state"),
    "solver_state twice the same": (
        lambda h, a: (dict(h, solver_state=h["solver_state"] + ["alpha_"]), a), "twice"),
    "unknown solver": (_header_with(solver="newton"), "unknown solver 'newton'"),
    "solver not a string": (_header_with(solver=3), "solver"),
    "unknown model kind": (_header_with(model_kind="hofm"), "unknown model_kind 'hofm'"),
    "another model kind": (_header_with(model_kind="ffm"), "ffm"),
    "unknown task": (_header_with(task="survival"), "unknown task 'survival'"),
    "ranking task for a regressor": (_header_with(task="ranking"), "does not match"),
    "classification task for a regressor": (_header_with(task="binary_classification"),
                                            "does not match"),
}


@pytest.mark.parametrize("case", sorted(BAD_SOLVER_STATE))
def test_inconsistent_solver_state_is_refused(mcmc_saved, tmp_path, case):
    _, _, header, arrays = mcmc_saved
    if not has_solver_param() and case in ("solver_state twice the same",
                                           "solver_state names a missing array"):
        pytest.skip("needs solver='mcmc' (solver_state lists the chain)")
    change, fragment = BAD_SOLVER_STATE[case]
    changed_header, changed_arrays = change(header, arrays)
    path = write_model_file(tmp_path / "bad.rfm", changed_header, changed_arrays)
    assert_refused(path, fragment)


def test_solver_state_must_match_the_solver(mcmc_saved, saved, tmp_path):
    if not has_solver_param():
        pytest.skip("this rapidfm has no solver parameter")
    _, _, header, arrays = mcmc_saved
    missing = dict(header, solver_state=list(MCMC_STATE[:-1]))
    assert_refused(write_model_file(tmp_path / "a.rfm", missing, arrays), "solver_state",
                   "lambda_v_")
    _, _, sgd_header, sgd_arrays = saved
    claims = dict(sgd_header, solver_state=["w_"])
    assert_refused(write_model_file(tmp_path / "b.rfm", claims, sgd_arrays), "solver_state")
    # the header's solver and the solver parameter must agree
    other = copy.deepcopy(header)
    other["params"]["solver"] = "als"
    assert_refused(write_model_file(tmp_path / "c.rfm", other, arrays), "'als'", "'mcmc'")


def test_solver_unknown_to_this_rapidfm_asks_for_an_upgrade(saved, tmp_path):
    _, _, header, arrays = saved
    for solver in ("newton", "als"):
        changed = copy.deepcopy(header)
        changed["solver"] = solver
        if has_solver_param():
            changed["params"]["solver"] = solver
        path = write_model_file(tmp_path / f"{solver}.rfm", changed, arrays)
        if solver == "newton" or not has_solver_param():
            assert_refused(path, f"'{solver}'", "upgrade rapidfm")
        else:
            assert load(path).solver == "als"


def test_task_must_match_the_estimator(data, tmp_path):
    model = fit_classifier(data)
    model.save(tmp_path / "c.rfm")
    header, arrays = read_model_file(tmp_path / "c.rfm")
    path = write_model_file(tmp_path / "bad.rfm", dict(header, task="regression"), arrays)
    assert_refused(path, "task 'regression'", "FMClassifier")


def test_feature_groups_must_fit_the_chain(data, mcmc_saved, tmp_path):
    if "feature_groups" not in FMRegressor().get_params():
        pytest.skip("this rapidfm has no feature_groups")
    _, _, header, arrays = mcmc_saved
    changed = copy.deepcopy(header)
    changed["params"]["feature_groups"] = [0, 1, 2] + [0] * (N_FEATURES - 3)  # 3 groups, G=2
    assert_refused(write_model_file(tmp_path / "g.rfm", changed, arrays), "feature_groups")
    changed["params"]["feature_groups"] = [0, 1] * (N_FEATURES // 2)
    assert load(write_model_file(tmp_path / "ok.rfm", changed, arrays)).feature_groups == (
        [0, 1] * (N_FEATURES // 2))


def test_saving_an_inconsistent_chain_fails_before_writing(data, tmp_path):
    model = add_mcmc_state(fit_regressor(data))
    model.lambda_v_ = model.lambda_v_[:, :1].copy()
    with pytest.raises(ValueError, match="lambda_v_"):
        model.save(tmp_path / "m.rfm")
    del model.lambda_v_
    with pytest.raises(ValueError, match="incomplete"):
        model.save(tmp_path / "m.rfm")
    assert os.listdir(tmp_path) == []


def test_saving_with_an_unknown_solver_fails_before_writing(data, tmp_path):
    model = fit_regressor(data)
    if has_solver_param():
        model.set_params(solver="newton")
    else:
        model.solver = "newton"
    with pytest.raises(ValueError, match="newton"):
        model.save(tmp_path / "m.rfm")
    assert os.listdir(tmp_path) == []


# -- the estimator registry and the module structure -------------------------------------------


def test_estimator_registry():
    from rapidfm import _registry

    assert _registry.estimator_class("FMRegressor") is FMRegressor
    assert _registry.estimator_class("FMClassifier") is FMClassifier
    assert {"FMRegressor", "FMClassifier"} <= set(_registry.registered_estimators())
    with pytest.raises(_registry.UnknownEstimatorError, match="'Nope'.*FMClassifier"):
        _registry.estimator_class("Nope")
    assert _registry.estimator_task(FMClassifier) == "binary_classification"
    assert _registry.estimator_task(FMRegressor) == "regression"
    assert _registry.estimator_kind(FMRegressor) == "fm"
    assert _registry.register_estimator(FMRegressor) is FMRegressor  # again: a no-op
    other = type("FMRegressor", (FMRegressor,), {"__module__": "somewhere.else"})
    with pytest.raises(TypeError, match="already registered"):
        _registry.register_estimator(other)
    assert _registry.estimator_class("FMRegressor") is FMRegressor


def test_subclass_is_saved_as_its_registered_base(data, tmp_path):
    class MyRegressor(FMRegressor):
        pass

    X, y, X_new = data
    model = MyRegressor(n_factors=2, **TRAIN).fit(X, y)
    model.save(tmp_path / "m.rfm")
    assert read_model_file(tmp_path / "m.rfm")[0]["estimator"] == "FMRegressor"
    loaded = load(tmp_path / "m.rfm")
    assert type(loaded) is FMRegressor
    assert np.array_equal(loaded.predict(X_new), model.predict(X_new))


def _top_level_imports(module):
    import ast

    with open(module.__file__) as fh:
        tree = ast.parse(fh.read())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_persistence_does_not_import_the_estimators_at_module_level():
    from rapidfm import _fileio, _registry

    for module in (persistence, _fileio, _registry):
        imports = _top_level_imports(module)
        assert not any("estimators" in name for name in imports), (module.__name__, imports)
    assert not hasattr(persistence, "_atomic_write")  # it lives in rapidfm._fileio


def test_load_from_persistence_alone_in_a_fresh_process(saved, tmp_path):
    model, path, _, _ = saved
    X = sp.eye(4, N_FEATURES, format="csr")
    np.save(tmp_path / "expected.npy", model.predict(X))
    script = textwrap.dedent(f"""
        import numpy as np, scipy.sparse as sp
        from rapidfm.persistence import load
        model = load({os.fspath(path)!r})
        X = sp.eye(4, {N_FEATURES}, format="csr")
        assert np.array_equal(model.predict(X), np.load("expected.npy"))
    """)
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True, timeout=120)


def test_every_writer_uses_the_shared_atomic_write():
    import rapidfm._cli_commands
    import rapidfm.libfm_model
    import rapidfm.textfiles
    from rapidfm._fileio import atomic_write

    assert persistence.atomic_write is atomic_write
    for module in (rapidfm.libfm_model, rapidfm.textfiles, rapidfm._cli_commands):
        assert module.atomic_write is atomic_write, module.__name__


# -- models trained by the ALS and MCMC solvers ----------------------------------------------------

needs_solvers = pytest.mark.skipif(not has_solver_param(),
                                   reason="this rapidfm has no solver parameter")


def tiny_data():
    rng = np.random.default_rng(3)
    X = sp.random(60, 8, density=0.4, random_state=4, format="csr")
    y = X @ rng.normal(size=8) + 0.05 * rng.normal(size=60)
    return X, np.asarray(y)


@needs_solvers
def test_mcmc_regressor_round_trip_and_warm_start_continue_the_chain(tmp_path):
    X, y = tiny_data()
    model = FMRegressor(solver="mcmc", n_factors=2, n_epochs=5, n_jobs=1, random_state=0)
    model.fit(X, y)
    model.save(tmp_path / "m.rfm")
    header, _ = read_model_file(tmp_path / "m.rfm")
    assert header["solver"] == "mcmc" and header["solver_state"] == list(MCMC_STATE)
    loaded = load(tmp_path / "m.rfm")
    assert_same_model(model, loaded, X)
    assert np.array_equal(loaded._predict_current(X), model._predict_current(X))
    for m in (model, loaded):
        m.set_params(warm_start=True).fit(X, y)
        assert m.t_ == 10
    assert np.array_equal(loaded.samples_V_, model.samples_V_)
    assert np.array_equal(loaded.predict(X), model.predict(X))


@needs_solvers
@pytest.mark.parametrize("solver", ["als", "mcmc"])
def test_als_and_mcmc_classifiers_round_trip(tmp_path, solver):
    X, y = tiny_data()
    labels = np.where(y > np.median(y), "pos", "neg")
    model = FMClassifier(solver=solver, n_factors=2, n_epochs=4, n_jobs=1, random_state=1)
    model.fit(X, labels)
    model.save(tmp_path / "c.rfm")
    header, _ = read_model_file(tmp_path / "c.rfm")
    assert header["solver"] == solver and header["task"] == "binary_classification"
    assert header["solver_state"] == (list(MCMC_STATE) if solver == "mcmc" else [])
    assert_same_model(model, load(tmp_path / "c.rfm"), X)


@needs_solvers
def test_als_regressor_with_feature_groups_round_trips(tmp_path):
    X, y = tiny_data()
    model = FMRegressor(solver="als", n_factors=2, n_epochs=3, n_jobs=1, random_state=0,
                        feature_groups=np.array([0, 0, 1, 1, 1, 2, 2, 2]),
                        reg_linear=np.array([0.1, 0.2, 0.3]))
    model.fit(X, y)
    model.save(tmp_path / "a.rfm")
    assert read_model_file(tmp_path / "a.rfm")[0]["solver_state"] == []
    assert_same_model(model, load(tmp_path / "a.rfm"), X)
