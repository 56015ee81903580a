"""Limits and derivatives of the InfoNCE loss: temperature -> 0 and -> oo, the gradient, the norm's derivative
(Q5(b)'s shortcut), and the large-batch limit of Wang and Isola (2020)."""
from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from checks.check_q4 import seeds
from checks.claim import claim
from reference.losses import info_nce

PROPERTY = settings(
    derandomize=True, database=None, deadline=None, max_examples=80,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
"""Reproducible and quick: a fixed seed, no example database, no deadline."""

TAU = sp.Symbol("tau", positive=True)
DELTA = sp.Symbol("delta", positive=True)


def _row_term(gaps, keep_positive: bool) -> sp.Expr:
    """Row i's term as a function of the gaps g_j = s_ij - s_ii (j != i): log(1 + sum_j e^{g_j / tau}).
    ``keep_positive=False`` drops the positive's own e^0 = 1 from the denominator (the controls)."""
    return sp.log((1 if keep_positive else 0) + sum(sp.exp(g / TAU) for g in gaps))


@claim(
    "q4e.small_tau_hardest_negative", "4e",
    "As tau -> 0, tau * L_i -> max(0, max_{j != i} s_ij - s_ii): at small temperature each term only sees its "
    "hardest negative, and the loss is driven by the smallest margin (the Tammes objective once the sets collapse).",
    "sympy proof",
    "the positive's own term dropped from the denominator (log sum_{j != i} e^{s_ij/tau}): the 0 in max(0, .) is lost",
)
def small_tau_hardest_negative(broken: bool) -> str:
    """As tau -> 0, tau * L_i -> max(0, max_{j != i} s_ij - s_ii): at small temperature each term only sees its
    hardest negative, and the loss is driven by the smallest margin (the Tammes objective once the sets collapse)."""
    cases = [(sp.Rational(1, 2), -1), (-sp.Rational(1, 3), -1), (sp.Rational(2, 5), sp.Rational(2, 5)),
             (DELTA, -DELTA), (-DELTA, -2 * DELTA), (0, -DELTA)]
    found = []
    for gaps in cases:
        value = sp.limit(TAU * _row_term(gaps, keep_positive=not broken), TAU, 0, "+")
        expected = sp.Max(0, *gaps)
        assert sp.simplify(value - expected) == 0, f"gaps {gaps}: tau * L_i -> {value}, not max(0, max gap) = {expected}"
        found.append(f"{tuple(gaps)} -> {value}")
    return "tau * L_i -> max(0, max_j gap_j) for gaps " + "; ".join(found)


@claim(
    "q4e.large_tau_expansion", "4e",
    "As tau -> oo, L_i = log N - (s_ii - (1/N) sum_j s_ij) / tau + O(tau^-2): at large temperature the loss is "
    "log N minus the positive's similarity above the row's mean (alignment against the mean similarity).",
    "sympy proof",
    "the positive's own term dropped from the denominator: the constant becomes log(N-1) and the mean excludes j = i",
)
def large_tau_expansion(broken: bool) -> str:
    """As tau -> oo, L_i = log N - (s_ii - (1/N) sum_j s_ij) / tau + O(tau^-2): at large temperature the loss is
    log N minus the positive's similarity above the row's mean (alignment against the mean similarity)."""
    eps = sp.Symbol("epsilon", positive=True)  # 1 / tau
    done = []
    for n in (2, 3, 4, 5):
        s = sp.symbols(f"s0:{n}", real=True)  # row i = 0: s[0] the positive, s[1:] the negatives
        terms = s if not broken else s[1:]
        loss = -s[0] * eps + sp.log(sum(sp.exp(x * eps) for x in terms))
        first_order = sp.series(loss, eps, 0, 2).removeO()
        claimed = sp.log(n) - eps * (s[0] - sum(s) / n)
        residual = sp.simplify(first_order - claimed)
        assert residual == 0, f"N = {n}: first-order expansion minus the claim = {residual}"
        second = sp.simplify(sp.series(loss, eps, 0, 3).removeO() - first_order)
        assert second != 0  # the remainder really is of order tau^-2 (the row's variance / 2), not smaller
        done.append(n)
    return (f"series in 1/tau for N = {done[0]}..{done[-1]} (symbolic s_ij): log N - (s_ii - mean_j s_ij)/tau, "
            "next term (variance of the row)/(2 tau^2)")


@claim(
    "q5b.gradient_is_softmax_minus_target", "5b",
    "The gradient of the loss with respect to the similarities is dL/ds_ij = (p_ij - delta_ij) / (N tau), "
    "p_ij = softmax_j(s_ij / tau) (for the mean over i; (p_ij - delta_ij)/tau per term): the positive is pulled "
    "up by 1 - p_ii, each negative pushed down by its own probability.",
    "hypothesis property",
    "targets shifted (the positive of row i is column i+1): the reference's gradient no longer has -1 on the diagonal",
)
def gradient_is_softmax_minus_target(broken: bool) -> str:
    """The gradient of the loss with respect to the similarities is dL/ds_ij = (p_ij - delta_ij) / (N tau),
    p_ij = softmax_j(s_ij / tau) (for the mean over i; (p_ij - delta_ij)/tau per term): the positive is pulled
    up by 1 - p_ii, each negative pushed down by its own probability."""
    worst: list[float] = []

    @PROPERTY
    @given(st.integers(1, 8).flatmap(lambda n: arrays(np.float64, (n, n), elements=st.floats(-1, 1))),
           st.floats(0.05, 5))
    def prop(similarities, tau):
        n = len(similarities)
        s = torch.from_numpy(similarities).requires_grad_()
        columns = torch.eye(n, dtype=torch.float64)
        if broken:
            columns = columns.roll(1, dims=0)  # z2 = a permutation: row i's positive is column i+1
        # The reference loss with z1 = S and z2 = the identity has logits S / tau: its gradient is dL/ds.
        info_nce(s, columns, tau).backward()
        with torch.no_grad():
            p = torch.softmax(s / tau, dim=1)
            expected = (p - torch.eye(n, dtype=torch.float64)) / (n * tau)
        worst.append((s.grad - expected).abs().max().item())
        assert torch.allclose(s.grad, expected, rtol=1e-9, atol=1e-12), (
            f"autograd {s.grad.numpy().round(4).tolist()} != (p - I)/(N tau) {expected.numpy().round(4).tolist()}")

    prop()
    return f"{len(worst)} similarity matrices (N <= 8, tau in [0.05, 5]): max |autograd - (p - I)/(N tau)| = {max(worst):.1e}"


@claim(
    "q5b.descent_inflates_norm", "5b",
    "Scaling f by alpha multiplies the logits by alpha^2, and dL_i/dalpha = (2 alpha / tau) sum_j p_ij (s_ij - s_ii), "
    "which is < 0 whenever the positive ranks first in row i: the gradient of the loss has a negative radial "
    "component, so gradient descent on unnormalised features inflates their norm by itself (Q5(b)'s shortcut).",
    "hypothesis property",
    "rows where the positive ranks last (every negative above it): the derivative is positive",
)
def descent_inflates_norm(broken: bool) -> str:
    """Scaling f by alpha multiplies the logits by alpha^2, and dL_i/dalpha = (2 alpha / tau) sum_j p_ij (s_ij - s_ii),
    which is < 0 whenever the positive ranks first in row i: the gradient of the loss has a negative radial
    component, so gradient descent on unnormalised features inflates their norm by itself (Q5(b)'s shortcut)."""
    # The derivative identity, symbolically (three logits, symbolic alpha and tau).
    alpha = sp.Symbol("alpha", positive=True)
    s = sp.symbols("s0:3", real=True)
    loss = -alpha**2 * s[0] / TAU + sp.log(sum(sp.exp(alpha**2 * x / TAU) for x in s))
    p = [sp.exp(alpha**2 * x / TAU) / sum(sp.exp(alpha**2 * y / TAU) for y in s) for x in s]
    formula = 2 * alpha / TAU * sum(pj * (x - s[0]) for pj, x in zip(p, s))
    assert sp.simplify(sp.diff(loss, alpha) - formula) == 0, "dL/dalpha differs from the formula"
    slopes: list[float] = []

    @PROPERTY
    @given(st.tuples(st.integers(2, 6), st.integers(1, 5)).flatmap(lambda nd: st.tuples(
        arrays(np.float64, nd, elements=st.floats(-3, 3)), arrays(np.float64, nd, elements=st.floats(-3, 3)))),
           st.floats(0.05, 5))
    def prop(views, tau):
        z1, z2 = (torch.from_numpy(a) for a in views)
        s = z1 @ z2.T
        gaps = s - s.diagonal()[:, None]
        off = ~torch.eye(len(s), dtype=torch.bool)
        first = (gaps < -1e-3) | ~off  # the positive above every negative (by a margin)
        last = (gaps > 1e-3) | ~off  # every negative above the positive
        # Rows whose hardest negative is within 30 tau of the positive: beyond that p_ij < e^-30 and the slope is
        # below float64's resolution of the other terms (it is still negative, but not measurably).
        measurable = torch.where(off, gaps, torch.full_like(gaps, -math.inf)).max(dim=1).values / tau > -30
        rows = (last if broken else first).all(dim=1) & measurable
        if not rows.any():
            return
        z1, z2 = z1.clone().requires_grad_(), z2.clone().requires_grad_()
        logits = z1 @ z2.T / tau
        terms = torch.logsumexp(logits, dim=1) - logits.diagonal()
        for i in torch.nonzero(rows).flatten().tolist():
            g1, g2 = torch.autograd.grad(terms[i], (z1, z2), retain_graph=True)
            radial = ((g1 * z1).sum() + (g2 * z2).sum()).item()  # dL_i/dalpha at alpha = 1 (L_i(alpha z) is homogeneous)
            p_i = torch.softmax(s[i] / tau, dim=0)
            expected = (2 / tau) * (p_i * gaps[i]).sum().item()
            assert math.isclose(radial, expected, rel_tol=1e-8, abs_tol=1e-12), f"radial {radial} != formula {expected}"
            slopes.append(radial)
            assert radial < 0, f"row {i}: dL_i/dalpha = {radial:.4g} >= 0 (gaps {gaps[i].tolist()})"

    prop()
    assert len(slopes) >= 20, f"only {len(slopes)} rows met the premise"
    return (f"dL/dalpha = (2 alpha/tau) sum_j p_ij (s_ij - s_ii) proved symbolically; {len(slopes)} rows with the positive "
            f"first (N <= 6, d <= 5): dL_i/dalpha = <grad, z> in [{min(slopes):.3g}, {max(slopes):.3g}] < 0")


@seeds(1)
@claim(
    "q4e.large_batch_limit", "4e",
    "Wang and Isola's large-batch limit: E[L_N] - log N -> -E[s+]/tau + E_x log E_y e^{s(x,y)/tau} as N -> oo "
    "(alignment plus uniformity), the gap shrinking like 1/N; measured for a 6-point feature distribution at "
    "tau = 0.5, N = 8, 64, 512, 4096.",
    "numeric experiment",
    "N held at 8 (no limit taken): the gap stays ~0.11",
)
def large_batch_limit(broken: bool) -> str:
    """Wang and Isola's large-batch limit: E[L_N] - log N -> -E[s+]/tau + E_x log E_y e^{s(x,y)/tau} as N -> oo
    (alignment plus uniformity), the gap shrinking like 1/N; measured for a 6-point feature distribution at
    tau = 0.5, N = 8, 64, 512, 4096."""
    generator = torch.Generator().manual_seed(0)
    k, tau, replicates = 6, 0.5, 4000
    z = F.normalize(torch.randn(k, 3, generator=generator, dtype=torch.float64), dim=1)
    s = z @ z.T
    joint = 0.7 * torch.eye(k, dtype=torch.float64) / k + 0.3 / k**2  # positive pairs; both marginals uniform
    e = torch.exp(s / tau)
    limit = (-(joint * s).sum() / tau + torch.log(e.mean(dim=1)).mean()).item()
    gaps = []
    sizes = (8, 8, 8, 8) if broken else (8, 64, 512, 4096)
    for n in sizes:
        # Row i: (x_i, y_i) ~ joint (exact average over the 36 pairs); the N-1 other y_j uniform i.i.d.: their
        # counts per point, by Monte Carlo (4000 draws, seeded).
        counts = torch.multinomial(torch.full((k,), 1.0 / k, dtype=torch.float64), (n - 1) * replicates,
                                   replacement=True, generator=generator).view(replicates, n - 1)
        counts = F.one_hot(counts, k).sum(dim=1).double()  # [replicates, k]
        others = counts @ e.T  # [replicates, a]: sum_{j != i} e^{s(a, y_j)/tau}
        rows = -s / tau + torch.log(e[:, :, None] + others.T[:, None, :]).mean(dim=2)  # [a, b]
        gaps.append((joint * rows).sum().item() - math.log(n) - limit)
    assert all(abs(b) < abs(a) for a, b in zip(gaps, gaps[1:])), f"the gap does not shrink with N: {gaps}"
    assert abs(gaps[-1]) < 0.002, f"N = {sizes[-1]}: E[L_N] - log N - limit = {gaps[-1]:.4f}"
    return (f"limit {limit:.4f}; E[L_N] - log N - limit = " + ", ".join(f"{g:+.4f} (N={n})" for n, g in zip(sizes, gaps)))
