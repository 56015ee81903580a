"""The claim-check framework.

A claim check is a function ``check(broken: bool) -> str | None`` registered with :func:`claim`.
With ``broken=False`` it tests the claim under its real premise and must pass (return evidence,
e.g. measured numbers, or None). With ``broken=True`` it runs the very same test on a deliberately
broken premise (the negative control) and must fail by its assertion (an ``AssertionError``, which
is also how hypothesis reports a falsifying example): a check that cannot fail proves nothing, and
a control that crashes (a TypeError in the control's own code) proves nothing either. ``tests/test_claims.py`` turns every registered claim into two pytest tests;
``python grader.py --verify`` runs them all and prints a table.

A claim registered with ``prediction=True`` is a *staff prediction* of an experiment's outcome (the homework
asks students to predict it, e.g. Q8(b)'s invariances): its check tests the prediction against the measurement
and, when the measurement contradicts it, raises :class:`Contradicted` with what was measured instead. Such a
verdict is reported (``STAFF PREDICTION (measurement contradicts: ...)``), not counted as a defect of the suite:
the key's answer stays the staff's prediction, and the table says plainly that the data do not support it. Any
other failure of a prediction's check (a plain ``AssertionError``, a crash) is still ``FALSIFIED``, and
:class:`Contradicted` raised by a claim that is not a prediction is an ordinary failed assertion.
"""
from __future__ import annotations

import importlib
import pkgutil
import time
import traceback
from dataclasses import dataclass
from typing import Callable

import checks

METHODS = ("sympy proof", "hypothesis property", "numeric experiment", "exhaustive enumeration")


@dataclass(frozen=True)
class Claim:
    """One statement behind the answer key and the check that tests it."""

    id: str
    """Stable identifier, ``q<question>.<name>``; the answer key refers to claims by it."""
    question: str
    """Question id as in CONTRACT.md (``1``, ``4c``, ``5a``, ...)."""
    statement: str
    """The claim in words."""
    method: str
    """How it is checked: one of :data:`METHODS`."""
    control: str
    """The broken premise of the negative control, in words."""
    check: Callable[[bool], str | None]
    """``check(broken)``: passes (returns evidence or None) when ``broken`` is False; fails an assertion when True."""
    slow: bool = False
    """Long-running (training): deselected from the default ``pytest -n auto``; still run in CI."""
    prediction: bool = False
    """The statement is a staff prediction of a measurement: a check that raises :class:`Contradicted` reports the
    prediction as contradicted by the data (shown, not a failure of the suite) instead of falsified."""


class Contradicted(AssertionError):
    """Raised by the check of a staff prediction when the measurement contradicts it.

    ``summary`` says in a few words what was measured instead (``shape lost (predicted kept), lift +0.09
    (+0.08..+0.10) over 3 training seeds``);
    the message carries the summary and the full evidence. An ``AssertionError``: under a negative control, and for
    a claim that is not a prediction, it is an ordinary failed assertion."""

    def __init__(self, summary: str, evidence: str = ""):
        super().__init__(f"{summary} | {evidence}" if evidence else summary)
        self.summary = summary


@dataclass(frozen=True)
class Outcome:
    """One run of a check, under its real premise or its negative control."""

    passed: bool
    """True when the check returned normally."""
    asserted: bool
    """True when it failed by an assertion (the claim's own test said no), not by crashing."""
    evidence: str
    """What it returned, or the first lines of the failure (e.g. hypothesis's falsifying example)."""
    seconds: float
    """Wall time of the run."""
    contradicted: str = ""
    """The :attr:`Contradicted.summary` when the run failed by :class:`Contradicted`; empty otherwise."""


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict: verified when the claim holds and its negative control fails."""

    claim: Claim
    """The claim."""
    holds: Outcome
    """The run under the real premise (must pass)."""
    control: Outcome
    """The run under the broken premise (must fail)."""

    @property
    def verified(self) -> bool:
        """The claim holds and its negative control fails by its assertion."""
        return self.holds.passed and self.control.asserted

    @property
    def contradicted(self) -> bool:
        """A staff prediction that the measurement contradicts (its check raised :class:`Contradicted` under the real
        premise), with a negative control that fails by its assertion as it should: reported, not a defect."""
        return self.claim.prediction and bool(self.holds.contradicted) and self.control.asserted

    @property
    def ok(self) -> bool:
        """Verified, or a staff prediction contradicted by the measurement: neither is a defect of the suite."""
        return self.verified or self.contradicted

    @property
    def label(self) -> str:
        """The verdict for tables: a word, or for a contradicted prediction what the measurement says."""
        if self.verified:
            return "verified"
        if self.contradicted:
            return f"STAFF PREDICTION (measurement contradicts: {self.holds.contradicted})"
        if not self.holds.passed and not (self.claim.prediction and self.holds.contradicted):
            return "FALSIFIED"  # (a contradicted prediction whose control does not fail is labelled by its control)
        return "CONTROL PASSED" if self.control.passed else "CONTROL CRASHED"


REGISTRY: dict[str, Claim] = {}


def claim(id: str, question: str, statement: str, method: str, control: str, slow: bool = False,
          prediction: bool = False):
    """Register ``check(broken)`` as the check of a claim (decorator); ``prediction=True``: a staff prediction
    (:class:`Claim`.prediction)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; one of {METHODS}")

    def register(check: Callable[[bool], str | None]) -> Callable[[bool], str | None]:
        if id in REGISTRY and REGISTRY[id].check.__qualname__ != check.__qualname__:
            raise ValueError(f"claim {id!r} registered twice")
        REGISTRY[id] = Claim(id, question, statement, method, control, check, slow, prediction)
        return check

    return register


def load_all() -> dict[str, Claim]:
    """Import every ``checks/check_*.py`` module and return the registry, sorted by id."""
    for module in pkgutil.iter_modules(checks.__path__):
        if module.name.startswith("check_"):
            importlib.import_module(f"checks.{module.name}")
    return dict(sorted(REGISTRY.items()))


def _describe_failure(error: BaseException) -> str:
    notes = [n for n in getattr(error, "__notes__", []) if n.strip()]
    head = f"{type(error).__name__}: {error}".strip()
    lines = [line for line in (notes + [head]) if line]
    text = " | ".join(" ".join(line.split()) for line in lines)
    return text[:400] if text else traceback.format_exception_only(error)[-1].strip()


def failed_by_assertion(error: BaseException) -> bool:
    """An AssertionError, or a group of them (hypothesis reports several distinct failures as a group)."""
    if isinstance(error, BaseExceptionGroup):
        return all(failed_by_assertion(e) for e in error.exceptions)
    return isinstance(error, AssertionError)


def run_check(check: Callable[[bool], str | None], broken: bool) -> Outcome:
    """Run one check once; an exception of any kind is a failure, described in the evidence."""
    start = time.perf_counter()
    try:
        evidence = check(broken)
    except Exception as error:  # noqa: BLE001 - any failure of a check is a verdict, not a crash
        summary = error.summary if isinstance(error, Contradicted) else ""
        return Outcome(False, failed_by_assertion(error), _describe_failure(error), time.perf_counter() - start, summary)
    return Outcome(True, False, evidence or "", time.perf_counter() - start)


def verify(c: Claim) -> Verdict:
    """Run a claim under its real premise and under its negative control."""
    return Verdict(c, run_check(c.check, broken=False), run_check(c.check, broken=True))
