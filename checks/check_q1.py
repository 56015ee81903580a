"""Question 1: contrastive learning as N-way classification; distances and dot products of unit vectors."""
from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from checks.claim import claim
from reference.losses import info_nce

PROPERTY = settings(
    derandomize=True, database=None, deadline=None, max_examples=80,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
"""Reproducible and quick: a fixed seed, no example database, no deadline."""


d = sp.Symbol("d", integer=True, positive=True)
_i = sp.Idx("i", (1, d))
_u, _v = sp.IndexedBase("u"), sp.IndexedBase("v")


def _dot(a, b) -> sp.Expr:
    """a^T b in general dimension d, as a symbolic sum over i = 1..d."""
    return sp.Sum(a[_i] * b[_i], (_i, 1, d))


@claim(
    "q1.squared_distance_general_d", "1",
    "For u, v in R^d (any d), ||u - v||^2 = ||u||^2 + ||v||^2 - 2 u^T v.",
    "sympy proof",
    "the cross term with the wrong sign: ||u||^2 + ||v||^2 + 2 u^T v",
)
def squared_distance_general_d(broken: bool) -> str:
    """For u, v in R^d (any d), ||u - v||^2 = ||u||^2 + ||v||^2 - 2 u^T v."""
    lhs = sp.Sum(sp.expand((_u[_i] - _v[_i]) ** 2), (_i, 1, d))
    cross = 2 if broken else -2
    rhs = _dot(_u, _u) + _dot(_v, _v) + cross * _dot(_u, _v)
    residual = sp.simplify(lhs - rhs)
    assert residual == 0, f"||u-v||^2 - (||u||^2 + ||v||^2 {cross:+d} u^T v) simplifies to {residual}, not 0"
    for dim in range(1, 7):  # and, spelled out, in every small dimension
        concrete = sp.expand((lhs - rhs).subs(d, dim).doit())
        assert concrete == 0, f"d = {dim}: residual {concrete}"
    return "residual of sum_i (u_i - v_i)^2 - (sum u_i^2 + sum v_i^2 - 2 sum u_i v_i) simplifies to 0 for symbolic d; also d = 1..6 expanded"


@claim(
    "q1.squared_distance_cosine", "1",
    "For unit vectors u, v at angle theta, ||u - v||^2 = 2(1 - cos theta) (= 2 - 2 cos theta = 4 sin^2(theta/2)).",
    "sympy proof",
    "u not unit-norm (||u|| = r): ||u - v||^2 = r^2 + 1 - 2 r cos theta",
)
def squared_distance_cosine(broken: bool) -> str:
    """For unit vectors u, v at angle theta, ||u - v||^2 = 2(1 - cos theta) (= 2 - 2 cos theta = 4 sin^2(theta/2))."""
    theta = sp.Symbol("theta", real=True)
    r = sp.Symbol("r", positive=True)
    norm_u = r if broken else sp.Integer(1)
    claimed = 2 * (1 - sp.cos(theta))
    # General d: ||u||^2 = norm_u^2, ||v||^2 = 1, u^T v = ||u|| ||v|| cos theta in the identity of the previous claim.
    general = norm_u**2 + 1 - 2 * norm_u * sp.cos(theta)
    residual = sp.simplify(general - claimed)
    assert residual == 0, f"general d: ||u - v||^2 - 2(1 - cos theta) = {residual}, not 0"
    # Concretely in 3-D: unit vectors from spherical angles, scaled by ||u||; theta is their angle.
    p1, q1, p2, q2 = sp.symbols("phi1 psi1 phi2 psi2", real=True)
    u = norm_u * sp.Matrix([sp.sin(p1) * sp.cos(q1), sp.sin(p1) * sp.sin(q1), sp.cos(p1)])
    v = sp.Matrix([sp.sin(p2) * sp.cos(q2), sp.sin(p2) * sp.sin(q2), sp.cos(p2)])
    cos_theta = u.dot(v) / (norm_u * 1)
    residual3 = sp.simplify((u - v).dot(u - v) - 2 * (1 - cos_theta))
    assert residual3 == 0, f"3-D: residual {residual3}"
    # The spellings the key accepts are the same function of theta.
    for form in (2 - 2 * sp.cos(theta), 4 * sp.sin(theta / 2) ** 2):
        assert sp.simplify(form - claimed) == 0, f"{form} differs from {claimed}"
    return "general d and 3-D spherical coordinates: ||u - v||^2 - 2(1 - cos theta) simplifies to 0; = 2 - 2cos(theta) = 4 sin^2(theta/2)"


@claim(
    "q1.logit_range", "1",
    "When f outputs unit vectors, every logit f(x)^T f(y) lies in [-1, 1] (Cauchy-Schwarz).",
    "hypothesis property",
    "unnormalised features",
)
def logit_range(broken: bool) -> str:
    """When f outputs unit vectors, every logit f(x)^T f(y) lies in [-1, 1] (Cauchy-Schwarz)."""
    seen: list[float] = []

    @PROPERTY
    @given(st.integers(1, 8).flatmap(lambda dim: st.tuples(
        arrays(np.float64, dim, elements=st.floats(-1e3, 1e3)),
        arrays(np.float64, dim, elements=st.floats(-1e3, 1e3)))))
    def prop(pair):
        fx, fy = (torch.from_numpy(a) for a in pair)
        if not broken:
            fx, fy = F.normalize(fx, dim=0), F.normalize(fy, dim=0)
        logit = float(fx @ fy)
        seen.append(logit)
        assert -1 - 1e-12 <= logit <= 1 + 1e-12, f"logit {logit} outside [-1, 1]"

    prop()
    return f"{len(seen)} pairs (d <= 8, coordinates in [-1e3, 1e3]): logits in [{min(seen):.4f}, {max(seen):.4f}]"


@claim(
    "q1.infonce_is_cross_entropy", "1",
    "The InfoNCE loss of Q1 is exactly the mean N-way cross-entropy (C = N classes) of classifying x_i "
    "with logits z_j = f(x_i)^T f(y_j) / tau and target class i.",
    "hypothesis property",
    "the target class shifted to i + 1",
)
def infonce_is_cross_entropy(broken: bool) -> str:
    """The InfoNCE loss of Q1 is exactly the mean N-way cross-entropy (C = N classes) of classifying x_i
    with logits z_j = f(x_i)^T f(y_j) / tau and target class i."""
    worst: list[float] = []

    @PROPERTY
    @given(
        st.tuples(st.integers(1, 8), st.integers(1, 6)).flatmap(lambda nd: st.tuples(
            arrays(np.float64, nd, elements=st.floats(-10, 10)),
            arrays(np.float64, nd, elements=st.floats(-10, 10)))),
        st.floats(0.05, 10),
    )
    def prop(views, tau):
        fx, fy = (F.normalize(torch.from_numpy(a), dim=1) for a in views)
        n = len(fx)
        brute = 0.0
        for i in range(n):  # image i: classify x_i among the N classes (one view y_j of every image j)
            logits = [float(fx[i] @ fy[j]) / tau for j in range(n)]
            assert len(logits) == n  # C = N classes
            target = (i + 1) % n if broken else i
            brute += -math.log(math.exp(logits[target]) / sum(math.exp(z) for z in logits))
            row_ce = F.cross_entropy(torch.tensor([logits], dtype=torch.float64), torch.tensor([target]))
            assert math.isclose(row_ce.item(), -math.log(math.exp(logits[target]) / sum(math.exp(z) for z in logits)),
                                rel_tol=1e-9, abs_tol=1e-12)
        brute /= n
        ref = info_nce(fx, fy, tau).item()
        worst.append(abs(ref - brute))
        assert math.isclose(ref, brute, rel_tol=1e-9, abs_tol=1e-12), f"InfoNCE {ref!r} != N-way cross-entropy {brute!r}"

    prop()
    return f"{len(worst)} batches (N <= 8, d <= 6, tau in [0.05, 10]): max |InfoNCE - brute-force cross-entropy| = {max(worst):.1e}"
