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
    "When f outputs unit vectors, every logit f(x)^T f(y) lies in [-1, 1] (Cauchy-Schwarz), and both ends are "
    "attained (f(y) = f(x) gives 1, f(y) = -f(x) gives -1), so no smaller interval holds every logit.",
    "hypothesis property",
    "unnormalised features",
)
def logit_range(broken: bool) -> str:
    """When f outputs unit vectors, every logit f(x)^T f(y) lies in [-1, 1] (Cauchy-Schwarz), and both ends are
    attained (f(y) = f(x) gives 1, f(y) = -f(x) gives -1), so no smaller interval holds every logit."""
    seen: list[float] = []

    @PROPERTY
    @given(st.integers(1, 8).flatmap(lambda dim: st.tuples(
        arrays(np.float64, dim, elements=st.floats(-1e3, 1e3)),
        arrays(np.float64, dim, elements=st.floats(-1e3, 1e3)))))
    def prop(pair):
        fx, fy = (torch.from_numpy(a) for a in pair)
        if float(fx.norm()) < 1e-6 or float(fy.norm()) < 1e-6:  # (almost) no direction: normalize cannot make it unit
            return
        if not broken:
            fx, fy = F.normalize(fx, dim=0), F.normalize(fy, dim=0)
        logit = float(fx @ fy)
        seen.append(logit)
        assert -1 - 1e-12 <= logit <= 1 + 1e-12, f"logit {logit} outside [-1, 1]"
        # Tightness: the two ends are logits of the same encoder (y a copy of x, or its antipode).
        top, bottom = float(fx @ fx), float(fx @ -fx)
        seen.extend((top, bottom))
        assert abs(top - 1) < 1e-12 and abs(bottom + 1) < 1e-12, (
            f"ends not attained: f(x)^T f(x) = {top}, f(x)^T (-f(x)) = {bottom}; the range is not [-1, 1]")

    prop()
    return (f"{len(seen)} logits (d <= 8, coordinates in [-1e3, 1e3]) in [{min(seen):.4f}, {max(seen):.4f}]; "
            "both ends attained to 1e-12")


@claim(
    "q1.logit_range_identity", "1",
    "For unit vectors u, v in R^d (any d), 1 - u^T v = ||u - v||^2 / 2 >= 0 and 1 + u^T v = ||u + v||^2 / 2 >= 0, "
    "with equality exactly at u = v (resp. u = -v); hence -1 <= u^T v <= 1 with both ends attained, and "
    "||u - v_j||^2 = 2 - 2 u^T v_j, so argmax_j u^T v_j = argmin_j ||u - v_j|| (retrieval by dot product is "
    "retrieval by distance).",
    "sympy proof",
    "vectors not unit-norm (||u||^2 = r, ||v||^2 = s symbolic): the identities pick up (r + s)/2 - 1",
)
def logit_range_identity(broken: bool) -> str:
    """For unit vectors u, v in R^d (any d), 1 - u^T v = ||u - v||^2 / 2 >= 0 and 1 + u^T v = ||u + v||^2 / 2 >= 0,
    with equality exactly at u = v (resp. u = -v); hence -1 <= u^T v <= 1 with both ends attained, and
    ||u - v_j||^2 = 2 - 2 u^T v_j, so argmax_j u^T v_j = argmin_j ||u - v_j|| (retrieval by dot product is
    retrieval by distance)."""
    r, s = sp.symbols("r s", positive=True)
    norms = {_dot(_u, _u): r, _dot(_v, _v): s} if broken else {_dot(_u, _u): sp.Integer(1), _dot(_v, _v): sp.Integer(1)}
    found = []
    for sign in (-1, 1):
        half_square = sp.Sum(sp.expand((_u[_i] + sign * _v[_i]) ** 2), (_i, 1, d)) / 2
        # ||u +- v||^2 / 2 = (||u||^2 + ||v||^2) / 2 +- u^T v, symbolic d; then the premise fixes the two norms.
        expanded = (_dot(_u, _u) + _dot(_v, _v)) / 2 + sign * _dot(_u, _v)
        assert sp.simplify(half_square - expanded) == 0, f"sign {sign:+d}: expansion failed"
        residual = sp.simplify(expanded.subs(norms) - (1 + sign * _dot(_u, _v)))
        assert residual == 0, f"||u {'+' if sign > 0 else '-'} v||^2/2 - (1 {sign:+d} u^T v) = {residual}, not 0"
        found.append(f"1 {'+' if sign > 0 else '-'} u^T v = ||u {'+' if sign > 0 else '-'} v||^2/2")
    # Equality: a sum of squares over i = 1..d vanishes iff every u_i = -+ v_i; spelled out for d = 1..4.
    for dim in range(1, 5):
        us, vs = sp.symbols(f"a1:{dim + 1}", real=True), sp.symbols(f"b1:{dim + 1}", real=True)
        square = sum((a - b) ** 2 for a, b in zip(us, vs))
        assert sp.solve([sp.diff(square, a) for a in us], us, dict=True) == [dict(zip(us, vs))]
    # Retrieval: the squared distance is 2 - 2 u^T v_j (an affine, strictly decreasing function of the dot product).
    dist2 = (_dot(_u, _u) + _dot(_v, _v) - 2 * _dot(_u, _v)).subs(norms)
    slope = sp.diff(dist2.subs(_dot(_u, _v), sp.Symbol("t")), sp.Symbol("t"))
    assert slope == -2 and sp.simplify(dist2 - (2 - 2 * _dot(_u, _v))) == 0, f"||u - v||^2 = {dist2}, not 2 - 2 u^T v"
    return "; ".join(found) + " for symbolic d (sums of squares, zero iff u = +-v); ||u - v||^2 = 2 - 2u^T v: argmax dot = argmin distance"


@claim(
    "q1.infonce_is_cross_entropy", "1",
    "The InfoNCE loss of Q1 is exactly the mean cross-entropy of classifying each x_i among C = N candidates "
    "y_1..y_N (logits z_j = f(x_i)^T f(y_j) / tau, target i): when every feature is the same, every logit ties "
    "and the loss is log C = log N, so the number of classes is read off the loss.",
    "hypothesis property",
    "C = N + 1: one extra candidate (a view of an image outside the batch) among the classes",
)
def infonce_is_cross_entropy(broken: bool) -> str:
    """The InfoNCE loss of Q1 is exactly the mean cross-entropy of classifying each x_i among C = N candidates
    y_1..y_N (logits z_j = f(x_i)^T f(y_j) / tau, target i): when every feature is the same, every logit ties
    and the loss is log C = log N, so the number of classes is read off the loss."""
    worst: list[float] = []

    def cross_entropy(fx, candidates, tau) -> float:
        """Mean over i of -log softmax_j(f(x_i)^T c_j / tau)[i], by hand; C = len(candidates) classes."""
        total = 0.0
        for i in range(len(fx)):
            logits = [float(fx[i] @ c) / tau for c in candidates]
            top = max(logits)
            total += -(logits[i] - top - math.log(sum(math.exp(z - top) for z in logits)))
        return total / len(fx)

    @PROPERTY
    @given(
        st.tuples(st.integers(1, 8), st.integers(1, 6)).flatmap(lambda nd: st.tuples(
            arrays(np.float64, nd, elements=st.floats(-10, 10)),
            arrays(np.float64, nd, elements=st.floats(-10, 10)),
            arrays(np.float64, nd[1], elements=st.floats(-10, 10)))),
        st.floats(0.05, 10),
    )
    def prop(views, tau):
        fx, fy = (F.normalize(torch.from_numpy(a), dim=-1) for a in views[:2])
        extra = F.normalize(torch.from_numpy(views[2]), dim=0)
        n = len(fx)
        candidates = torch.cat([fy, extra[None]]) if broken else fy  # C candidates
        # Every feature the same: all logits tie, and the cross-entropy is log C.
        same = fx[:1].expand(n, -1)
        tie = info_nce(same, same, tau).item()
        assert math.isclose(tie, math.log(n), rel_tol=1e-12, abs_tol=1e-12), f"tied InfoNCE {tie} != log N"
        c_tie = cross_entropy(same, same[:1].expand(len(candidates), -1), tau)
        assert math.isclose(tie, c_tie, rel_tol=1e-12, abs_tol=1e-12), (
            f"N = {n}: tied InfoNCE {tie:.6f} = log {n}, but the {len(candidates)}-way cross-entropy is {c_tie:.6f}")
        brute = cross_entropy(fx, candidates, tau)
        ref = info_nce(fx, fy, tau).item()
        worst.append(abs(ref - brute))
        assert math.isclose(ref, brute, rel_tol=1e-9, abs_tol=1e-12), (
            f"InfoNCE {ref!r} != {len(candidates)}-way cross-entropy {brute!r} (N = {n})")

    prop()
    return (f"{len(worst)} batches (N <= 8, d <= 6, tau in [0.05, 10]): max |InfoNCE - N-way cross-entropy| = "
            f"{max(worst):.1e}; all-tied features give log N")
