"""The catalogue of known mistakes, each recognised by what the student's function does.

An entry is either a *formula* — the wrong loss itself, with the reference's signature; it matches
when the student's values equal it on every input tried (and differ from the reference) — or a
*symptom*, a predicate on the comparison (e.g. right values but no gradient). Adding a mistake is
adding one entry to :data:`CATALOGUE`. ``docs/MISTAKES.md`` lists them for TAs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from reference.losses import clip_loss, info_nce
from simgrade.compare import Comparison, Observation, TOLERANCE
from simgrade.probes import make_probe


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


# -- symptoms ---------------------------------------------------------------------------------------
def _scalar_right(obs: Observation) -> bool:
    return obs.ok and obs.value_matches()


def _detached(c: Comparison) -> bool:
    graded = [o for o in c.observations if o.ok and o.reply.get("kind") == "tensor"]
    return bool(graded) and all(_scalar_right(o) for o in graded) and all(
        not o.reply.get("requires_grad") or o.reply.get("no_grad") for o in graded)


def _item(c: Comparison) -> bool:
    numbers = [o for o in c.observations if o.reply.get("kind") == "number"]
    return bool(numbers) and all(o.value_matches() for o in numbers)


def _per_row(c: Comparison) -> bool:
    vectors = [o for o in c.observations if o.ok and o.value is not None and o.value.size > 1]
    return bool(vectors) and all(abs(float(o.value.mean()) - o.expected) <= 1e-4 * (1 + abs(o.expected)) for o in vectors)


def _overflow(c: Comparison) -> bool:
    value, small = c.properties.get("value"), c.properties.get("small_tau")
    return bool(value and value.passed and small and not small.passed) and any(
        o.scalar is not None and not np.isfinite(o.scalar) for o in c.observations if o.case.aligned)


def _hard_coded_batch(c: Comparison) -> bool:
    return bool(c.probes) and c.probes[0].value_matches()


def _subclass(c: Comparison) -> bool:
    return any(o.reply.get("subclass") for o in c.observations)


def _in_place(c: Comparison) -> bool:
    return any(o.reply.get("changed_inputs") for o in c.observations)


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
    Mistake("swapped direction", "8a", "rows are batch1 and columns batch2: logits = enc(batch1) @ enc(batch2).T",
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
    # -- both --------------------------------------------------------------------------------------
    *[Mistake("detached or no-grad graph", q, "don't call .detach() or compute under torch.no_grad(): the loss must carry gradient",
              symptom=_detached) for q in ("7b", "8a")],
    *[Mistake(".item() returns a Python number", q, "return the tensor; .item() breaks the graph and loss.backward() fails",
              symptom=_item) for q in ("7b", "8a")],
    *[Mistake("per-row losses not reduced", q, "reduce to one number with .mean() (a 0-dim tensor)",
              symptom=_per_row) for q in ("7b", "8a")],
    *[Mistake("hard-coded batch size", q, "take B from the input (len(batch1), logits.shape[0]), not a constant like 256",
              symptom=_hard_coded_batch) for q in ("7b", "8a")],
    *[Mistake("Tensor subclass returned", q, "return a plain torch.Tensor", symptom=_subclass) for q in ("7b", "8a")],
    *[Mistake("inputs modified in place", q, "use out-of-place operations (x = x / tau, not x /= tau) on the inputs",
              symptom=_in_place) for q in ("7b", "8a")],
]
QUESTION_OF = {"autoencoder_loss": "7b", "contrastive_loss": "8a"}


def _formula_value(mistake: Mistake, obs: Observation) -> float:
    probe = make_probe(obs.case)
    modules, batches = probe.reference_inputs()
    with torch.no_grad():
        return float(mistake.formula(*probe.arguments(modules, batches)))


def _formula_matches(mistake: Mistake, comparison: Comparison) -> bool:
    usable = [o for o in comparison.observations if o.ok and o.scalar is not None and not o.case.aligned]
    if len(usable) < 3 or all(o.value_matches() for o in usable):
        return False
    for obs in usable:
        rtol, atol = TOLERANCE[obs.case.dtype]
        wrong = _formula_value(mistake, obs)
        if not (np.isfinite(obs.scalar) and abs(obs.scalar - wrong) <= atol + rtol * abs(wrong)):
            return False
    return True


def diagnose(comparison: Comparison) -> list[Mistake]:
    """The catalogue's mistakes that the student's function shows."""
    question = QUESTION_OF[comparison.function]
    if comparison.status not in ("graded", "timeout"):
        return []
    found = []
    for mistake in CATALOGUE:
        if mistake.question != question:
            continue
        if mistake.formula is not None and _formula_matches(mistake, comparison):
            found.append(mistake)
        elif mistake.symptom is not None and mistake.symptom(comparison):
            found.append(mistake)
    return found
