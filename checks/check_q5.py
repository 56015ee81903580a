"""Question 5: the unit-norm constraint. (a) with it the loss cannot reach 0; (b) without it, scaling f
drives the loss to 0 when the positive logit is strictly the largest (and overflows a naive exp)."""
from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from checks.check_q4 import minimise, seeds
from checks.claim import claim
from reference.losses import info_nce
from reference.metrics import simplex_minimum, unit_norm_lower_bound

PROPERTY = settings(
    derandomize=True, database=None, deadline=None, max_examples=80,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
"""Reproducible and quick: a fixed seed, no example database, no deadline."""


# ---------------------------------------------------------------------------------------------- (a)
def _terms(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    r"""The N terms of InfoNCE, accurate when tiny: :math:`\log(1 + \sum_{j \ne i} e^{(l_{ij} - l_{ii})})`."""
    logits = z1 @ z2.T / tau
    gaps = logits - logits.diagonal()[:, None]
    off = ~torch.eye(len(z1), dtype=torch.bool)
    return torch.log1p(torch.where(off, gaps.exp(), torch.zeros_like(gaps)).sum(dim=1))


def _view_pairs(max_dim: int):
    """Two raw feature batches [N, d] (the two views; N 2-8, d 1-max_dim), entries in [-10, 10]."""
    return st.tuples(st.integers(2, 8), st.integers(1, max_dim)).flatmap(lambda nd: st.tuples(
        arrays(np.float64, nd, elements=st.floats(-10, 10)), arrays(np.float64, nd, elements=st.floats(-10, 10))))


@claim(
    "q5a.unit_norm_lower_bound", "5a",
    "With unit-norm features every term of the InfoNCE loss is at least log(1 + (N-1) e^{-2/tau}) > 0 (N >= 2), "
    "so the loss cannot reach 0.",
    "hypothesis property",
    "unnormalised features",
)
def unit_norm_lower_bound_holds(broken: bool) -> str:
    """With unit-norm features every term of the InfoNCE loss is at least log(1 + (N-1) e^{-2/tau}) > 0 (N >= 2),
    so the loss cannot reach 0."""
    slack: list[float] = []

    @PROPERTY
    @given(
        _view_pairs(max_dim=6),
        st.floats(0.01, 10),
    )
    def prop(views, tau):
        z1, z2 = (torch.from_numpy(a) for a in views)
        if not broken:
            z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
        n = len(z1)
        bound = unit_norm_lower_bound(n, tau)
        assert bound > 0, f"bound {bound} not positive"
        terms = _terms(z1, z2, tau)
        ce = F.cross_entropy(z1 @ z2.T / tau, torch.arange(n), reduction="none")
        assert torch.allclose(terms, ce, rtol=1e-9, atol=1e-12), "terms disagree with the cross-entropy"
        slack.append(terms.min().item() / bound)
        assert terms.min().item() >= bound * (1 - 1e-9), (
            f"a term {terms.min().item():.6g} < bound {bound:.6g} (N = {n}, tau = {tau})")

    prop()
    return f"{len(slack)} batches (N = 2..8, d <= 6, tau in [0.01, 10]): min term / bound = {min(slack):.4f}"


def regular_simplex(n: int, dim: int) -> torch.Tensor:
    """N unit vectors in R^dim (dim >= N - 1) with every pairwise dot product -1/(N-1)."""
    centred = torch.eye(n, dtype=torch.float64) - 1.0 / n  # in the (N-1)-dim subspace orthogonal to 1
    basis, _ = torch.linalg.qr(centred)  # orthonormal columns; the first N-1 span the subspace
    coords = centred @ basis[:, : n - 1]  # [N, N-1]
    coords = F.pad(coords, (0, dim - (n - 1)))
    return F.normalize(coords, dim=1)


@seeds(3)
@claim(
    "q5a.simplex_attains_minimum", "5a",
    "For d >= N-1 the regular simplex (z1 = z2, pairwise dot -1/(N-1)) attains the loss "
    "log(1 + (N-1) e^{-N/((N-1) tau)}), which equals the per-term bound at N = 2; numerical minimisation over "
    "free unit vectors from several random starts reaches that value (that nothing is lower is proved by "
    "q5a.mean_loss_bound_identity and q5a.mean_loss_bound).",
    "numeric experiment",
    "d = N-2, where no regular simplex fits: the minimum found stays above the formula",
)
def simplex_attains_minimum(broken: bool) -> str:
    """For d >= N-1 the regular simplex (z1 = z2, pairwise dot -1/(N-1)) attains the loss
    log(1 + (N-1) e^{-N/((N-1) tau)}), which equals the per-term bound at N = 2; numerical minimisation over
    free unit vectors from several random starts reaches that value (that nothing is lower is proved by
    q5a.mean_loss_bound_identity and q5a.mean_loss_bound)."""
    tau = 0.5
    found = []
    for n in (3, 4, 5):
        dim = n - 2 if broken else n - 1
        target = simplex_minimum(n, tau)
        values = []
        for seed in range(3):
            generator = torch.Generator().manual_seed(10 * n + seed)
            raw1 = torch.randn(n, dim, generator=generator, dtype=torch.float64).requires_grad_()
            raw2 = torch.randn(n, dim, generator=generator, dtype=torch.float64).requires_grad_()
            values.append(minimise([raw1, raw2], lambda: info_nce(F.normalize(raw1, dim=1), F.normalize(raw2, dim=1), tau)))
        best = min(values)
        assert math.isclose(best, target, rel_tol=1e-7), f"N = {n}, d = {dim}: minimum {best:.8f} != simplex {target:.8f}"
        found.append(f"N={n},d={dim}: {best:.8f} vs {target:.8f}")
    for n in range(2, 7):
        for dim in (n - 1, n + 1):
            z = regular_simplex(n, dim)
            cos = z @ z.T
            assert torch.allclose(cos[~torch.eye(n, dtype=torch.bool)], torch.tensor(-1.0 / (n - 1), dtype=torch.float64))
            for t in (0.05, 0.5, 2.0):
                loss = info_nce(z, z, t).item()
                assert math.isclose(loss, simplex_minimum(n, t), rel_tol=1e-10, abs_tol=1e-15), f"simplex N={n}: {loss} vs {simplex_minimum(n, t)}"
    for t in (0.05, 0.5, 2.0):
        assert math.isclose(simplex_minimum(2, t), unit_norm_lower_bound(2, t), rel_tol=1e-15)
    return (f"minimised (tau = {tau}, best of 3 starts): " + "; ".join(found)
            + "; the simplex (N = 2..6, d = N-1, N+1) gives the formula to 1e-10; = the bound at N = 2")


def _sum_of_squares_residual(n: int, dim: int, exponent: sp.Expr, unit: bool) -> sp.Expr:
    r"""The residual of the identity behind the mean bound, for N = ``n`` pairs (u_i, v_i) in R^``dim``:

    .. math:: \sum_{i,j} s_{ij} - N \sum_i s_{ii} + K N (N-1)
              = 	frac N4 \sum_i \lVert w_i 
Vert^2 + 	frac18 \sum_{i,j} \lVert w_i - w_j 
Vert^2
                + 	frac14 \lVert 	extstyle\sum_i (u_i + v_i) 
Vert^2, \qquad w_i = u_i - v_i,

    with K = ``exponent`` (the claim: K = N/(N-1)). ``unit``: impose ||u_i|| = ||v_i|| = 1 by eliminating
    u_{i1}^2 and v_{i1}^2 (the expression is quadratic); otherwise the left side carries
    (N/2) sum_i (||u_i||^2 + ||v_i||^2) in place of K N (N-1), the identity for any norms.
    """
    u = sp.Matrix(n, dim, lambda i, k: sp.Symbol(f"u{i}_{k}", real=True))
    v = sp.Matrix(n, dim, lambda i, k: sp.Symbol(f"v{i}_{k}", real=True))
    s = u * v.T
    w = u - v
    total = u.T * sp.ones(n, 1) + v.T * sp.ones(n, 1)
    sos = (sp.Rational(n, 4) * sum(w.row(i).dot(w.row(i)) for i in range(n))
           + sp.Rational(1, 8) * sum((w.row(i) - w.row(j)).dot(w.row(i) - w.row(j)) for i in range(n) for j in range(n))
           + sp.Rational(1, 4) * total.dot(total))
    if unit:
        constant = exponent * n * (n - 1)
    else:
        constant = sp.Rational(n, 2) * sum(u.row(i).dot(u.row(i)) + v.row(i).dot(v.row(i)) for i in range(n))
    residual = sp.expand(sum(s) - n * s.trace() + constant - sos)
    if unit:
        residual = sp.expand(residual.subs({u[i, 0] ** 2: 1 - sum(u[i, k] ** 2 for k in range(1, dim)) for i in range(n)})
                             .subs({v[i, 0] ** 2: 1 - sum(v[i, k] ** 2 for k in range(1, dim)) for i in range(n)}))
    return residual


@claim(
    "q5a.mean_loss_bound_identity", "5a",
    "Proof that the mean loss of unit-norm features is at least log(1 + (N-1) e^{-N/((N-1) tau)}) in any d: "
    "with s_ij = u_i^T v_j and w_i = u_i - v_i, the sum-of-squares identity sum_{i,j} s_ij - N sum_i s_ii + N^2 = "
    "(N/4) sum_i ||w_i||^2 + (1/8) sum_{i,j} ||w_i - w_j||^2 + (1/4) ||sum_i (u_i + v_i)||^2 >= 0 gives a mean gap "
    "t = (1/(N(N-1) tau)) sum_i sum_{j != i} (s_ij - s_ii) >= -N/((N-1) tau); Jensen (exp convex) in each row and "
    "then for the convex h(t) = log(1 + (N-1) e^t) across rows give loss >= h(t) >= h(-N/((N-1) tau)); equality "
    "needs u_i = v_i, sum_i u_i = 0 and equal gaps: the regular simplex.",
    "sympy proof",
    "the exponent N/(N-1) replaced by 2 (the per-term bound's): the identity fails for N >= 3",
)
def mean_loss_bound_identity(broken: bool) -> str:
    """Proof that the mean loss of unit-norm features is at least log(1 + (N-1) e^{-N/((N-1) tau)}) in any d:
    with s_ij = u_i^T v_j and w_i = u_i - v_i, the sum-of-squares identity sum_{i,j} s_ij - N sum_i s_ii + N^2 =
    (N/4) sum_i ||w_i||^2 + (1/8) sum_{i,j} ||w_i - w_j||^2 + (1/4) ||sum_i (u_i + v_i)||^2 >= 0 gives a mean gap
    t = (1/(N(N-1) tau)) sum_i sum_{j != i} (s_ij - s_ii) >= -N/((N-1) tau); Jensen (exp convex) in each row and
    then for the convex h(t) = log(1 + (N-1) e^t) across rows give loss >= h(t) >= h(-N/((N-1) tau)); equality
    needs u_i = v_i, sum_i u_i = 0 and equal gaps: the regular simplex."""
    done = []
    for n in range(2, 7):
        # Any norms, one coordinate: both sides are sums over coordinates of the same quadratic, so d = 1 proves every d.
        general = _sum_of_squares_residual(n, 1, sp.Integer(0), unit=False)
        assert general == 0, f"N = {n}: the identity for any norms leaves {general}"
        exponent = sp.Integer(2) if broken else sp.Rational(n, n - 1)
        for dim in ((2, 3) if n <= 4 else (2,)):
            residual = _sum_of_squares_residual(n, dim, exponent, unit=True)
            assert residual == 0, f"N = {n}, d = {dim}, unit norms, exponent {exponent}: residual {residual}, not 0"
        done.append(n)
    # Jensen's second step: h(t) = log(1 + (N-1) e^t) is convex.
    t, n = sp.Symbol("t", real=True), sp.Symbol("N", positive=True)
    h2 = sp.simplify(sp.diff(sp.log(1 + (n - 1) * sp.exp(t)), t, 2))
    assert sp.simplify(h2 - (n - 1) * sp.exp(t) / (1 + (n - 1) * sp.exp(t)) ** 2) == 0, f"h'' = {h2}"
    # Equality at the regular simplex: s_ii = 1, s_ij = -1/(N-1), so every gap is -N/((N-1) tau).
    tau = sp.Symbol("tau", positive=True)
    gap = (-1 / (n - 1) - 1) / tau
    assert sp.simplify(gap + n / ((n - 1) * tau)) == 0
    return (f"identity (any norms, d = 1 hence every d) and its unit-norm form (d = 2, 3) for N = {done[0]}..{done[-1]} "
            "expand to 0; h'' = (N-1)e^t/(1+(N-1)e^t)^2 > 0; the simplex's gaps are -N/((N-1) tau)")


@claim(
    "q5a.mean_loss_bound", "5a",
    "For unit-norm features in any d, the mean InfoNCE loss is at least log(1 + (N-1) e^{-N/((N-1) tau)}) > 0 "
    "(N >= 2), the value the regular simplex attains: the loss cannot reach 0 and no configuration beats the simplex.",
    "hypothesis property",
    "unnormalised features",
)
def mean_loss_bound(broken: bool) -> str:
    """For unit-norm features in any d, the mean InfoNCE loss is at least log(1 + (N-1) e^{-N/((N-1) tau)}) > 0
    (N >= 2), the value the regular simplex attains: the loss cannot reach 0 and no configuration beats the simplex."""
    slack: list[float] = []

    @PROPERTY
    @given(
        _view_pairs(max_dim=9),
        st.floats(0.02, 10),
        st.booleans(),
    )
    def prop(views, tau, tied):
        z1, z2 = (torch.from_numpy(a) for a in views)
        if tied:  # z2 = z1, the configurations the minimum is among
            z2 = z1.clone()
        if not broken:
            z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
        n = len(z1)
        bound = simplex_minimum(n, tau)
        loss = _terms(z1, z2, tau).mean().item()
        slack.append(loss / bound)
        assert loss >= bound * (1 - 1e-9), f"mean loss {loss:.6g} < bound {bound:.6g} (N = {n}, tau = {tau})"

    prop()
    return f"{len(slack)} batches (N = 2..8, d <= 9, tau in [0.02, 10]): min loss / bound = {min(slack):.4f}"


# ---------------------------------------------------------------------------------------------- (b)
ALPHA = sp.Symbol("alpha", positive=True)
DELTA = sp.Symbol("delta", positive=True)


def scaled_loss(a, bs) -> sp.Expr:
    """One term with f scaled by alpha: -log(e^{alpha^2 a} / (e^{alpha^2 a} + sum_j e^{alpha^2 b_j}))."""
    return -sp.log(sp.exp(ALPHA**2 * a) / (sp.exp(ALPHA**2 * a) + sum(sp.exp(ALPHA**2 * b) for b in bs)))


def _shift_invariance() -> None:
    """The term depends on the logits only through b_j - a: shifting every logit by a changes nothing."""
    a, b1, b2 = sp.symbols("a b1 b2", real=True)
    residual = sp.simplify(scaled_loss(a, [b1, b2]) - scaled_loss(0, [b1 - a, b2 - a]))
    assert residual == 0, f"shift invariance fails: {residual}"


def _limit(a, bs) -> sp.Expr:
    return sp.limit(scaled_loss(a, bs), ALPHA, sp.oo)


@claim(
    "q5b.scaling_limit_strict", "5b",
    "Scaling f by alpha -> oo drives the loss term to 0 when the positive logit a exceeds every other b_j.",
    "sympy proof",
    "a tie: one negative logit equal to the positive",
)
def scaling_limit_strict(broken: bool) -> str:
    """Scaling f by alpha -> oo drives the loss term to 0 when the positive logit a exceeds every other b_j."""
    _shift_invariance()
    top = sp.Integer(0) if broken else -DELTA  # the largest negative, relative to a = 0
    cases = [(0, [top, -2 * DELTA, -sp.Rational(7, 3) * DELTA]),
             (sp.Rational(3, 2), [sp.Rational(3, 2) + top.subs(DELTA, 1), -1])]
    results = []
    for a, bs in cases:
        value = _limit(a, bs)
        assert value == 0, f"limit with a = {a}, b = {bs} is {value}, not 0"
        results.append(value)
    # Any number n-1 of negatives, each at least delta below a: 0 <= term <= log(1 + (n-1) e^{-alpha^2 delta}).
    n = sp.Symbol("n", positive=True, integer=True)
    # Premise: the top negative is at a + top (top = -delta), the other n-2 at least delta below a.
    upper = sp.log(1 + sp.exp(ALPHA**2 * top) + (n - 2) * sp.exp(-ALPHA**2 * DELTA))
    bound = sp.limit(upper, ALPHA, sp.oo)
    assert bound == 0, f"upper bound tends to {bound}, not 0"
    return ("shift invariance proved; lim -log(e^{a alpha^2}/sum_j e^{b_j alpha^2}) = 0 for b = a-delta, a-2delta, "
            "a-7delta/3 and for a = 3/2, b = (1/2, -1); for any n: log(1 + e^{-alpha^2 delta} + (n-2) e^{-alpha^2 delta}) -> 0")


@claim(
    "q5b.scaling_limit_tie", "5b",
    "With an m-way tie for the largest logit (the positive and m-1 negatives), the scaled loss term tends to log m.",
    "sympy proof",
    "no tie: the positive strictly largest (the limit is then 0)",
)
def scaling_limit_tie(broken: bool) -> str:
    """With an m-way tie for the largest logit (the positive and m-1 negatives), the scaled loss term tends to log m."""
    tied = -DELTA if broken else sp.Integer(0)  # where the m-1 'tied' negatives sit, relative to a = 0
    found = []
    for m, rest in [(2, [-DELTA]), (3, [-DELTA, -3 * DELTA]), (4, [])]:
        value = _limit(0, [tied] * (m - 1) + rest)
        assert sp.simplify(value - sp.log(m)) == 0, f"{m}-way tie: limit {value}, not log {m}"
        found.append(str(value))
    value = _limit(sp.Rational(3, 2), [sp.Rational(3, 2) + tied.subs(DELTA, 1), -1])
    assert sp.simplify(value - sp.log(2)) == 0, f"a = b_1 = 3/2: limit {value}, not log 2"
    m, n = sp.symbols("m n", positive=True, integer=True)
    general = sp.limit(sp.log(m * sp.exp(ALPHA**2 * tied) + (n - m) * sp.exp(-ALPHA**2 * DELTA)), ALPHA, sp.oo)
    assert sp.simplify(general - sp.log(m)) == 0, f"general m-way tie: limit {general}, not log m"
    return f"limits {', '.join(found)} for 2-, 3-, 4-way ties; log 2 for a = b_1 = 3/2; log m for symbolic m of n"


@claim(
    "q5b.scaling_limit_diverges", "5b",
    "When some negative logit b_j exceeds the positive a, the scaled loss term diverges to oo as alpha -> oo.",
    "sympy proof",
    "every negative below the positive (the limit is then 0)",
)
def scaling_limit_diverges(broken: bool) -> str:
    """When some negative logit b_j exceeds the positive a, the scaled loss term diverges to oo as alpha -> oo."""
    above = -DELTA if broken else DELTA
    cases = [(0, [above, -DELTA]), (sp.Rational(3, 2), [sp.Rational(3, 2) + above.subs(DELTA, sp.Rational(1, 2)), -1])]
    for a, bs in cases:
        value = _limit(a, bs)
        assert value == sp.oo, f"limit with a = {a}, b = {bs} is {value}, not oo"
    return "lim = oo for b = (a + delta, a - delta) and for a = 3/2, b = (2, -1)"


@seeds(1)
@claim(
    "q5b.naive_exp_overflows", "5b",
    "In float32 a naive softmax (exp of the logits) overflows once the scaled logits exceed ~88.7, giving inf/nan, "
    "where the logsumexp form stays finite and matches float64.",
    "numeric experiment",
    "float64 (exp overflows only past ~709): the naive form stays finite",
)
def naive_exp_overflows(broken: bool) -> str:
    """In float32 a naive softmax (exp of the logits) overflows once the scaled logits exceed ~88.7, giving inf/nan,
    where the logsumexp form stays finite and matches float64."""
    dtype = torch.float64 if broken else torch.float32
    generator = torch.Generator().manual_seed(0)
    z1 = F.normalize(torch.randn(8, 16, generator=generator, dtype=torch.float64), dim=1)
    z2 = F.normalize(z1 + 0.1 * torch.randn(8, 16, generator=generator, dtype=torch.float64), dim=1)
    rows = []
    for alpha in (1.0, 3.0, 10.0, 20.0):
        logits64 = alpha**2 * (z1 @ z2.T)  # the logits of f scaled by alpha (tau = 1)
        logits = logits64.to(dtype)
        naive = -torch.log(logits.exp().diagonal() / logits.exp().sum(dim=1)).mean()
        stable = F.cross_entropy(logits, torch.arange(8))
        exact = F.cross_entropy(logits64, torch.arange(8)).item()
        overflows = logits.max().item() > math.log(torch.finfo(dtype).max)
        assert torch.isfinite(stable), f"logsumexp not finite at alpha = {alpha}"
        assert math.isclose(stable.item(), exact, rel_tol=1e-4, abs_tol=1e-6), f"alpha = {alpha}: {stable.item()} vs {exact}"
        if overflows:
            assert not torch.isfinite(naive), f"alpha = {alpha}: naive {dtype} exp did not overflow ({naive.item()})"
        rows.append((alpha, logits.max().item(), naive.item(), stable.item()))
    assert any(not math.isfinite(naive) for _, _, naive, _ in rows), f"the naive {dtype} form never overflowed (max logit {rows[-1][1]:.1f})"
    return "; ".join(f"alpha={a:g}: max logit {m:.1f}, naive {n:.4g}, logsumexp {s:.4g}" for a, m, n, s in rows) + " (float32)"
