"""The Solver, checkpoints and the digits data, on a small softmax classifier."""

import io
import sys

import numpy as np
import pytest
import tqdm
from matplotlib.figure import Figure

from training.checkpoint import load_into, load_params, save_params
from training.data import load_digits_data, split_data
from training.schedules import StepDecay
from training import solver as solver_module
from training.solver import Solver
from layers import affine_backward, affine_forward, softmax_loss


class Softmax:
    """A linear softmax classifier written with the layer functions directly."""

    def __init__(self, D, C, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"W": 0.01 * rng.standard_normal((D, C)), "b": np.zeros(C)}

    def loss(self, X, y=None):
        scores, cache = affine_forward(X, self.params["W"], self.params["b"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        _, dW, db = affine_backward(dscores, cache)
        return loss, {"W": dW, "b": db}


def blobs(seed=0, n=300, D=5, C=3):
    """Three Gaussian blobs, separable enough to learn in a few epochs."""
    rng = np.random.default_rng(seed)
    centres = 3 * rng.standard_normal((C, D))
    y = rng.integers(0, C, n)
    X = centres[y] + rng.standard_normal((n, D))
    return split_data(X, y, test_fraction=0.2, val_fraction=0.25, seed=seed)


def make_solver(data=None, **options):
    data = blobs() if data is None else data
    settings = {"update_rule": "sgd_momentum", "optim_config": {"learning_rate": 0.05},
                "batch_size": 20, "num_epochs": 3, "verbose": False, "seed": 7}
    settings.update(options)
    return Solver(Softmax(data["X_train"].shape[1], 3), data, **settings)


def test_history_shapes_and_learning():
    solver = make_solver()
    history = solver.train()
    assert history is solver.history
    assert solver.iterations_per_epoch == 180 // 20
    assert len(history.loss) == 3 * 9 and history.epochs == [0, 1, 2, 3]
    assert len(history.train_acc) == len(history.val_acc) == 4
    assert solver.loss_history is history.loss                  # CS231n's names
    assert solver.val_acc_history is history.val_acc
    assert np.mean(history.loss[-5:]) < np.mean(history.loss[:5]) / 2
    assert history.val_acc[-1] > 0.9


def test_a_second_train_starts_a_fresh_run(capsys):
    solver = make_solver(num_epochs=1, verbose=True)
    solver.train()
    first_loss = list(solver.history.loss)
    history = solver.train()
    assert history.epochs == [0, 1]
    assert len(history.loss) == solver.iterations_per_epoch == len(first_loss)
    assert solver.iteration == solver.iterations_per_epoch
    assert "(Epoch 2 / 1)" not in capsys.readouterr().out
    # It continues from the trained weights, so the loss starts lower than the first run's.
    assert history.loss[0] < first_loss[0]


def test_same_seed_same_run_and_another_seed_another():
    first, second, other = (make_solver().train(), make_solver().train(),
                            make_solver(seed=8).train())
    assert first.loss == second.loss and first.val_acc == second.val_acc
    assert first.loss != other.loss


def test_best_params_by_validation_accuracy_end_in_the_model():
    solver = make_solver(optim_config={"learning_rate": 0.5}, num_epochs=4)
    solver.train()
    assert solver.best_val_acc == max(solver.history.val_acc)
    for name, value in solver.best_params.items():
        np.testing.assert_array_equal(solver.model.params[name], value)
        assert solver.model.params[name] is not value               # a copy


def test_lr_decay_per_epoch_and_schedule_per_iteration():
    solver = make_solver(lr_decay=0.5)
    solver.train()
    assert solver.optim_configs["W"]["learning_rate"] == 0.05 * 0.5 ** 3
    assert solver.history.learning_rate[::9] == [0.05, 0.025, 0.0125]

    scheduled = make_solver(schedule=StepDecay(0.1, step_size=10, gamma=0.1))
    scheduled.train()
    rates = scheduled.history.learning_rate
    assert rates[:10] == [0.1] * 10 and rates[10:20] == pytest.approx([0.01] * 10)
    with pytest.raises(ValueError, match="Solver: give either schedule or lr_decay"):
        make_solver(schedule=StepDecay(0.1, 10), lr_decay=0.9)


def test_each_parameter_has_its_own_optimizer_state():
    solver = make_solver(update_rule="adam", optim_config={"learning_rate": 1e-2},
                         num_epochs=1)
    solver.train()
    configs = solver.optim_configs
    assert configs["W"]["m"].shape == (5, 3) and configs["b"]["m"].shape == (3,)
    assert configs["W"]["t"] == configs["b"]["t"] == 9


def test_plot_history_returns_a_figure_with_two_panels():
    solver = make_solver()
    solver.train()
    figure = solver.plot_history()
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    loss_axes, acc_axes = figure.axes
    assert loss_axes.get_xlabel() == "iteration" and acc_axes.get_xlabel() == "epoch"
    np.testing.assert_array_equal(acc_axes.lines[1].get_ydata(), solver.history.val_acc)


def test_quiet_prints_nothing_and_a_log_gets_cs231n_lines(capsys):
    make_solver().train()
    assert capsys.readouterr().out == ""
    make_solver(verbose=True, print_every=10, num_epochs=2).train()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("(Epoch 0 / 2) train acc: ")
    assert lines[1].startswith("(Iteration 1 / 18) loss: ")
    assert "\r" not in "".join(lines)                              # no bar in a log
    assert sum(line.startswith("(Iteration") for line in lines) == 2  # 1 and 11


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_a_progress_bar(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    make_solver(verbose=True, num_epochs=2).train()
    text = terminal.getvalue()
    assert "\rtraining: 100%|" in text and "| 18/18 [" in text    # tqdm's bar, redrawn
    assert "epoch 2/2, loss " in text and "(Iteration" not in text
    epoch_lines = [line.rsplit("\r", 1)[-1] for line in text.split("\n")
                   if "(Epoch" in line]
    assert [line[:14] for line in epoch_lines] == [f"(Epoch {e} / 2) " for e in range(3)]
    terminal.truncate(0)
    make_solver(verbose=False, num_epochs=2).train()
    assert terminal.getvalue() == ""


def test_a_notebook_bar_replaces_the_periodic_lines(monkeypatch, capsys):
    # tqdm.auto's notebook bar is shown although a kernel's stdout is no terminal: the
    # bar, not isatty, decides whether the solver prints CS231n's periodic lines.
    shown = []

    class NotebookBar(tqdm.tqdm):
        def __init__(self, *args, **kwargs):
            # As tqdm.notebook does: disable=None (decide by the stream) means shown.
            super().__init__(*args, **{**kwargs, "disable": bool(kwargs.get("disable"))})
            shown.append(not self.disable)                # (closing disables a bar)

    monkeypatch.setattr(solver_module, "tqdm", NotebookBar)
    make_solver(verbose=True, num_epochs=2).train()
    out = capsys.readouterr().out
    assert "(Iteration" not in out and "(Epoch 2 / 2) train acc:" in out
    assert shown == [True] and "18/18" in out
    make_solver(verbose=False, num_epochs=2).train()
    assert capsys.readouterr().out == "" and shown == [True, False]


def test_a_failed_run_closes_its_bar(monkeypatch):
    class Failing(Softmax):
        calls = 0

        def loss(self, X, y=None):
            if y is not None:
                Failing.calls += 1
                if Failing.calls == 5:
                    raise RuntimeError("the fifth step fails")
            return super().loss(X, y)

    monkeypatch.setattr(sys, "stdout", Terminal())
    data = blobs()
    solver = Solver(Failing(5, 3), data, batch_size=20, num_epochs=2, verbose=True)
    open_bars = len(tqdm.tqdm._instances) if hasattr(tqdm.tqdm, "_instances") else 0
    with pytest.raises(RuntimeError, match="the fifth step fails") as caught:
        solver.train()
    # The traceback keeps the run's frames, and with them its bar, alive.
    assert caught.traceback and len(getattr(tqdm.tqdm, "_instances", [])) == open_bars
    assert sys.stdout.getvalue().endswith("\n")         # closed, the cursor below it


def test_a_diverging_run_stops_with_a_clear_error():
    data = blobs()
    data["X_train"][5] = np.nan
    # The loss layers refuse scores that are not finite, naming where; the model calls
    # the fused softmax_loss, the name the refusal carries.
    with pytest.raises(ValueError, match=r"softmax_loss: x holds NaN at index "
                                         r"\(\d+, 0\)"):
        make_solver(data).train()

    class NanLoss(Softmax):
        """A model whose own loss (no loss layer) is not finite."""

        def loss(self, X, y=None):
            if y is None:
                return super().loss(X)
            return np.float64(np.nan), super().loss(X, y)[1]

    solver = make_solver()
    solver.model = NanLoss(5, 3)
    with pytest.raises(FloatingPointError, match=r"Solver: the loss is nan at iteration "
                                                 r"\d+ \(epoch 1\); the learning rate is "
                                                 r"too high, or the data is not finite"):
        solver.train()


def test_solver_argument_errors():
    with pytest.raises(ValueError, match=r"Solver: update_rule must be one of \['adam', "):
        make_solver(update_rule="adagrad")
    data = blobs()
    del data["y_val"]
    with pytest.raises(ValueError, match=r"Solver: data must have 'y_val'"):
        make_solver(data)
    data = blobs()
    data["y_train"] = data["y_train"][:-1]
    with pytest.raises(ValueError, match=r"Solver: data\['y_train'\] must have shape \(N,\)"
                                         r" with N=180 from data\['X_train'\]"):
        make_solver(data)


def test_dropout_masks_come_from_the_solver_and_the_seed_is_restored():
    seen = []

    class WithDropout(Softmax):
        def __init__(self):
            super().__init__(5, 3)
            self.dropout_param = {"mode": "train", "p": 0.5, "seed": 123}

        def loss(self, X, y=None):
            if y is not None:
                seed = self.dropout_param["seed"]
                seen.append(seed.integers(1 << 30) if isinstance(seed, np.random.Generator)
                            else seed)
            return super().loss(X, y)

    data = blobs()
    for _ in range(2):
        model = WithDropout()
        Solver(model, data, num_epochs=1, batch_size=60, verbose=False, seed=1).train()
        assert model.dropout_param["seed"] == 123
    first, second = seen[:3], seen[3:]
    assert first == second and len(set(first)) == 3        # reproducible, fresh per step


# -- checkpoints -------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    model = Softmax(5, 3, seed=1)
    save_params(tmp_path / "net.npz", model.params)
    other = Softmax(5, 3, seed=2)
    load_into(other, tmp_path / "net.npz")
    for name in model.params:
        np.testing.assert_array_equal(other.params[name], model.params[name])


def test_load_accepts_the_name_given_to_save_without_npz(tmp_path):
    model = Softmax(5, 3, seed=1)
    assert save_params(tmp_path / "netck", model.params) == str(tmp_path / "netck.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["netck.npz"]
    other = load_into(Softmax(5, 3, seed=2), tmp_path / "netck")
    np.testing.assert_array_equal(other.params["W"], model.params["W"])


@pytest.mark.parametrize("params, error, message", [
    # np.savez(path, **params) would take these names for its own arguments.
    ({"file": np.zeros(2)}, None, None),
    ({"allow_pickle": np.zeros(2)}, None, None),
    ({"W": np.array([None, 1.0], dtype=object)}, TypeError,
     r"save_params: parameter 'W' must be a floating-point ndarray; got object array"),
    ({"W": np.zeros(2), "n": np.arange(3)}, TypeError,
     r"save_params: parameter 'n' must be a floating-point ndarray; got int64 array"),
    ({"a/b": np.zeros(2)}, ValueError,
     r"save_params: parameter names must be non-empty strings without '/'.*got 'a/b'"),
    ({"": np.zeros(2)}, ValueError, r"save_params: parameter names must be non-empty"),
    ({3: np.zeros(2)}, TypeError, r"save_params: parameter names must be strings; got 3"),
])
def test_save_writes_any_name_or_nothing(tmp_path, params, error, message):
    path = tmp_path / "p.npz"
    if error is None:
        save_params(path, params)
        loaded = load_params(path, params)
        assert list(loaded) == list(params)
        np.testing.assert_array_equal(next(iter(loaded.values())), np.zeros(2))
    else:
        with pytest.raises(error, match=message):
            save_params(path, params)
        assert list(tmp_path.iterdir()) == []              # never a half file


def test_truncated_and_corrupt_files_are_refused_without_touching_the_model(tmp_path):
    model = Softmax(5, 3, seed=1)
    save_params(tmp_path / "net.npz", Softmax(5, 3, seed=2).params)
    raw = (tmp_path / "net.npz").read_bytes()
    before = {k: v.copy() for k, v in model.params.items()}

    (tmp_path / "cut.npz").write_bytes(raw[:len(raw) // 2])
    with pytest.raises(ValueError, match=r"cut.npz is not a readable .npz file "
                                         r"\(truncated or corrupt\?\)"):
        load_into(model, tmp_path / "cut.npz")

    # Flip one byte inside the first array's data: the zip checksum names the member.
    corrupt = bytearray(raw)
    corrupt[raw.index(b"NUMPY") + 140] ^= 0xFF
    (tmp_path / "flip.npz").write_bytes(bytes(corrupt))
    with pytest.raises(ValueError, match=r"flip.npz: parameter 'W' cannot be read"):
        load_into(model, tmp_path / "flip.npz")
    for name in before:
        np.testing.assert_array_equal(model.params[name], before[name])


def test_mismatched_files_name_the_parameter(tmp_path):
    model = Softmax(5, 3)
    save_params(tmp_path / "shape.npz", {"W": np.zeros((4, 3)), "b": np.zeros(3)})
    with pytest.raises(ValueError, match=r"parameter 'W' has shape \(4, 3\) in the file but "
                                         r"\(5, 3\) in the model"):
        load_params(tmp_path / "shape.npz", model.params)
    save_params(tmp_path / "names.npz", {"W": np.zeros((5, 3)), "W2": np.zeros(3)})
    with pytest.raises(ValueError, match=r"does not hold the model's parameters: missing "
                                         r"'b'; unexpected 'W2'"):
        load_params(tmp_path / "names.npz", model.params)
    save_params(tmp_path / "dtype.npz", {"W": np.zeros((5, 3), np.float32),
                                         "b": np.zeros(3)})
    with pytest.raises(ValueError, match="parameter 'W' is float32 in the file but float64"):
        load_params(tmp_path / "dtype.npz", model.params)


# -- the digits --------------------------------------------------------------------------

def test_digits_split_is_fixed_80_20_and_centred():
    pytest.importorskip("sklearn")
    data = load_digits_data(seed=0)
    sizes = [len(data[f"y_{part}"]) for part in ("train", "val", "test")]
    assert sizes == [1294, 144, 359] and sum(sizes) == 1797
    assert data["X_train"].shape == (1294, 64) and data["X_train"].dtype == np.float64
    np.testing.assert_allclose(data["X_train"].mean(axis=0), 0, atol=1e-12)
    again = load_digits_data(seed=0, images=True, dtype=np.float32)
    assert again["X_test"].shape == (359, 1, 8, 8)
    np.testing.assert_array_equal(again["y_test"], data["y_test"])


def test_missing_scikit_learn_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r'load_digits_data: .*pip install '
                                          r'"scikit-learn>=1.3"'):
        load_digits_data()
