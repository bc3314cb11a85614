"""Numerical parity with the original magenta sketch_rnn (TF1), on the stored reference cases.

Every case folder under ``$SKETCH_RNN_PARITY_DIR`` (default ``<repo>/../shared/parity``; a case
folder is any folder holding ``expected.npz``) holds a magenta checkpoint, its ``model_config.json``
and what the original code computed from it (``expected.npz`` / ``expected.json``; their meaning,
conventions and tolerances are in that directory's ``README.md``). Nothing here is special-cased
by case name: conditional or not, M, cell types and shapes come from each case's own files.

Checked per case, on the main batch and the ``long_`` batch (250-step sketches), for both ways the
teacher-forced sequences run (the reference ``keras.ops`` loops and the fused plug-in of
``sketch_rnn.fast``):

* encoder ``mean``, ``presig``, ``sigma``, ``z`` and the decoder ``initial_state`` (abs 1e-6);
* every per-position mixture output and ``final_state``:
  ``|d| <= max(1e-5, 10 * noise floor of that array and 50-step window) + 1e-4 * |ref|``;
* the costs, for both loss forms ("reference" and "stable"), within 1e-5;
* gradients (main batch): ``grad/*`` = d cost_unmasked (kl_weight 0.5, eps = 0) and
  ``grad_masked/*`` = d (r_cost_masked + 0.5 kl_cost), per checkpoint variable;
* greedy samples (pen choices exact, offsets and mixture parameters within 1e-4);
* that ``tf1_names`` consumes every trainable checkpoint name exactly once, with its shape.

Each case is loaded, and each computation run, at most once per module (a lazy cache), with the
forward passes and gradients compiled by the active backend (:func:`sketch_rnn.backend.function`),
so the same suite runs on TensorFlow and on JAX (where the fused plug-in, TensorFlow's, is skipped).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from sketch_rnn import backend, losses
from sketch_rnn.hparams import HParams
from sketch_rnn.interop.tf1 import load_tf1_checkpoint, tf1_names
from sketch_rnn.runtime import RuntimeOptions
from sketch_rnn.sampling import sample_strokes5
from sketch_rnn.train import compute_losses

REPO_DIR = Path(__file__).resolve().parent.parent


def _parity_root() -> Path:
    if os.environ.get("SKETCH_RNN_PARITY_DIR"):
        return Path(os.environ["SKETCH_RNN_PARITY_DIR"])
    shared = Path(os.environ.get("SKETCH_RNN_SHARED_DIR", REPO_DIR.parent / "shared"))
    return shared / "parity"


PARITY_DIR = _parity_root()
if not PARITY_DIR.is_dir():
    pytest.skip(f"parity fixtures not found at {PARITY_DIR}", allow_module_level=True)
CASES = sorted({p.parent for p in PARITY_DIR.rglob("expected.npz")})
if not CASES:
    pytest.skip(f"no case folder (with expected.npz) under {PARITY_DIR}", allow_module_level=True)
CASE_IDS = [c.relative_to(PARITY_DIR).as_posix() if c != PARITY_DIR else c.name for c in CASES]

BATCHES = ["main", "long"]
FORMS = ["reference", "stable"]
MIXTURE_KEYS = ["pi", "mu1", "mu2", "sigma1", "sigma2", "corr", "pen", "pen_logits"]
PER_POSITION = [*MIXTURE_KEYS, "final_state"]
SAMPLE_PARAMS = ["pi", "mu1", "mu2", "sigma1", "sigma2", "corr", "pen"]
COSTS = ["r_cost", "r_cost_unmasked", "kl_cost", "kl_unclamped", "cost", "cost_unmasked",
         "cost_unmasked_klw_start"]

LATENT_TOL = 1e-6
COST_TOL = 1e-5
SAMPLE_TOL = 1e-4
ABS_FLOOR = 1e-5  # per-position absolute minimum
NOISE_MULT = 10.0
REL_TOL = 1e-4
GRAD_ABS = 1e-7
GRAD_KL_WEIGHT = 0.5

case_param = pytest.mark.parametrize("case_dir", CASES, ids=CASE_IDS)
batch_param = pytest.mark.parametrize("batch", BATCHES)
RECURRENCES = {name: RuntimeOptions(recurrence=name) for name in ("fused", "reference")}
ON_TENSORFLOW = keras.backend.backend() == "tensorflow"
recurrence_param = pytest.mark.parametrize("recurrence", [
    pytest.param("fused", marks=pytest.mark.skipif(not ON_TENSORFLOW, reason="a TensorFlow plug-in")),
    "reference"])


# -- the lazily computed, per-module cache -----------------------------------------------------------


class Case:
    """One reference case: its files, the loaded model and (lazily, once) everything computed."""

    def __init__(self, folder: Path):
        self.folder = folder
        with np.load(folder / "expected.npz") as npz:
            self.expected = {k: npz[k] for k in npz.files}
        with open(folder / "expected.json") as f:
            self.info = json.load(f)
        self.model = load_tf1_checkpoint(folder)
        self.hps = HParams.load(folder)
        self._forward: dict[tuple[str, str, str], dict] = {}
        self._forward_fns: dict[tuple[str, str], object] = {}
        self._grads: dict[str, dict[str, dict[str, np.ndarray]]] = {}
        self._sample = None

    def ref(self, batch: str, key: str) -> np.ndarray:
        return self.expected[prefix(batch) + key]

    def has(self, batch: str, key: str) -> bool:
        return prefix(batch) + key in self.expected

    def eps(self, batch_size: int) -> np.ndarray:
        return np.zeros([batch_size, self.hps.z_size], np.float32)

    def forward(self, batch: str, form: str, recurrence: str = "fused") -> dict[str, np.ndarray]:
        """Model outputs, mixture parameters and every cost for one batch, loss form and recurrence."""
        key = (batch, form, recurrence)
        if key not in self._forward:
            x = self.ref(batch, "x").astype(np.float32)
            seq_len = self.ref(batch, "seq_len").astype(np.int32)
            out = self._forward_fn(form, recurrence)(x, seq_len, self.eps(x.shape[0]))
            self._forward[key] = {k: ops.convert_to_numpy(v) for k, v in out.items()}
        return self._forward[key]

    def _forward_fn(self, form: str, recurrence: str):
        model, hps = self.model, self.hps
        runtime = RECURRENCES[recurrence]
        m = hps.num_mixture
        if (form, recurrence) in self._forward_fns:
            return self._forward_fns[(form, recurrence)]

        def fn(x, seq_len, eps):
            out = model(x, seq_len, training=False, eps=eps, runtime=runtime)
            res = {k: out[k] for k in ("raw", "initial_state", "final_state")}
            res.update(losses.mixture_params(out["raw"], m))
            target = x[:, 1:]
            # The losses module directly ...
            res["lib/r_cost"] = losses.reconstruction_loss(out["raw"], target, m, mask_pen=True, form=form)
            res["lib/r_cost_unmasked"] = losses.reconstruction_loss(
                out["raw"], target, m, mask_pen=False, form=form)
            # ... and the trainer's loss function.
            kw = dict(training=False, eps=eps, kl_tolerance=hps.kl_tolerance, form=form, runtime=runtime)
            parts = compute_losses(model, x, seq_len, np.float32(GRAD_KL_WEIGHT), **kw)
            start = compute_losses(model, x, seq_len, np.float32(hps.kl_weight_start), **kw)
            res["r_cost"] = parts["r_cost_masked"]
            res["r_cost_unmasked"] = parts["r_cost"]
            res["kl_cost"] = parts["kl_cost"]
            res["cost"] = parts["r_cost_masked"] + GRAD_KL_WEIGHT * parts["kl_cost"]
            res["cost_unmasked"] = parts["cost"]
            res["cost_unmasked_klw_start"] = start["cost"]
            if hps.conditional:
                res.update(mu=out["mu"], presig=out["presig"], z=out["z"],
                           sigma=ops.exp(out["presig"] / 2.0))
                kl = losses.kl_loss(out["mu"], out["presig"])
                res["kl_unclamped"] = kl
                res["lib/cost"] = losses.total_loss(res["lib/r_cost"], kl, GRAD_KL_WEIGHT, hps.kl_tolerance)
                res["lib/cost_unmasked"] = losses.total_loss(
                    res["lib/r_cost_unmasked"], kl, GRAD_KL_WEIGHT, hps.kl_tolerance)
            return res

        self._forward_fns[(form, recurrence)] = backend.function(fn, model.weights, jit=not ON_TENSORFLOW)
        return self._forward_fns[(form, recurrence)]

    def gradients(self, recurrence: str = "fused") -> dict[str, dict[str, np.ndarray]]:
        """``{"grad": {ckpt name: array}, "grad_masked": {...}}`` on the main batch, the case's own
        loss form (what training uses)."""
        if recurrence not in self._grads:
            model, hps, runtime = self.model, self.hps, RECURRENCES[recurrence]
            variables = [v for v, _ in tf1_names(model)]
            x = self.ref("main", "x").astype(np.float32)
            seq_len = self.ref("main", "seq_len").astype(np.int32)

            def cost(masked):
                def fn(x, seq_len, eps):
                    # eps = 0 (not z = mu) so that the gradient flows through z = mu + sigma * eps.
                    parts = compute_losses(model, x, seq_len, np.float32(GRAD_KL_WEIGHT), training=False,
                                           eps=eps, kl_tolerance=hps.kl_tolerance, form=hps.gmm_loss,
                                           runtime=runtime)
                    if masked:
                        return parts["r_cost_masked"] + GRAD_KL_WEIGHT * parts["kl_cost"]
                    return parts["cost"]
                return fn

            unmasked_g, masked_g = (backend.gradients(cost(masked), variables)(x, seq_len, self.eps(len(x)))
                                    for masked in (False, True))
            grads = self._grads[recurrence] = {"grad": {}, "grad_masked": {}}
            for (_, names), gu, gm in zip(tf1_names(model), unmasked_g, masked_g, strict=True):
                for kind, g in (("grad", ops.convert_to_numpy(gu)),
                                ("grad_masked", ops.convert_to_numpy(gm))):
                    if isinstance(names, str):
                        grads[kind][names] = g
                    else:
                        for i, name in enumerate(names):
                            grads[kind][name] = g[i]
        return self._grads[recurrence]

    def greedy_sample(self):
        if self._sample is None:
            k, n = self.expected["sample_strokes"].shape[:2]
            z = self.expected["sample_z"] if self.hps.conditional else None
            self._sample = sample_strokes5(self.model, k, z=z, greedy=True, early_stop=False, max_len=n)
        return self._sample


def prefix(batch: str) -> str:
    return "" if batch == "main" else f"{batch}_"


@pytest.fixture(scope="module")
def parity_cases():
    """Cache of loaded :class:`Case` objects, shared by the tests of this module."""
    cache: dict[Path, Case] = {}
    yield cache
    cache.clear()


@pytest.fixture
def case(case_dir: Path, parity_cases: dict) -> Case:
    if case_dir not in parity_cases:
        parity_cases[case_dir] = Case(case_dir)
    return parity_cases[case_dir]


# -- tolerance helpers --------------------------------------------------------------------------------


def noise_floor(case: Case, key: str, n_steps: int | None = None) -> np.ndarray | float:
    """The float32 noise floor of array ``key``; with ``n_steps``, one value per position from the
    ``key[tA:B]`` windows, falling back to the whole-array value, then to 0."""
    table = case.info.get("float32_noise_floor", {})
    whole = float(table.get(key, 0.0) or 0.0)
    if n_steps is None:
        return whole
    per_t = np.full(n_steps, np.nan)
    pattern = re.compile(rf"^{re.escape(key)}\[t(\d+):(\d+)\]$")
    for name, value in table.items():
        found = pattern.match(name)
        if found:
            lo, hi = int(found.group(1)), int(found.group(2))
            window = per_t[lo:hi]
            per_t[lo:hi] = np.fmax(window, float(value))
    return np.where(np.isnan(per_t), whole, per_t)


def worst(diff: np.ndarray, tol: np.ndarray | float) -> tuple[float, tuple]:
    ratio = diff / tol
    idx = np.unravel_index(int(np.argmax(ratio)), ratio.shape) if ratio.ndim else ()
    return float(ratio[idx]), tuple(int(i) for i in idx)


# -- checkpoint names ---------------------------------------------------------------------------------


@case_param
def test_checkpoint_variable_names(case: Case):
    """``tf1_names`` maps every trainable checkpoint tensor exactly once, with its shape, and covers
    every trainable variable of the model."""
    trainable = {n: tuple(s) for n, s in case.info["trainable_variables"].items()}
    mapping = tf1_names(case.model)
    seen: dict[str, int] = {}
    wrong_shape = []
    for var, names in mapping:
        group = [names] if isinstance(names, str) else names
        if isinstance(names, str):
            shapes = [tuple(var.shape)]
        else:
            assert var.shape[0] == len(names), f"{var.path}: {var.shape} stacks {len(names)} names"
            shapes = [tuple(var.shape[1:])] * len(names)
        for name, shape in zip(group, shapes, strict=True):
            seen[name] = seen.get(name, 0) + 1
            if name in trainable and trainable[name] != shape:
                wrong_shape.append(f"{name}: ours {shape} vs checkpoint {trainable[name]}")
    assert not wrong_shape, wrong_shape
    assert not [n for n, c in seen.items() if c > 1], "names mapped more than once"
    assert sorted(set(trainable) - set(seen)) == [], "trainable checkpoint tensors not mapped"
    assert sorted(set(seen) - set(trainable)) == [], "mapped names that are not trainable tensors"
    mapped_vars = {id(v) for v, _ in mapping}
    unmapped = [v.path for v in case.model.trainable_variables if id(v) not in mapped_vars]
    assert not unmapped, f"model variables without a checkpoint name: {unmapped}"
    assert len(mapping) == len(case.model.trainable_variables)
    assert bool(case.hps.conditional) == bool(case.info["conditional"])


# -- forward values -----------------------------------------------------------------------------------


@recurrence_param
@batch_param
@case_param
def test_latent_and_initial_state(case: Case, batch: str, recurrence: str, record_property):
    """Encoder mean / presig / sigma, z (= mean at eps 0) and the decoder's initial state."""
    out = case.forward(batch, case.hps.gmm_loss, recurrence)
    keys = ["initial_state"]
    if case.hps.conditional:
        keys += ["mean", "presig", "sigma", "batch_z"]
    else:
        assert not case.has(batch, "mean"), "expected.json is conditional but the model is not"
        assert not np.any(out["initial_state"]), "unconditional initial state must be zero"
    ours = dict(out, mean=out.get("mu"), batch_z=out.get("z"))
    failures, ratio_max = [], 0.0
    for key in keys:
        ref = case.ref(batch, key)
        assert ours[key].shape == ref.shape, f"{key}: {ours[key].shape} vs {ref.shape}"
        diff = np.abs(ours[key].astype(np.float64) - ref)
        ratio, idx = worst(diff, LATENT_TOL)
        ratio_max = max(ratio_max, ratio)
        if ratio > 1:
            failures.append(f"{prefix(batch)}{key}: max|d| {diff.max():.3g} at {idx} > {LATENT_TOL}")
    record_property("max_ratio", ratio_max)
    assert not failures, failures


@pytest.mark.parametrize("key", PER_POSITION)
@recurrence_param
@batch_param
@case_param
def test_per_position_outputs(case: Case, batch: str, recurrence: str, key: str, record_property):
    """Mixture outputs per position and the final decoder state, against the noise-floor rule."""
    ours = case.forward(batch, case.hps.gmm_loss, recurrence)[key]
    ref = case.ref(batch, key)
    assert ours.shape == ref.shape, f"{key}: ours {ours.shape} vs reference {ref.shape}"
    name = prefix(batch) + key
    diff = np.abs(ours.astype(np.float64) - ref)
    if ref.ndim == 3:  # [B, N, *]: a tolerance per position from the windowed noise floor
        floor = noise_floor(case, name, ref.shape[1])[None, :, None]
    else:
        floor = noise_floor(case, name)
    tol = np.maximum(ABS_FLOOR, NOISE_MULT * floor) + REL_TOL * np.abs(ref)
    ratio, idx = worst(diff, tol)
    record_property("max_ratio", ratio)
    early = ""
    if ref.ndim == 3:
        early = f"; max|d| at t<50: {diff[:, :50].max():.3g} (structural errors are >> 1e-5 there)"
    tol_at = np.broadcast_to(tol, diff.shape)[idx]
    assert ratio <= 1.0, (
        f"{name}: |d| = {diff[idx]:.3g} at {idx} exceeds tolerance {tol_at:.3g}"
        f" (ref {ref[idx]:.6g}, ours {ours[idx]:.6g}){early}"
    )


@pytest.mark.parametrize("form", FORMS)
@recurrence_param
@batch_param
@case_param
def test_costs(case: Case, batch: str, recurrence: str, form: str, record_property):
    """Every stored cost within 1e-5, from ``train.compute_losses`` and from ``losses`` directly."""
    out = case.forward(batch, form, recurrence)
    checks = []
    for key in COSTS:
        if case.has(batch, key):
            checks.append((key, key))
            if f"lib/{key}" in out:
                checks.append((f"lib/{key}", key))
        elif key == "kl_unclamped":
            assert not case.hps.conditional, f"{prefix(batch)}kl_unclamped missing for a conditional case"
    assert len(checks) >= 6, f"too few costs found: {checks}"
    failures, ratio_max = [], 0.0
    for ours_key, ref_key in checks:
        ref = float(case.ref(batch, ref_key))
        d = abs(float(out[ours_key]) - ref)
        ratio_max = max(ratio_max, d / COST_TOL)
        if d > COST_TOL:
            failures.append(f"{ours_key}: ours {float(out[ours_key]):.8g} vs {ref:.8g} (|d| {d:.3g})")
    record_property("max_ratio", ratio_max)
    assert not failures, failures


# -- gradients ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["grad", "grad_masked"])
@recurrence_param
@case_param
def test_gradients(case: Case, recurrence: str, kind: str, record_property):
    """Per checkpoint variable: ``grad_masked`` within ``1e-4 max|ref| + 1e-7``; ``grad``
    (unmasked, noisier) within ``max(1e-4 max|ref|, 10 noise floor) + 1e-7``."""
    ours = case.gradients(recurrence)[kind]
    trainable = set(case.info["trainable_variables"])
    stored = {k[len(kind) + 1:] for k in case.expected if k.startswith(f"{kind}/")}
    assert stored == trainable, (f"{kind}: stored gradients vs trainable variables differ: "
                                 f"{sorted(stored ^ trainable)}")
    assert set(ours) == trainable, f"{kind}: no gradient compared for {sorted(trainable - set(ours))}"
    failures, ratio_max = [], 0.0
    for name in sorted(trainable):
        ref = case.expected[f"{kind}/{name}"]
        g = ours[name]
        assert g.shape == ref.shape, f"{kind}/{name}: {g.shape} vs {ref.shape}"
        scale = REL_TOL * float(np.abs(ref).max())
        if kind == "grad":
            scale = max(scale, NOISE_MULT * noise_floor(case, f"{kind}/{name}"))
        tol = scale + GRAD_ABS
        d = float(np.abs(g.astype(np.float64) - ref).max())
        ratio_max = max(ratio_max, d / tol)
        if d > tol:
            failures.append(f"{kind}/{name}: max|d| {d:.3g} > tol {tol:.3g} (max|ref| "
                            f"{np.abs(ref).max():.3g})")
    record_property("max_ratio", ratio_max)
    assert not failures, failures


# -- greedy sampling ----------------------------------------------------------------------------------


@case_param
def test_greedy_samples(case: Case, record_property):
    """Greedy decoding run to N_max steps: the same pen choices, offsets and per-step parameters."""
    result = case.greedy_sample()
    ref = case.expected["sample_strokes"]
    ours = result.strokes5
    assert ours.shape == ref.shape, f"sample_strokes: ours {ours.shape} vs reference {ref.shape}"
    pen_diff = np.argwhere(ours[..., 2:] != ref[..., 2:])
    assert len(pen_diff) == 0, f"pen one-hot differs first at (k, t, col) {tuple(pen_diff[0])}"
    failures = []
    ratio_max = float(np.abs(ours[..., :2] - ref[..., :2]).max()) / SAMPLE_TOL
    if ratio_max > 1:
        failures.append(f"offsets: max|d| {ratio_max * SAMPLE_TOL:.3g}")
    params = result.params(case.hps.num_mixture)
    for key in SAMPLE_PARAMS:
        r = case.expected[f"sample_{key}"]
        assert params[key].shape == r.shape, f"sample_{key}: {params[key].shape} vs {r.shape}"
        d = float(np.abs(params[key] - r).max())
        ratio_max = max(ratio_max, d / SAMPLE_TOL)
        if d > SAMPLE_TOL:
            failures.append(f"sample_{key}: max|d| {d:.3g}")
    record_property("max_ratio", ratio_max)
    assert not failures, failures
