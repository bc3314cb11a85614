"""The reference recurrent cells of :mod:`sketch_rnn.cells` against an independent float64 NumPy oracle.

Each cell kind (``lstm``, ``layer_norm``, ``hyper``) gets every weight, its input, its state and an
optional recurrent-dropout mask drawn at random, so that biases, gains, gate order and state layout all
change the result; one step and a chain of steps are then compared with a plain NumPy restatement of
magenta's ``rnn.py`` (written from REFERENCE.md section 1.6, not from the code under test), and the
``tf.GradientTape`` gradients of a random linear functional of the outputs, with respect to every weight
(the hyper cell's included), the inputs and the initial state, are compared with float64 central finite
differences of that oracle. Further checks make sure the oracle can tell plausible mistakes apart (forget
bias, layer-norm epsilon, gate order, state order, dropout), and cover the state layout helpers, the
linearity of ``project`` on which split inputs rely, and the reference's initialisation.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from sketch_rnn.cells import make_cell

KINDS = ("lstm", "layer_norm", "hyper")
UNITS, INPUT, BATCH, HYPER_UNITS, EMBEDDING = 6, 5, 3, 4, 3
SCALE = 0.5
# 1 / 0.8 = 1.25 is exact in float32, so the mask adds no rounding of its own.
KEEP = 0.8
STEPS = 4
# float32 against float64 reaches about 2e-7 here, values and gradients alike: these leave a margin of
# about ten, and are tight enough that, e.g., a layer-norm variance off by 0.1% fails.
ATOL = RTOL = 2e-6
GRAD_ATOL, GRAD_RTOL = 2e-6, 2e-5

# Restated rather than imported from sketch_rnn.cells, so that a wrong constant there fails here.
FORGET_BIAS = 1.0
LN_EPSILON = 1e-3

# Every weight of each cell with the reference's shape (n = UNITS, hu = HYPER_UNITS, e = EMBEDDING).
SHAPES = {
    "lstm": {"W_xh": (INPUT, 4 * UNITS), "W_hh": (UNITS, 4 * UNITS), "bias": (4 * UNITS,)},
    "layer_norm": {
        "W_xh": (INPUT, 4 * UNITS), "W_hh": (UNITS, 4 * UNITS),
        "ln_all_gamma": (4 * UNITS,), "ln_all_beta": (4 * UNITS,),
        "ln_c_gamma": (UNITS,), "ln_c_beta": (UNITS,),
    },
    "hyper": {
        "W_xh": (INPUT, 4 * UNITS), "W_hh": (UNITS, 4 * UNITS), "bias": (4 * UNITS,),
        "ln_all_gamma": (4 * UNITS,), "ln_all_beta": (4 * UNITS,),
        "ln_c_gamma": (UNITS,), "ln_c_beta": (UNITS,),
        "zw_w": (8, HYPER_UNITS, EMBEDDING), "zw_b": (8, EMBEDDING), "alpha_w": (8, EMBEDDING, UNITS),
        "zb_w": (4, HYPER_UNITS, EMBEDDING), "beta_w": (4, EMBEDDING, UNITS),
        "hyper_cell.W_xh": (INPUT + UNITS, 4 * HYPER_UNITS),
        "hyper_cell.W_hh": (HYPER_UNITS, 4 * HYPER_UNITS),
        "hyper_cell.ln_all_gamma": (4 * HYPER_UNITS,), "hyper_cell.ln_all_beta": (4 * HYPER_UNITS,),
        "hyper_cell.ln_c_gamma": (HYPER_UNITS,), "hyper_cell.ln_c_beta": (HYPER_UNITS,),
    },
}
# The reference's flat state order: (c, h) for LSTM, (h, c) for layer norm, (h, hyper_h, c, hyper_c).
STATE_PARTS = {"lstm": (UNITS, UNITS), "layer_norm": (UNITS, UNITS),
               "hyper": (UNITS, HYPER_UNITS, UNITS, HYPER_UNITS)}
OUTPUT_PART = {"lstm": 1, "layer_norm": 0, "hyper": 0}


@pytest.fixture(autouse=True, scope="module")
def _exact_float32_matmuls():
    """The tolerances assume true float32 products; TensorFloat-32 (on by default for TF on recent
    NVIDIA GPUs) keeps only 10 mantissa bits and would swamp them."""
    previous = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    yield
    tf.config.experimental.enable_tensor_float_32_execution(previous)


# ---------------------------------------------------------------------------------------------------
# The float64 oracle: magenta's rnn.py restated plainly, one function per cell. Every array carries a
# leading "copies" axis (length 1, or one entry per finite-difference perturbation, which lets a whole
# weight's differences be taken in one vectorised call); activations are [copies, batch, units] and a
# per-unit vector is lifted to [copies, 1, units] by ``row`` so that it broadcasts over the batch.


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def row(v):
    return v[:, None, :]


def cat(arrays, axis):
    """``np.concatenate`` that broadcasts the copies axis first."""
    copies = np.broadcast_shapes(*(a.shape[:1] for a in arrays))
    return np.concatenate([np.broadcast_to(a, copies + a.shape[1:]) for a in arrays], axis=axis)


def layer_norm(z, gamma, beta, eps):
    mean = z.mean(axis=-1, keepdims=True)
    var = ((z - mean) ** 2).mean(axis=-1, keepdims=True)
    return gamma * (z - mean) / np.sqrt(var + eps) + beta


def layer_norm_per_gate(z, gamma, beta, eps):
    """Each gate block of ``z`` normalised over its own units, gain and shift sliced to match."""
    zs, gammas, betas = (np.split(a, 4, axis=-1) for a in (z, gamma, beta))
    return [layer_norm(zk, gk, bk, eps) for zk, gk, bk in zip(zs, gammas, betas, strict=True)]


def new_cell_state(i, j, f, c, mask, forget_bias):
    g = np.tanh(j)
    if mask is not None:
        g = g * mask
    return c * sigmoid(f + forget_bias) + sigmoid(i) * g


def oracle_lstm(p, x, state, mask=None, forget_bias=FORGET_BIAS, eps=LN_EPSILON):
    c, h = state
    # magenta's one fused product of [x, h] with [W_xh; W_hh] (cells.py splits it in two).
    z = cat([x, h], -1) @ cat([p["W_xh"], p["W_hh"]], -2) + row(p["bias"])
    i, j, f, o = np.split(z, 4, axis=-1)
    new_c = new_cell_state(i, j, f, c, mask, forget_bias)
    new_h = np.tanh(new_c) * sigmoid(o)
    return new_h, (new_c, new_h)


def oracle_layer_norm(p, x, state, mask=None, forget_bias=FORGET_BIAS, eps=LN_EPSILON):
    h, c = state
    z = cat([x, h], -1) @ cat([p["W_xh"], p["W_hh"]], -2)
    i, j, f, o = layer_norm_per_gate(z, row(p["ln_all_gamma"]), row(p["ln_all_beta"]), eps)
    new_c = new_cell_state(i, j, f, c, mask, forget_bias)
    new_h = np.tanh(layer_norm(new_c, row(p["ln_c_gamma"]), row(p["ln_c_beta"]), eps)) * sigmoid(o)
    return new_h, (new_h, new_c)


def oracle_hyper(p, x, state, mask=None, forget_bias=FORGET_BIAS, eps=LN_EPSILON):
    h, hyper_h, c, hyper_c = state
    inner = {k.removeprefix("hyper_cell."): v for k, v in p.items() if k.startswith("hyper_cell.")}
    # The hyper cell reads [x, h] and never gets a dropout mask (hyper_use_recurrent_dropout=False).
    u, (new_hyper_h, new_hyper_c) = oracle_layer_norm(inner, cat([x, h], -1), (hyper_h, hyper_c), None,
                                                      forget_bias, eps)
    xh = np.split(x @ p["W_xh"], 4, axis=-1)
    hh = np.split(h @ p["W_hh"], 4, axis=-1)
    bias = np.split(row(p["bias"]), 4, axis=-1)
    pre = []
    for k in range(4):
        # Sets 0..3 scale the x part of gates i, j, f, o; sets 4..7 the h part.
        alpha_x = (u @ p["zw_w"][:, k] + row(p["zw_b"][:, k])) @ p["alpha_w"][:, k]
        alpha_h = (u @ p["zw_w"][:, 4 + k] + row(p["zw_b"][:, 4 + k])) @ p["alpha_w"][:, 4 + k]
        beta_h = (u @ p["zb_w"][:, k]) @ p["beta_w"][:, k]
        pre.append(alpha_x * xh[k] + (alpha_h * hh[k] + beta_h) + bias[k])
    gates = layer_norm_per_gate(cat(pre, -1), row(p["ln_all_gamma"]), row(p["ln_all_beta"]), eps)
    i, j, f, o = gates
    new_c = new_cell_state(i, j, f, c, mask, forget_bias)
    new_h = np.tanh(layer_norm(new_c, row(p["ln_c_gamma"]), row(p["ln_c_beta"]), eps)) * sigmoid(o)
    return new_h, (new_h, new_hyper_h, new_c, new_hyper_c)


ORACLES = {"lstm": oracle_lstm, "layer_norm": oracle_layer_norm, "hyper": oracle_hyper}


def oracle_copies(kind, p, xs, state, masks, **variant):
    """Steps on arrays that already carry the copies axis; returns every step's h and the last state."""
    hs = []
    for x, mask in zip(xs, masks, strict=True):
        h, state = ORACLES[kind](p, x, state, None if mask is None else mask[None], **variant)
        hs.append(h)
    return hs, state


def oracle_run(kind, p, xs, state, masks, **variant):
    """``oracle_copies`` for plain arrays: one copy in, the copies axis dropped again on the way out."""
    hs, final = oracle_copies(kind, {k: v[None] for k, v in p.items()}, [x[None] for x in xs],
                              tuple(s[None] for s in state), masks, **variant)
    return [h[0] for h in hs], tuple(s[0] for s in final)


# ---------------------------------------------------------------------------------------------------
# Random cells and inputs. Everything is drawn in float32 and widened, so cell and oracle see the very
# same numbers and only the arithmetic differs.


def weight(cell, name):
    return functools.reduce(getattr, name.split("."), cell)


def attribute_name(variable):
    """``hyper_lstm_cell/hyper_cell/W_xh`` -> ``hyper_cell.W_xh``, the name ``weight`` takes."""
    return variable.path.split("/", 1)[1].replace("/", ".")


def f32(rng, shape, scale=SCALE):
    return rng.normal(0.0, scale, shape).astype(np.float32).astype(np.float64)


def random_cell(kind, seed=0):
    """A built cell with every weight random, and the same weights as float64 arrays."""
    # Every weight is overwritten below, so the orthogonal init's SVDs would be wasted.
    cell = make_cell(kind, UNITS, hyper_units=HYPER_UNITS, hyper_embedding=EMBEDDING,
                     recurrent_initializer="zeros")
    cell.build(INPUT)
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in SHAPES[kind].items():
        params[name] = f32(rng, shape)
        weight(cell, name).assign(params[name].astype(np.float32))
    return cell, params


def random_inputs(kind, seed, steps, dropout):
    rng = np.random.default_rng(1000 + seed)
    xs = [f32(rng, (BATCH, INPUT), 1.0) for _ in range(steps)]
    # The cell state is not bounded like h, so give it a wider spread.
    state = tuple(f32(rng, (BATCH, width), 1.0) for width in STATE_PARTS[kind])
    masks = [(rng.random((BATCH, UNITS)) < KEEP) / KEEP if dropout else None for _ in range(steps)]
    return xs, state, masks


def cell_run(cell, xs, state, masks):
    hs = []
    state = tuple(ops.convert_to_tensor(s, "float32") for s in state)
    for x, mask in zip(xs, masks, strict=True):
        mask = None if mask is None else ops.convert_to_tensor(mask, "float32")
        h, state = cell.step(cell.project(ops.convert_to_tensor(x, "float32")), state, mask)
        hs.append(h)
    return hs, state


def assert_close(actual, expected, atol=ATOL, rtol=RTOL, what=""):
    np.testing.assert_allclose(np.asarray(ops.convert_to_numpy(actual), np.float64), expected,
                               atol=atol, rtol=rtol, err_msg=what)


# ---------------------------------------------------------------------------------------------------
# Values.


@pytest.mark.parametrize("dropout", [False, True], ids=["no_dropout", "dropout"])
@pytest.mark.parametrize("kind", KINDS)
def test_one_step_matches_oracle(kind, dropout):
    cell, p = random_cell(kind)
    xs, state, masks = random_inputs(kind, 0, 1, dropout)
    (h,), new_state = cell_run(cell, xs, state, masks)
    (h_ref,), state_ref = oracle_run(kind, p, xs, state, masks)
    assert_close(h, h_ref, what="h")
    assert len(new_state) == len(state_ref)
    for k, (s, s_ref) in enumerate(zip(new_state, state_ref, strict=True)):
        assert_close(s, s_ref, what=f"state part {k}")


@pytest.mark.parametrize("dropout", [False, True], ids=["no_dropout", "dropout"])
@pytest.mark.parametrize("kind", KINDS)
def test_chained_steps_match_oracle(kind, dropout):
    cell, p = random_cell(kind, seed=1)
    xs, state, masks = random_inputs(kind, 1, STEPS, dropout)
    hs, final = cell_run(cell, xs, state, masks)
    hs_ref, final_ref = oracle_run(kind, p, xs, state, masks)
    for t, (h, h_ref) in enumerate(zip(hs, hs_ref, strict=True)):
        assert_close(h, h_ref, what=f"h at step {t}")
    for k, (s, s_ref) in enumerate(zip(final, final_ref, strict=True)):
        assert_close(s, s_ref, what=f"final state part {k}")


@pytest.mark.parametrize("kind", KINDS)
def test_oracle_tells_mistakes_apart(kind):
    """Each plausible slip, applied to the oracle, must move its output far outside the tolerance the
    other tests allow: otherwise the random draw would be too tame to catch that slip in cells.py."""
    cell, p = random_cell(kind, seed=2)
    xs, state, masks = random_inputs(kind, 2, 2, True)
    hs, final = cell_run(cell, xs, state, masks)
    got = np.concatenate([ops.convert_to_numpy(h) for h in hs] + [ops.convert_to_numpy(s) for s in final], 1)

    def swap_h_c(state):
        # h and c trade places: (c, h) <-> (h, c); for hyper the main cell's h (part 0) and c (part 2).
        parts = list(state)
        k = 2 if kind == "hyper" else 1
        parts[0], parts[k] = parts[k], parts[0]
        return tuple(parts)

    def gates_swapped(a, axis):
        # (i, j, f, o) -> (f, j, i, o) along the gate axis of a weight.
        blocks = np.split(a, 4, axis=axis)
        return np.concatenate([blocks[2], blocks[1], blocks[0], blocks[3]], axis=axis)

    swapped = dict(p)
    for name in ("W_xh", "W_hh", "bias", "ln_all_gamma", "ln_all_beta"):
        if name in p:
            swapped[name] = gates_swapped(p[name], p[name].ndim - 1)
    mutants = {
        "forget bias 0": (p, state, masks, {"forget_bias": 0.0}),
        "gate order": (swapped, state, masks, {}),
        "state order": (p, swap_h_c(state), masks, {}),
        "dropout ignored": (p, state, [None] * len(masks), {}),
    }
    if kind != "lstm":
        mutants["epsilon 1e-5"] = (p, state, masks, {"eps": 1e-5})
    if kind == "hyper":
        mutants["alpha x/h swapped"] = (p | {"zw_w": np.roll(p["zw_w"], 4, axis=0),
                                             "zw_b": np.roll(p["zw_b"], 4, axis=0),
                                             "alpha_w": np.roll(p["alpha_w"], 4, axis=0)}, state, masks, {})
    for what, (params, init, mask_seq, variant) in mutants.items():
        hs_ref, final_ref = oracle_run(kind, params, xs, init, mask_seq, **variant)
        ref = np.concatenate(hs_ref + list(final_ref), 1)
        assert np.max(np.abs(got - ref)) > 100 * ATOL, what


# ---------------------------------------------------------------------------------------------------
# Gradients.


def finite_differences(loss, inputs, step=1e-6):
    """Central differences of ``loss`` in every entry of every one of ``inputs`` (each with a copies axis
    of length 1): one call per input, on ``2 * size`` copies of it, each with one entry moved by
    ``+-step``. ``loss`` maps the list of inputs to one loss per copy."""
    grads = []
    for k, a in enumerate(inputs):
        shape = a.shape[1:]
        n = int(np.prod(shape))
        delta = step * np.eye(n).reshape(n, *shape)
        values = loss(inputs[:k] + [np.concatenate([a + delta, a - delta])] + inputs[k + 1 :])
        grads.append(((values[:n] - values[n:]) / (2 * step)).reshape(shape))
    return grads


@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("dropout", [False, True], ids=["no_dropout", "dropout"])
@pytest.mark.parametrize("kind", KINDS)
def test_gradients_match_finite_differences(kind, dropout, steps):
    """d/d(every weight, every input, the initial state) of ``sum(w_h * h_t) + sum(w_s * final state)``."""
    seed = 3 + steps
    cell, p = random_cell(kind, seed=seed)
    xs, state, masks = random_inputs(kind, seed, steps, dropout)
    rng = np.random.default_rng(2000 + seed)
    w_h = [rng.normal(0.0, 1.0, (BATCH, UNITS)) for _ in range(steps)]
    w_s = [rng.normal(0.0, 1.0, (BATCH, width)) for width in STATE_PARTS[kind]]

    names = list(SHAPES[kind])
    variables = [weight(cell, name) for name in names]
    x_in = [tf.constant(x, tf.float32) for x in xs]
    s_in = [tf.constant(s, tf.float32) for s in state]
    with tf.GradientTape() as tape:
        tape.watch(x_in + s_in)
        hs, final = cell_run(cell, x_in, s_in, masks)
        loss = sum(tf.reduce_sum(tf.constant(w, tf.float32) * h) for w, h in zip(w_h, hs, strict=True))
        loss += sum(tf.reduce_sum(tf.constant(w, tf.float32) * s) for w, s in zip(w_s, final, strict=True))
    grads = tape.gradient(loss, variables + x_in + s_in)

    def oracle_loss(inputs):
        params = dict(zip(names, inputs[: len(names)], strict=True))
        x_seq, init = inputs[len(names) : len(names) + steps], tuple(inputs[len(names) + steps :])
        hs_ref, final_ref = oracle_copies(kind, params, x_seq, init, masks)
        return (sum(np.sum(w * h, axis=(-2, -1)) for w, h in zip(w_h, hs_ref, strict=True))
                + sum(np.sum(w * s, axis=(-2, -1)) for w, s in zip(w_s, final_ref, strict=True)))

    inputs = [p[name][None] for name in names] + [x[None] for x in xs] + [s[None] for s in state]
    # The loss sums BATCH * (STEPS + 1) * ~UNITS terms, so its rounding is larger than one entry's.
    assert_close(loss, oracle_loss(inputs)[0], atol=1e-5, rtol=1e-5, what="loss")
    expected = finite_differences(oracle_loss, inputs)
    labels = names + [f"x[{t}]" for t in range(steps)] + [f"state part {k}" for k in range(len(state))]
    for label, g, g_ref in zip(labels, grads, expected, strict=True):
        assert g is not None, label
        # Not vacuous: every weight reaches the loss (beta_w only through u, which is random here).
        assert np.max(np.abs(g_ref)) > 1e-3, label
        assert_close(g, g_ref, atol=GRAD_ATOL, rtol=GRAD_RTOL, what=f"d loss / d {label}")


# ---------------------------------------------------------------------------------------------------
# Layout, projection and initialisation.


@pytest.mark.parametrize("kind", KINDS)
def test_weights_and_state_layout(kind):
    cell, _ = random_cell(kind)
    # Every weight the cell has is one that the oracle randomises and the gradient test covers.
    assert sorted(attribute_name(v) for v in cell.weights) == sorted(SHAPES[kind])
    for name, shape in SHAPES[kind].items():
        assert tuple(weight(cell, name).shape) == shape, name

    assert tuple(cell.state_parts) == STATE_PARTS[kind]
    assert cell.state_size == sum(STATE_PARTS[kind])
    flat = np.random.default_rng(4).normal(size=(BATCH, cell.state_size)).astype(np.float32)
    parts = cell.split_state(ops.convert_to_tensor(flat))
    edges = np.cumsum((0, *STATE_PARTS[kind]))
    assert len(parts) == len(STATE_PARTS[kind])
    for k, part in enumerate(parts):
        np.testing.assert_array_equal(ops.convert_to_numpy(part), flat[:, edges[k] : edges[k + 1]])
    np.testing.assert_array_equal(ops.convert_to_numpy(cell.flat_state(parts)), flat)
    # output() picks h: the second half for LSTM's [c, h], the first UNITS columns otherwise.
    h_cols = slice(UNITS, 2 * UNITS) if kind == "lstm" else slice(0, UNITS)
    np.testing.assert_array_equal(ops.convert_to_numpy(cell.output(parts)), flat[:, h_cols])

    xs, state, _ = random_inputs(kind, 5, 1, False)
    (h,), new_state = cell_run(cell, xs, state, [None])
    np.testing.assert_array_equal(ops.convert_to_numpy(cell.output(new_state)), ops.convert_to_numpy(h))
    np.testing.assert_array_equal(ops.convert_to_numpy(new_state[OUTPUT_PART[kind]]), ops.convert_to_numpy(h))

    zero = cell.zero_state(BATCH)
    assert [tuple(z.shape) for z in zero] == [(BATCH, w) for w in STATE_PARTS[kind]]
    assert all(not np.any(ops.convert_to_numpy(z)) for z in zero)


@pytest.mark.parametrize("kind", KINDS)
def test_project_is_linear_in_input_columns(kind):
    cell, p = random_cell(kind)
    rng = np.random.default_rng(6)
    x = rng.normal(size=(BATCH, INPUT)).astype(np.float32)
    split = 2
    whole = cell.project(ops.convert_to_tensor(x))
    left = cell.project(ops.convert_to_tensor(x[:, :split]))
    right = cell.project(ops.convert_to_tensor(x[:, split:]), first=split)
    expected = [x @ p["W_xh"]]
    if kind == "hyper":
        expected.append(x @ p["hyper_cell.W_xh"][:INPUT])
    assert len(whole) == len(left) == len(right) == len(expected)
    for w, a, b, ref in zip(whole, left, right, expected, strict=True):
        assert_close(w, ref, what="project(x)")
        assert_close(ops.convert_to_numpy(a) + ops.convert_to_numpy(b), ref, what="split projection")
    # A sequence [T, B, k] projects step by step like a batch.
    seq = rng.normal(size=(2, BATCH, INPUT)).astype(np.float32)
    for proj, ref_w in zip(cell.project(ops.convert_to_tensor(seq)), expected, strict=True):
        assert tuple(proj.shape) == (2, BATCH, ref_w.shape[-1])
    assert_close(cell.project(ops.convert_to_tensor(seq))[0], seq @ p["W_xh"], what="project(seq)")


@pytest.mark.parametrize("kind", KINDS)
def test_default_initialisation(kind):
    keras.utils.set_random_seed(7)
    n, hu, e = 8, 16, 4
    cell = make_cell(kind, n, hyper_units=hu, hyper_embedding=e)
    cell.build(INPUT)
    value = {attribute_name(v): v.numpy() for v in cell.weights}

    for name, w in value.items():
        if name.endswith("W_hh"):
            rows, cols = w.shape
            assert cols == 4 * rows, name
            blocks = np.split(w, 4, axis=1)
            for q in blocks:
                np.testing.assert_allclose(q.T @ q, np.eye(rows), atol=1e-5, err_msg=name)
            # Four independent draws, not one block repeated.
            assert not np.allclose(blocks[0], blocks[1]), name
        elif name.endswith("W_xh"):
            limit = np.sqrt(6.0 / sum(w.shape))
            assert np.all(np.abs(w) <= limit) and w.std() > limit / 4, name
        elif name.endswith(("bias", "beta")) or name in ("zw_w", "beta_w"):
            np.testing.assert_array_equal(w, 0.0, err_msg=name)
        elif name.endswith("gamma") or name == "zw_b":
            np.testing.assert_array_equal(w, 1.0, err_msg=name)
        elif name == "alpha_w":
            np.testing.assert_allclose(w, 0.1 / e, rtol=1e-6)
        elif name == "zb_w":
            assert 0.007 < w.std() < 0.013 and abs(w.mean()) < 0.003
        else:
            raise AssertionError(f"unexpected weight {name}")
