"""Learning-rate schedules: a schedule maps the iteration number t = 0, 1, 2, ... to a rate.

Each schedule is a small frozen object with ``__call__(t) -> float``, so it prints its
settings and can be passed wherever a function of t is expected (the `Solver`'s
``schedule=``, or any ``lambda t: ...`` of your own). Time is counted in iterations
(parameter updates), as in ``torch.optim.lr_scheduler`` stepped once per batch; for a
schedule in epochs, multiply by the solver's ``iterations_per_epoch``.

Examples
--------
>>> schedule = LinearWarmup(CosineDecay(0.1, total_steps=100), warmup_steps=10)
>>> [round(schedule(t), 4) for t in (0, 9, 10, 60, 110)]
[0.01, 0.1, 0.1, 0.05, 0.0]
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

from layers.contract import Args

__all__ = ["StepDecay", "ExponentialDecay", "CosineDecay", "LinearWarmup"]


@dataclass(frozen=True)
class StepDecay:
    """Multiply the rate by `gamma` every `step_size` iterations (torch's ``StepLR``).

    lr(t) = learning_rate * gamma ** floor(t / step_size)

    Parameters
    ----------
    learning_rate : float, > 0
    step_size : int, >= 1
    gamma : float in (0, 1], default 0.1
    """

    learning_rate: float
    step_size: int
    gamma: float = 0.1

    def __post_init__(self):
        check = Args("StepDecay")
        check.number("learning_rate", self.learning_rate, low=0, low_open=True)
        check.integer("step_size", self.step_size, low=1)
        check.number("gamma", self.gamma, low=0, high=1, low_open=True)

    def __call__(self, t):
        return self.learning_rate * self.gamma ** (_iteration("StepDecay", t)
                                                    // self.step_size)


@dataclass(frozen=True)
class ExponentialDecay:
    """Multiply the rate by `gamma` every iteration (torch's ``ExponentialLR``).

    lr(t) = learning_rate * gamma ** t. CS231n's ``lr_decay`` is the same rule applied
    once per epoch.

    Parameters
    ----------
    learning_rate : float, > 0
    gamma : float in (0, 1]
    """

    learning_rate: float
    gamma: float

    def __post_init__(self):
        check = Args("ExponentialDecay")
        check.number("learning_rate", self.learning_rate, low=0, low_open=True)
        check.number("gamma", self.gamma, low=0, high=1, low_open=True)

    def __call__(self, t):
        return self.learning_rate * self.gamma ** _iteration("ExponentialDecay", t)


@dataclass(frozen=True)
class CosineDecay:
    """Half a cosine from `learning_rate` down to `final_learning_rate` over `total_steps`.

    lr(t) = final + (learning_rate - final) * (1 + cos(pi * min(t, T) / T)) / 2, with
    T = total_steps: SGDR's annealing without restarts (Loshchilov & Hutter 2017), torch's
    ``CosineAnnealingLR`` with ``T_max = T`` and ``eta_min = final``. After T iterations
    the rate stays at `final_learning_rate`.

    Parameters
    ----------
    learning_rate : float, > 0
    total_steps : int, >= 1
    final_learning_rate : float in [0, learning_rate], default 0
    """

    learning_rate: float
    total_steps: int
    final_learning_rate: float = 0.0

    def __post_init__(self):
        check = Args("CosineDecay")
        check.number("learning_rate", self.learning_rate, low=0, low_open=True)
        check.integer("total_steps", self.total_steps, low=1)
        check.number("final_learning_rate", self.final_learning_rate, low=0,
                     high=self.learning_rate)

    def __call__(self, t):
        progress = min(_iteration("CosineDecay", t), self.total_steps) / self.total_steps
        span = self.learning_rate - self.final_learning_rate
        return self.final_learning_rate + span * (1 + math.cos(math.pi * progress)) / 2


@dataclass(frozen=True)
class LinearWarmup:
    """Ramp the rate up linearly for `warmup_steps` iterations, then follow `schedule`.

    lr(t) = after(0) * (t + 1) / warmup_steps for t < warmup_steps, and
    lr(t) = after(t - warmup_steps) afterwards, where `after` is `schedule` (a constant
    rate when a number is given). The first update already moves (rate after(0) / W),
    the last warm-up iteration reaches after(0), and the wrapped schedule starts its own
    clock when the warm-up ends ("gradual warmup", Goyal et al. 2017, "Accurate, Large
    Minibatch SGD").

    Parameters
    ----------
    schedule : float or callable
        The rate after warm-up: a constant, or a schedule ``t -> rate``.
    warmup_steps : int, >= 1
    """

    schedule: float | Callable[[int], float]
    warmup_steps: int

    def __post_init__(self):
        check = Args("LinearWarmup")
        if not callable(self.schedule):
            check.number("schedule", self.schedule, low=0, low_open=True)
        check.integer("warmup_steps", self.warmup_steps, low=1)

    def after(self, t):
        return self.schedule(t) if callable(self.schedule) else float(self.schedule)

    def __call__(self, t):
        t = _iteration("LinearWarmup", t)
        if t < self.warmup_steps:
            return self.after(0) * (t + 1) / self.warmup_steps
        return self.after(t - self.warmup_steps)


def _iteration(func, t):
    return Args(func).integer("t", t, low=0)
