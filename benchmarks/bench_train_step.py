"""Time one training step of gatelab's models against the same network in PyTorch CPU.

    python benchmarks/bench_train_step.py                  # every model, both dtypes
    python benchmarks/bench_train_step.py --only convnet,captioning --dtype float32
    python benchmarks/bench_train_step.py --threads 1      # steadier on a busy machine

A training step is the loss and the gradient of every parameter, from a minibatch:
``model.loss(X, y)`` for gatelab's classifiers, the layers called by hand for the
captioning model (as CS231n's ``CaptioningRNN.loss`` calls them), against the same
computation in PyTorch with autograd (``loss.backward()``), on the same data and weights.

- ``convnet``: `training.models.ThreeLayerConvNet` (conv 7x7, 32 filters - relu - 2x2 max
  pool - affine 100 - relu - affine 10), minibatch (64, 3, 32, 32);
- ``fcnet_bn``: `training.models.FullyConnectedNet` [256, 256] with batch norm, 3072
  inputs, minibatch 256 (PyTorch updates running statistics too);
- ``fcnet_ln_dropout``: the same with layer norm and dropout keeping half the units
  (each side draws its own masks: the work is the same, the numbers are not);
- ``captioning``: an LSTM captioning step, image features (32, 512) projected to h0,
  word embedding 128, hidden 256, vocabulary 1004, captions of 17 words (16 steps),
  temporal affine and the masked temporal softmax loss; PyTorch runs ``nn.LSTM`` with
  gatelab's weights.

A last section times the classifiers' steps with the graph's check of unchanged feeds
on and off (`ComputationalGraph(check_modified=...)`; the models run with it off),
alternating, as a ratio.

Calls alternate (torch, gatelab, torch, ...) so that both sides see the same machine
load; each time is the median of its repeats, and the ratio gatelab / torch (below 1:
gatelab faster) is printed per row, with the geometric mean over the rows last. Before
timing, the two losses are compared (not for dropout, whose masks differ).
"""

import argparse
import functools
import math

from _timing import add_threads_option, chosen, median_times, pin_threads, thread_report

MODELS = ("convnet", "fcnet_bn", "fcnet_ln_dropout", "captioning")


def classifier_step(np, torch, model, X, y, torch_forward):
    """(gatelab step, torch step, the two losses) for a `training.models` classifier;
    `torch_forward(p, tX)` gives the scores from the parameters `p` as tensors."""
    import torch.nn.functional as F

    p = {k: torch.tensor(v, requires_grad=True) for k, v in model.params.items()}
    tX, ty = torch.tensor(X), torch.tensor(y)

    def ours():
        return model.loss(X, y)[0]

    def theirs():
        for v in p.values():
            v.grad = None
        loss = F.cross_entropy(torch_forward(p, tX), ty)
        loss.backward()
        return loss.item()

    return ours, theirs


def convnet(np, torch, dtype):
    import torch.nn.functional as F

    from training.models import ThreeLayerConvNet

    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3, 32, 32)).astype(dtype)
    y = rng.integers(10, size=64)
    model = ThreeLayerConvNet(weight_scale=1e-2, dtype=dtype, weight_seed=0)

    def scores(p, tX):
        h = F.max_pool2d(F.relu(F.conv2d(tX, p["W1"], p["b1"], padding=3)), 2)
        h = F.relu(h.reshape(h.shape[0], -1) @ p["W2"] + p["b2"])
        return h @ p["W3"] + p["b3"]

    return classifier_step(np, torch, model, X, y, scores)


def fcnet(np, torch, dtype, normalization, keep):
    import torch.nn.functional as F

    from training.models import FullyConnectedNet

    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 3072)).astype(dtype)
    y = rng.integers(10, size=256)
    model = FullyConnectedNet([256, 256], input_dim=3072, normalization=normalization,
                              dropout_keep_ratio=keep, weight_scale=1e-2, dtype=dtype,
                              weight_seed=0)
    running = [(torch.zeros(256, dtype=getattr(torch, np.dtype(dtype).name)),
                torch.ones(256, dtype=getattr(torch, np.dtype(dtype).name)))
               for _ in range(2)]

    def scores(p, tX):
        h = tX
        for i in (1, 2):
            h = h @ p[f"W{i}"] + p[f"b{i}"]
            if normalization == "batchnorm":
                h = F.batch_norm(h, *running[i - 1], p[f"gamma{i}"], p[f"beta{i}"],
                                 training=True, momentum=0.1, eps=1e-5)
            else:
                h = F.layer_norm(h, (256,), p[f"gamma{i}"], p[f"beta{i}"], eps=1e-5)
            h = F.relu(h)
            if keep < 1:
                h = F.dropout(h, p=1 - keep, training=True)
        return h @ p["W3"] + p["b3"]

    return classifier_step(np, torch, model, X, y, scores)


def captioning(np, torch, dtype):
    import torch.nn.functional as F

    import layers

    n, steps, features, wordvec, hidden, vocab = 32, 16, 512, 128, 256, 1004
    rng = np.random.default_rng(0)
    shapes = {"W_proj": (features, hidden), "b_proj": (hidden,),
              "W_embed": (vocab, wordvec), "Wx": (wordvec, 4 * hidden),
              "Wh": (hidden, 4 * hidden), "b": (4 * hidden,),
              "W_vocab": (hidden, vocab), "b_vocab": (vocab,)}
    p = {name: (rng.standard_normal(shape) / math.sqrt(shape[0])).astype(dtype)
         for name, shape in shapes.items()}
    image = rng.standard_normal((n, features)).astype(dtype)
    captions = rng.integers(1, vocab, size=(n, steps + 1))
    captions[:, -3:] = 0  # <NULL> padding at the end of every caption
    words_in, words_out = captions[:, :-1], captions[:, 1:]
    mask = words_out != 0

    def ours():
        h0, c_proj = layers.affine_forward(image, p["W_proj"], p["b_proj"])
        x, c_embed = layers.word_embedding_forward(words_in, p["W_embed"])
        h, c_lstm = layers.lstm_forward(x, h0, p["Wx"], p["Wh"], p["b"])
        scores, c_vocab = layers.temporal_affine_forward(h, p["W_vocab"], p["b_vocab"])
        loss, dscores = layers.temporal_softmax_loss(scores, words_out, mask)
        dh, _, _ = layers.temporal_affine_backward(dscores, c_vocab)
        dx, dh0, _, _, _ = layers.lstm_backward(dh, c_lstm)
        layers.word_embedding_backward(dx, c_embed)
        layers.affine_backward(dh0, c_proj)
        return loss

    t = {name: torch.tensor(value, requires_grad=True) for name, value in p.items()}
    lstm = torch.nn.LSTM(wordvec, hidden, batch_first=True).to(t["Wx"].dtype)
    # gatelab's gate blocks (i, f, o, g) as PyTorch's (i, f, g, o), weights transposed.
    order = np.concatenate([np.arange(k * hidden, (k + 1) * hidden) for k in (0, 1, 3, 2)])
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.tensor(p["Wx"][:, order].T))
        lstm.weight_hh_l0.copy_(torch.tensor(p["Wh"][:, order].T))
        lstm.bias_ih_l0.copy_(torch.tensor(p["b"][order]))
        lstm.bias_hh_l0.zero_()
    t_image, t_in = torch.tensor(image), torch.tensor(words_in)
    t_out, t_mask = torch.tensor(words_out), torch.tensor(mask)

    def theirs():
        for v in [*t.values(), *lstm.parameters()]:
            v.grad = None
        h0 = t_image @ t["W_proj"] + t["b_proj"]
        h, _ = lstm(t["W_embed"][t_in], (h0[None], torch.zeros_like(h0)[None]))
        scores = h @ t["W_vocab"] + t["b_vocab"]
        losses = F.cross_entropy(scores.reshape(-1, vocab), t_out.reshape(-1),
                                 reduction="none")
        loss = (losses * t_mask.reshape(-1)).sum() / n
        loss.backward()
        return loss.item()

    return ours, theirs


def make(np, torch, name, dtype):
    if name == "convnet":
        return convnet(np, torch, dtype)
    if name == "fcnet_bn":
        return fcnet(np, torch, dtype, "batchnorm", 1.0)
    if name == "fcnet_ln_dropout":
        return fcnet(np, torch, dtype, "layernorm", 0.5)
    return captioning(np, torch, dtype)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(MODELS),
                        help=f"comma-separated models (default: all of {', '.join(MODELS)})")
    parser.add_argument("--dtype", choices=("float32", "float64", "both"), default="both")
    parser.add_argument("--repeats", type=int, default=15)
    add_threads_option(parser)
    args = parser.parse_args()
    names = chosen(parser, args.only, MODELS, "models")
    threads = pin_threads(args.threads)
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    print(thread_report(np, torch))
    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)
    print(f"{'model':<18}{'dtype':<9}{'torch ms':>10}{'gatelab ms':>12}"
          f"{'gatelab/torch':>15}{'loss difference':>17}")
    ratios = []
    for name in names:
        for dtype in dtypes:
            ours, theirs = make(np, torch, name, np.dtype(dtype).type)
            difference = abs(float(ours()) - theirs())
            shown = "(dropout)" if "dropout" in name else f"{difference:.1e}"
            t_torch, t_ours = median_times([theirs, ours], args.repeats)
            ratios.append(t_ours / t_torch)
            print(f"{name:<18}{dtype:<9}{t_torch * 1e3:>10.2f}{t_ours * 1e3:>12.2f}"
                  f"{t_ours / t_torch:>15.2f}{shown:>17}")
    geomean = math.exp(sum(map(math.log, ratios)) / len(ratios))
    print(f"geomean gatelab/torch over {len(ratios)} training steps: {geomean:.2f}")
    print_feed_check(np, [n for n in names if n in ("convnet", "fcnet_bn")], dtypes,
                     args.repeats)


def checked_step(model, X, y, checked):
    """One `model.loss` with the graph's check of unchanged feeds on or off."""
    model.net.check_modified = checked
    return model.loss(X, y)


def print_feed_check(np, names, dtypes, repeats):
    """The models' step without / with the graph's checksums of X and the params."""
    from training.models import FullyConnectedNet, ThreeLayerConvNet

    if names:
        print("model.loss with check_modified=False / True (the graph's checksums of what "
              "forward read):")
    for name in names:
        for dtype in dtypes:
            rng = np.random.default_rng(0)
            if name == "convnet":
                X = rng.standard_normal((64, 3, 32, 32)).astype(dtype)
                model = ThreeLayerConvNet(weight_scale=1e-2, dtype=dtype, weight_seed=0)
            else:
                X = rng.standard_normal((256, 3072)).astype(dtype)
                model = FullyConnectedNet([256, 256], input_dim=3072,
                                          normalization="batchnorm", weight_scale=1e-2,
                                          dtype=dtype, weight_seed=0)
            y = rng.integers(10, size=X.shape[0])

            unchecked, checked = median_times(
                [functools.partial(checked_step, model, X, y, False),
                 functools.partial(checked_step, model, X, y, True)], repeats)
            print(f"  {name:<16}{dtype:<9}{unchecked / checked:.2f}")


if __name__ == "__main__":
    main()
