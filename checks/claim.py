"""The claim-check framework.

A claim check is a function ``check(broken: bool) -> str | None`` registered with :func:`claim`.
With ``broken=False`` it tests the claim under its real premise and must pass (return evidence,
e.g. measured numbers, or None). With ``broken=True`` it runs the very same test on a deliberately
broken premise (the negative control) and must fail by its assertion (an ``AssertionError``, which
is also how hypothesis reports a falsifying example): a check that cannot fail proves nothing, and
a control that crashes (a TypeError in the control's own code) proves nothing either. ``tests/test_claims.py`` turns every registered claim into two pytest tests;
``python grader.py --verify`` runs them all and prints a table.
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
    def label(self) -> str:
        """A one-word verdict for tables."""
        if self.verified:
            return "verified"
        if not self.holds.passed:
            return "FALSIFIED"
        return "CONTROL PASSED" if self.control.passed else "CONTROL CRASHED"


REGISTRY: dict[str, Claim] = {}


def claim(id: str, question: str, statement: str, method: str, control: str, slow: bool = False):
    """Register ``check(broken)`` as the check of a claim (decorator)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; one of {METHODS}")

    def register(check: Callable[[bool], str | None]) -> Callable[[bool], str | None]:
        if id in REGISTRY and REGISTRY[id].check.__qualname__ != check.__qualname__:
            raise ValueError(f"claim {id!r} registered twice")
        REGISTRY[id] = Claim(id, question, statement, method, control, check, slow)
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
        return Outcome(False, failed_by_assertion(error), _describe_failure(error), time.perf_counter() - start)
    return Outcome(True, False, evidence or "", time.perf_counter() - start)


def verify(c: Claim) -> Verdict:
    """Run a claim under its real premise and under its negative control."""
    return Verdict(c, run_check(c.check, broken=False), run_check(c.check, broken=True))
