"""The 8x8 handwritten digits bundled with scikit-learn, split and scaled, offline.

``sklearn.datasets.load_digits`` ships 1,797 images of the digits 0-9 (8x8 pixels,
values 0 to 16) inside scikit-learn: nothing is downloaded. scikit-learn is an optional
dependency (the ``examples`` extra: ``pip install -e ".[examples]"``).

Examples
--------
>>> data = load_digits_data(seed=0)
>>> data["X_train"].shape, data["X_val"].shape, data["X_test"].shape
((1294, 64), (144, 64), (359, 64))
"""

import numpy as np

from layers.contract import Args

__all__ = ["load_digits_data", "split_data"]

INSTALL_HINT = ('the digits data set needs scikit-learn, an optional dependency: '
                'pip install "scikit-learn>=1.3" (or pip install -e ".[examples]")')


def load_digits_data(test_fraction=0.2, val_fraction=0.1, seed=0, images=False,
                     dtype=np.float64):
    """The digits as a Solver-ready dict: X_train, y_train, X_val, y_val, X_test, y_test.

    A fixed shuffled split: `test_fraction` of the examples are held out for testing, and
    `val_fraction` of the REST for validation (model selection), so with the defaults
    80% / 20% train+val / test, and 72% / 8% / 20% overall. Pixels are scaled to [0, 1]
    and centred by the mean image of the training set (the only statistics used).

    Parameters
    ----------
    test_fraction : float in (0, 1)
    val_fraction : float in [0, 1)
        Fraction of the non-test examples kept for validation.
    seed : int
        Seed of the shuffle; the same seed gives the same split.
    images : bool
        False: X has shape (N, 64). True: (N, 1, 8, 8), for convolutional nets.
    dtype : float32 or float64

    Returns
    -------
    dict
        ``X_train, X_val, X_test``: float arrays of shape (N_*, 64) or (N_*, 1, 8, 8);
        ``y_train, y_val, y_test``: int64 arrays of shape (N_*,) with labels 0-9;
        ``mean_image``: the training mean that was subtracted, of X's example shape.

    Raises
    ------
    ImportError
        When scikit-learn is missing, with the command that installs it.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError(f"load_digits_data: {INSTALL_HINT}") from exc
    digits = load_digits()
    X = (digits.images / 16.0).astype(dtype)
    X = X[:, None] if images else X.reshape(len(X), -1)
    return split_data(X, digits.target.astype(np.int64), test_fraction, val_fraction, seed)


def split_data(X, y, test_fraction=0.2, val_fraction=0.1, seed=0):
    """Shuffle (X, y) with `seed`, split off test and validation sets, centre on the train mean.

    Parameters and returned dict as in `load_digits_data`, for any X of shape (N, ...)
    and integer labels y of shape (N,).
    """
    check = Args("split_data")
    X = check.floats("X", X, "N ...")
    y = check.ints("y", y, "N")
    check.number("test_fraction", test_fraction, low=0, high=1, low_open=True,
                 high_open=True)
    check.number("val_fraction", val_fraction, low=0, high=1, high_open=True)
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = int(round(test_fraction * len(X)))
    n_val = int(round(val_fraction * (len(X) - n_test)))
    test, val, train = np.split(order, [n_test, n_test + n_val])
    if len(train) == 0:
        raise check.error(f"no training examples left: N = {len(X)} with "
                          f"test_fraction = {test_fraction}, val_fraction = {val_fraction}")
    mean_image = X[train].mean(axis=0)
    data = {"mean_image": mean_image}
    for part, index in (("train", train), ("val", val), ("test", test)):
        data[f"X_{part}"] = X[index] - mean_image
        data[f"y_{part}"] = y[index]
    return data
