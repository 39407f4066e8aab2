"""Minibatch training of a classification model, with CS231n's Solver API.

A model is anything with

- ``model.params``: a dict of name -> ndarray, the learnable parameters;
- ``model.loss(X, y=None)``: class scores of shape (N, C) without labels (test mode),
  and ``(loss, grads)`` with labels (train mode), where ``grads`` has an entry per
  parameter name.

The models of `training.models` qualify, and so does CS231n code written against that
contract. Usage, as in CS231n::

    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    batch_size=100, num_epochs=10, seed=0)
    solver.train()
    solver.history.plot()          # loss and accuracy curves, a matplotlib Figure
    model.params                   # the best parameters by validation accuracy

Each parameter gets its own copy of ``optim_config`` (the update rule's state), updated
by a rule of `training.optim`. One epoch visits a fresh permutation of the training set in
``N // batch_size`` full batches; the remainder, different in every epoch, waits for a
later one. The solver's ``seed`` decides everything random in a run (batch order, the
accuracy subsamples, dropout masks), so two runs with one seed give identical histories.
"""

import copy
import math
import os
import sys
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from layers.contract import Args, describe
from . import optim
from .checkpoint import running_stats, save_model, set_running_stats

__all__ = ["Solver", "History"]


@dataclass
class History:
    """What a training run recorded.

    Attributes
    ----------
    loss : list of float
        The minibatch loss of every iteration.
    learning_rate : list of float
        The learning rate used by every iteration.
    epochs : list of int
        0 (before training), 1, 2, ...: when the accuracies were measured.
    train_acc, val_acc : list of float
        Accuracy on (a subsample of) the training set and on the validation set, at
        each of `epochs`.
    """

    loss: list = field(default_factory=list)
    learning_rate: list = field(default_factory=list)
    epochs: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)

    def plot(self, smoothing=None):
        """The loss curve and the accuracy curves side by side, as a matplotlib Figure.

        Parameters
        ----------
        smoothing : int, optional
            Window of the moving average drawn over the per-iteration losses; by default
            about 1/50 of the run (no line for very short runs).

        Returns
        -------
        matplotlib.figure.Figure
            Not attached to pyplot: display it in a notebook, or ``fig.savefig(path)``.
        """
        from matplotlib.figure import Figure

        figure = Figure(figsize=(10, 3.8), layout="constrained")
        loss_axes, acc_axes = figure.subplots(1, 2)
        iterations = np.arange(1, len(self.loss) + 1)
        loss_axes.plot(iterations, self.loss, ".", markersize=2, alpha=0.35,
                       color="tab:blue", label="minibatch loss")
        window = smoothing or max(len(self.loss) // 50, 1)
        if window > 1 and len(self.loss) >= window:
            smooth = np.convolve(self.loss, np.ones(window) / window, mode="valid")
            loss_axes.plot(iterations[window - 1:], smooth, color="tab:blue",
                           label=f"moving average ({window})")
        loss_axes.set(xlabel="iteration", ylabel="loss", title="Training loss")
        loss_axes.legend(loc="upper right")
        acc_axes.plot(self.epochs, self.train_acc, "o-", label="train")
        acc_axes.plot(self.epochs, self.val_acc, "o-", label="validation")
        acc_axes.set(xlabel="epoch", ylabel="accuracy", title="Classification accuracy",
                     ylim=(0, 1.02))
        acc_axes.legend(loc="lower right")
        return figure


class Solver:
    """Train a classification model with minibatch gradient descent.

    Parameters
    ----------
    model : object
        With ``params`` and ``loss(X, y=None)`` (module docstring).
    data : dict
        ``X_train`` (N, ...), ``y_train`` (N,) integer labels, ``X_val``, ``y_val``.
    update_rule : str or callable, default "sgd"
        A name in `training.optim` (``"sgd"``, ``"sgd_momentum"``, ``"nesterov"``,
        ``"rmsprop"``, ``"adam"``, ``"adamw"``), or a function with their signature.
    optim_config : dict, optional
        Hyperparameters for the rule (``{"learning_rate": 1e-3}``); every parameter gets
        its own copy, which also holds that parameter's state.
    lr_decay : float, default 1.0
        CS231n's decay: every learning rate is multiplied by it after each epoch.
    schedule : callable, optional
        ``schedule(t) -> learning rate`` for iteration t = 0, 1, ... (see
        `training.schedules`); it sets the rate of every update. Not with ``lr_decay``.
    batch_size : int, default 100
    num_epochs : int, default 10
    num_train_samples : int or None, default 1000
        Training examples used to measure training accuracy after each epoch (None: all).
    num_val_samples : int or None, default None
        Validation examples used likewise (None: all).
    checkpoint_name : str or os.PathLike, optional
        When given, the model's parameters and running statistics are saved after every
        accuracy measurement (epoch 0, 1, ...) to ``f"{checkpoint_name}_epoch_{epoch}.npz"``
        (`training.checkpoint.save_model`; CS231n's Solver pickles the model and the
        histories to ``.pkl`` instead).
    print_every : int, default 10
        Without a terminal, print the loss every this many iterations (when verbose).
    verbose : bool, default True
        False: print nothing. True: a tqdm progress bar (a widget in a notebook) and one
        line per epoch on a terminal or in a notebook; CS231n's periodic lines when
        stdout is neither (a log file, CI).
    seed : int, default 0
        Seeds batch order, accuracy subsamples and dropout masks (module docstring).

    Attributes
    ----------
    history : History
        ``loss`` per iteration, ``train_acc`` and ``val_acc`` per epoch; ``plot()``.
    loss_history, train_acc_history, val_acc_history : list
        CS231n's names for the same lists.
    best_val_acc : float
    best_params : dict
        Copies of the parameters at the epoch with the best validation accuracy; `train`
        puts them back into ``model.params`` when it ends (as CS231n's Solver does).
    best_running_stats : dict
        Batch norm's running statistics at that epoch (`training.checkpoint.running_stats`;
        ``{}`` without batch norm), put back with them, so that the model's test-mode
        scores after `train` are those that measured the best validation accuracy.
    optim_configs : dict
        The update rule's config (and state) per parameter name.
    """

    def __init__(self, model, data, *, update_rule="sgd", optim_config=None, lr_decay=1.0,
                 schedule=None, batch_size=100, num_epochs=10, num_train_samples=1000,
                 num_val_samples=None, checkpoint_name=None, print_every=10, verbose=True,
                 seed=0):
        check = Args("Solver")
        if not isinstance(getattr(model, "params", None), dict) or not callable(
                getattr(model, "loss", None)):
            raise check.error(f"model must have a params dict and a loss(X, y=None) "
                              f"method; got {describe(model)}", TypeError)
        self.model = model
        self.X_train, self.y_train = _split_arrays(check, data, "train")
        self.X_val, self.y_val = _split_arrays(check, data, "val")
        self.update_rule = _update_rule(check, update_rule)
        self.optim_config = dict(check.mapping("optim_config", optim_config or {}))
        self.lr_decay = check.number("lr_decay", lr_decay, low=0, high=1, low_open=True)
        if schedule is not None and not callable(schedule):
            raise check.error(f"schedule must be a function of the iteration; got "
                              f"{describe(schedule)}", TypeError)
        if schedule is not None and lr_decay != 1.0:
            raise check.error("give either schedule or lr_decay, not both")
        self.schedule = schedule
        self.batch_size = check.integer("batch_size", batch_size, low=1)
        self.num_epochs = check.integer("num_epochs", num_epochs, low=0)
        self.num_train_samples = _optional_count(check, "num_train_samples",
                                                 num_train_samples)
        self.num_val_samples = _optional_count(check, "num_val_samples", num_val_samples)
        if checkpoint_name is not None and not isinstance(checkpoint_name,
                                                           (str, os.PathLike)):
            raise check.error(f"checkpoint_name must be a path (str); got "
                              f"{describe(checkpoint_name)}", TypeError)
        self.checkpoint_name = checkpoint_name
        self.print_every = check.integer("print_every", print_every, low=1)
        self.verbose = bool(verbose)
        self.seed = check.integer("seed", seed, low=0)
        self.iterations_per_epoch = max(len(self.X_train) // self.batch_size, 1)
        self._reset()

    def _reset(self):
        """Fresh history, optimizer state and random streams: every `train` starts here."""
        self.iteration = 0
        self.epoch = 0
        self.history = History()
        self.best_val_acc = -1.0
        self.best_params = {}
        self.best_running_stats = {}
        self.optim_configs = {name: copy.deepcopy(self.optim_config)
                              for name in self.model.params}
        # Separate streams, so that e.g. changing num_train_samples leaves the batch
        # order unchanged.
        self._batch_rng, self._eval_rng, self._dropout_rng = \
            np.random.default_rng(self.seed).spawn(3)

    # CS231n's attribute names ------------------------------------------------------------

    @property
    def loss_history(self):
        return self.history.loss

    @property
    def train_acc_history(self):
        return self.history.train_acc

    @property
    def val_acc_history(self):
        return self.history.val_acc

    def plot_history(self, smoothing=None):
        """``self.history.plot()``: loss and accuracy curves as a matplotlib Figure."""
        return self.history.plot(smoothing)

    # Training -----------------------------------------------------------------------------

    def train(self):
        """Run `num_epochs` epochs; leave the best parameters (by val accuracy) in the model.

        Every call starts a new run from the model's current parameters: a fresh history
        (epochs 0, 1, ..., num_epochs), fresh optimizer state and the random streams of
        `seed`. (CS231n's Solver resets only in ``__init__``, so a second ``train()``
        there continues the old history; here the history always describes one run.)
        To train longer, raise ``num_epochs`` or keep the previous ``history``.

        Returns
        -------
        History
            ``self.history``.
        """
        self._reset()
        out = sys.stdout
        progress = _progress_bar(self.num_epochs * self.iterations_per_epoch, out,
                                 self.verbose)
        with _training_randomness(self.model, self._dropout_rng), progress:
            self._record_epoch(out, progress)
            for _ in range(self.num_epochs):
                self.epoch += 1
                order = self._batch_rng.permutation(len(self.X_train))
                for k in range(self.iterations_per_epoch):
                    batch = order[k * self.batch_size:(k + 1) * self.batch_size]
                    loss = self._step(self.X_train[batch], self.y_train[batch])
                    self._report_iteration(out, progress, loss)
                if self.schedule is None:
                    for config in self.optim_configs.values():
                        if "learning_rate" in config:
                            config["learning_rate"] *= self.lr_decay
                self._record_epoch(out, progress)
        if self.best_params:
            self.model.params.update(copy.deepcopy(self.best_params))
            set_running_stats(self.model, self.best_running_stats)
        return self.history

    def _step(self, X, y):
        """One update of every parameter from the gradient on the batch (X, y)."""
        loss, grads = self.model.loss(X, y)
        if not np.isfinite(loss):
            raise FloatingPointError(
                f"Solver: the loss is {loss} at iteration {self.iteration + 1} (epoch "
                f"{self.epoch}); the learning rate is too high, or the data is not finite")
        missing = [name for name in self.model.params if name not in grads]
        if missing:
            raise KeyError(f"Solver: model.loss returned no gradient for parameter(s) "
                           f"{', '.join(map(repr, missing))}")
        rates = []
        for name, w in self.model.params.items():
            config = self.optim_configs[name]
            if self.schedule is not None:
                config["learning_rate"] = self.schedule(self.iteration)
            next_w, self.optim_configs[name] = self.update_rule(w, grads[name], config)
            self.model.params[name] = next_w
            rates.append(config.get("learning_rate", math.nan))
        self.iteration += 1
        self.history.loss.append(float(loss))
        self.history.learning_rate.append(float(rates[0]) if rates else math.nan)
        return float(loss)

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of examples whose highest score is their label.

        Parameters
        ----------
        X : ndarray of shape (N, ...)
        y : ndarray of shape (N,), integer labels
        num_samples : int, optional
            Measure on this many examples drawn without replacement (all when None).
        batch_size : int
            Examples per call of ``model.loss`` (bounds memory).

        Returns
        -------
        float
        """
        if num_samples is not None and len(X) > num_samples:
            subset = self._eval_rng.choice(len(X), num_samples, replace=False)
            X, y = X[subset], y[subset]
        if len(X) == 0:
            return math.nan
        predictions = np.concatenate([
            np.argmax(self.model.loss(X[start:start + batch_size]), axis=1)
            for start in range(0, len(X), batch_size)])
        return float(np.mean(predictions == y))

    def _record_epoch(self, out, progress):
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        self.history.epochs.append(self.epoch)
        self.history.train_acc.append(train_acc)
        self.history.val_acc.append(val_acc)
        if val_acc > self.best_val_acc:
            self.best_val_acc = val_acc
            self.best_params = copy.deepcopy(self.model.params)
            self.best_running_stats = running_stats(self.model)
        lines = [f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:.4f}; "
                 f"val acc: {val_acc:.4f}"]
        if self.checkpoint_name is not None:
            path = save_model(f"{os.fspath(self.checkpoint_name)}_epoch_{self.epoch}",
                              self.model)
            lines.append(f'Saving checkpoint to "{path}"')
        if self.verbose:
            for line in lines:
                if not progress.disable:
                    progress.write(line, file=out)      # above the bar, which redraws
                else:
                    print(line, file=out, flush=True)

    def _report_iteration(self, out, progress, loss):
        if not progress.disable:
            progress.set_postfix_str(f"epoch {self.epoch}/{self.num_epochs}, "
                                     f"loss {loss:.4f}", refresh=False)
            progress.update()
        elif self.verbose and (self.iteration - 1) % self.print_every == 0:
            total = self.num_epochs * self.iterations_per_epoch
            print(f"(Iteration {self.iteration} / {total}) loss: {loss:.6f}", file=out,
                  flush=True)


class _training_randomness:
    """While training, a model's dropout draws its masks from the solver's stream.

    CS231n's models keep a ``dropout_param`` dict whose ``'seed'``, when set, fixes ONE
    mask for every call (so that gradients can be checked). Training wants a new mask per
    iteration, reproducible from the solver's seed: the solver puts its Generator in the
    dict for the run and restores what was there afterwards.
    """

    def __init__(self, model, rng):
        self.param = getattr(model, "dropout_param", None)
        self.rng = rng

    def __enter__(self):
        if isinstance(self.param, dict):
            self.saved = self.param.get("seed", _ABSENT)
            self.param["seed"] = self.rng

    def __exit__(self, *exc_info):
        if isinstance(self.param, dict):
            if self.saved is _ABSENT:
                self.param.pop("seed", None)
            else:
                self.param["seed"] = self.saved


_ABSENT = object()


def _progress_bar(total, out, verbose):
    """A tqdm bar of `total` iterations; ``bar.disable`` is true where none is shown.

    ``tqdm.auto`` draws a widget in a notebook and a text bar on `out` when it is a
    terminal; on anything else (a log file, a pipe) it draws nothing, and the solver
    prints CS231n's periodic lines instead. Not verbose: no bar and nothing printed.
    """
    return tqdm(total=total, file=out, disable=None if verbose else True, desc="training",
                unit="it", dynamic_ncols=True)


def _split_arrays(check, data, part):
    """data[f"X_{part}"], data[f"y_{part}"], checked: floats (N, ...) and int labels (N,)."""
    data = check.mapping("data", data)
    for key in (f"X_{part}", f"y_{part}"):
        if key not in data:
            raise check.error(f"data must have {key!r}; got keys {sorted(data)}")
    part_check = Args("Solver")
    X = part_check.floats(f"data['X_{part}']", data[f"X_{part}"], "N ...")
    y = part_check.ints(f"data['y_{part}']", data[f"y_{part}"], "N")
    return X, y


def _update_rule(check, rule):
    if callable(rule):
        return rule
    if rule not in optim.UPDATE_RULES:
        raise check.error(f"update_rule must be one of {sorted(optim.UPDATE_RULES)} or a "
                          f"function; got {rule!r}")
    return optim.UPDATE_RULES[rule]


def _optional_count(check, name, value):
    return None if value is None else check.integer(name, value, low=1)
