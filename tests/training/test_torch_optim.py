"""The update rules against torch.optim in float64, with the conventions mapped explicitly.

Mappings (see each rule's docstring):
- sgd_momentum / nesterov: our velocity v = -lr * torch's momentum_buffer (dampening 0).
- rmsprop: decay_rate = torch's alpha; epsilon outside the square root in both.
- adam: beta1, beta2 = torch's betas; epsilon added to sqrt(v_hat) in both; our t = step.
- adamw: weight decay scaled by the learning rate in both (torch's convention).
"""

import numpy as np
import pytest

from training import optim

torch = pytest.importorskip("torch")

STEPS = 6

CASES = [
    ("sgd", {"learning_rate": 0.05},
     lambda p: torch.optim.SGD([p], lr=0.05)),
    ("sgd_momentum", {"learning_rate": 0.05, "momentum": 0.8},
     lambda p: torch.optim.SGD([p], lr=0.05, momentum=0.8)),
    ("nesterov", {"learning_rate": 0.05, "momentum": 0.8},
     lambda p: torch.optim.SGD([p], lr=0.05, momentum=0.8, nesterov=True)),
    ("rmsprop", {"learning_rate": 0.01, "decay_rate": 0.9, "epsilon": 1e-6},
     lambda p: torch.optim.RMSprop([p], lr=0.01, alpha=0.9, eps=1e-6)),
    ("adam", {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-6},
     lambda p: torch.optim.Adam([p], lr=0.01, betas=(0.8, 0.95), eps=1e-6)),
    ("adamw", {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-6,
               "weight_decay": 0.3},
     lambda p: torch.optim.AdamW([p], lr=0.01, betas=(0.8, 0.95), eps=1e-6,
                                 weight_decay=0.3)),
]


def torch_state(name, optimizer, param, lr):
    """torch's state for `param` under our names."""
    state = optimizer.state[param]
    if name in ("sgd_momentum", "nesterov"):
        return {"velocity": -lr * state["momentum_buffer"].numpy()}
    if name == "rmsprop":
        return {"cache": state["square_avg"].numpy()}
    if name in ("adam", "adamw"):
        return {"m": state["exp_avg"].numpy(), "v": state["exp_avg_sq"].numpy(),
                "t": int(state["step"])}
    return {}


@pytest.mark.parametrize("name, config, make", CASES, ids=[c[0] for c in CASES])
def test_rule_matches_torch(name, config, make, rng):
    w = rng.standard_normal((4, 3))
    param = torch.tensor(w.copy(), dtype=torch.float64, requires_grad=True)
    optimizer = make(param)
    config = dict(config)
    for _ in range(STEPS):
        # The gradient of a quadratic with noise: it depends on w, so any drift compounds.
        dw = w * np.linspace(0.5, 2.0, 3) + 0.1 * rng.standard_normal(w.shape)
        w, config = optim.UPDATE_RULES[name](w, dw, config)
        param.grad = torch.tensor(dw, dtype=torch.float64)
        optimizer.step()
        np.testing.assert_allclose(w, param.detach().numpy(), rtol=1e-12, atol=1e-15)
    for key, value in torch_state(name, optimizer, param, config.get("learning_rate")).items():
        np.testing.assert_allclose(config[key], value, rtol=1e-12, atol=1e-15)


def test_momentum_forms_part_when_the_learning_rate_changes(rng):
    """Documented difference: our velocity carries the old rate, torch's buffer does not."""
    w = rng.standard_normal(5)
    param = torch.tensor(w.copy(), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    config = {"learning_rate": 0.1, "momentum": 0.9}
    for lr in (0.1, 0.1, 0.01):
        dw = rng.standard_normal(5)
        config["learning_rate"] = lr
        for group in optimizer.param_groups:
            group["lr"] = lr
        w, config = optim.sgd_momentum(w, dw, config)
        param.grad = torch.tensor(dw)
        optimizer.step()
    gap = np.max(np.abs(w - param.detach().numpy()))
    assert gap > 1e-3
