"""What the recurrent layers (rnn, lstm, gru) share: argument checks and example inputs."""

import numpy as np

from ._examples import dims, normal
from .contract import Args


def recurrent_args(gates, x, x_spec, states, Wx, Wh, biases):
    """Check the arguments of a recurrent layer; return them as arrays, in order.

    Parameters
    ----------
    gates : int
        How many H-wide blocks the weights stack side by side: 1 (rnn), 3 (gru), 4 (lstm).
    x : the input, of shape `x_spec` ("N D" for a step, "N T D" for a sequence)
    states : dict of name -> array of shape (N, H) (prev_h, prev_c or h0)
        A 0-d state (CS231n's captioning code passes ``prev_c = 0``) is broadcast to
        (N, H); its gradient is summed back to a 0-d array by the layer contract.
    Wx, Wh : the input-to-hidden (D, gates * H) and hidden-to-hidden (H, gates * H) weights
    biases : dict of name -> array of shape (gates * H,)

    Returns
    -------
    list : x, the states, Wx, Wh and the biases, validated, in that order
    """
    check = Args()
    checked = [check.floats("x", x, x_spec)]
    scalar = {name for name, value in states.items() if np.ndim(value) == 0}
    checked += [check.floats(name, value, "N H") for name, value in states.items()
                if name not in scalar]
    if "H" not in check.dims:
        if np.ndim(Wh) != 2:
            raise check.error(f"Wh must be a 2-d array of shape (H, {gates}H); got "
                              f"Wh.shape = {np.shape(Wh)}")
        check.bind("H", np.shape(Wh)[0], "Wh")
    at = 1
    for name, value in states.items():
        if name in scalar:
            state = check.floats(name, value)
            checked.insert(at, np.broadcast_to(state, (check.dim("N"), check.dim("H"))))
        at += 1
    width = "H"
    if gates > 1:
        # "4H" is a name like any other to Args: bound here, it is then checked in the
        # weights' shapes and named in their messages ("with 4H=20 from prev_h").
        width = f"{gates}H"
        check.bind(width, gates * check.dim("H"), next(iter(states)))
    checked.append(check.floats("Wx", Wx, f"D {width}"))
    checked.append(check.floats("Wh", Wh, f"H {width}"))
    checked += [check.floats(name, value, width) for name, value in biases.items()]
    return checked


def hidden_weight_grad(da, h0, h):
    """dWh = sum_t h_{t-1}^T da_t over all steps and sequences, as one matmul.

    da : (N, T, G), gradient of the part of the pre-activations that is h_{t-1} @ Wh
    h0 : (N, H), h : (N, T, H); step t started from h0 (t = 0) or h[:, t - 1].
    """
    steps = h.shape[1]
    # [:, :steps] keeps T = 0 working: h[:, :-1] is then empty and h0 alone would remain.
    previous = np.concatenate([h0[:, None], h[:, :-1]], axis=1)[:, :steps]
    return previous.reshape(-1, h.shape[2]).T @ da.reshape(-1, da.shape[2])


def recurrent_example(rng, dtype, gates, sequence, biases=1):
    """Example inputs for a recurrent layer: x, h0 (or prev_h), Wx, Wh and the biases.

    Weights are scaled by 1/sqrt(fan-in) so that the pre-activations stay in the range
    where tanh and the sigmoid are far from flat.
    """
    n, t, d, h = dims(rng, (1, 3), (1, 4), (1, 3), (1, 3))
    x = normal(rng, (n, t, d) if sequence else (n, d), dtype)
    h0 = normal(rng, (n, h), dtype)
    wx = normal(rng, (d, gates * h), dtype, scale=d ** -0.5)
    wh = normal(rng, (h, gates * h), dtype, scale=h ** -0.5)
    bs = [normal(rng, (gates * h,), dtype, scale=0.5) for _ in range(biases)]
    return x, h0, wx, wh, *bs
