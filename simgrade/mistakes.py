"""Known mistakes, each recognised by what the student's function does: the generic symptoms, and diagnosis.

A :class:`~simgrade.question.Mistake` is either a *formula* — the wrong function itself, with the
reference's arguments; it matches when the student's values equal it on every input tried (and differ
from the reference) — or a *symptom*, a predicate on the comparison (e.g. right values but no
gradient). A question's own mistakes are in its question file; the symptoms here belong to no question
and are checked for every one (:func:`catalogue`). A symptom that says "the function in a wrong form"
holds only where the student's numbers are the reference's numbers on the inputs it names: the
runner's flags alone (it is the student's process) never name one. ``tests/test_mistakes.py`` checks
that every formula can be told apart from the reference and from every other formula on the battery.
"""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np
import torch

from simgrade.compare import TOLERANCE, Comparison, Observation, reference_result
from simgrade.probes import Case, make_probe
from simgrade.question import SCALED, CodeQuestion, Mistake
from simgrade.questions import question_of

__all__ = ["Mistake", "GENERIC", "catalogue", "diagnose"]


# -- symptoms ---------------------------------------------------------------------------------------
# "Right" is judged on the battery (the value inputs); a question's stress inputs have their own property
# (and maybe a symptom), so a function that also fails there is still recognised as, e.g., detached.
def _battery(c: Comparison) -> list[Observation]:
    return [o for o in c.observations if not o.case.check]


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


GENERIC: tuple[Mistake, ...] = (
    Mistake("detached or no-grad graph", "don't call .detach() or compute under torch.no_grad(): the loss must carry gradient",
            symptom=_detached),
    Mistake(".item() returns a Python number", "return the tensor; .item() breaks the graph and loss.backward() fails",
            symptom=_item),
    Mistake("NumPy value returned", "return the torch tensor itself: .detach().cpu().numpy() leaves the graph "
            "and the grader, like loss.backward(), needs a torch.Tensor", symptom=_numpy, evidence=False),
    Mistake("per-row losses not reduced", "reduce to one number with .mean() (a 0-dim tensor)", symptom=_per_row),
    Mistake("hard-coded batch size", "take B from the input (the len() of a batch argument), not a constant like 256",
            symptom=_hard_coded_batch),
    Mistake("breaks at batch size 1", "B can be 1: a bare .squeeze() turns the [1, 1] logits (or a [1, d] batch) "
            "into a scalar; squeeze a named dim, or keep the shapes", symptom=_breaks_at_one),
    Mistake("loss.backward() called inside the loss", "return the loss without calling loss.backward(): "
            "the training loop (and the grader) call it once, and a second call finds the graph freed",
            symptom=_backward_inside),
    Mistake("Tensor subclass returned", "return a plain torch.Tensor", symptom=_subclass, evidence=False),
    Mistake("inputs modified in place", "use out-of-place operations (x = x / s, not x /= s) on the inputs",
            symptom=_in_place, evidence=False),
)
"""The symptoms of every question (no question's own), checked after the question's mistakes."""


def catalogue(question: CodeQuestion) -> list[Mistake]:
    """Every mistake checked for ``question``: its own, then the generic symptoms (bound to its id and its rubric)."""
    return list(question.mistakes) + [replace(m, question=question.question, credit=question.rubric.get(m.name))
                                      for m in GENERIC]


# -- factors ----------------------------------------------------------------------------------------
# A loss "up to a constant factor": sum over B rows of a mean, or NT-Xent's sum over 2B views divided
# by 2B - 2, or a temperature left in front. Each factor is a function of the input's B and scalars.
def _factors(question: CodeQuestion) -> list[tuple[str, object]]:
    """(label, factor(B, scalars)) of every factor tried, simplest first: constants, B's, each scalar's."""
    factors = [("2", lambda b, s: 2.0), ("1/2", lambda b, s: 0.5),
               ("B", lambda b, s: b), ("1/B", lambda b, s: 1 / b),
               ("B/(B-1)", lambda b, s: b / (b - 1)), ("(B-1)/B", lambda b, s: (b - 1) / b),
               ("B-1", lambda b, s: b - 1), ("1/(B-1)", lambda b, s: 1 / (b - 1)),
               ("2B", lambda b, s: 2 * b), ("1/(2B)", lambda b, s: 1 / (2 * b)),
               ("2(B-1)", lambda b, s: 2 * (b - 1)), ("1/(2(B-1))", lambda b, s: 1 / (2 * (b - 1)))]
    for name, scalar in question.scalars.items():
        t = scalar.typical
        factors += [(name, lambda b, s, n=name: s[n]), (f"1/{name}", lambda b, s, n=name: 1 / s[n]),
                    (f"{name}/{t:g}", lambda b, s, n=name, t=t: s[n] / t),
                    (f"{t:g}/{name}", lambda b, s, n=name, t=t: t / s[n])]
    return factors


def _factor_value(factor, case: Case) -> float | None:
    try:
        value = float(factor(case.batch, case.scalar_values()))
    except ZeroDivisionError:
        return None
    return value if np.isfinite(value) and value != 0 else None


def _scaled(question: CodeQuestion, comparison: Comparison, named: list[Mistake]) -> Mistake | None:
    """The right loss, or one of the question's formula mistakes, times a factor of :func:`_factors` (simplest first)."""
    usable = [o for o in _battery(comparison) if o.ok and o.scalar is not None and np.isfinite(o.scalar)]
    if len(usable) < 3 or all(o.value_matches() for o in usable) or any(m.formula is not None for m in named):
        return None
    rubric = question.rubric
    families = [None] + [m for m in question.mistakes if m.formula is not None]
    factors = [(label, [_factor_value(factor, o.case) for o in usable]) for label, factor in _factors(question)]
    factors = [(label, scale) for label, scale in factors
               if all(f is not None for f in scale) and not all(abs(f - 1) < 1e-12 for f in scale)]
    for family in families:
        values = [o.expected if family is None else _formula_value(family, o.case) for o in usable]
        for label, scale in factors:
            if not all(_same_value(o.scalar, f * v, o.case.dtype) for o, f, v in zip(usable, scale, values)):
                continue
            if family is None:
                return Mistake(f"{SCALED} ({label})", f"return the loss itself, without the factor {label}",
                               credit=rubric.get(SCALED), question=question.question)
            credits = [c for c in (family.credit, rubric.get(SCALED)) if c is not None]
            return Mistake(f"{family.name}, times {label}", f"{family.fix}; and drop the factor {label}",
                           credit=min(credits) if credits else None, question=question.question)
    return None


# -- diagnosis --------------------------------------------------------------------------------------
@lru_cache(maxsize=128)
def _arguments(case: Case) -> tuple:
    """The float64 arguments of ``case`` (networks and batches), built once and shared by every formula."""
    probe = make_probe(case)
    modules, batches = probe.reference_inputs()
    for module in modules.values():
        module.requires_grad_(False)
    return tuple(probe.arguments(modules, batches))


@lru_cache(maxsize=8192)
def _formula_value(mistake: Mistake, case: Case) -> float:
    with torch.no_grad():
        return float(mistake.formula(*_arguments(case)))


def _same_value(got: float, wrong: float, dtype: str) -> bool:
    """The student's number equals the mistake's: within tolerance, or the same infinity, or both NaN."""
    if np.isfinite(got) and np.isfinite(wrong):
        rtol, atol = TOLERANCE[dtype]
        return abs(got - wrong) <= atol + rtol * abs(wrong)
    return (np.isnan(got) and np.isnan(wrong)) or got == wrong  # e.g. -inf where a formula has an empty sum


def _formula_matches(mistake: Mistake, comparison: Comparison) -> bool:
    usable = [o for o in comparison.observations if o.ok and o.scalar is not None and not o.case.check]
    if len(usable) < 3 or all(o.value_matches() for o in usable):
        return False
    if not any(np.isfinite(o.scalar) for o in usable):
        return False
    return all(_same_value(obs.scalar, _formula_value(mistake, obs.case), obs.case.dtype) for obs in usable)


def _gradient_matches(mistake: Mistake, comparison: Comparison) -> bool:
    """Right values, and on every battery input the student's gradients are the mistake's (not the reference's)."""
    battery = _battery(comparison)
    if not _right(comparison) or len(battery) < 3 or all(o.gradient_mismatch() is None for o in battery):
        return False
    for obs in battery:
        want = reference_result(make_probe(obs.case), mistake.gradient)[1]
        got = {name: obs.grads.get(name, np.zeros_like(g)) for name, g in want.items()}
        if Observation(obs.case, obs.reply, obs.value, got, obs.expected, want).gradient_mismatch() is not None:
            return False
    return True


def _matches(mistake: Mistake, comparison: Comparison) -> bool:
    if mistake.formula is not None:
        return _formula_matches(mistake, comparison)
    if mistake.gradient is not None:
        return _gradient_matches(mistake, comparison)
    return mistake.symptom is not None and mistake.symptom(comparison)


def diagnose(comparison: Comparison) -> list[Mistake]:
    """The mistakes of the function's question (its own, then the generic symptoms, then a known loss times a
    constant factor) that it shows."""
    if comparison.status not in ("graded", "timeout"):
        return []
    question = question_of(comparison.function)
    found = []
    for mistake in catalogue(question):
        try:
            if _matches(mistake, comparison):
                found.append(mistake)
        except Exception:  # noqa: BLE001 - naming a mistake is best effort: it must never stop the grading
            continue
    try:
        scaled = _scaled(question, comparison, found)
    except Exception:  # noqa: BLE001 - as above
        scaled = None
    return found + ([scaled] if scaled else [])
