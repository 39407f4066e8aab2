"""Checkpoints: whole round trips (batch norm's running statistics included), concurrent
saves, hostile files and operating-system errors."""

import errno
import functools
import io
import multiprocessing
import os
import struct
import sys
import threading
import tracemalloc
import warnings
import zipfile
import zlib

import numpy as np
import pytest
from numpy.lib import format as npy_format

from graph import Sequential
from training import FullyConnectedNet, Solver, to_torch
from training.checkpoint import (MissingRunningStatsWarning, load_into, load_params,
                                 running_stats, save_model, save_params, set_running_stats)

LIKE = {"W": np.zeros((128, 128)), "b": np.zeros(128)}
LIKE_BYTES = sum(value.nbytes for value in LIKE.values())
# Loading may hold the result, one read piece (256 KiB) and zipfile's buffers, never a
# multiple of what the file claims.
MEMORY_BOUND = 2 * LIKE_BYTES + (1 << 20)


def filled(value):
    """Parameters of LIKE's layout in which every element is `value`."""
    return {name: np.full_like(like, value) for name, like in LIKE.items()}


def saved_value(path):
    """The value of the checkpoint at `path`, which must be one whole `filled` save."""
    loaded = load_params(path, LIKE)
    value = loaded["W"].flat[0]
    for array in loaded.values():
        assert np.all(array == value), "a checkpoint mixing two saves"
    return value


# -- running statistics -----------------------------------------------------------------

def fc_net(normalization, weight_seed):
    return FullyConnectedNet([6, 5], input_dim=4, num_classes=3, weight_seed=weight_seed,
                             normalization=normalization)


def spatial_net(weight_seed):
    """conv - spatial batch norm - relu - affine, as a graph (no model around it)."""
    rng = np.random.default_rng(weight_seed)
    return Sequential(
        ("conv", {"w": rng.standard_normal((3, 2, 3, 3)), "b": np.zeros(3)},
         {"conv_param": {"stride": 1, "pad": 1}}),
        ("spatial_batchnorm", {"gamma": np.ones(3), "beta": np.zeros(3)},
         {"bn_param": {"mode": "train"}}),
        "relu",
        ("affine", {"w2": rng.standard_normal((3 * 4 * 4, 2)), "b2": np.zeros(2)}))


def train_steps(model, steps=3):
    """Train-mode passes on data far from zero mean and unit variance, so that the
    running statistics move; returns the test inputs."""
    rng = np.random.default_rng(5)
    X = 3.0 + 2.0 * rng.standard_normal((16, 4))
    y = rng.integers(0, 3, 16)
    for _ in range(steps):
        _, grads = model.loss(X, y)
        for name, grad in grads.items():
            model.params[name] = model.params[name] - 0.1 * grad
    return rng.standard_normal((7, 4)) + 3.0


def set_mode(graph, mode):
    for gate in graph._structure():
        if "bn_param" in gate.options:
            gate.options["bn_param"]["mode"] = mode


@pytest.mark.parametrize("normalization", ["batchnorm", "layernorm"])
def test_a_loaded_model_scores_as_the_saved_one_bit_for_bit(tmp_path, normalization):
    model = fc_net(normalization, weight_seed=0)
    X = train_steps(model)
    stats = running_stats(model)
    if normalization == "batchnorm":
        assert sorted(stats) == ["batchnorm1", "batchnorm2"]
        assert np.all(stats["batchnorm1"]["running_mean"] != 0)
        assert np.all(stats["batchnorm1"]["running_var"] > 0)
    else:
        assert stats == {}                                 # layer norm keeps no state
    path = save_model(tmp_path / "net", model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh = load_into(fc_net(normalization, weight_seed=1), path)
    assert np.array_equal(fresh.loss(X), model.loss(X))
    for name in model.params:
        assert np.array_equal(fresh.params[name], model.params[name])
    for gate, entries in stats.items():
        for key, value in entries.items():
            assert np.array_equal(fresh.bn_params[int(gate[-1]) - 1][key], value)


def test_a_batchnorm_round_trip_needs_the_statistics():
    # What the statistics are for: the parameters alone give other test-mode scores.
    model = fc_net("batchnorm", weight_seed=0)
    X = train_steps(model)
    params_only = fc_net("batchnorm", weight_seed=1)
    params_only.params = {name: value.copy() for name, value in model.params.items()}
    assert not np.allclose(params_only.loss(X), model.loss(X))


def test_spatial_batchnorm_statistics_round_trip_in_a_graph(tmp_path):
    net = spatial_net(weight_seed=0)
    rng = np.random.default_rng(2)
    x = 1.5 + rng.standard_normal((6, 2, 4, 4))
    set_mode(net, "train")
    for _ in range(2):
        net.forward(x=x)
    stats = running_stats(net)
    assert list(stats) == ["spatial_batchnorm1"]
    assert stats["spatial_batchnorm1"]["running_mean"].shape == (3,)
    assert np.all(stats["spatial_batchnorm1"]["running_var"] > 0)
    save_model(tmp_path / "net", net)
    fresh = load_into(spatial_net(weight_seed=1), tmp_path / "net")
    for graph in (net, fresh):
        set_mode(graph, "test")
    assert np.array_equal(fresh.forward(x=x), net.forward(x=x))


def test_the_statistics_carry_the_names_the_torch_export_gives_them(tmp_path):
    pytest.importorskip("torch")
    model = fc_net("batchnorm", weight_seed=0)
    X = train_steps(model)
    exported = to_torch(model).gatelab_running_stats()
    ours = running_stats(model)
    assert list(exported) == list(ours) == ["batchnorm1", "batchnorm2"]
    for gate, entries in ours.items():
        assert list(exported[gate]) == list(entries) == ["running_mean", "running_var"]
        for key, value in entries.items():
            np.testing.assert_array_equal(exported[gate][key], value)
    # A model back from torch saves and loads whole like any other.
    back = to_torch(model).load_into(fc_net("batchnorm", weight_seed=1))
    save_model(tmp_path / "back", back)
    again = load_into(fc_net("batchnorm", weight_seed=2), tmp_path / "back")
    assert np.array_equal(again.loss(X), model.loss(X))


def test_an_old_checkpoint_loads_its_parameters_and_warns(tmp_path):
    model = fc_net("batchnorm", weight_seed=0)
    X = train_steps(model)
    save_params(tmp_path / "old", model.params)            # no running statistics
    fresh = fc_net("batchnorm", weight_seed=1)
    before = running_stats(fresh)
    with pytest.warns(MissingRunningStatsWarning,
                      match=r"load_into: .*old holds no running statistics .* the running "
                            r"mean and variance of 'batchnorm1', 'batchnorm2' are left as "
                            r"they were, so test-mode scores are not the saved model's"):
        load_into(fresh, tmp_path / "old")
    for name in model.params:
        assert np.array_equal(fresh.params[name], model.params[name])
    assert all("running_mean" not in state for state in fresh.bn_params)
    assert running_stats(fresh).keys() == before.keys()
    # A train-mode pass re-estimates them, as the warning says.
    train_steps(fresh, steps=1)
    assert np.all(running_stats(fresh)["batchnorm1"]["running_var"] > 0)
    assert not np.array_equal(fresh.loss(X), model.loss(X))


def test_a_checkpoint_without_batchnorm_loads_without_a_warning(tmp_path):
    model = fc_net(None, weight_seed=0)
    save_params(tmp_path / "plain", model.params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh = load_into(fc_net(None, weight_seed=1), tmp_path / "plain")
    assert np.array_equal(fresh.params["W1"], model.params["W1"])


def unchanged(model, params, stats):
    for name, value in params.items():
        assert np.array_equal(model.params[name], value)
    for gate, entries in running_stats(model).items():
        for key, value in entries.items():
            assert np.array_equal(value, stats[gate][key])


def test_statistics_that_do_not_fit_are_refused_and_the_model_is_left_as_it_was(tmp_path):
    source = fc_net("batchnorm", weight_seed=0)
    train_steps(source)
    stats = running_stats(source)
    model = fc_net("batchnorm", weight_seed=1)
    train_steps(model, steps=1)
    params = {name: value.copy() for name, value in model.params.items()}
    own = running_stats(model)
    partial = {"batchnorm1": stats["batchnorm1"]}
    save_params(tmp_path / "partial", source.params, partial)
    narrow = {**stats, "batchnorm2": {key: value.astype(np.float32)
                                      for key, value in stats["batchnorm2"].items()}}
    save_params(tmp_path / "narrow", source.params, narrow)
    short = {**stats, "batchnorm1": {key: value[:4]
                                     for key, value in stats["batchnorm1"].items()}}
    save_params(tmp_path / "short", source.params, short)
    cases = [("partial", r"load_into: .*partial.npz does not hold the model's parameters: "
                         r"missing 'batchnorm2/running_mean', 'batchnorm2/running_var'"),
             ("narrow", r"load_into: .*narrow.npz: running statistic "
                        r"'batchnorm2/running_mean' is float32 in the file but float64 in "
                        r"the model"),
             ("short", r"load_into: .*short.npz: running statistic "
                       r"'batchnorm1/running_mean' has shape \(4,\) in the file but \(6,\) "
                       r"in the model")]
    for name, message in cases:
        with pytest.raises(ValueError, match=message):
            load_into(model, tmp_path / name)
        unchanged(model, params, own)
    # A model without batch norm refuses a file with statistics, naming them.
    save_model(tmp_path / "bn", source)
    with pytest.raises(ValueError, match=r"unexpected 'batchnorm1/running_mean'"):
        load_into(fc_net("layernorm", weight_seed=0), tmp_path / "bn")


def test_load_params_reads_statistics_under_their_member_names(tmp_path):
    model = fc_net("batchnorm", weight_seed=0)
    train_steps(model)
    save_model(tmp_path / "net", model)
    with pytest.raises(ValueError, match=r"load_params: .*unexpected 'batchnorm1/running_mean'"):
        load_params(tmp_path / "net", model.params)
    stats = running_stats(model)
    flat = {f"{gate}/{key}": value for gate, entries in stats.items()
            for key, value in entries.items()}
    loaded = load_params(tmp_path / "net", {**model.params, **flat})
    assert np.array_equal(loaded["batchnorm2/running_var"], stats["batchnorm2"]["running_var"])
    with np.load(tmp_path / "net.npz") as archive:             # numpy reads it too
        assert np.array_equal(archive["batchnorm1/running_mean"],
                              stats["batchnorm1"]["running_mean"])


@pytest.mark.parametrize("stats, error, message", [
    ([], TypeError, r"save_params: running_stats must be a dict of gate name -> "
                    r"\{'running_mean': array, 'running_var': array\}; got list"),
    ({"bn": {"running_mean": np.zeros(2)}}, ValueError,
     r"save_params: running_stats\['bn'\] must be a dict with the keys \['running_mean', "
     r"'running_var'\]; got \['running_mean'\]"),
    ({"bn": {"running_mean": np.zeros(2), "running_var": np.arange(2)}}, TypeError,
     r"save_params: running_stats\['bn'\]\['running_var'\] must be a floating-point "
     r"ndarray; got int64 array"),
    ({"a/b": {"running_mean": np.zeros(2), "running_var": np.zeros(2)}}, ValueError,
     r"save_params: gate names must be non-empty strings without '/'.*got 'a/b'"),
])
def test_save_refuses_statistics_it_cannot_store(tmp_path, stats, error, message):
    with pytest.raises(error, match=message):
        save_params(tmp_path / "net", {"W": np.zeros(2)}, stats)
    assert list(tmp_path.iterdir()) == []


def test_set_running_stats_copies_and_checks(tmp_path):
    source = fc_net("batchnorm", weight_seed=0)
    train_steps(source)
    stats = running_stats(source)
    model = set_running_stats(fc_net("batchnorm", weight_seed=1), stats)
    assert model.bn_params[0]["running_mean"] is not stats["batchnorm1"]["running_mean"]
    assert np.array_equal(model.bn_params[0]["running_mean"],
                          stats["batchnorm1"]["running_mean"])
    with pytest.raises(ValueError, match=r"set_running_stats: stats must hold the gates "
                                         r"\['batchnorm1', 'batchnorm2'\] of the model; "
                                         r"got \['batchnorm1'\]"):
        set_running_stats(model, {"batchnorm1": stats["batchnorm1"]})
    wrong = {**stats, "batchnorm2": {**stats["batchnorm2"], "running_var": np.zeros(3)}}
    with pytest.raises(ValueError, match=r"set_running_stats: stats\['batchnorm2'\]"
                                         r"\['running_var'\] must be a float64 array of "
                                         r"shape \(5,\), as in the model; got"):
        set_running_stats(model, wrong)
    assert np.array_equal(model.bn_params[1]["running_var"],
                          stats["batchnorm2"]["running_var"])


def test_the_solver_checkpoints_and_keeps_the_best_epochs_statistics(tmp_path):
    rng = np.random.default_rng(0)
    centers = 3.0 * rng.standard_normal((3, 4))
    y = rng.integers(0, 3, 120)
    X = centers[y] + rng.standard_normal((120, 4)) + 2.0
    data = {"X_train": X[:90], "y_train": y[:90], "X_val": X[90:], "y_val": y[90:]}
    model = fc_net("batchnorm", weight_seed=0)
    solver = Solver(model, data, num_epochs=5, batch_size=30, verbose=False,
                    optim_config={"learning_rate": 0.05},
                    checkpoint_name=tmp_path / "run")
    solver.train()
    best = solver.history.epochs[int(np.argmax(solver.history.val_acc))]
    assert best < solver.epoch             # so that the last step's statistics differ
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reloaded = load_into(fc_net("batchnorm", weight_seed=1),
                             tmp_path / f"run_epoch_{best}.npz")
    # After train, the model holds the best epoch's weights AND statistics.
    assert np.array_equal(reloaded.loss(X), model.loss(X))
    assert solver.check_accuracy(data["X_val"], data["y_val"]) == solver.best_val_acc


# -- concurrent saves --------------------------------------------------------------------

def test_threads_saving_to_one_path_leave_one_whole_checkpoint(tmp_path):
    path = tmp_path / "net.npz"
    writers, rounds = 4, 30
    start_together = threading.Barrier(writers)
    failures, seen = [], []
    saving = threading.Event()

    def write(k):
        try:
            for r in range(rounds):
                start_together.wait(timeout=30)
                save_params(path, filled(r * writers + k))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)
            start_together.abort()

    def read():
        try:
            while saving.is_set():
                if path.exists():
                    seen.append(saved_value(path))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    saving.set()
    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    reader = threading.Thread(target=read)
    for thread in [*threads, reader]:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    saving.clear()
    reader.join(timeout=60)
    assert failures == []
    assert saved_value(path) in {(rounds - 1) * writers + k for k in range(writers)}
    assert seen and set(seen) <= set(range(rounds * writers))
    assert os.listdir(tmp_path) == ["net.npz"]            # no temporary file left behind


def test_processes_saving_to_one_path_leave_one_whole_checkpoint(tmp_path):
    path = str(tmp_path / "net.npz")
    writers, rounds = 3, 20
    written = set()
    # fork starts the writers at once; spawn (elsewhere) imports the package in each.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    with multiprocessing.get_context(method).Pool(writers) as pool:
        for r in range(rounds):
            values = [r * writers + k for k in range(writers)]
            pending = pool.starmap_async(save_params, [(path, filled(v)) for v in values],
                                         chunksize=1)
            while not pending.ready():
                if os.path.exists(path):
                    assert saved_value(path) in written | set(values)
                pending.wait(0.002)               # leave the writers most of the CPU
            assert pending.get(timeout=60) == [path] * writers
            assert saved_value(path) in values
            written |= set(values)
    assert os.listdir(tmp_path) == ["net.npz"]


# -- hostile files -----------------------------------------------------------------------

def npy_header(shape, descr="<f8", fortran_order=False, version=(1, 0)):
    buffer = io.BytesIO()
    write = {(1, 0): npy_format.write_array_header_1_0,
             (2, 0): npy_format.write_array_header_2_0}[version]
    write(buffer, {"descr": descr, "fortran_order": fortran_order, "shape": shape})
    return buffer.getvalue()


def npy_bytes(array):
    buffer = io.BytesIO()
    npy_format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def write_zip(path, members, compression=zipfile.ZIP_STORED):
    """A zip of {member name: bytes} written by zipfile."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def write_bytes(path, data):
    path.write_bytes(data)
    return path


def write_raw_zip(path, members):
    """A zip of (name, deflated stream, crc, uncompressed size) written field by field.

    zipfile would have to compress every byte of a bomb; this writes a stream made
    once (and can state any size).
    """
    local, central = b"", b""
    for name, stream, crc, size in members:
        encoded = name.encode()
        central += struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0,
                               zipfile.ZIP_DEFLATED, 0, 33, crc, len(stream), size,
                               len(encoded), 0, 0, 0, 0, 0, len(local)) + encoded
        local += struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, zipfile.ZIP_DEFLATED,
                             0, 33, crc, len(stream), size, len(encoded), 0)
        local += encoded + stream
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members),
                      len(central), len(local), 0)
    with open(path, "wb") as file:
        file.write(local + central + end)
    return path


@pytest.fixture(scope="module")
def bomb():
    """(header + 256 MiB of zeros) as one deflated stream of about 0.25 MB, and its crc.

    A full flush byte-aligns the stream and resets its history, so one compressed MiB of
    zeros can be repeated.
    """
    @functools.cache
    def make(header):
        zeros, copies = bytes(1 << 20), 256
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        head = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH)
        piece = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
        stream = head + piece * copies + compressor.flush()
        crc = zlib.crc32(header)
        for _ in range(copies):
            crc = zlib.crc32(zeros, crc)
        return stream, crc, len(header) + copies * len(zeros)
    return make


def good_members():
    return {f"{name}.npy": npy_bytes(value) for name, value in filled(1.0).items()}


class Unpickled:
    """Creates a marker file when unpickled: proof that loading ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return open, (self.marker, "w")


def hostile_files(tmp_path, bomb):
    """{case: (path, expected message)}: crafted files that load_params must refuse."""
    members = good_members()
    huge_header = npy_header((10 ** 6, 10 ** 6))
    bomb_of_w, crc, size = bomb(npy_header((8192, 4096)))
    long_w, long_crc, long_size = bomb(npy_header((128, 128)))
    junk, junk_crc, junk_size = bomb(npy_header((8192, 4096)))
    b_stream = zlib.compressobj(6, zlib.DEFLATED, -15)
    b_data = members["b.npy"]
    b_stream = b_stream.compress(b_data) + b_stream.flush()
    b_member = ("b.npy", b_stream, zlib.crc32(b_data), len(b_data))
    objects = np.array([Unpickled(str(tmp_path / "ran"))] * (128 * 128),
                       dtype=object).reshape(128, 128)
    many = [(f"m{i}.npy", b"\x03\x00", 0, 0) for i in range(5000)]
    cases = {
        "huge shape": (write_zip(tmp_path / "huge.npz", {
            **members, "W.npy": huge_header + bytes(16)}),
            r"huge.npz: parameter 'W' has shape \(1000000, 1000000\) in the file but "
            r"\(128, 128\) in the model"),
        "bomb with a huge shape": (write_raw_zip(tmp_path / "bomb.npz", [
            ("W.npy", bomb_of_w, crc, size), b_member]),
            r"bomb.npz: parameter 'W' has shape \(8192, 4096\) in the file"),
        "bomb after a right header": (write_raw_zip(tmp_path / "long.npz", [
            ("W.npy", long_w, long_crc, long_size), b_member]),
            r"long.npz: parameter 'W': the zip member declares 268435584 bytes, but a "
            r"\(128, 128\) float64 array with its header takes 131200"),
        "bomb in an extra member": (write_raw_zip(tmp_path / "extra.npz", [
            ("W.npy", *_deflated(members["W.npy"])), b_member,
            ("junk.npy", junk, junk_crc, junk_size)]),
            r"extra.npz does not hold the model's parameters: unexpected 'junk'"),
        "wrong dtype": (write_zip(tmp_path / "int.npz", {
            **members, "W.npy": npy_bytes(np.zeros((128, 128), np.int64))}),
            r"int.npz: parameter 'W' is int64 in the file but float64 in the model"),
        "object dtype (a pickle)": (write_zip(tmp_path / "pickle.npz", {
            **members, "W.npy": npy_bytes(objects)}),
            r"pickle.npz: parameter 'W' holds Python objects \(object\), which would be "
            r"unpickled"),
        "header length of 2 GiB": (write_zip(tmp_path / "header.npz", {
            **members, "W.npy": b"\x93NUMPY\x02\x00" + struct.pack("<L", 1 << 31)}),
            r"header.npz: parameter 'W' cannot be read .*the .npy header claims "
            r"2147483648 bytes"),
        "header that is not a dict": (write_zip(tmp_path / "literal.npz", {
            **members, "W.npy": b"\x93NUMPY\x01\x00\x07\x00[1, 2]\n"}),
            r"literal.npz: parameter 'W' cannot be read .*Header is not a dictionary"),
        "format version 3": (write_zip(tmp_path / "v3.npz", {
            **members, "W.npy": b"\x93NUMPY\x03\x00" + bytes(100)}),
            r"v3.npz: parameter 'W' cannot be read .*version 3.0 is not one numpy"),
        "short data": (write_zip(tmp_path / "short.npz", {
            **members, "W.npy": members["W.npy"][:-8]}),
            r"short.npz: parameter 'W': the zip member declares 131192 bytes"),
        "duplicate member": (write_zip(tmp_path / "twice.npz", {
            **members, "W": members["W.npy"]}),
            r"twice.npz: member 'W' appears twice"),
        "5000 members": (write_raw_zip(tmp_path / "many.npz", [
            ("W.npy", *_deflated(members["W.npy"])), b_member, *many]),
                         r"many.npz is not a parameter file for these 2 parameters: its zip "
                         r"directory is \d+ bytes"),
        "bzip2 member": (write_zip(tmp_path / "bz2.npz", members, zipfile.ZIP_BZIP2),
                         r"bz2.npz: parameter 'W' uses zip compression method 12"),
        "not a zip": (write_bytes(tmp_path / "text.npz", b"W = [1, 2, 3]\n"),
                      r"text.npz is not a readable .npz file \(truncated or corrupt\?\)"),
        "a .npy file": (write_bytes(tmp_path / "one.npz", members["W.npy"]),
                        r"one.npz holds a single array \(.npy\), not a parameter file"),
    }
    return cases


def _deflated(data):
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(), zlib.crc32(data), len(data)


HOSTILE_CASES = ["huge shape", "bomb with a huge shape", "bomb after a right header",
                 "bomb in an extra member", "wrong dtype", "object dtype (a pickle)",
                 "header length of 2 GiB", "header that is not a dict", "format version 3",
                 "short data", "duplicate member", "5000 members", "bzip2 member",
                 "not a zip", "a .npy file"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, bomb):
    return hostile_files(tmp_path_factory.mktemp("hostile"), bomb)


def peak_memory(function, *args):
    """(result or exception, peak bytes traced while `function(*args)` ran)."""
    tracemalloc.start()
    try:
        try:
            outcome = function(*args)
        except Exception as exc:  # noqa: BLE001 - returned for the caller to inspect
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_hostile_cases_are_all_listed(hostile):
    assert sorted(hostile) == sorted(HOSTILE_CASES)


@pytest.mark.parametrize("case", HOSTILE_CASES)
def test_hostile_files_are_refused_from_their_headers_in_bounded_memory(hostile, case):
    path, message = hostile[case]
    outcome, peak = peak_memory(load_params, path, LIKE)
    assert isinstance(outcome, ValueError), outcome
    with pytest.raises(ValueError, match=message):
        raise outcome
    assert str(outcome).startswith(f"load_params: {path}")
    assert peak < MEMORY_BOUND, f"{peak} bytes traced"
    assert not (path.parent / "ran").exists()            # nothing was unpickled


def test_bombs_are_small_files_that_expand_to_hundreds_of_megabytes(hostile):
    path, _ = hostile["bomb after a right header"]
    assert os.path.getsize(path) < 300_000
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("W.npy").file_size == 268_435_584
        with archive.open("W.npy") as member:             # really that much data
            assert npy_format.read_magic(member) == (1, 0)
            member.read(128 - 8)
            assert member.read(1 << 20) == bytes(1 << 20)


def test_every_truncation_of_a_checkpoint_is_refused_clearly(tmp_path):
    raw = (tmp_path / "whole.npz")
    save_params(raw, filled(2.0))
    data = raw.read_bytes()
    cut = tmp_path / "cut.npz"
    for length in [*range(0, len(data), 997), len(data) - 1]:
        cut.write_bytes(data[:length])
        with pytest.raises(ValueError, match=r"^load_params: .*cut.npz"):
            load_params(cut, LIKE)


def test_a_valid_checkpoint_loads_in_about_its_own_size(tmp_path):
    params = {"W": np.random.default_rng(0).standard_normal((512, 1024)), "b": np.ones(3)}
    save_params(tmp_path / "big.npz", params)
    loaded, peak = peak_memory(load_params, tmp_path / "big.npz", params)
    np.testing.assert_array_equal(loaded["W"], params["W"])
    assert peak < 1.1 * params["W"].nbytes + (1 << 20)


def test_compressed_and_fortran_ordered_files_load(tmp_path):
    params = {"W": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
              "b": np.arange(4, dtype=np.float32)}
    np.savez_compressed(tmp_path / "numpy.npz", **params)
    save_params(tmp_path / "ours.npz", params)
    for name in ("numpy.npz", "ours.npz"):
        loaded = load_params(tmp_path / name, params)
        assert loaded["b"].dtype == np.float32 and loaded["W"].shape == (3, 4)
        np.testing.assert_array_equal(loaded["W"], params["W"])
        loaded["W"][0, 0] = -1.0                          # a new, writable array


# -- operating-system errors ------------------------------------------------------------

def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def write_half_then_fill_the_disk(member, array, **kwargs):
    member.write(b"\x93NUMPY" + bytes(100))
    no_space()


@pytest.mark.parametrize("target, replacement", [
    (npy_format, write_half_then_fill_the_disk), (os, no_space)],
    ids=["write", "fsync"])
def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch, target,
                                                    replacement):
    path = tmp_path / "net.npz"
    save_params(path, filled(1.0))
    monkeypatch.setattr(target, "write_array" if target is npy_format else "fsync",
                        replacement)
    with pytest.raises(OSError, match=rf"^\[Errno {errno.ENOSPC}\] save_params: cannot "
                                      rf"write {path}: No space left on device") as caught:
        save_params(path, filled(2.0))
    assert caught.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert saved_value(path) == 1.0
    assert os.listdir(tmp_path) == ["net.npz"]


def test_unwritable_targets_are_named(tmp_path, monkeypatch):
    (tmp_path / "plain").write_text("a file")
    (tmp_path / "folder.npz").mkdir()
    cases = [(tmp_path / "missing" / "net", FileNotFoundError,
              f"the directory {tmp_path / 'missing'} does not exist"),
             (tmp_path / "plain" / "net", NotADirectoryError,
              f"{tmp_path / 'plain'} is not a directory"),
             (tmp_path / "folder", IsADirectoryError, "Is a directory")]
    for path, kind, reason in cases:
        with pytest.raises(kind) as caught:
            save_params(path, filled(1.0))
        assert str(caught.value).endswith(f"save_params: cannot write {path}.npz: {reason}")
    # Permission bits do not stop root, so the refusal is simulated.
    real_open = os.open

    def refuse(name, *args, **kwargs):
        if os.path.dirname(name) == str(tmp_path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(PermissionError, match=rf"save_params: cannot write "
                                              rf"{tmp_path / 'net.npz'}: Permission denied"):
        save_params(tmp_path / "net", filled(1.0))
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["folder.npz", "plain"]


def test_a_checkpoint_gets_ordinary_file_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        save_params(tmp_path / "net", filled(1.0))
    finally:
        os.umask(previous)
    if os.name == "posix":
        assert os.stat(tmp_path / "net.npz").st_mode & 0o777 == 0o644


def test_load_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"load_params: no such file: "
                                                rf"{tmp_path / 'none'} \(nor "
                                                rf"{tmp_path / 'none.npz'}\)"):
        load_params(tmp_path / "none", LIKE)
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError, match=rf"load_params: cannot read "
                                                rf"{tmp_path / 'folder'}: Is a directory"):
        load_params(tmp_path / "folder", LIKE)
    save_params(tmp_path / "net", filled(1.0))
    with pytest.raises(TypeError, match=r"load_params: like must be a dict of parameter "
                                        r"name -> array, .*\(usually model.params\); got "
                                        r"NoneType"):
        load_params(tmp_path / "net", None)
    with pytest.raises(TypeError, match=r"load_params: like\['W'\] must be a numeric "
                                        r"array; got object array"):
        load_params(tmp_path / "net", {"W": np.array([None]), "b": LIKE["b"]})
    with pytest.raises(TypeError, match=r"load_params: path must be a str or "
                                        r"os.PathLike; got int"):
        load_params(3, LIKE)
