"""SketchRNN losses: the mixture-density reconstruction loss L_R and the KL term, as the reference.

Let ``m_t = 1 - p3_t`` mark real target rows. The offset loss is
``L_s = -log(sum_j pi_j N_j(dx, dy) + 1e-6) * m_t`` and the pen loss the softmax cross-entropy of
the pen logits against ``(p1, p2, p3)``; the pen loss is masked by ``m_t`` only in evaluation
(``mask_pen=True``), while training keeps it on padding rows so the model learns to emit
end-of-sketch. ``L_R`` is the mean over all ``B x N`` positions (the paper's ``1/N_max``).

``form="reference"`` evaluates the bivariate normal in probability space op for op as magenta does.
``form="stable"`` evaluates exactly the same quantity, ``-log(sum_j pi_j N_j + 1e-6)``, in log space
(log-sum-exp with the ``1e-6`` as an extra term, ``log(1 - rho^2)`` from the raw correlation): it
agrees with the reference to float32 precision on normal data, and stays finite where the reference
overflows (tiny sigma, |rho| -> 1).

Example:
    >>> import numpy as np
    >>> raw = np.zeros([1, 1, 3 + 6 * 2], np.float32)
    >>> target = np.array([[[0.0, 0.0, 1, 0, 0]]], np.float32)
    >>> round(float(reconstruction_loss(raw, target, num_mixture=2)), 4)  # -log(1/2pi+1e-6)+log 3
    2.9365
"""

from __future__ import annotations

import math

from keras import ops

EPSILON = 1e-6
LOG_2PI = math.log(2.0 * math.pi)


def split_raw(raw, num_mixture: int) -> dict:
    """Split the decoder's ``3 + 6M`` outputs into named raw pieces (reference layout)."""
    pen_logits = raw[..., :3]
    pi, mu1, mu2, log_s1, log_s2, corr = ops.split(raw[..., 3 : 3 + 6 * num_mixture], 6, axis=-1)
    return dict(pen_logits=pen_logits, pi_logits=pi, mu1=mu1, mu2=mu2, log_sigma1=log_s1,
                log_sigma2=log_s2, corr_raw=corr)


def mixture_params(raw, num_mixture: int) -> dict:
    """The mixture's parameters: ``pi`` (softmax), ``mu1``, ``mu2``, ``sigma1``, ``sigma2`` (exp),
    ``corr`` (tanh), ``pen`` (softmax) and ``pen_logits``, as the reference's
    ``get_mixture_coef``.

    Example:
        >>> import numpy as np
        >>> p = mixture_params(np.zeros([2, 3 + 6 * 4], np.float32), 4)
        >>> [round(float(v), 2) for v in p["pi"][0]]
        [0.25, 0.25, 0.25, 0.25]
    """
    r = split_raw(ops.convert_to_tensor(raw, "float32"), num_mixture)
    # (one component: its weight is 1; Keras warns about a softmax over one value)
    pi = ops.softmax(r["pi_logits"]) if num_mixture > 1 else ops.ones_like(r["pi_logits"])
    return dict(
        pi=pi, mu1=r["mu1"], mu2=r["mu2"],
        sigma1=ops.exp(r["log_sigma1"]), sigma2=ops.exp(r["log_sigma2"]), corr=ops.tanh(r["corr_raw"]),
        pen=ops.softmax(r["pen_logits"]), pen_logits=r["pen_logits"],
    )


def offset_nll(raw, dx, dy, num_mixture: int, form: str = "stable"):
    """``-log(sum_j pi_j N_j(dx, dy) + 1e-6)`` per position (not yet masked)."""
    r = split_raw(raw, num_mixture)
    dx, dy = dx[..., None], dy[..., None]
    if form == "reference":
        p = mixture_params(raw, num_mixture)
        s1, s2, rho = p["sigma1"], p["sigma2"], p["corr"]
        norm1, norm2 = dx - p["mu1"], dy - p["mu2"]
        s1s2 = s1 * s2
        z = (ops.square(norm1 / s1) + ops.square(norm2 / s2)
             - 2.0 * (rho * (norm1 * norm2)) / s1s2)
        neg_rho = 1.0 - ops.square(rho)
        dens = ops.exp(-z / (2.0 * neg_rho)) / (2.0 * math.pi * (s1s2 * ops.sqrt(neg_rho)))
        return -ops.log(ops.sum(dens * p["pi"], -1) + EPSILON)
    if form != "stable":
        raise ValueError(f"unknown loss form {form!r}: expected 'stable' or 'reference'")
    # log(1 - tanh(a)^2) = log(4) - 2|a| - 2 log(1 + exp(-2|a|)), exact and finite for every a.
    a = ops.abs(r["corr_raw"])
    log_one_minus_rho2 = math.log(4.0) - 2.0 * a - 2.0 * ops.softplus(-2.0 * a)
    rho = ops.tanh(r["corr_raw"])
    # Standardised offsets, bounded: past 1e6 sigmas the density is exactly 0 in float32 anyway,
    # and the bound keeps squares (and their gradients) finite when sigma underflows.
    bound = 1e6
    u1 = ops.clip((dx - r["mu1"]) * ops.exp(-r["log_sigma1"]), -bound, bound)
    u2 = ops.clip((dy - r["mu2"]) * ops.exp(-r["log_sigma2"]), -bound, bound)
    # Z / (1 - rho^2) written as a sum of non-negative terms, so no inf - inf can arise;
    # 1/(1 - rho^2) is capped where it would overflow (|corr_raw| > 20, where tanh is 1 in float32).
    inv = ops.exp(ops.minimum(-log_one_minus_rho2, 40.0))
    mahalanobis = ops.square(u1 - rho * u2) * inv + ops.square(u2)
    log_dens = (-0.5 * mahalanobis - LOG_2PI - r["log_sigma1"] - r["log_sigma2"]
                - 0.5 * log_one_minus_rho2)
    log_pi = ops.log_softmax(r["pi_logits"])
    terms = ops.concatenate([log_pi + log_dens, ops.full_like(log_pi[..., :1], math.log(EPSILON))], axis=-1)
    return -ops.logsumexp(terms, axis=-1)


def pen_loss(raw, pen_target):
    """Softmax cross-entropy of the pen logits against the one-hot pen state, per position."""
    return ops.categorical_crossentropy(pen_target, raw[..., :3], from_logits=True)


def reconstruction_terms(raw, target, num_mixture: int, form: str = "stable"):
    """Per-position ``(L_s * m, L_p, m)`` for decoder outputs ``raw`` and stroke-5 ``target``."""
    raw = ops.convert_to_tensor(raw, "float32")
    target = ops.convert_to_tensor(target, "float32")
    mask = 1.0 - target[..., 4]
    ls = offset_nll(raw, target[..., 0], target[..., 1], num_mixture, form) * mask
    lp = pen_loss(raw, target[..., 2:5])
    return ls, lp, mask


def reconstruction_loss(raw, target, num_mixture: int, mask_pen: bool = False, form: str = "stable"):
    """L_R: mean over all ``B x N`` positions of ``L_s + L_p`` (``L_p`` masked if ``mask_pen``).

    ``mask_pen=False`` is the reference's training loss, ``True`` its evaluation (inference-mode)
    loss.

    Example: all-zero outputs are one standard normal per offset and uniform pen states; a sketch
    of one row ``(0, 0)`` with pen down, then its end, costs ``(log 2 pi + 2 log 3) / 2``, and
    ``(log 2 pi + log 3) / 2`` with the pen loss masked past the end.

        >>> import numpy as np
        >>> raw = np.zeros([1, 2, 3 + 6 * 2], np.float32)
        >>> target = np.array([[[0.0, 0, 1, 0, 0], [0, 0, 0, 0, 1]]], np.float32)
        >>> round(float(reconstruction_loss(raw, target, num_mixture=2)), 4)
        2.0175
        >>> round(float(reconstruction_loss(raw, target, num_mixture=2, mask_pen=True)), 4)
        1.4682
    """
    ls, lp, mask = reconstruction_terms(raw, target, num_mixture, form)
    if mask_pen:
        lp = lp * mask
    return ops.mean(ls + lp)


def kl_per_sketch(mu, presig):
    """KL(q(z|x) || N(0, I)) of each drawing, averaged over the latent dimensions (the paper's
    ``1 / (2 N_z)`` factor): ``-1/2 mean(1 + presig - mu^2 - exp(presig))``.

    Example:
        >>> import numpy as np
        >>> [round(float(v), 4) for v in kl_per_sketch(np.ones([2, 3]), np.zeros([2, 3]))]
        [0.5, 0.5]
    """
    return -0.5 * ops.mean(1.0 + presig - ops.square(mu) - ops.exp(presig), axis=-1)


def kl_loss(mu, presig):
    """L_KL: :func:`kl_per_sketch` averaged over the batch (before the ``kl_tolerance`` floor).

    Example:
        >>> import numpy as np
        >>> round(float(kl_loss(np.ones([2, 3], np.float32), np.zeros([2, 3], np.float32))), 4)  # mu^2 / 2
        0.5
    """
    return ops.mean(kl_per_sketch(mu, presig))


def total_loss(r_cost, kl, kl_weight, kl_tolerance: float):
    """``L_R + w * max(L_KL, kl_tolerance)`` (the floor passes no gradient below it)."""
    return r_cost + kl_weight * ops.maximum(kl, kl_tolerance)
