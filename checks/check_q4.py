"""Question 4: invariance sets S_i = supp(p_i), their diameters and margins, and the optimal encoder."""
from __future__ import annotations

import functools
import itertools
import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from checks.claim import claim
from reference.losses import info_nce
from reference.metrics import diameter, margin

PROPERTY = settings(
    derandomize=True, database=None, deadline=None, max_examples=100,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
"""Reproducible and quick: a fixed seed, no example database, no deadline."""


# ---------------------------------------------------------------------------------------------- helpers
def minimise(params: list[torch.Tensor], objective: Callable[[], torch.Tensor], max_iter: int = 400) -> float:
    """Minimise ``objective()`` over ``params`` with L-BFGS (strong Wolfe line search); return the final value.

    Use float64: at small tau the loss terms fall below float32's resolution and the optimisation stalls.
    """
    opt = torch.optim.LBFGS(params, lr=1, max_iter=max_iter, history_size=20, tolerance_grad=1e-11,
                            tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        value = objective()
        value.backward()
        return value

    opt.step(closure)
    with torch.no_grad():
        return objective().item()


def population_infonce(points: torch.Tensor, tau: float) -> torch.Tensor:
    r"""The expected InfoNCE loss when each image i's views are uniform over its set ``S_i``.

    ``points: [N, m, d]`` holds f(s) for the m elements s of each of the N sets. A batch draws
    x_i ~ U(S_i) and y_j ~ U(S_j) independently; the expectation over all m^N choices of the y's and
    the m choices of each x_i is computed exactly:

    .. math:: \mathbb{E} \frac1N \sum_i -\log \frac{e^{f(x_i)^\top f(y_i)/\tau}}{\sum_j e^{f(x_i)^\top f(y_j)/\tau}}
    """
    n, m, _ = points.shape
    choices = torch.tensor(list(itertools.product(range(m), repeat=n)))  # [m^N, N]
    ys = points[torch.arange(n), choices]  # [M, N, d]
    logits = torch.einsum("iad,Mjd->Miaj", points, ys) / tau  # [M, i, a, j]
    positive = torch.diagonal(logits, dim1=1, dim2=3).transpose(1, 2)  # [M, i, a]
    return (torch.logsumexp(logits, dim=-1) - positive).mean()


def _geometry(points: torch.Tensor) -> tuple[list[float], list[float]]:
    """Diameters of the N sets and margins of the N(N-1) ordered pairs, for ``points: [N, m, d]``."""
    n = len(points)
    diameters = [diameter(points[i]).item() for i in range(n)]
    margins = [margin(points[i], points[j]).item() for i in range(n) for j in range(n) if i != j]
    return diameters, margins


@functools.lru_cache(maxsize=2)
def _optimise_sets(broken: bool) -> list[tuple[list[float], list[float], list[float], list[float]]]:
    """Free unit vectors for several points per set, before and after optimising the contrastive loss.

    ``broken``: the loss is maximised instead (the negative control). Cached: the diameter and margin claims
    read the same runs.
    """
    sign = -1.0 if broken else 1.0
    runs = []
    for n, m, dim, seed in [(3, 3, 3, 0), (4, 3, 3, 1), (4, 2, 3, 2), (3, 2, 2, 3)]:
        generator = torch.Generator().manual_seed(seed)
        raw = torch.randn(n, m, dim, generator=generator, dtype=torch.float64).requires_grad_()
        before = _geometry(F.normalize(raw.detach(), dim=-1))
        minimise([raw], lambda: sign * population_infonce(F.normalize(raw, dim=-1), tau=0.5))
        after = _geometry(F.normalize(raw.detach(), dim=-1))
        runs.append((*before, *after))
    return runs


def _range(values: list[float]) -> str:
    return f"{min(values):.3g}..{max(values):.3g}"


# ---------------------------------------------------------------------------------------------- (c)
@st.composite
def _sets(draw):
    """N sets of m feature vectors in R^d: cluster centres plus a spread, so both separated and
    overlapping configurations occur."""
    n, m, dim = draw(st.integers(2, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    centres = draw(arrays(np.float64, (n, 1, dim), elements=st.floats(-10, 10)))
    spread = draw(st.floats(0, 4))
    offsets = draw(arrays(np.float64, (n, m, dim), elements=st.floats(-1, 1)))
    points = centres + spread * offsets
    query_set = draw(st.integers(0, n - 1))
    query = draw(st.integers(0, m - 1))
    views = draw(st.lists(st.integers(0, m - 1), min_size=n, max_size=n))
    return points, query_set, query, views


@claim(
    "q4c.separation_implies_retrieval", "4c",
    "If every diameter is smaller than every margin, nearest-neighbour retrieval is always right: a view x of "
    "image i is nearer to any view y_i of image i than to any view y_j of another image j.",
    "hypothesis property",
    "configurations that violate the separation (some diameter >= some margin): a counterexample exists",
)
def separation_implies_retrieval(broken: bool) -> str:
    """If every diameter is smaller than every margin, nearest-neighbour retrieval is always right: a view x of
    image i is nearer to any view y_i of image i than to any view y_j of another image j."""
    tested: list[int] = []

    @PROPERTY
    @given(_sets())
    def prop(example):
        points, i, a, views = example
        n, m, _ = points.shape
        flat = points.reshape(n * m, -1)
        dist = np.sqrt(((flat[:, None, :] - flat[None, :, :]) ** 2).sum(-1)).reshape(n, m, n, m)
        diameters = [float(dist[k, :, k, :].max()) for k in range(n)]
        margins = [float(dist[k, :, l, :].min()) for k in range(n) for l in range(n) if k != l]
        separated = max(diameters) < min(margins)
        if separated == broken:  # the premise: separated (the control: not separated)
            return
        tested.append(1)
        to_views = [float(dist[i, a, j, views[j]]) for j in range(n)]  # x = point a of set i; one view per set
        nearest = int(np.argmin(to_views))
        assert nearest == i, (f"x from set {i} retrieved set {nearest}: distances to the views {to_views}; "
                              f"diameters {diameters}, margins {margins}")

    prop()
    assert len(tested) >= 20, f"only {len(tested)} examples met the premise"
    return f"{len(tested)} separated configurations (N <= 4 sets of <= 3 points in R^<=3): 1-NN always right"


# ---------------------------------------------------------------------------------------------- (e)
@claim(
    "q4e.optimum_shrinks_diameters", "4e",
    "Minimising the contrastive loss over free unit vectors (several points per invariance set) makes every "
    "set's diameter smaller: each set collapses to a point.",
    "numeric experiment",
    "the loss maximised instead of minimised",
)
def optimum_shrinks_diameters(broken: bool) -> str:
    """Minimising the contrastive loss over free unit vectors (several points per invariance set) makes every
    set's diameter smaller: each set collapses to a point."""
    runs = _optimise_sets(broken)
    for d0, _, d1, _ in runs:
        for before, after in zip(d0, d1):
            assert after < before and after < 1e-3, f"diameter {before:.4f} -> {after:.4f}: did not shrink to ~0"
    return (f"4 runs (N = 3-4 sets of 2-3 points, d = 2-3, tau = 0.5): diameters "
            f"{_range([x for r in runs for x in r[0]])} -> {_range([x for r in runs for x in r[2]])}")


@claim(
    "q4e.optimum_grows_margins", "4e",
    "Minimising the contrastive loss over free unit vectors (several points per invariance set) makes every "
    "margin between two sets larger.",
    "numeric experiment",
    "the loss maximised instead of minimised",
)
def optimum_grows_margins(broken: bool) -> str:
    """Minimising the contrastive loss over free unit vectors (several points per invariance set) makes every
    margin between two sets larger."""
    runs = _optimise_sets(broken)
    for _, m0, _, m1 in runs:
        for before, after in zip(m0, m1):
            assert after > before, f"margin {before:.4f} -> {after:.4f}: did not grow"
    return (f"4 runs (N = 3-4 sets of 2-3 points, d = 2-3, tau = 0.5): margins "
            f"{_range([x for r in runs for x in r[1]])} -> {_range([x for r in runs for x in r[3]])}")


TAUS = (1.0, 0.3, 0.1, 0.05)
"""Temperature schedule: start smooth, end at a small tau (continuation; every stage starts from the last)."""


def _min_angle(z: torch.Tensor) -> float:
    cos = F.normalize(z, dim=1) @ F.normalize(z, dim=1).T
    cos.fill_diagonal_(-1.0)
    return math.acos(min(1.0, cos.max().item()))


def _tammes(n: int, dim: int, taus=TAUS, seeds=(0, 1, 2)) -> list[float]:
    """Minimum pairwise angles of N collapsed sets (one free unit vector each, z1 = z2 = z) after minimising
    InfoNCE(z, z, tau) over a temperature schedule, in float64, from several random starts."""
    angles = []
    for seed in seeds:
        generator = torch.Generator().manual_seed(seed)
        raw = torch.randn(n, dim, generator=generator, dtype=torch.float64).requires_grad_()
        for tau in taus:
            minimise([raw], lambda: info_nce(F.normalize(raw, dim=1), F.normalize(raw, dim=1), tau))
        angles.append(_min_angle(raw.detach()))
    return angles


def _assert_optimum(angles: list[float], optimum: float, name: str) -> str:
    for angle in angles:
        assert abs(angle - optimum) < 1e-6, f"min angle {angle:.6f} rad, {name} has {optimum:.6f}"
    return f"min angle {min(angles):.6f}..{max(angles):.6f} rad vs {name} {optimum:.6f} ({len(angles)} starts)"


@claim(
    "q4e.tammes_ngon_2d", "4e",
    "With each set collapsed to a point, minimising the loss at small tau on the circle (d = 2) gives the regular "
    "N-gon (the 2-D Tammes solution): minimum pairwise angle 2 pi / N.",
    "numeric experiment",
    "tau negated (the loss then rewards similar negatives): the points collapse",
)
def tammes_ngon_2d(broken: bool) -> str:
    """With each set collapsed to a point, minimising the loss at small tau on the circle (d = 2) gives the regular
    N-gon (the 2-D Tammes solution): minimum pairwise angle 2 pi / N."""
    taus = tuple(-t for t in TAUS) if broken else TAUS
    parts = []
    for n in (3, 5, 7):
        parts.append(f"N={n}: " + _assert_optimum(_tammes(n, 2, taus, seeds=(0, 1)), 2 * math.pi / n, f"{n}-gon"))
    return "; ".join(parts) + f"; tau {TAUS[0]} -> {TAUS[-1]}, float64"


@claim(
    "q4e.tammes_tetrahedron", "4e",
    "With N = 4 collapsed sets on the sphere in R^3, minimising the loss at small tau gives the regular "
    "tetrahedron: minimum pairwise angle arccos(-1/3) = 1.9106 rad.",
    "numeric experiment",
    "the same minimisation in R^2, where no tetrahedron fits (a square, 1.5708 rad)",
)
def tammes_tetrahedron(broken: bool) -> str:
    """With N = 4 collapsed sets on the sphere in R^3, minimising the loss at small tau gives the regular
    tetrahedron: minimum pairwise angle arccos(-1/3) = 1.9106 rad."""
    return _assert_optimum(_tammes(4, 2 if broken else 3), math.acos(-1 / 3), "tetrahedron")


@claim(
    "q4e.tammes_octahedron", "4e",
    "With N = 6 collapsed sets on the sphere in R^3, minimising the loss at small tau gives the regular "
    "octahedron: minimum pairwise angle pi/2.",
    "numeric experiment",
    "the same minimisation in R^2, where no octahedron fits (a hexagon, 1.0472 rad)",
)
def tammes_octahedron(broken: bool) -> str:
    """With N = 6 collapsed sets on the sphere in R^3, minimising the loss at small tau gives the regular
    octahedron: minimum pairwise angle pi/2."""
    return _assert_optimum(_tammes(6, 2 if broken else 3), math.pi / 2, "octahedron")


# ---------------------------------------------------------------------------------------------- (f)
def _classifies_both(dist: np.ndarray, s_i: list[int], s_j: list[int]) -> bool:
    """Nearest-view retrieval is right for every x in S_i (resp. S_j) and every pair of views y_i, y_j."""
    def right(own, other):
        return all(dist[x, y] < dist[x, z] for x in own for y in own for z in other)
    return right(s_i, s_j) and right(s_j, s_i)


@claim(
    "q4f.overlap_forces_zero_margin", "4f",
    "If the supports of p_i and p_j overlap, every encoder has margin_{i->j} = 0 and no encoder retrieves "
    "both images' views correctly (the shared point is a view of both).",
    "hypothesis property",
    "disjoint supports",
)
def overlap_forces_zero_margin(broken: bool) -> str:
    """If the supports of p_i and p_j overlap, every encoder has margin_{i->j} = 0 and no encoder retrieves
    both images' views correctly (the shared point is a view of both)."""
    count: list[int] = []

    @PROPERTY
    @given(
        st.integers(1, 3).flatmap(lambda dim: arrays(np.float64, (6, dim), elements=st.floats(-10, 10))),
        st.lists(st.booleans(), min_size=6, max_size=6),
        st.lists(st.booleans(), min_size=6, max_size=6),
    )
    def prop(table, in_i, in_j):
        # The input space is 6 points; the encoder is any table of their features (every function on it).
        if broken:  # disjoint: point 0 only in S_i, point 1 only in S_j, the rest split by in_i
            s_i = [0] + [k for k in range(2, 6) if in_i[k]]
            s_j = [1] + [k for k in range(2, 6) if not in_i[k]]
        else:  # overlapping: point 0 in both
            s_i = [0] + [k for k in range(1, 6) if in_i[k]]
            s_j = [0] + [k for k in range(1, 6) if in_j[k]]
        features = torch.from_numpy(table)
        m = margin(features[s_i], features[s_j]).item()
        dist = torch.cdist(features, features, compute_mode="donot_use_mm_for_euclid_dist").numpy()
        count.append(1)
        assert m == 0.0, f"margin {m} > 0 for S_i = {s_i}, S_j = {s_j}"
        assert not _classifies_both(dist, s_i, s_j), f"an encoder classifies both S_i = {s_i} and S_j = {s_j}"

    prop()
    return f"{len(count)} encoders (arbitrary feature tables on 6 inputs, d <= 3) and overlapping supports: margin 0, never both right"
