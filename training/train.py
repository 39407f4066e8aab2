"""Train a network on scikit-learn's 8x8 digits and print its test accuracy.

    python -m training.train                    # TwoLayerNet: 98.3% test accuracy
    python -m training.train --model convnet    # ThreeLayerConvNet on 1x8x8 images: 98.9%
    python -m training.train --quiet --plot history.png

The split is fixed (80% train+validation, 20% test, seed 0), the best parameters by
validation accuracy are kept, and the test set is used once, at the end. Needs
scikit-learn (``pip install -e ".[examples]"``).
"""

import argparse
import contextlib
import sys
import time

import numpy as np

from . import models
from .checkpoint import save_params
from .data import INSTALL_HINT, load_digits_data
from .schedules import CosineDecay
from .solver import Solver

# Settings that reach the numbers in the module docstring on the fixed split; each can be
# overridden on the command line. Both use He initialization and Adam.
PRESETS = {
    "twolayer": {"hidden": 200, "reg": 1e-3, "learning_rate": 2e-3, "lr_decay": 0.95,
                 "epochs": 30, "batch_size": 50},
    "convnet": {"hidden": 100, "filters": 32, "reg": 3e-3, "learning_rate": 2e-3,
                "lr_decay": 0.95, "epochs": 15, "batch_size": 50},
}


def train_digits(model_name="twolayer", seed=0, cosine=False, blas_thread_count=1,
                 verbose=False, **overrides):
    """Train `model_name` on the fixed digits split with its preset (and `overrides`).

    Parameters
    ----------
    model_name : {"twolayer", "convnet"}
    seed : int
        Seeds the initial weights and the solver (batch order).
    cosine : bool
        A cosine schedule over the whole run instead of the preset's lr_decay per epoch.
    blas_thread_count : int
        See `blas_threads`.
    verbose : bool
        The solver's progress output.
    **overrides
        Preset entries to replace: hidden, filters, reg, learning_rate, epochs, batch_size.

    Returns
    -------
    dict
        ``model``, ``solver``, ``data``, ``test_acc`` (float) and ``seconds`` (training time).
    """
    settings = {**PRESETS[model_name], **overrides}
    data = load_digits_data(images=model_name == "convnet")
    model = build_model(model_name, settings, seed)
    schedule, lr_decay = None, settings["lr_decay"]
    if cosine:
        steps = settings["epochs"] * max(len(data["X_train"]) // settings["batch_size"], 1)
        schedule, lr_decay = CosineDecay(settings["learning_rate"], steps), 1.0
    solver = Solver(model, data, update_rule="adam",
                    optim_config={"learning_rate": settings["learning_rate"]},
                    lr_decay=lr_decay, schedule=schedule,
                    batch_size=settings["batch_size"], num_epochs=settings["epochs"],
                    num_train_samples=None, print_every=100, verbose=verbose, seed=seed)
    start = time.perf_counter()
    with blas_threads(blas_thread_count):
        solver.train()
    seconds = time.perf_counter() - start
    test_acc = float(np.mean(np.argmax(model.loss(data["X_test"]), axis=1) == data["y_test"]))
    return {"model": model, "solver": solver, "data": data, "test_acc": test_acc,
            "seconds": seconds}


def build_model(model_name, settings, seed, dtype=np.float64):
    """The model called `model_name` for 10 classes of 8x8 digits, from a preset dict."""
    if model_name == "twolayer":
        return models.TwoLayerNet(input_dim=64, hidden_dim=settings["hidden"],
                                  num_classes=10, weight_scale="he", reg=settings["reg"],
                                  weight_seed=seed, dtype=dtype)
    return models.ThreeLayerConvNet(input_dim=(1, 8, 8), num_filters=settings["filters"],
                                    filter_size=3, hidden_dim=settings["hidden"],
                                    num_classes=10, weight_scale="he", reg=settings["reg"],
                                    weight_seed=seed, dtype=dtype)


def blas_threads(count):
    """Limit NumPy's BLAS to `count` threads while training, where threadpoolctl is there.

    The products here are small (a batch of 50 times a 64 x 200 matrix): splitting them
    across threads costs more than it saves, and on a machine whose cores are busy
    OpenBLAS's spinning threads wait for one another at every product, which can make a
    run many times slower. threadpoolctl comes with scikit-learn, which the digits need
    anyway.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=count, user_api="blas")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(PRESETS), default="twolayer")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--hidden", type=int, help="hidden units of the affine layer")
    parser.add_argument("--filters", type=int, help="convnet: number of 3x3 filters")
    parser.add_argument("--reg", type=float, help="L2 strength: 0.5 * reg * sum W^2")
    parser.add_argument("--learning-rate", type=float, help="Adam's learning rate")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--cosine", action="store_true",
                        help="cosine schedule over the run instead of lr_decay per epoch")
    parser.add_argument("--seed", type=int, default=0, help="weights and batch order")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="threads for NumPy's BLAS (default 1; see blas_threads)")
    parser.add_argument("--quiet", action="store_true", help="print the result only")
    parser.add_argument("--plot", metavar="PNG", help="save the loss/accuracy curves")
    parser.add_argument("--save", metavar="NPZ", help="save the trained parameters")
    args = parser.parse_args(argv)
    overrides = {key: getattr(args, key) for key in
                 ("epochs", "hidden", "filters", "reg", "learning_rate", "batch_size")
                 if getattr(args, key) is not None}
    try:
        run = train_digits(args.model, args.seed, args.cosine, args.blas_threads,
                           verbose=not args.quiet, **overrides)
    except ImportError:
        print(f"python -m training.train: {INSTALL_HINT}", file=sys.stderr)
        return 2
    print(f"{args.model}: test accuracy {run['test_acc']:.4f} "
          f"({len(run['data']['y_test'])} digits), best val accuracy "
          f"{run['solver'].best_val_acc:.4f}, trained in {run['seconds']:.1f} s")
    if args.plot:
        run["solver"].plot_history().savefig(args.plot, dpi=120)
    if args.save:
        save_params(args.save, run["model"].params)
    return 0


if __name__ == "__main__":
    sys.exit(main())
