"""Geometry of representations: Wang & Isola's alignment and uniformity, the diameters and margins of
question 4(b), and the unit-norm loss bounds of question 5(a).

Shapes: features ``[n, d]`` (one row per point); positive pairs ``z1, z2: [n, d]`` (row i of z1 and
row i of z2 are two views of one image). Tensor functions work on any device and dtype and return a
0-dim tensor of the input's dtype that carries gradient; the bounds take and return plain floats.
"""
import math

import torch

_EXACT = "donot_use_mm_for_euclid_dist"
"""cdist mode that computes each distance from its coordinates (the matmul shortcut loses ~1e-3 in float32)."""


def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2) -> torch.Tensor:
    r"""Alignment of positive pairs (Wang & Isola 2020): lower is better.

    .. math:: \mathcal{L}_\text{align} = \frac{1}{n} \sum_i \lVert z1_i - z2_i \rVert_2^\alpha

    ``z1, z2: [n, d]`` -> ``[]``.
    """
    return (z1 - z2).norm(p=2, dim=1).pow(alpha).mean()


def uniformity(z: torch.Tensor, t: float = 2) -> torch.Tensor:
    r"""Uniformity (Wang & Isola 2020): the log of the mean Gaussian potential over distinct pairs; lower is better.

    .. math:: \mathcal{L}_\text{uniform} = \log \frac{2}{n(n-1)} \sum_{i<j} e^{-t \lVert z_i - z_j \rVert_2^2}

    ``z: [n, d]`` with n >= 2 -> ``[]``. Evaluated as a logsumexp, so it stays finite for large t.
    """
    sq = torch.pdist(z, p=2).pow(2)
    return torch.logsumexp(-t * sq, dim=0) - math.log(sq.numel())


def diameter(features: torch.Tensor) -> torch.Tensor:
    r"""Question 4(b): the largest distance between two features of one set.

    .. math:: \operatorname{diameter}(S) = \max_{x, x' \in S} \lVert f(x) - f(x') \rVert_2

    ``features: [n, d]`` (the rows f(x), x in S) -> ``[]``; 0 for a single point.
    """
    return torch.cdist(features, features, compute_mode=_EXACT).max()


def margin(features_i: torch.Tensor, features_j: torch.Tensor) -> torch.Tensor:
    r"""Question 4(b): the smallest distance from a feature of set i to a feature of set j.

    .. math:: \operatorname{margin}_{i \to j} = \min_{x \in S_i,\, y \in S_j} \lVert f(x) - f(y) \rVert_2

    ``features_i: [n_i, d]``, ``features_j: [n_j, d]`` -> ``[]``; 0 when the sets share a point.
    """
    return torch.cdist(features_i, features_j, compute_mode=_EXACT).min()


def unit_norm_lower_bound(n: int, tau: float) -> float:
    r"""Question 5(a): with unit-norm features, the least value of every term of the InfoNCE loss.

    Each logit lies in [-1/tau, 1/tau], so each term
    :math:`\log(1 + \sum_{j \ne i} e^{(z1_i^\top z2_j - z1_i^\top z2_i)/\tau})` is at least

    .. math:: \log\bigl(1 + (n - 1)\, e^{-2/\tau}\bigr) > 0 \quad (n \ge 2)

    ``n``: batch size (N), ``tau > 0``. In float64, e^{-2/tau} underflows to 0 below tau ~ 0.0028.
    """
    return math.log1p((n - 1) * math.exp(-2 / tau))


def simplex_minimum(n: int, tau: float) -> float:
    r"""Question 5(a): the InfoNCE loss of the regular simplex (z1 = z2, pairwise dot -1/(n-1)), its minimum for d >= n-1.

    .. math:: \log\Bigl(1 + (n - 1)\, e^{-\frac{n}{(n - 1)\tau}}\Bigr)

    Equal to :func:`unit_norm_lower_bound` at n = 2; 0 for n = 1 (a one-way classification).
    """
    if n == 1:
        return 0.0
    return math.log1p((n - 1) * math.exp(-n / ((n - 1) * tau)))
