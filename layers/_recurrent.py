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


def step_batch(step_inputs, Wx, Wh):
    """Broadcast the step inputs given without a batch axis to the batch of the others.

    CS231n's step layers are plain NumPy, ``x.dot(Wx) + prev_h.dot(Wh) + b``, so an input
    given as one vector, x of shape (D,) or a state of shape (H,), is broadcast against
    the batch of the others: captioning's ``sample()`` embeds its start token once and
    steps with x (D,) next to prev_h (N, H). Its gradient is then the sum over the batch
    (`layers.gates.unbroadcast` with the shape returned here). One of the inputs must have
    the batch axis; a vector's length is checked against the weights (D from Wx, H from Wh).

    Parameters
    ----------
    step_inputs : dict of name -> ndarray (x, prev_h[, prev_c]), in the layer's order
    Wx, Wh : the layer's weights, (D, G) and (H, G)

    Returns
    -------
    values : list of the inputs, each 1-d one as a read-only (N, size) view; the others
        as given, for the layer's own checks
    shapes : list of their shapes as given, for the backward's `unbroadcast`
    """
    shapes = [np.shape(value) for value in step_inputs.values()]
    vectors = [name for name, shape in zip(step_inputs, shapes) if len(shape) == 1]
    batches = {shape[0] for shape in shapes if len(shape) == 2}
    values = list(step_inputs.values())
    if not vectors:
        return values, shapes
    check = Args()
    if not batches:
        listed = ", ".join(f"{name}.shape = {shape}" for name, shape in
                           zip(step_inputs, shapes))
        raise check.error(f"one of {', '.join(step_inputs)} must have the batch axis N (a "
                          f"2-d (N, D) or (N, H) array); got {listed}")
    for name, weights, size in (("Wx", Wx, "D"), ("Wh", Wh, "H")):
        if np.ndim(weights) == 2:
            check.bind(size, np.shape(weights)[0], name)
    for name, value in step_inputs.items():
        if np.ndim(value) == 1:
            check.shape(name, value, "D" if name == "x" else "H")
    if len(batches) > 1:
        return values, shapes  # the layer's own checks name the mismatch
    n = batches.pop()
    return [np.broadcast_to(value, (n, value.shape[0])) if len(shape) == 1 else value
            for value, shape in zip(values, shapes)], shapes
