"""The catalogue of known mistakes, each recognised by what the student's function does.

An entry is either a *formula* — the wrong loss itself, with the reference's signature; it matches
when the student's values equal it on every input tried (and differ from the reference) — or a
*symptom*, a predicate on the comparison (e.g. right values but no gradient). A symptom that says
"the loss in a wrong form" holds only where the student's numbers are the loss's numbers on the
inputs it names: the runner's flags alone (it is the student's process) never name one. Adding a
mistake is adding one entry to :data:`CATALOGUE` (and a line to ``docs/MISTAKES.md``, which lists
them for TAs; ``tests/test_mistakes.py`` checks that a new formula can be told apart from the
reference and from every other formula on the grader's battery).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from reference.losses import clip_loss, info_nce
from simgrade.compare import Comparison, Observation, TOLERANCE
from simgrade.probes import Case, make_probe


@dataclass(frozen=True)
class Mistake:
    """A known mistake: how to recognise it and how to fix it."""

    name: str
    """Short name shown to the student (``missing temperature``)."""
    question: str
    """``7b`` or ``8a``."""
    fix: str
    """What to change."""
    formula: Callable | None = None
    """The wrong loss, same arguments as the reference (``enc, dec, batch`` or ``enc, batch1, batch2, tau``)."""
    symptom: Callable[[Comparison], bool] | None = None
    """A predicate on the whole comparison, for mistakes that are not a different formula."""


def _logits(enc, b1, b2, tau):
    return enc(b1) @ enc(b2).T / tau


def _targets(n):
    return torch.arange(n)


def _mse_terms(enc, dec, batch):
    return dec(enc(batch)) - batch


def _positive_excluded(enc, b1, b2, tau):
    """-log( e^{l_ii} / sum_{j != i} e^{l_ij} ): the positive left out of the denominator (-inf at B = 1)."""
    logits = _logits(enc, b1, b2, tau)
    eye = torch.eye(len(logits), dtype=torch.bool)
    return (torch.logsumexp(logits.masked_fill(eye, float("-inf")), dim=1) - logits.diagonal()).mean()


def _nt_xent(enc, b1, b2, tau):
    """SimCLR's NT-Xent: 2B views, each one's positive is its other view, the other 2B - 2 views negatives."""
    z = torch.cat([enc(b1), enc(b2)])
    n = len(b1)
    sim = (z @ z.T / tau).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(sim, (torch.arange(2 * n) + n) % (2 * n))


# -- symptoms ---------------------------------------------------------------------------------------
# "Right" is judged on the battery (the value inputs); the small-tau inputs have their own property and
# symptom (exp overflow), so a function that also overflows is still recognised as, e.g., detached.
def _battery(c: Comparison) -> list[Observation]:
    return [o for o in c.observations if not o.case.aligned]


def _right(c: Comparison) -> bool:
    """The value is the loss's on every battery input (the evidence the runner cannot forge)."""
    battery = _battery(c)
    return bool(battery) and all(o.value_matches() for o in battery)


def _detached(c: Comparison) -> bool:
    return _right(c) and all(
        o.reply.get("kind") == "tensor" and (o.reply.get("requires_grad") is not True or o.reply.get("no_grad"))
        for o in _battery(c))


def _item(c: Comparison) -> bool:
    return _right(c) and all(o.reply.get("kind") == "number" for o in _battery(c))


NUMPY_TYPES = frozenset({"ndarray", "float64", "float32", "float16", "longdouble", "matrix"})


def _text(value) -> str:
    """A reply field as text: the sandbox's replies come from the student's process, so any type may arrive."""
    return value if isinstance(value, str) else ""


def _numpy(c: Comparison) -> bool:
    returned = [o for o in c.observations if o.ok]
    return bool(returned) and all(o.reply.get("kind") == "other" and _text(o.reply.get("type")) in NUMPY_TYPES
                                  for o in returned)


def _per_row(c: Comparison) -> bool:
    """Every battery input gives the loss: as the mean of a vector of B losses (or the one loss when B = 1)."""
    battery = _battery(c)
    return any(o.value is not None and o.value.size > 1 for o in battery) and all(
        o.value is not None and o.value.size == o.case.batch
        and abs(float(o.value.mean()) - o.expected) <= 1e-4 * (1 + abs(o.expected)) for o in battery)


def _overflow(c: Comparison) -> bool:
    return _right(c) and any(o.scalar is not None and not np.isfinite(o.scalar) for o in c.observations if o.case.aligned)


def _breaks_at_one(c: Comparison) -> bool:
    battery = _battery(c)
    ones = [o for o in battery if o.case.batch == 1]
    others = [o for o in battery if o.case.batch > 1]
    return bool(ones and others) and all(o.value_matches() for o in others) and not any(o.value_matches() for o in ones)


def _backward_inside(c: Comparison) -> bool:
    return _right(c) and any("backward through the graph a second time" in _text(o.reply.get("backward_error"))
                             for o in c.observations)


def _hard_coded_batch(c: Comparison) -> bool:
    return bool(c.probes) and c.probes[0].value_matches()


def _subclass(c: Comparison) -> bool:
    return any(o.reply.get("subclass") is True for o in c.observations)


def _in_place(c: Comparison) -> bool:
    return any(isinstance(o.reply.get("changed_inputs"), list) and o.reply["changed_inputs"] for o in c.observations)


CATALOGUE: list[Mistake] = [
    # -- 8a: the contrastive loss ----------------------------------------------------------------
    Mistake("missing temperature", "8a", "divide the logits by tau: enc(batch1) @ enc(batch2).T / tau",
            formula=lambda enc, b1, b2, tau: info_nce(enc(b1), enc(b2), 1.0)),
    Mistake("temperature multiplied instead of divided", "8a", "divide the logits by tau instead of multiplying",
            formula=lambda enc, b1, b2, tau: info_nce(enc(b1), enc(b2), 1.0 / tau)),
    Mistake("temperature applied twice", "8a", "divide the logits by tau once (not each feature, and not twice)",
            formula=lambda enc, b1, b2, tau: info_nce(enc(b1), enc(b2), tau * tau)),
    Mistake("doubled temperature", "8a", "divide the logits by tau, not by 2*tau",
            formula=lambda enc, b1, b2, tau: info_nce(enc(b1), enc(b2), 2 * tau)),
    Mistake("distance logits without the 1/2", "8a",
            "-||u-v||^2/(2*tau) equals u.v/tau up to a constant; -||u-v||^2/tau doubles the logits",
            formula=lambda enc, b1, b2, tau: info_nce(enc(b1), enc(b2), tau / 2)),
    Mistake("hard-coded temperature 0.07", "8a", "use the tau argument, not the constant 0.07",
            formula=lambda enc, b1, b2, tau: info_nce(enc(b1), enc(b2), 0.07)),
    Mistake("wrong targets (all zeros)", "8a", "the positive of row i is column i: targets = torch.arange(B)",
            formula=lambda enc, b1, b2, tau: F.cross_entropy(_logits(enc, b1, b2, tau), torch.zeros(len(b1), dtype=torch.long))),
    Mistake("the same batch twice", "8a", "compare the two views: enc(batch1) against enc(batch2)",
            formula=lambda enc, b1, b2, tau: info_nce(enc(b1), enc(b1), tau)),
    Mistake("swapped direction", "8a", "rows are batch1 and columns batch2: logits = enc(batch1) @ enc(batch2).T, "
            "and the softmax runs over each row (dim=1), not each column (dim=0)",
            formula=lambda enc, b1, b2, tau: info_nce(enc(b2), enc(b1), tau)),
    Mistake("symmetric (CLIP) loss", "8a", "the homework's loss is one-directional: cross-entropy over the rows only",
            formula=lambda enc, b1, b2, tau: clip_loss(enc(b1), enc(b2), tau)),
    Mistake("sum instead of mean", "8a", "average over the B rows (F.cross_entropy's default reduction='mean')",
            formula=lambda enc, b1, b2, tau: F.cross_entropy(_logits(enc, b1, b2, tau), _targets(len(b1)), reduction="sum")),
    Mistake("probabilities instead of log-probabilities", "8a",
            "cross-entropy takes -log of the softmax: use F.cross_entropy on the logits (or log_softmax + nll_loss)",
            formula=lambda enc, b1, b2, tau: -torch.softmax(_logits(enc, b1, b2, tau), dim=1).diagonal().mean()),
    Mistake("sign flipped", "8a", "minimise -log p(positive), i.e. return the cross-entropy itself, not its negative",
            formula=lambda enc, b1, b2, tau: -info_nce(enc(b1), enc(b2), tau)),
    Mistake("skipping the encoder", "8a", "compute the features with enc(batch1), enc(batch2), not on raw pixels",
            formula=lambda enc, b1, b2, tau: info_nce(b1.flatten(1), b2.flatten(1), tau)),
    Mistake("positive left out of the denominator", "8a",
            "the softmax runs over the whole row, positive included: F.cross_entropy(logits, torch.arange(B))",
            formula=_positive_excluded),
    Mistake("SimCLR (NT-Xent) loss over 2B views", "8a",
            "the homework's loss compares enc(batch1) with enc(batch2) only: logits = z1 @ z2.T / tau, [B, B], "
            "not the [2B, 2B] similarity of the concatenated views",
            formula=_nt_xent),
    Mistake("no negatives (positive logits only)", "8a",
            "subtract the log of the softmax's denominator: cross-entropy over each row, F.cross_entropy(logits, targets)",
            formula=lambda enc, b1, b2, tau: -(enc(b1) * enc(b2)).sum(dim=1).mean() / tau),
    Mistake("temperature divides the loss, not the logits", "8a",
            "divide the logits by tau before the cross-entropy: F.cross_entropy(z1 @ z2.T / tau, targets)",
            formula=lambda enc, b1, b2, tau: info_nce(enc(b1), enc(b2), 1.0) / tau),
    Mistake("symmetric loss summed", "8a",
            "the homework's loss is one-directional: cross-entropy over the rows only (not rows plus columns)",
            formula=lambda enc, b1, b2, tau: 2 * clip_loss(enc(b1), enc(b2), tau)),
    Mistake("exp overflow", "8a", "exp(logits) overflows for small tau: use F.cross_entropy or logsumexp (subtract the row max)",
            symptom=_overflow),
    # -- 7b: the autoencoder loss ------------------------------------------------------------------
    Mistake("sum instead of mean", "7b", "average over every element: F.mse_loss(recon, batch)",
            formula=lambda enc, dec, x: (_mse_terms(enc, dec, x) ** 2).sum()),
    Mistake("per-sample sum", "7b", "average over pixels and channels too, not only over the batch",
            formula=lambda enc, dec, x: (_mse_terms(enc, dec, x) ** 2).flatten(1).sum(1).mean()),
    Mistake("L1 instead of squared error", "7b", "square the differences: F.mse_loss, not F.l1_loss",
            formula=lambda enc, dec, x: _mse_terms(enc, dec, x).abs().mean()),
    Mistake("RMSE instead of MSE", "7b", "return the mean squared error itself, without the square root",
            formula=lambda enc, dec, x: (_mse_terms(enc, dec, x) ** 2).mean().sqrt()),
    Mistake("Huber (smooth L1) instead of MSE", "7b", "use F.mse_loss, not F.huber_loss / F.smooth_l1_loss",
            formula=lambda enc, dec, x: F.smooth_l1_loss(dec(enc(x)), x)),
    Mistake("half the MSE", "7b", "drop the factor 1/2: the homework's loss is the plain mean squared error",
            formula=lambda enc, dec, x: 0.5 * (_mse_terms(enc, dec, x) ** 2).mean()),
    Mistake("sign flipped", "7b", "minimise the reconstruction error, not its negative",
            formula=lambda enc, dec, x: -(_mse_terms(enc, dec, x) ** 2).mean()),
    Mistake("binary cross-entropy instead of MSE", "7b",
            "the images are in [-1, 1], not probabilities: use F.mse_loss(recon, batch)",
            formula=lambda enc, dec, x: F.binary_cross_entropy_with_logits(dec(enc(x)), x)),
    # -- both --------------------------------------------------------------------------------------
    *[Mistake("detached or no-grad graph", q, "don't call .detach() or compute under torch.no_grad(): the loss must carry gradient",
              symptom=_detached) for q in ("7b", "8a")],
    *[Mistake(".item() returns a Python number", q, "return the tensor; .item() breaks the graph and loss.backward() fails",
              symptom=_item) for q in ("7b", "8a")],
    *[Mistake("NumPy value returned", q, "return the torch tensor itself: .detach().cpu().numpy() leaves the graph "
              "and the grader, like loss.backward(), needs a torch.Tensor", symptom=_numpy) for q in ("7b", "8a")],
    *[Mistake("per-row losses not reduced", q, "reduce to one number with .mean() (a 0-dim tensor)",
              symptom=_per_row) for q in ("7b", "8a")],
    *[Mistake("hard-coded batch size", q, "take B from the input (len(batch1), logits.shape[0]), not a constant like 256",
              symptom=_hard_coded_batch) for q in ("7b", "8a")],
    *[Mistake("breaks at batch size 1", q, "B can be 1: a bare .squeeze() turns the [1, 1] logits (or a [1, d] batch) "
              "into a scalar; squeeze a named dim, or keep the shapes", symptom=_breaks_at_one) for q in ("7b", "8a")],
    *[Mistake("loss.backward() called inside the loss", q, "return the loss without calling loss.backward(): "
              "the training loop (and the grader) call it once, and a second call finds the graph freed",
              symptom=_backward_inside) for q in ("7b", "8a")],
    *[Mistake("Tensor subclass returned", q, "return a plain torch.Tensor", symptom=_subclass) for q in ("7b", "8a")],
    *[Mistake("inputs modified in place", q, "use out-of-place operations (x = x / tau, not x /= tau) on the inputs",
              symptom=_in_place) for q in ("7b", "8a")],
]
QUESTION_OF = {"autoencoder_loss": "7b", "contrastive_loss": "8a"}


@lru_cache(maxsize=128)
def _arguments(case: Case) -> tuple:
    """The float64 arguments of ``case`` (networks and batches), built once and shared by every formula."""
    probe = make_probe(case)
    modules, batches = probe.reference_inputs()
    for module in modules.values():
        module.requires_grad_(False)
    return tuple(probe.arguments(modules, batches))


def _formula_value(mistake: Mistake, obs: Observation) -> float:
    with torch.no_grad():
        return float(mistake.formula(*_arguments(obs.case)))


def _same_value(got: float, wrong: float, dtype: str) -> bool:
    """The student's number equals the mistake's: within tolerance, or the same infinity, or both NaN."""
    if np.isfinite(got) and np.isfinite(wrong):
        rtol, atol = TOLERANCE[dtype]
        return abs(got - wrong) <= atol + rtol * abs(wrong)
    return (np.isnan(got) and np.isnan(wrong)) or got == wrong  # e.g. -inf where a formula has an empty sum


def _formula_matches(mistake: Mistake, comparison: Comparison) -> bool:
    usable = [o for o in comparison.observations if o.ok and o.scalar is not None and not o.case.aligned]
    if len(usable) < 3 or all(o.value_matches() for o in usable):
        return False
    if not any(np.isfinite(o.scalar) for o in usable):
        return False
    return all(_same_value(obs.scalar, _formula_value(mistake, obs), obs.case.dtype) for obs in usable)


def diagnose(comparison: Comparison) -> list[Mistake]:
    """The catalogue's mistakes that the student's function shows."""
    question = QUESTION_OF[comparison.function]
    if comparison.status not in ("graded", "timeout"):
        return []
    found = []
    for mistake in CATALOGUE:
        if mistake.question != question:
            continue
        try:
            if mistake.formula is not None and _formula_matches(mistake, comparison):
                found.append(mistake)
            elif mistake.symptom is not None and mistake.symptom(comparison):
                found.append(mistake)
        except Exception:  # noqa: BLE001 - naming a mistake is best effort: it must never stop the grading
            continue
    return found
