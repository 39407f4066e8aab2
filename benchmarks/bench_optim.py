"""Time a Solver step (loss, gradients and every parameter's update) against PyTorch's.

    python benchmarks/bench_optim.py                  # every rule, float64 (CS231n's dtype)
    python benchmarks/bench_optim.py --only adam --dtype float32

One training step of CS231n's two-layer net on CIFAR-10-sized data (3072 - 100 - 10,
minibatch 100), as its Solver takes it (``Solver._step``: ``model.loss``, then
``next_w, config = rule(w, dw, config)`` for every parameter, the old weights dropped),
against the same network in PyTorch with autograd and the torch.optim class of the same
rule and hyperparameters (``loss.backward(); optimizer.step()``, in place). Steps alternate
(torch, gatelab, torch, ...) and each time is the median of its repeats; the ratio
gatelab / torch is printed per rule, with gatelab's page faults per step over ten more
steps in a row: the cost of weight-sized arrays allocated afresh, which the rules keep
down by computing in place and in a scratch array (`training.optim`).
"""

import argparse
import resource

from _timing import add_threads_option, chosen, median_times, pin_threads, thread_report

# rule -> (torch.optim class name, its keyword arguments, gatelab's optim_config)
RULES = {
    "sgd": ("SGD", {"lr": 1e-3}, {"learning_rate": 1e-3}),
    "sgd_momentum": ("SGD", {"lr": 1e-3, "momentum": 0.9},
                     {"learning_rate": 1e-3, "momentum": 0.9}),
    "nesterov": ("SGD", {"lr": 1e-3, "momentum": 0.9, "nesterov": True},
                 {"learning_rate": 1e-3, "momentum": 0.9}),
    "rmsprop": ("RMSprop", {"lr": 1e-4, "alpha": 0.99, "eps": 1e-8},
                {"learning_rate": 1e-4, "decay_rate": 0.99, "epsilon": 1e-8}),
    "adam": ("Adam", {"lr": 1e-4}, {"learning_rate": 1e-4}),
    "adamw": ("AdamW", {"lr": 1e-4, "weight_decay": 1e-2},
              {"learning_rate": 1e-4, "weight_decay": 1e-2}),
}


def steps(np, torch, name, dtype):
    """(torch step, gatelab step, gatelab's Solver) for update rule `name`."""
    import torch.nn.functional as F

    from training.models import TwoLayerNet
    from training.solver import Solver

    torch_class, torch_options, config = RULES[name]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3072)).astype(dtype)
    y = rng.integers(10, size=100)
    model = TwoLayerNet(input_dim=3072, hidden_dim=100, num_classes=10, weight_scale=1e-2,
                        dtype=dtype, weight_seed=0)
    data = {"X_train": X, "y_train": y, "X_val": X[:10], "y_val": y[:10]}
    solver = Solver(model, data, update_rule=name, optim_config=config, verbose=False)
    p = {k: torch.tensor(v, requires_grad=True) for k, v in model.params.items()}
    optimizer = getattr(torch.optim, torch_class)(list(p.values()), **torch_options)
    tX, ty = torch.tensor(X), torch.tensor(y)

    def theirs():
        optimizer.zero_grad()
        h = F.relu(tX @ p["W1"] + p["b1"])
        F.cross_entropy(h @ p["W2"] + p["b2"], ty).backward()
        optimizer.step()

    def ours():
        solver._step(X, y)

    return theirs, ours


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(RULES),
                        help=f"comma-separated rules (default: all of {', '.join(RULES)})")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    parser.add_argument("--repeats", type=int, default=31)
    add_threads_option(parser)
    args = parser.parse_args()
    names = chosen(parser, args.only, RULES, "rules")
    threads = pin_threads(args.threads)
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    print(thread_report(np, torch))
    print(f"TwoLayerNet 3072 - 100 - 10, minibatch 100, {args.dtype}: one Solver step")
    print(f"{'rule':<14}{'torch ms':>10}{'gatelab ms':>12}{'gatelab/torch':>15}"
          f"{'faults/step':>13}")
    for name in names:
        theirs, ours = steps(np, torch, name, np.dtype(args.dtype).type)
        t_torch, t_ours = median_times([theirs, ours], args.repeats)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(10):
            ours()
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / 10
        print(f"{name:<14}{t_torch * 1e3:>10.3f}{t_ours * 1e3:>12.3f}"
              f"{t_ours / t_torch:>15.2f}{faults:>13.0f}")


if __name__ == "__main__":
    main()
