"""Time lstm_forward + lstm_backward against PyTorch's nn.LSTM on the CPU, in one run.

    python benchmarks/bench_lstm.py                  # N=64, T=32, D=128, H=256, float64
    python benchmarks/bench_lstm.py --dtype float32 --repeats 20
    python benchmarks/bench_lstm.py --threads 1   # steadier on a busy machine

Both sides get the same inputs and compute the same gradients (x, h0, Wx, Wh, b) for the
same random upstream gradient; calls alternate (torch, gatelab, torch, ...) so that both
see the same machine load, and each side's time is the median of its repeats. PyTorch runs
with ``torch.set_num_threads`` equal to NumPy's BLAS threads, and both thread pools with
short spin limits (see `_timing`, shared with bench_conv.py). The ratio gatelab / torch is
printed last; below 1 means gatelab is faster.
"""

import argparse

from _timing import add_threads_option, median_times, pin_threads, thread_report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--t", type=int, default=32)
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--h", type=int, default=256)
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--repeats", type=int, default=10)
    add_threads_option(parser)
    args = parser.parse_args()
    n, t, d, h = args.n, args.t, args.d, args.h
    threads = pin_threads(args.threads)
    import numpy as np
    import torch

    from layers import lstm_backward, lstm_forward

    torch.set_num_threads(threads)
    print(thread_report(np, torch))

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, t, d)).astype(args.dtype)
    h0 = rng.standard_normal((n, h)).astype(args.dtype)
    wx = (rng.standard_normal((d, 4 * h)) / np.sqrt(d)).astype(args.dtype)
    wh = (rng.standard_normal((h, 4 * h)) / np.sqrt(h)).astype(args.dtype)
    b = (0.1 * rng.standard_normal(4 * h)).astype(args.dtype)
    dh = rng.standard_normal((n, t, h)).astype(args.dtype)

    # gatelab's gate blocks are (i, f, o, g); torch's are (i, f, g, o).
    to_torch = np.r_[0:2 * h, 3 * h:4 * h, 2 * h:3 * h]
    module = torch.nn.LSTM(d, h, batch_first=True).to(getattr(torch, args.dtype))
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(wx[:, to_torch].T.copy()))
        module.weight_hh_l0.copy_(torch.from_numpy(wh[:, to_torch].T.copy()))
        module.bias_ih_l0.copy_(torch.from_numpy(b[to_torch].copy()))
        module.bias_hh_l0.zero_()
    xt = torch.from_numpy(x).requires_grad_()
    h0t = torch.from_numpy(h0).requires_grad_()
    c0t = torch.zeros((1, n, h), dtype=xt.dtype)
    dht = torch.from_numpy(dh)
    params = (xt, h0t, module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0)

    def run_torch():
        out, _ = module(xt, (h0t[None], c0t))
        return out, torch.autograd.grad(out, params, dht)

    def run_gatelab():
        out, cache = lstm_forward(x, h0, wx, wh, b)
        return out, lstm_backward(dh, cache)

    out_t, grads_t = run_torch()
    out_g, grads_g = run_gatelab()
    gap = np.max(np.abs(out_g - out_t.detach().numpy())) / np.max(np.abs(out_g))
    dwx_t = grads_t[2].numpy().T[:, np.argsort(to_torch)]
    gap = max(gap, np.max(np.abs(grads_g[2] - dwx_t)) / np.max(np.abs(dwx_t)))
    print(f"check: max relative difference from torch (h, dWx) = {gap:.1e}")

    torch_s, gatelab_s = median_times([run_torch, run_gatelab], args.repeats)
    torch_ms, gatelab_ms = 1e3 * torch_s, 1e3 * gatelab_s
    print(f"lstm fwd+bwd N={n} T={t} D={d} H={h} {args.dtype}, median of "
          f"{args.repeats}: torch {torch_ms:.1f} ms, gatelab {gatelab_ms:.1f} ms")
    print(f"ratio gatelab/torch: {gatelab_ms / torch_ms:.2f}")


if __name__ == "__main__":
    main()
