"""CS231n's check cells (assignments 2 and 3, 2019 and 2021), run on gatelab.

Each test is one cell of a notebook (FullyConnectedNets, BatchNormalization, Dropout,
ConvolutionalNetworks, RNN_Captioning, LSTM_Captioning): the same inputs, built with
``np.linspace`` and ``np.random.seed`` as the cell builds them, and the cell's expected
values with its tolerance:

- an expected array: ``rel_error`` against it reproduces the difference the notebook
  prints (it measures the rounding of the printed expectation) and is within the bound
  the notebook states;
- a printed array (means, stds): equal at the printed precision (8 decimals);
- a printed loss: equal to 1e-12 relative (implementations differ in the last bits);
- a gradient check: every relative error within the order the notebook states ("around
  e-9 or less" is taken as < 1e-8).

Cells that need NumPy's type promotion (integer weights, a Python number as a state,
mixed float32/float64) run as written. Cells that train on CIFAR-10 or COCO are not here
(the data is not shipped).
"""

import math

import numpy as np
import pytest

from checks import (
    eval_numerical_gradient, eval_numerical_gradient_array, eval_numerical_gradient_blobs,
    eval_numerical_gradient_net, rel_error,
)
from layers import (
    affine_backward, affine_forward, affine_relu_backward, affine_relu_forward,
    batchnorm_backward, batchnorm_backward_alt, batchnorm_forward, conv_backward_fast,
    conv_backward_im2col, conv_backward_naive, conv_backward_strides, conv_forward,
    conv_forward_fast, conv_forward_im2col, conv_forward_naive, conv_forward_strides,
    conv_relu_backward, conv_relu_forward, conv_relu_pool_backward, conv_relu_pool_forward,
    dropout_backward, dropout_forward, layernorm_backward, layernorm_forward,
    lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward,
    max_pool_backward_fast, max_pool_backward_im2col, max_pool_backward_naive,
    max_pool_backward_reshape, max_pool_forward_fast, max_pool_forward_im2col,
    max_pool_forward_naive, max_pool_forward_reshape, relu_backward, relu_forward,
    rnn_backward, rnn_forward,
    rnn_step_backward, rnn_step_forward, softmax_loss, spatial_batchnorm_backward,
    spatial_batchnorm_forward, spatial_groupnorm_backward, spatial_groupnorm_forward,
    svm_loss, temporal_affine_backward, temporal_affine_forward, temporal_softmax_loss,
    word_embedding_backward, word_embedding_forward,
)
from training.models import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet
from training.optim import adam, rmsprop, sgd_momentum
from training.solver import Solver

@pytest.fixture(autouse=True)
def global_random_state():
    """The cells seed NumPy's global generator; put the caller's state back afterwards."""
    state = np.random.get_state()
    yield
    np.random.set_state(state)


def assert_difference(actual, expected, printed, bound):
    """rel_error(actual, expected) is the difference the notebook prints, and below its
    bound."""
    difference = rel_error(actual, expected)
    assert difference == pytest.approx(printed, rel=1e-6)
    assert difference < bound


def assert_printed(actual, printed):
    """Equal to an array the notebook prints with 8 decimals."""
    np.testing.assert_allclose(actual, printed, rtol=0, atol=5e-9)


def assert_loss(loss, printed):
    assert float(loss) == pytest.approx(printed, rel=1e-12, abs=0)


def numeric_gradients(forward, args, dout, which, output=0):
    """eval_numerical_gradient_array of forward(*args)[output] for each argument index in
    `which`, as the cells' lambdas compute it."""
    grads = []
    for i in which:
        def f(value, i=i):
            return forward(*args[:i], value, *args[i + 1:])[output]
        grads.append(eval_numerical_gradient_array(f, args[i], dout))
    return grads


def assert_gradients_within(analytic, numeric, bound):
    errors = [rel_error(a, n) for a, n in zip(analytic, numeric, strict=True)]
    assert max(errors) < bound, errors


# -- FullyConnectedNets (2019; 2021 moved these cells to assignment 1) ---------------------

def test_affine_forward():
    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
    input_size = num_inputs * np.prod(input_shape)
    weight_size = output_dim * np.prod(input_shape)
    x = np.linspace(-0.1, 0.5, num=input_size).reshape(num_inputs, *input_shape)
    w = np.linspace(-0.2, 0.3, num=weight_size).reshape(np.prod(input_shape), output_dim)
    b = np.linspace(-0.3, 0.1, num=output_dim)
    out, _ = affine_forward(x, w, b)
    correct_out = np.array([[1.49834967, 1.70660132, 1.91485297],
                            [3.25553199, 3.5141327, 3.77273342]])
    assert_difference(out, correct_out, 9.769849468192957e-10, 1e-8)


def test_affine_backward():
    np.random.seed(231)
    x = np.random.randn(10, 2, 3)
    w = np.random.randn(6, 5)
    b = np.random.randn(5)
    dout = np.random.randn(10, 5)
    numeric = numeric_gradients(affine_forward, (x, w, b), dout, range(3))
    _, cache = affine_forward(x, w, b)
    assert_gradients_within(affine_backward(dout, cache), numeric, 1e-9)   # around e-10


def test_relu_forward():
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    out, _ = relu_forward(x)
    correct_out = np.array([[0., 0., 0., 0.],
                            [0., 0., 0.04545455, 0.13636364],
                            [0.22727273, 0.31818182, 0.40909091, 0.5]])
    assert_difference(out, correct_out, 4.999999798022158e-08, 1e-7)


def test_relu_backward():
    np.random.seed(231)
    x = np.random.randn(10, 10)
    dout = np.random.randn(*x.shape)
    numeric = numeric_gradients(relu_forward, (x,), dout, [0])
    _, cache = relu_forward(x)
    assert_gradients_within([relu_backward(dout, cache)], numeric, 1e-11)  # order e-12


def test_affine_relu_sandwich():
    np.random.seed(231)
    x = np.random.randn(2, 3, 4)
    w = np.random.randn(12, 10)
    b = np.random.randn(10)
    dout = np.random.randn(2, 10)
    _, cache = affine_relu_forward(x, w, b)
    numeric = numeric_gradients(affine_relu_forward, (x, w, b), dout, range(3))
    assert_gradients_within(affine_relu_backward(dout, cache), numeric, 1e-9)


def test_svm_and_softmax_loss():
    np.random.seed(231)
    num_classes, num_inputs = 10, 50
    x = 0.001 * np.random.randn(num_inputs, num_classes)
    y = np.random.randint(num_classes, size=num_inputs)
    dx_num = eval_numerical_gradient(lambda x: svm_loss(x, y)[0], x, verbose=False)
    loss, dx = svm_loss(x, y)
    assert_loss(loss, 8.999602749096233)
    assert rel_error(dx_num, dx) < 1e-8                                  # order e-9
    dx_num = eval_numerical_gradient(lambda x: softmax_loss(x, y)[0], x, verbose=False)
    loss, dx = softmax_loss(x, y)
    assert_loss(loss, 2.302545844500738)
    assert rel_error(dx_num, dx) < 1e-7                                  # around e-8


def assert_model_gradients(model, X, y, names, bound):
    """The cells' eval_numerical_gradient check, for the parameters `names`."""
    _, grads = model.loss(X, y)
    for name in names:
        f = lambda _: model.loss(X, y)[0]  # noqa: E731 - the cell's closure
        grad_num = eval_numerical_gradient(f, model.params[name], verbose=False, h=1e-5)
        assert rel_error(grad_num, grads[name]) < bound, name


def test_two_layer_net():
    np.random.seed(231)
    N, D, H, C = 3, 5, 50, 7
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=N)
    std = 1e-3
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=std)
    assert abs(model.params["W1"].std() - std) < std / 10
    assert np.all(model.params["b1"] == 0)
    assert abs(model.params["W2"].std() - std) < std / 10
    assert np.all(model.params["b2"] == 0)

    model.params["W1"] = np.linspace(-0.7, 0.3, num=D * H).reshape(D, H)
    model.params["b1"] = np.linspace(-0.1, 0.9, num=H)
    model.params["W2"] = np.linspace(-0.3, 0.4, num=H * C).reshape(H, C)
    model.params["b2"] = np.linspace(-0.9, 0.1, num=C)
    X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T
    scores = model.loss(X)
    correct_scores = np.asarray(
        [[11.53165108, 12.2917344, 13.05181771, 13.81190102, 14.57198434, 15.33206765,
          16.09215096],
         [12.05769098, 12.74614105, 13.43459113, 14.1230412, 14.81149128, 15.49994135,
          16.18839143],
         [12.58373087, 13.20054771, 13.81736455, 14.43418138, 15.05099822, 15.66781506,
          16.2846319]])
    assert np.abs(scores - correct_scores).sum() < 1e-6

    y = np.asarray([0, 5, 1])
    loss, grads = model.loss(X, y)
    assert abs(loss - 3.4702243556) < 1e-10
    model.reg = 1.0
    loss, grads = model.loss(X, y)
    assert abs(loss - 26.5948426952) < 1e-10

    for reg in [0.0, 0.7]:
        model.reg = reg
        # "Errors around e-7 or less"; the biases here (every weight takes seconds, and
        # tests/training/test_models.py checks every parameter of the models).
        assert_model_gradients(model, X, y, ["b1", "b2"], 1e-6)


def fc_net_check_data():
    """The FullyConnectedNet check cells' data, after np.random.seed(231)."""
    np.random.seed(231)
    N, D, C = 2, 15, 10          # the cells' hidden sizes, [20, 30], are the models' own
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))
    return X, y, dict(input_dim=D, num_classes=C, weight_scale=5e-2, dtype=np.float64)


@pytest.mark.parametrize("normalization, losses", [
    (None, [2.3004790897684924, 7.052114776533016]),          # FullyConnectedNets
    ("batchnorm", [2.2611955101340957, 6.996533220108303]),   # BatchNormalization
])
def test_fully_connected_net_initial_loss_and_gradients(normalization, losses):
    X, y, options = fc_net_check_data()
    for reg, printed in zip([0, 3.14], losses, strict=True):
        model = FullyConnectedNet([20, 30], reg=reg, normalization=normalization, **options)
        loss, _ = model.loss(X, y)
        assert_loss(loss, printed)
        # "Most errors on the order of e-7 or smaller": the biases, gammas and betas.
        names = [n for n in model.params if not n.startswith("W")]
        assert_model_gradients(model, X, y, names, 1e-6)


def grid(low, high):
    """The update-rule cells' arrays: np.linspace(low, high, num=N*D).reshape(N, D)."""
    N, D = 4, 5
    return np.linspace(low, high, num=N * D).reshape(N, D)


def test_sgd_momentum():
    w, dw = grid(-0.4, 0.6), grid(-0.6, 0.4)
    config = {"learning_rate": 1e-3, "velocity": grid(0.6, 0.9)}
    next_w, _ = sgd_momentum(w, dw, config=config)
    expected_next_w = np.asarray([
        [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
        [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
        [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
        [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096]])
    expected_velocity = np.asarray([
        [0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
        [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
        [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
        [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096]])
    assert_difference(next_w, expected_next_w, 8.882347033505819e-09, 1e-7)
    assert_difference(expected_velocity, config["velocity"], 4.269287743278663e-09, 1e-7)


def test_rmsprop():
    w, dw = grid(-0.4, 0.6), grid(-0.6, 0.4)
    config = {"learning_rate": 1e-2, "cache": grid(0.6, 0.9)}
    next_w, _ = rmsprop(w, dw, config=config)
    expected_next_w = np.asarray([
        [-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
        [-0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774],
        [0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447],
        [0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619]])
    expected_cache = np.asarray([
        [0.5976, 0.6126277, 0.6277108, 0.64284931, 0.65804321],
        [0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377],
        [0.75037008, 0.7659518, 0.78158892, 0.79728144, 0.81302936],
        [0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926]])
    assert_difference(expected_next_w, next_w, 9.524687511038133e-08, 1e-6)
    assert_difference(expected_cache, config["cache"], 2.6477955807156126e-09, 1e-6)


def test_adam():
    w, dw = grid(-0.4, 0.6), grid(-0.6, 0.4)
    config = {"learning_rate": 1e-2, "m": grid(0.6, 0.9), "v": grid(0.7, 0.5), "t": 5}
    next_w, _ = adam(w, dw, config=config)
    expected_next_w = np.asarray([
        [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
        [-0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929],
        [0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969],
        [0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459]])
    expected_v = np.asarray([
        [0.69966, 0.68908382, 0.67851319, 0.66794809, 0.65738853],
        [0.64683452, 0.63628604, 0.6257431, 0.61520571, 0.60467385],
        [0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767],
        [0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966]])
    expected_m = np.asarray([
        [0.48, 0.49947368, 0.51894737, 0.53842105, 0.55789474],
        [0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316],
        [0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158],
        [0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85]])
    assert_difference(expected_next_w, next_w, 1.1395691798535431e-07, 1e-6)
    assert_difference(expected_v, config["v"], 4.208314038113071e-09, 1e-6)
    assert_difference(expected_m, config["m"], 4.214963193114416e-09, 1e-6)


def test_solver_takes_cs231ns_keywords_and_writes_checkpoints(tmp_path, capsys):
    np.random.seed(231)
    data = {"X_train": np.random.randn(40, 6), "y_train": np.random.randint(3, size=40),
            "X_val": np.random.randn(10, 6), "y_val": np.random.randint(3, size=10)}
    model = TwoLayerNet(input_dim=6, hidden_dim=8, num_classes=3)
    solver = Solver(model, data, update_rule="sgd", optim_config={"learning_rate": 1e-3},
                    lr_decay=0.95, num_epochs=2, batch_size=20, num_train_samples=1000,
                    num_val_samples=None, checkpoint_name=str(tmp_path / "net"),
                    print_every=100, verbose=True)
    solver.train()
    assert len(solver.loss_history) == 4
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "net_epoch_0.npz", "net_epoch_1.npz", "net_epoch_2.npz"]
    printed = capsys.readouterr().out
    assert f'Saving checkpoint to "{tmp_path / "net_epoch_2.npz"}"' in printed


# -- BatchNormalization --------------------------------------------------------------------

def two_layer_activations(N, D1, D2, D3, draw_x=True):
    """The cells' simulated two-layer network: weights drawn after np.random.seed(231)."""
    np.random.seed(231)
    X = np.random.randn(N, D1) if draw_x else None
    W1 = np.random.randn(D1, D2)
    W2 = np.random.randn(D2, D3)
    return X, W1, W2


def test_batchnorm_forward_train_time():
    X, W1, W2 = two_layer_activations(200, 50, 60, 3)
    a = np.maximum(0, X.dot(W1)).dot(W2)
    assert_printed(a.mean(axis=0), [-2.3814598, -13.18038246, 1.91780462])
    assert_printed(a.std(axis=0), [27.18502186, 34.21455511, 37.68611762])
    a_norm, _ = batchnorm_forward(a, np.ones(3), np.zeros(3), {"mode": "train"})
    assert_printed(a_norm.mean(axis=0), [0, 0, 0])
    assert_printed(a_norm.std(axis=0), [0.99999999, 1., 1.])
    gamma, beta = np.asarray([1.0, 2.0, 3.0]), np.asarray([11.0, 12.0, 13.0])
    a_norm, _ = batchnorm_forward(a, gamma, beta, {"mode": "train"})
    assert_printed(a_norm.mean(axis=0), [11., 12., 13.])
    assert_printed(a_norm.std(axis=0), [0.99999999, 1.99999999, 2.99999999])


def test_batchnorm_forward_test_time():
    # The means depend on the running variance starting at zeros, as in CS231n.
    _, W1, W2 = two_layer_activations(200, 50, 60, 3, draw_x=False)
    bn_param = {"mode": "train"}
    gamma, beta = np.ones(3), np.zeros(3)
    for _ in range(50):
        X = np.random.randn(200, 50)
        a = np.maximum(0, X.dot(W1)).dot(W2)
        batchnorm_forward(a, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    X = np.random.randn(200, 50)
    a = np.maximum(0, X.dot(W1)).dot(W2)
    a_norm, _ = batchnorm_forward(a, gamma, beta, bn_param)
    assert_printed(a_norm.mean(axis=0), [-0.03927354, -0.04349152, -0.10452688])
    assert_printed(a_norm.std(axis=0), [1.01531428, 1.01238373, 0.97819988])


def normalization_gradient_check(forward, backward, param, bound):
    """The batch/layer norm gradient-check cells (x of shape (4, 5))."""
    np.random.seed(231)
    N, D = 4, 5
    x = 5 * np.random.randn(N, D) + 12
    gamma = np.random.randn(D)
    beta = np.random.randn(D)
    dout = np.random.randn(N, D)
    numeric = numeric_gradients(lambda *a: forward(*a, param),
                                (x, gamma.copy(), beta.copy()), dout, range(3))
    _, cache = forward(x, gamma, beta, param)
    assert_gradients_within(backward(dout, cache), numeric, bound)


def test_batchnorm_backward():
    normalization_gradient_check(batchnorm_forward, batchnorm_backward, {"mode": "train"},
                                 1e-8)                       # between 1e-13 and 1e-8


def test_batchnorm_backward_alt_matches():
    np.random.seed(231)
    N, D = 100, 500
    x = 5 * np.random.randn(N, D) + 12
    gamma = np.random.randn(D)
    beta = np.random.randn(D)
    dout = np.random.randn(N, D)
    out, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx1, dgamma1, dbeta1 = batchnorm_backward(dout, cache)
    dx2, dgamma2, dbeta2 = batchnorm_backward_alt(dout, cache)
    # "Nearly identical": the notebook prints 1.3e-12 for dx and 0.0 for the others.
    assert rel_error(dx1, dx2) < 1e-11
    assert rel_error(dgamma1, dgamma2) == rel_error(dbeta1, dbeta2) == 0.0


def test_layernorm_forward_train_time():
    X, W1, W2 = two_layer_activations(4, 50, 60, 3)
    a = np.maximum(0, X.dot(W1)).dot(W2)
    assert_printed(a.mean(axis=1), [-59.06673243, -47.60782686, -43.31137368, -26.40991744])
    assert_printed(a.std(axis=1), [10.07429373, 28.39478981, 35.28360729, 4.01831507])
    a_norm, _ = layernorm_forward(a, np.ones(3), np.zeros(3), {"mode": "train"})
    assert_printed(a_norm.mean(axis=1), [0, 0, 0, 0])
    assert_printed(a_norm.std(axis=1), [0.99999995, 0.99999999, 1., 0.99999969])
    gamma, beta = np.asarray([3.0, 3.0, 3.0]), np.asarray([5.0, 5.0, 5.0])
    a_norm, _ = layernorm_forward(a, gamma, beta, {"mode": "train"})
    assert_printed(a_norm.mean(axis=1), [5., 5., 5., 5.])
    assert_printed(a_norm.std(axis=1), [2.99999985, 2.99999998, 2.99999999, 2.99999907])


def test_layernorm_backward():
    normalization_gradient_check(layernorm_forward, layernorm_backward, {}, 1e-8)


# -- Dropout -------------------------------------------------------------------------------

def test_dropout_forward():
    np.random.seed(231)
    x = np.random.randn(500, 500) + 10
    printed = {0.25: (10.014059116977283, 0.749784), 0.4: (9.977917658761159, 0.600796),
               0.7: (9.987811912159426, 0.30074)}
    for p, (mean, zeros) in printed.items():
        out, _ = dropout_forward(x, {"mode": "train", "p": p})
        out_test, _ = dropout_forward(x, {"mode": "test", "p": p})
        assert x.mean() == pytest.approx(10.000207878477502, rel=1e-12)
        assert_loss(out.mean(), mean)
        assert (out == 0).mean() == zeros
        np.testing.assert_array_equal(out_test, x)


def test_dropout_forward_cell_of_2017_with_p_the_probability_of_dropping():
    # 2016-2017's cell, whose p DROPS a unit, run as docs/compatibility.md says: {'p': 1 - p}. Its
    # second run (p = 0.6) draws the uniforms of 2019's second run (keep 0.4), and prints
    # 2019's numbers for it; every run drops a fraction p (within 5 standard deviations
    # of 250,000 draws).
    np.random.seed(231)
    x = np.random.randn(500, 500) + 10
    for p in [0.3, 0.6, 0.75]:
        out, _ = dropout_forward(x, {"mode": "train", "p": 1 - p})
        out_test, _ = dropout_forward(x, {"mode": "test", "p": 1 - p})
        dropped = (out == 0).mean()
        assert abs(dropped - p) < 5 * math.sqrt(p * (1 - p) / x.size)
        np.testing.assert_array_equal(out_test, x)
        if p == 0.6:
            assert_loss(out.mean(), 9.977917658761159)
            assert dropped == 0.600796


def test_dropout_backward():
    np.random.seed(231)
    x = np.random.randn(10, 10) + 10
    dout = np.random.randn(*x.shape)
    dropout_param = {"mode": "train", "p": 0.2, "seed": 123}
    out, cache = dropout_forward(x, dropout_param)
    dx = dropout_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda xx: dropout_forward(xx, dropout_param)[0],
                                           x, dout)
    assert rel_error(dx, dx_num) < 1e-9                              # around e-10 or less


# The cell's printed initial losses, keep ratio 1, 0.75, 0.5 (2019 and 2021 alike).
DROPOUT_CELL_LOSSES = [2.3004790897684924, 2.302371489704412, 2.3042759220785896]


@pytest.mark.parametrize("keep_name", ["dropout_keep_ratio", "dropout"])   # 2021, 2019
def test_fully_connected_net_with_dropout(keep_name):
    # The cell as the course writes it. Its third model's weights are drawn where the
    # second model's seeded dropout left NumPy's global generator (np.random.seed(123),
    # then the masks): the loss is the course's only if dropout reseeds it as CS231n's does.
    np.random.seed(231)
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))
    losses = []
    for dropout_keep_ratio in [1, 0.75, 0.5]:
        model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, weight_scale=5e-2,
                                  dtype=np.float64, seed=123,
                                  **{keep_name: dropout_keep_ratio})
        loss, grads = model.loss(X, y)
        losses.append(loss)
        if keep_name == "dropout_keep_ratio":
            # "Relative errors should be around e-6 or less": the biases.
            assert_model_gradients(model, X, y, ["b1", "b2", "b3"], 1e-5)
    for loss, printed in zip(losses, DROPOUT_CELL_LOSSES, strict=True):
        assert_loss(loss, printed)


def test_fully_connected_net_with_dropout_prints_the_course_losses_without_its_checks():
    # The same cell without the gradient checks between the models (they end where
    # model.loss ends: the last mask drawn right after np.random.seed(123)).
    np.random.seed(231)
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))
    for dropout_keep_ratio, printed in zip([1, 0.75, 0.5], DROPOUT_CELL_LOSSES, strict=True):
        model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, weight_scale=5e-2,
                                  dtype=np.float64, dropout_keep_ratio=dropout_keep_ratio,
                                  seed=123)
        loss, grads = model.loss(X, y)
        assert_loss(loss, printed)


def test_seeded_dropout_moves_numpys_global_stream_as_cs231ns_does():
    # What a cell drawing after a seeded dropout sees: the stream np.random.seed(123)
    # starts, past the mask's draws.
    np.random.seed(0)
    x = np.random.randn(4, 5) + 10
    out, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 123})
    after = np.random.randn(3)
    np.random.seed(123)
    mask = (np.random.rand(*x.shape) < 0.5) / 0.5
    np.testing.assert_array_equal(out, x * mask)
    np.testing.assert_array_equal(after, np.random.randn(3))


# -- ConvolutionalNetworks -----------------------------------------------------------------

def test_conv_forward_naive():
    x_shape, w_shape = (2, 3, 4, 4), (3, 3, 4, 4)
    x = np.linspace(-0.1, 0.5, num=np.prod(x_shape)).reshape(x_shape)
    w = np.linspace(-0.2, 0.3, num=np.prod(w_shape)).reshape(w_shape)
    b = np.linspace(-0.1, 0.2, num=3)
    out, _ = conv_forward_naive(x, w, b, {"stride": 2, "pad": 1})
    correct_out = np.array([[[[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
                             [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
                             [[0.50813986, 0.54309974], [0.64082444, 0.67101435]]],
                            [[[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
                             [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
                             [[2.36270298, 2.36904306], [2.38090835, 2.38247847]]]])
    assert_difference(out, correct_out, 2.2121476417505994e-08, 1e-7)


def image_filters():
    """The image-processing cell's two 3x3 filters: grayscale and a horizontal edge."""
    w = np.zeros((2, 3, 3, 3))
    w[0, 0, :, :] = [[0, 0, 0], [0, 0.3, 0], [0, 0, 0]]
    w[0, 1, :, :] = [[0, 0, 0], [0, 0.6, 0], [0, 0, 0]]
    w[0, 2, :, :] = [[0, 0, 0], [0, 0.1, 0], [0, 0, 0]]
    w[1, 2, :, :] = [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]
    return w


def test_conv_forward_naive_on_images_with_an_integer_bias():
    # The cell's puppy and kitten, 200x200, are not shipped: 8x8 pixel values instead.
    x = np.random.default_rng(0).integers(0, 256, size=(2, 3, 8, 8)).astype(np.float64)
    b = np.array([0, 128])
    out, _ = conv_forward_naive(x, image_filters(), b, {"stride": 1, "pad": 1})
    expected, _ = conv_forward_naive(x, image_filters(), b.astype(np.float64),
                                     {"stride": 1, "pad": 1})
    np.testing.assert_array_equal(out, expected)


def test_conv_backward_naive():
    np.random.seed(231)
    x = np.random.randn(4, 3, 5, 5)
    w = np.random.randn(2, 3, 3, 3)
    b = np.random.randn(2,)
    dout = np.random.randn(4, 2, 5, 5)
    conv_param = {"stride": 1, "pad": 1}
    # Central differences of the fast forward: the naive loops would take seconds for
    # the 712 evaluations, and the two forwards agree to ~1e-11 (the fast-vs-naive cell).
    forward = lambda *a: conv_forward(*a, conv_param)  # noqa: E731
    numeric = numeric_gradients(forward, (x, w, b), dout, range(3))
    _, cache = conv_forward_naive(x, w, b, conv_param)
    assert_gradients_within(conv_backward_naive(dout, cache), numeric, 1e-7)  # e-8 or less


def test_max_pool_forward_naive():
    x_shape = (2, 3, 4, 4)
    x = np.linspace(-0.3, 0.4, num=np.prod(x_shape)).reshape(x_shape)
    out, _ = max_pool_forward_naive(x, {"pool_width": 2, "pool_height": 2, "stride": 2})
    correct_out = np.array([[[[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
                             [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
                             [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]]],
                            [[[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
                             [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
                             [[0.32631579, 0.34105263], [0.38526316, 0.4]]]])
    assert_difference(out, correct_out, 4.1666665157267834e-08, 1e-7)


def test_max_pool_backward_naive():
    np.random.seed(231)
    x = np.random.randn(3, 2, 8, 8)
    dout = np.random.randn(3, 2, 4, 4)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    numeric = numeric_gradients(lambda x: max_pool_forward_naive(x, pool_param), (x,),
                                dout, [0])
    _, cache = max_pool_forward_naive(x, pool_param)
    assert_gradients_within([max_pool_backward_naive(dout, cache)], numeric, 1e-11)


@pytest.mark.parametrize("forward, backward", [
    (conv_forward_fast, conv_backward_fast),
    # fast_layers.py's two lowerings, each with its backward.
    (conv_forward_strides, conv_backward_strides),
    (conv_forward_im2col, conv_backward_im2col),
], ids=["fast", "strides", "im2col"])
def test_conv_fast_matches_naive(forward, backward):
    np.random.seed(231)
    x = np.random.randn(100, 3, 31, 31)
    w = np.random.randn(25, 3, 3, 3)
    b = np.random.randn(25,)
    dout = np.random.randn(100, 25, 16, 16)
    conv_param = {"stride": 2, "pad": 1}
    # The first 2 of the cell's 100 images: the naive loops take ~0.4 s per image.
    x, dout = x[:2], dout[:2]
    out_naive, cache_naive = conv_forward_naive(x, w, b, conv_param)
    out_fast, cache_fast = forward(x, w, b, conv_param)
    assert rel_error(out_naive, out_fast) < 1e-8                     # around e-9 or less
    naive = conv_backward_naive(dout, cache_naive)
    fast = backward(dout, cache_fast)
    assert_gradients_within(naive, fast, 1e-8)


@pytest.mark.parametrize("forward, backward", [
    (max_pool_forward_fast, max_pool_backward_fast),
    # For these windows (2x2, stride 2, tiling 32x32) CS231n's max_pool_forward_fast runs
    # max_pool_forward_reshape; max_pool_forward_im2col is its other path.
    (max_pool_forward_reshape, max_pool_backward_reshape),
    (max_pool_forward_im2col, max_pool_backward_im2col),
], ids=["fast", "reshape", "im2col"])
def test_max_pool_fast_matches_naive(forward, backward):
    np.random.seed(231)
    x = np.random.randn(100, 3, 32, 32)
    dout = np.random.randn(100, 3, 16, 16)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    x, dout = x[:20], dout[:20]      # 20 of the cell's 100 images: the naive loops are slow
    out_naive, cache_naive = max_pool_forward_naive(x, pool_param)
    out_fast, cache_fast = forward(x, pool_param)
    assert rel_error(out_naive, out_fast) == 0.0                    # close to 0.0
    dx_naive = max_pool_backward_naive(dout, cache_naive)
    assert rel_error(dx_naive, backward(dout, cache_fast)) == 0.0


def test_max_pool_forward_reshape_refuses_windows_that_cs231n_asserts_against():
    x = np.random.randn(1, 1, 5, 5)
    with pytest.raises(ValueError, match=r"^max_pool_forward_reshape: needs square windows "
                       r"that tile x, pool_height == pool_width == stride; got "
                       r"pool_height = 3, pool_width = 3, stride = 2"):
        max_pool_forward_reshape(x, {"pool_height": 3, "pool_width": 3, "stride": 2})
    with pytest.raises(ValueError, match=r"^max_pool_forward_reshape: "):
        max_pool_forward_reshape(x, {"pool_height": 2, "pool_width": 2, "stride": 2})


class Blob:
    """CS231n's blob: a value and its gradient, arrays of one shape."""

    def __init__(self, vals, diffs=None):
        self.vals = vals
        self.diffs = np.zeros_like(vals) if diffs is None else diffs


def test_eval_numerical_gradient_blobs_on_an_affine_blob_function():
    np.random.seed(231)
    x, w, b = Blob(np.random.randn(4, 5)), Blob(np.random.randn(5, 3)), Blob(np.random.randn(3))
    out = Blob(np.zeros((4, 3)), np.random.randn(4, 3))

    def affine_blobs(x, w, b, out):
        out.vals[...] = affine_forward(x.vals, w.vals, b.vals)[0]

    saved = [blob.vals.copy() for blob in (x, w, b)]
    numeric = eval_numerical_gradient_blobs(affine_blobs, (x, w, b), out)
    _, cache = affine_forward(x.vals, w.vals, b.vals)
    assert_gradients_within(affine_backward(out.diffs, cache), numeric, 1e-9)
    for blob, value in zip((x, w, b), saved, strict=True):
        np.testing.assert_array_equal(blob.vals, value)

    class Net:
        def forward(self):
            affine_blobs(x, w, b, out)

    net_numeric = eval_numerical_gradient_net(Net(), (x, w, b), out)
    for by_net, by_blobs in zip(net_numeric, numeric, strict=True):
        np.testing.assert_array_equal(by_net, by_blobs)


def test_conv_relu_pool_sandwich():
    np.random.seed(231)
    x = np.random.randn(2, 3, 16, 16)
    w = np.random.randn(3, 3, 3, 3)
    b = np.random.randn(3,)
    dout = np.random.randn(2, 3, 8, 8)
    conv_param = {"stride": 1, "pad": 1}
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    _, cache = conv_relu_pool_forward(x, w, b, conv_param, pool_param)
    forward = lambda *a: conv_relu_pool_forward(*a, conv_param, pool_param)  # noqa: E731
    numeric = numeric_gradients(forward, (x, w, b), dout, range(3))
    assert_gradients_within(conv_relu_pool_backward(dout, cache), numeric, 1e-7)


def test_conv_relu_sandwich():
    np.random.seed(231)
    x = np.random.randn(2, 3, 8, 8)
    w = np.random.randn(3, 3, 3, 3)
    b = np.random.randn(3,)
    dout = np.random.randn(2, 3, 8, 8)
    conv_param = {"stride": 1, "pad": 1}
    _, cache = conv_relu_forward(x, w, b, conv_param)
    forward = lambda *a: conv_relu_forward(*a, conv_param)  # noqa: E731
    numeric = numeric_gradients(forward, (x, w, b), dout, range(3))
    assert_gradients_within(conv_relu_backward(dout, cache), numeric, 1e-7)


def test_three_layer_convnet_sanity_loss():
    # The cell draws without a seed; its printed losses, 2.3026 and (with reg=0.5) more.
    np.random.seed(231)
    model = ThreeLayerConvNet()
    N = 10   # the cell's 50 images take 2 s; the sanity check does not depend on N
    X = np.random.randn(N, 3, 32, 32)
    y = np.random.randint(10, size=N)
    loss, _ = model.loss(X, y)
    assert loss == pytest.approx(math.log(10), abs=1e-3)
    model.reg = 0.5
    loss_reg, _ = model.loss(X, y)
    assert loss_reg > loss


def test_three_layer_convnet_gradients():
    num_inputs, input_dim, num_classes = 2, (3, 16, 16), 10
    np.random.seed(231)
    X = np.random.randn(num_inputs, *input_dim)
    y = np.random.randint(num_classes, size=num_inputs)
    model = ThreeLayerConvNet(num_filters=3, filter_size=3, input_dim=input_dim,
                              hidden_dim=7, dtype=np.float64)
    _, grads = model.loss(X, y)
    for name in ["W1", "b1", "b2", "W3", "b3"]:      # W2 alone is 1344 weights
        f = lambda _: model.loss(X, y)[0]  # noqa: E731 - the cell's closure
        grad_num = eval_numerical_gradient(f, model.params[name], verbose=False, h=1e-6)
        # "Relative errors up to the order of e-2" with h = 1e-6 and tiny weights.
        assert rel_error(grad_num, grads[name]) < 1e-1, name


def test_spatial_batchnorm_forward_train_time():
    np.random.seed(231)
    N, C, H, W = 2, 3, 4, 5
    x = 4 * np.random.randn(N, C, H, W) + 10
    assert_printed(x.mean(axis=(0, 2, 3)), [9.33463814, 8.90909116, 9.11056338])
    assert_printed(x.std(axis=(0, 2, 3)), [3.61447857, 3.19347686, 3.5168142])
    out, _ = spatial_batchnorm_forward(x, np.ones(C), np.zeros(C), {"mode": "train"})
    assert out.shape == (2, 3, 4, 5)
    assert_printed(out.mean(axis=(0, 2, 3)), [0, 0, 0])
    assert_printed(out.std(axis=(0, 2, 3)), [0.99999962, 0.99999951, 0.9999996])


def test_spatial_batchnorm_forward_with_integer_gamma_and_beta():
    np.random.seed(231)
    x = 4 * np.random.randn(2, 3, 4, 5) + 10
    bn_param = {"mode": "train"}
    spatial_batchnorm_forward(x, np.ones(3), np.zeros(3), bn_param)
    gamma, beta = np.asarray([3, 4, 5]), np.asarray([6, 7, 8])
    out, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    assert_printed(out.mean(axis=(0, 2, 3)), [6., 7., 8.])
    assert_printed(out.std(axis=(0, 2, 3)), [2.99999885, 3.99999804, 4.99999798])


def test_spatial_batchnorm_forward_test_time():
    # The means depend on the running variance starting at zeros, as in CS231n.
    np.random.seed(231)
    N, C, H, W = 10, 4, 11, 12
    bn_param = {"mode": "train"}
    gamma, beta = np.ones(C), np.zeros(C)
    for _ in range(50):
        x = 2.3 * np.random.randn(N, C, H, W) + 13
        spatial_batchnorm_forward(x, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    x = 2.3 * np.random.randn(N, C, H, W) + 13
    a_norm, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    assert_printed(a_norm.mean(axis=(0, 2, 3)),
                   [-0.08034406, 0.07562881, 0.05716371, 0.04378383])
    assert_printed(a_norm.std(axis=(0, 2, 3)),
                   [0.96718744, 1.0299714, 1.02887624, 1.00585577])


def spatial_norm_gradient_check(forward, backward, param_shape, extra, bound):
    np.random.seed(231)
    C = param_shape[0] if len(param_shape) == 1 else param_shape[1]
    N, H, W = 2, 4, 5
    x = 5 * np.random.randn(N, C, H, W) + 12
    gamma = np.random.randn(*param_shape)
    beta = np.random.randn(*param_shape)
    dout = np.random.randn(N, C, H, W)
    numeric = numeric_gradients(lambda *a: forward(*a, *extra), (x, gamma, beta), dout,
                                range(3))
    _, cache = forward(x, gamma, beta, *extra)
    assert_gradients_within(backward(dout, cache), numeric, bound)


def test_spatial_batchnorm_backward():
    spatial_norm_gradient_check(spatial_batchnorm_forward, spatial_batchnorm_backward,
                                (3,), ({"mode": "train"},), 1e-6)       # 1e-12 to 1e-06


def test_spatial_groupnorm_forward():
    np.random.seed(231)
    N, C, H, W = 2, 6, 4, 5
    G = 2
    x = 4 * np.random.randn(N, C, H, W) + 10
    x_g = x.reshape((N * G, -1))
    assert_printed(x_g.mean(axis=1), [9.72505327, 8.51114185, 8.9147544, 9.43448077])
    assert_printed(x_g.std(axis=1), [3.67070958, 3.09892597, 4.27043622, 3.97521327])
    gamma, beta = np.ones((1, C, 1, 1)), np.zeros((1, C, 1, 1))
    out, _ = spatial_groupnorm_forward(x, gamma, beta, G, {"mode": "train"})
    out_g = out.reshape((N * G, -1))
    assert_printed(out_g.mean(axis=1), [0, 0, 0, 0])
    assert_printed(out_g.std(axis=1), [0.99999963, 0.99999948, 0.99999973, 0.99999968])


def test_spatial_groupnorm_backward():
    spatial_norm_gradient_check(spatial_groupnorm_forward, spatial_groupnorm_backward,
                                (1, 6, 1, 1), (2, {}), 1e-7)            # 1e-12 to 1e-07


def test_conv_forward_float32_weights_on_float64_data():
    # CS231n's ThreeLayerConvNet keeps float32 weights (its default dtype) and is fed
    # float64 data: NumPy computes in float64.
    np.random.seed(231)
    x = np.random.randn(2, 3, 8, 8)
    w = (1e-3 * np.random.randn(4, 3, 3, 3)).astype(np.float32)
    b = np.zeros(4, dtype=np.float32)
    out, _ = conv_forward(x, w, b, {"stride": 1, "pad": 1})
    expected, _ = conv_forward(x, w.astype(np.float64), b.astype(np.float64),
                               {"stride": 1, "pad": 1})
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, expected, rtol=1e-12)


# -- RNN_Captioning ------------------------------------------------------------------------

def test_rnn_step_forward():
    N, D, H = 3, 10, 4
    x = np.linspace(-0.4, 0.7, num=N * D).reshape(N, D)
    prev_h = np.linspace(-0.2, 0.5, num=N * H).reshape(N, H)
    Wx = np.linspace(-0.1, 0.9, num=D * H).reshape(D, H)
    Wh = np.linspace(-0.3, 0.7, num=H * H).reshape(H, H)
    b = np.linspace(-0.2, 0.4, num=H)
    next_h, _ = rnn_step_forward(x, prev_h, Wx, Wh, b)
    expected_next_h = np.asarray([
        [-0.58172089, -0.50182032, -0.41232771, -0.31410098],
        [0.66854692, 0.79562378, 0.87755553, 0.92795967],
        [0.97934501, 0.99144213, 0.99646691, 0.99854353]])
    assert_difference(expected_next_h, next_h, 6.292421426471037e-09, 1e-7)


def recurrent_gradient_check(forward, backward, shapes, dout_shape, bound):
    """A step or sequence gradient-check cell: arguments drawn in order after
    np.random.seed(231), then the upstream gradient."""
    np.random.seed(231)
    args = tuple(np.random.randn(*shape) for shape in shapes)
    out, cache = forward(*args)
    dout = np.random.randn(*out.shape)
    assert out.shape == dout_shape
    numeric = numeric_gradients(forward, args, dout, range(len(args)))
    assert_gradients_within(backward(dout, cache), numeric, bound)


def test_rnn_step_backward():
    N, D, H = 4, 5, 6
    recurrent_gradient_check(rnn_step_forward, rnn_step_backward,
                             [(N, D), (N, H), (D, H), (H, H), (H,)], (N, H), 1e-7)


def test_rnn_forward():
    N, T, D, H = 2, 3, 4, 5
    x = np.linspace(-0.1, 0.3, num=N * T * D).reshape(N, T, D)
    h0 = np.linspace(-0.3, 0.1, num=N * H).reshape(N, H)
    Wx = np.linspace(-0.2, 0.4, num=D * H).reshape(D, H)
    Wh = np.linspace(-0.4, 0.1, num=H * H).reshape(H, H)
    b = np.linspace(-0.7, 0.1, num=H)
    h, _ = rnn_forward(x, h0, Wx, Wh, b)
    expected_h = np.asarray([
        [[-0.42070749, -0.27279261, -0.11074945, 0.05740409, 0.22236251],
         [-0.39525808, -0.22554661, -0.0409454, 0.14649412, 0.32397316],
         [-0.42305111, -0.24223728, -0.04287027, 0.15997045, 0.35014525]],
        [[-0.55857474, -0.39065825, -0.19198182, 0.02378408, 0.23735671],
         [-0.27150199, -0.07088804, 0.13562939, 0.33099728, 0.50158768],
         [-0.51014825, -0.30524429, -0.06755202, 0.17806392, 0.40333043]]])
    assert_difference(expected_h, h, 7.728466107249727e-08, 1e-6)


def test_rnn_backward():
    N, D, T, H = 2, 3, 10, 5
    recurrent_gradient_check(rnn_forward, rnn_backward,
                             [(N, T, D), (N, H), (D, H), (H, H), (H,)], (N, T, H), 1e-5)


def test_word_embedding_forward():
    V, D = 5, 3
    x = np.asarray([[0, 3, 1, 2], [2, 1, 0, 3]])
    W = np.linspace(0, 1, num=V * D).reshape(V, D)
    out, _ = word_embedding_forward(x, W)
    expected_out = np.asarray([
        [[0., 0.07142857, 0.14285714], [0.64285714, 0.71428571, 0.78571429],
         [0.21428571, 0.28571429, 0.35714286], [0.42857143, 0.5, 0.57142857]],
        [[0.42857143, 0.5, 0.57142857], [0.21428571, 0.28571429, 0.35714286],
         [0., 0.07142857, 0.14285714], [0.64285714, 0.71428571, 0.78571429]]])
    assert_difference(expected_out, out, 1.0000000094736443e-08, 1e-7)


def test_word_embedding_backward():
    np.random.seed(231)
    N, T, V, D = 50, 3, 5, 6
    x = np.random.randint(V, size=(N, T))
    W = np.random.randn(V, D)
    out, cache = word_embedding_forward(x, W)
    dout = np.random.randn(*out.shape)
    dW = word_embedding_backward(dout, cache)
    dW_num = eval_numerical_gradient_array(lambda W: word_embedding_forward(x, W)[0], W,
                                           dout)
    assert rel_error(dW, dW_num) < 1e-10                                 # order e-11


def test_word_embedding_of_one_sampling_step():
    # Captioning's sample(): the previous words of N captions, an (N,) vector, or one
    # word as a Python int.
    W = np.linspace(0, 1, num=15).reshape(5, 3)
    words = np.array([1, 4, 1])
    out, cache = word_embedding_forward(words, W)
    np.testing.assert_array_equal(out, W[words])
    dout = np.arange(9.0).reshape(3, 3)
    expected = np.zeros((5, 3))
    expected[1], expected[4] = dout[0] + dout[2], dout[1]
    np.testing.assert_array_equal(word_embedding_backward(dout, cache), expected)
    start, _ = word_embedding_forward(2, W)
    np.testing.assert_array_equal(start, W[2])


def test_temporal_affine_backward():
    N, T, D, M = 2, 3, 4, 5
    recurrent_gradient_check(temporal_affine_forward, temporal_affine_backward,
                             [(N, T, D), (D, M), (M,)], (N, T, M), 1e-8)


def test_temporal_softmax_loss():
    # The cell draws without a seed, after the temporal affine cell above: that cell's
    # draws are repeated first.
    np.random.seed(231)
    for shape in [(2, 3, 4), (4, 5), (5,), (2, 3, 5)]:
        np.random.randn(*shape)

    def check_loss(N, T, V, p):
        x = 0.001 * np.random.randn(N, T, V)
        y = np.random.randint(V, size=(N, T))
        mask = np.random.rand(N, T) <= p
        return temporal_softmax_loss(x, y, mask)[0]

    assert_loss(check_loss(100, 1, 10, 1.0), 2.3027781774290146)      # about 2.3
    assert_loss(check_loss(100, 10, 10, 1.0), 23.025985953127226)     # about 23
    assert_loss(check_loss(5000, 10, 10, 0.1), 2.2643611790293394)    # within 2.2-2.4

    N, T, V = 7, 8, 9
    x = np.random.randn(N, T, V)
    y = np.random.randint(V, size=(N, T))
    mask = (np.random.rand(N, T) > 0.5)
    loss, dx = temporal_softmax_loss(x, y, mask, verbose=False)
    dx_num = eval_numerical_gradient(lambda x: temporal_softmax_loss(x, y, mask)[0], x,
                                     verbose=False)
    assert rel_error(dx, dx_num) < 1e-6                                  # order e-7


def captioning_params(vocabulary, input_dim, wordvec_dim, hidden_dim, cell):
    """CaptioningRNN's parameters as the captioning notebooks' loss cell sets them: each
    np.linspace(-1.4, 1.3) of its size."""
    V, D, H = vocabulary, input_dim, hidden_dim
    gates = 4 if cell == "lstm" else 1
    shapes = {"W_embed": (V, wordvec_dim), "W_proj": (D, H), "b_proj": (H,),
              "Wx": (wordvec_dim, gates * H), "Wh": (H, gates * H), "b": (gates * H,),
              "W_vocab": (H, V), "b_vocab": (V,)}
    return {name: np.linspace(-1.4, 1.3, num=math.prod(shape)).reshape(shape)
            for name, shape in shapes.items()}


def captioning_loss(word_to_idx, features, captions, wordvec_dim, hidden_dim, cell):
    """CaptioningRNN.loss as the captioning notebooks' model computes it, from gatelab's
    layers."""
    p = captioning_params(len(word_to_idx), features.shape[1], wordvec_dim, hidden_dim, cell)
    captions_in, captions_out = captions[:, :-1], captions[:, 1:]
    mask = captions_out != word_to_idx["<NULL>"]
    h0, _ = affine_forward(features, p["W_proj"], p["b_proj"])
    x, _ = word_embedding_forward(captions_in, p["W_embed"])
    recurrent = lstm_forward if cell == "lstm" else rnn_forward
    h, _ = recurrent(x, h0, p["Wx"], p["Wh"], p["b"])
    scores, _ = temporal_affine_forward(h, p["W_vocab"], p["b_vocab"])
    return temporal_softmax_loss(scores, captions_out, mask)[0]


@pytest.mark.parametrize("cell, features, expected_loss", [
    ("rnn", (-1.5, 0.3), 9.83235591003),            # RNN_Captioning
    ("lstm", (-0.5, 1.7), 9.82445935443),           # LSTM_Captioning
])
def test_captioning_loss(cell, features, expected_loss):
    N, D, W, H = 10, 20, 30, 40
    word_to_idx = {"<NULL>": 0, "cat": 2, "dog": 3}
    T = 13
    features = np.linspace(*features, num=N * D).reshape(N, D)
    captions = (np.arange(N * T) % len(word_to_idx)).reshape(N, T)
    loss = captioning_loss(word_to_idx, features, captions, W, H, cell)
    # The notebook prints a difference of about 2.5e-12 from the 11-decimal expectation.
    assert abs(loss - expected_loss) < 1e-11


def captioning_sample(p, features, start, null, max_length, cell, embed_start_once):
    """CaptioningRNN.sample as students write it, from gatelab's layers: greedy decoding
    from the start token. With `embed_start_once` the start token is embedded once, as
    one (D,) vector for the whole batch (``x = W_embed[self._start]``), which CS231n's
    NumPy step broadcasts against prev_h (N, H); otherwise once per caption, (N, D)."""
    N = features.shape[0]
    captions = null * np.ones((N, max_length), dtype=np.int32)
    h, _ = affine_forward(features, p["W_proj"], p["b_proj"])
    c = 0                                         # the LSTM's first cell state
    words = start if embed_start_once else np.full(N, start)
    x, _ = word_embedding_forward(words, p["W_embed"])
    for t in range(max_length):
        if cell == "lstm":
            h, c, _ = lstm_step_forward(x, h, c, p["Wx"], p["Wh"], p["b"])
        else:
            h, _ = rnn_step_forward(x, h, p["Wx"], p["Wh"], p["b"])
        scores, _ = affine_forward(h, p["W_vocab"], p["b_vocab"])
        captions[:, t] = np.argmax(scores, axis=1)
        x, _ = word_embedding_forward(captions[:, t], p["W_embed"])
    return captions


def numpy_sample(p, features, start, max_length, cell):
    """The same decoding in CS231n's plain NumPy steps, x broadcast as NumPy does."""
    h = features.dot(p["W_proj"]) + p["b_proj"]
    c = np.zeros_like(h)
    x = p["W_embed"][start]
    captions = []
    for _ in range(max_length):
        a = x.dot(p["Wx"]) + h.dot(p["Wh"]) + p["b"]
        if cell == "lstm":
            H = h.shape[1]
            i, f, o = (1 / (1 + np.exp(-a[:, k * H:(k + 1) * H])) for k in range(3))
            c = f * c + i * np.tanh(a[:, 3 * H:])
            h = o * np.tanh(c)
        else:
            h = np.tanh(a)
        captions.append(np.argmax(h.dot(p["W_vocab"]) + p["b_vocab"], axis=1))
        x = p["W_embed"][captions[-1]]
    return np.stack(captions, axis=1)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_captioning_sample_embeds_the_start_token_once(cell):
    # The captioning loss cell's model (N, D, W, H = 10, 20, 30, 40), sampling captions of
    # its features. The notebooks sample only from trained models (COCO, not shipped) and
    # print captions, not numbers: what is asserted is that the sample is CS231n's.
    N, D, W, H = 10, 20, 30, 40
    word_to_idx = {"<NULL>": 0, "<START>": 1, "cat": 2, "dog": 3}
    np.random.seed(231)
    p = {name: 0.5 * np.random.randn(*value.shape)
         for name, value in captioning_params(len(word_to_idx), D, W, H, cell).items()}
    features = np.random.randn(N, D)
    start, null = word_to_idx["<START>"], word_to_idx["<NULL>"]
    once = captioning_sample(p, features, start, null, 13, cell, embed_start_once=True)
    per_caption = captioning_sample(p, features, start, null, 13, cell,
                                    embed_start_once=False)
    np.testing.assert_array_equal(once, per_caption)
    np.testing.assert_array_equal(once, numpy_sample(p, features, start, 13, cell))
    assert len(np.unique(once)) > 1          # the captions do say something


# -- LSTM_Captioning -----------------------------------------------------------------------

def lstm_step_inputs():
    N, D, H = 3, 4, 5
    x = np.linspace(-0.4, 1.2, num=N * D).reshape(N, D)
    prev_h = np.linspace(-0.3, 0.7, num=N * H).reshape(N, H)
    prev_c = np.linspace(-0.4, 0.9, num=N * H).reshape(N, H)
    Wx = np.linspace(-2.1, 1.3, num=4 * D * H).reshape(D, 4 * H)
    Wh = np.linspace(-0.7, 2.2, num=4 * H * H).reshape(H, 4 * H)
    b = np.linspace(0.3, 0.7, num=4 * H)
    return x, prev_h, prev_c, Wx, Wh, b


def test_lstm_step_forward():
    next_h, next_c, _ = lstm_step_forward(*lstm_step_inputs())
    expected_next_h = np.asarray([
        [0.24635157, 0.28610883, 0.32240467, 0.35525807, 0.38474904],
        [0.49223563, 0.55611431, 0.61507696, 0.66844003, 0.7159181],
        [0.56735664, 0.66310127, 0.74419266, 0.80889665, 0.858299]])
    expected_next_c = np.asarray([
        [0.32986176, 0.39145139, 0.451556, 0.51014116, 0.56717407],
        [0.66382255, 0.76674007, 0.87195994, 0.97902709, 1.08751345],
        [0.74192008, 0.90592151, 1.07717006, 1.25120233, 1.42395676]])
    assert_difference(expected_next_h, next_h, 5.7054131967097955e-09, 1e-6)
    assert_difference(expected_next_c, next_c, 5.8143123088804145e-09, 1e-6)


def test_lstm_step_with_a_python_number_as_the_first_cell_state():
    # Captioning code starts sampling with prev_c = 0.
    x, prev_h, prev_c, Wx, Wh, b = lstm_step_inputs()
    next_h, next_c, cache = lstm_step_forward(x, prev_h, 0, Wx, Wh, b)
    expected_h, expected_c, _ = lstm_step_forward(x, prev_h, np.zeros_like(prev_c), Wx, Wh,
                                                  b)
    np.testing.assert_array_equal(next_h, expected_h)
    np.testing.assert_array_equal(next_c, expected_c)
    assert len(lstm_step_backward(np.ones_like(next_h), np.ones_like(next_c), cache)) == 6


def test_lstm_step_backward():
    np.random.seed(231)
    N, D, H = 4, 5, 6
    args = (np.random.randn(N, D), np.random.randn(N, H), np.random.randn(N, H),
            np.random.randn(D, 4 * H), np.random.randn(H, 4 * H), np.random.randn(4 * H))
    next_h, next_c, cache = lstm_step_forward(*args)
    dnext_h = np.random.randn(*next_h.shape)
    dnext_c = np.random.randn(*next_c.shape)
    through_h = numeric_gradients(lstm_step_forward, args, dnext_h, range(6), output=0)
    through_c = numeric_gradients(lstm_step_forward, args, dnext_c, range(6), output=1)
    numeric = [h + c for h, c in zip(through_h, through_c, strict=True)]
    assert_gradients_within(lstm_step_backward(dnext_h, dnext_c, cache), numeric, 1e-6)


def test_lstm_forward():
    N, D, H, T = 2, 5, 4, 3
    x = np.linspace(-0.4, 0.6, num=N * T * D).reshape(N, T, D)
    h0 = np.linspace(-0.4, 0.8, num=N * H).reshape(N, H)
    Wx = np.linspace(-0.2, 0.9, num=4 * D * H).reshape(D, 4 * H)
    Wh = np.linspace(-0.3, 0.6, num=4 * H * H).reshape(H, 4 * H)
    b = np.linspace(0.2, 0.7, num=4 * H)
    h, _ = lstm_forward(x, h0, Wx, Wh, b)
    expected_h = np.asarray([
        [[0.01764008, 0.01823233, 0.01882671, 0.0194232],
         [0.11287491, 0.12146228, 0.13018446, 0.13902939],
         [0.31358768, 0.33338627, 0.35304453, 0.37250975]],
        [[0.45767879, 0.4761092, 0.4936887, 0.51041945],
         [0.6704845, 0.69350089, 0.71486014, 0.7346449],
         [0.81733511, 0.83677871, 0.85403753, 0.86935314]]])
    assert_difference(expected_h, h, 8.610537442272635e-08, 1e-6)


def test_lstm_backward():
    N, D, T, H = 2, 3, 10, 6
    # "Errors on the order of e-8 or less"; the notebook's own run prints dWh 2.7e-6.
    recurrent_gradient_check(lstm_forward, lstm_backward,
                             [(N, T, D), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,)],
                             (N, T, H), 1e-5)
