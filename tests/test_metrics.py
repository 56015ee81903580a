"""reference/metrics.py against brute-force loops and known values."""
from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from reference.metrics import alignment, diameter, margin, simplex_minimum, uniformity, unit_norm_lower_bound

DTYPES = pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def points(n: int, d: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1).to(dtype)


def dist(u, v) -> float:
    return math.sqrt(sum((a - b) ** 2 for a, b in zip(u, v)))


@DTYPES
def test_alignment_brute_force(dtype):
    z1, z2 = points(9, 4, 0, dtype), points(9, 4, 1, dtype)
    for alpha in (1, 2, 3):
        brute = sum(dist(u, v) ** alpha for u, v in zip(z1.tolist(), z2.tolist())) / 9
        value = alignment(z1, z2, alpha)
        assert value.dtype == dtype and value.dim() == 0
        assert math.isclose(value.item(), brute, rel_tol=TOL[dtype])
    assert alignment(z1, z1).item() == 0.0


@DTYPES
def test_uniformity_brute_force(dtype):
    z = points(8, 3, 2, dtype)
    rows = z.tolist()
    for t in (0.5, 2, 10):
        pairs = [math.exp(-t * dist(rows[i], rows[j]) ** 2) for i, j in itertools.combinations(range(8), 2)]
        brute = math.log(sum(pairs) / len(pairs))
        value = uniformity(z, t)
        assert value.dtype == dtype and value.dim() == 0
        assert math.isclose(value.item(), brute, rel_tol=TOL[dtype], abs_tol=TOL[dtype])
        # Wang & Isola's own one-liner
        assert math.isclose(value.item(), torch.pdist(z, p=2).pow(2).mul(-t).exp().mean().log().item(),
                            rel_tol=TOL[dtype], abs_tol=TOL[dtype])


def test_uniformity_stable_and_differentiable():
    z = points(6, 2, 3).requires_grad_()
    value = uniformity(z, t=2000)  # every exp underflows: the naive form gives -inf
    assert torch.isfinite(value)
    (grad,) = torch.autograd.grad(uniformity(z), z)
    assert torch.isfinite(grad).all()
    assert uniformity(points(2, 2, 0)).item() <= 0  # log of a mean of values in (0, 1]


@DTYPES
def test_diameter_and_margin_brute_force(dtype):
    a, b = points(5, 3, 4, dtype), points(4, 3, 5, dtype)
    ra, rb = a.tolist(), b.tolist()
    d_brute = max(dist(u, v) for u in ra for v in ra)
    m_brute = min(dist(u, v) for u in ra for v in rb)
    assert math.isclose(diameter(a).item(), d_brute, rel_tol=TOL[dtype])
    assert math.isclose(margin(a, b).item(), m_brute, rel_tol=TOL[dtype])
    assert margin(a, b).item() == margin(b, a).item()
    assert diameter(a).dtype == dtype and diameter(a).dim() == 0 and margin(a, b).dim() == 0


@DTYPES
def test_shared_point_margin_is_exactly_zero(dtype):
    a = points(40, 16, 6, dtype)  # large enough that cdist's matmul shortcut would kick in
    b = torch.cat([points(39, 16, 7, dtype), a[17:18]])
    assert margin(a, b).item() == 0.0
    assert diameter(a[:1]).item() == 0.0  # a single point


def test_margin_and_diameter_gradients():
    a, b = points(4, 3, 8).requires_grad_(), points(3, 3, 9).requires_grad_()
    ga, gb = torch.autograd.grad(margin(a, b) + diameter(a), (a, b))
    assert torch.isfinite(ga).all() and torch.isfinite(gb).all()


def test_unit_norm_lower_bound_values():
    assert math.isclose(unit_norm_lower_bound(2, 1.0), math.log(1 + math.exp(-2)), rel_tol=1e-15)
    assert math.isclose(unit_norm_lower_bound(256, 0.07), 255 * math.exp(-2 / 0.07), rel_tol=1e-10)  # log(1+x) ~ x
    assert unit_norm_lower_bound(1, 0.5) == 0.0
    for n in (2, 10, 1000):
        for tau in (0.005, 0.07, 1, 100):  # below tau ~ 0.0028, e^{-2/tau} underflows float64 to 0
            assert unit_norm_lower_bound(n, tau) > 0
    # the bound is attained: z1 = z2 = u, all negatives at -u (logit gap exactly 2 / tau)
    u = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    z2 = torch.cat([u, -u.expand(4, 2)])
    z1 = torch.cat([u, u.expand(4, 2)])
    logits = z1 @ z2.T / 0.5
    first_term = torch.logsumexp(logits[0], 0) - logits[0, 0]
    assert math.isclose(first_term.item(), unit_norm_lower_bound(5, 0.5), rel_tol=1e-12)


def test_simplex_minimum_values():
    for tau in (0.01, 0.1, 1, 10):
        assert math.isclose(simplex_minimum(2, tau), unit_norm_lower_bound(2, tau), rel_tol=1e-15)
        for n in (3, 5, 50):
            assert simplex_minimum(n, tau) >= unit_norm_lower_bound(n, tau)  # N/(N-1) <= 2
            assert math.isclose(simplex_minimum(n, tau), math.log1p((n - 1) * math.exp(-n / ((n - 1) * tau))),
                                rel_tol=1e-12)
    assert simplex_minimum(1, 0.5) == 0.0
    # the regular triangle in the plane, z1 = z2
    angles = torch.tensor([0.0, 2 * math.pi / 3, 4 * math.pi / 3], dtype=torch.float64)
    z = torch.stack([angles.cos(), angles.sin()], dim=1)
    loss = F.cross_entropy(z @ z.T / 0.3, torch.arange(3))
    assert math.isclose(loss.item(), simplex_minimum(3, 0.3), rel_tol=1e-12)


def test_metrics_keep_device():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    z1, z2 = points(5, 3, 0).to(device), points(5, 3, 1).to(device)
    for value in (alignment(z1, z2), uniformity(z1), diameter(z1), margin(z1, z2)):
        assert value.device.type == torch.device(device).type
