"""Turn comparisons and diagnoses into points: one TestResult per property, numbered as CONTRACT.md says."""
from __future__ import annotations

from simgrade.compare import Comparison
from simgrade.question import CodeQuestion, Mistake
from simgrade.results import TestResult

TITLES = {
    "value": "value equals the reference",
    "gradient": "gradients equal the reference's",
    "form": "returns a 0-dim tensor that carries gradient",
    "inputs_untouched": "leaves its inputs unchanged",
}
"""The tests' titles of the engine's properties (a question's own properties bring theirs)."""
UNGATED = ("value", "gradient")
"""Every other property earns only beside a right value: a constant passes them all."""


def _titles(question: CodeQuestion) -> dict[str, str]:
    return {**TITLES, **{s.name: s.title for s in question.stress}}


def credit_of(mistakes: list[Mistake], points: float) -> float:
    """Points a failed value property still earns: the largest credit of the named mistakes, at most ``points``."""
    return min(points, max((m.credit for m in mistakes), default=0.0))


def mistakes_text(mistakes: list[Mistake]) -> str:
    """The named mistakes with their fixes, one line each."""
    return "\n".join(f"Known mistake: {m.name}. Fix: {m.fix}." for m in mistakes)


def score_code(question: CodeQuestion, comparison: Comparison, mistakes: list[Mistake], origin: str) -> list[TestResult]:
    """The tests of one code question, ``<question>.1`` ... in the key's order of properties."""
    tests = []
    tags = [question.question, "code", *[f"mistake:{m.name}" for m in mistakes]]
    where = f" ({question.function} from {origin})" if origin else ""
    titles = _titles(question)
    for k, (prop, points) in enumerate(question.points.items(), start=1):
        name = f"{question.question} {question.function}: {titles.get(prop, prop)}"
        number = f"{question.question}.{k}"
        if comparison.status not in ("graded", "timeout") or prop not in comparison.properties:
            message = comparison.message or f"{prop} could not be checked"
            tests.append(TestResult(number, name, 0.0, points, message + where, tags))
            continue
        result = comparison.properties[prop]
        if result.passed and prop not in UNGATED and not comparison.properties["value"].passed:
            output = f"not scored: the value is wrong, so this property earns nothing ({result.detail})"
            tests.append(TestResult(number, name, 0.0, points, output, tags))
            continue
        lines = [("Passed: " if result.passed else "Failed: ") + result.detail]
        if not result.passed:
            if prop == "value" and comparison.counterexample:
                lines.append(comparison.counterexample)
            if mistakes:
                lines.append(mistakes_text(mistakes))
        if comparison.status == "timeout" and not result.passed:
            lines.append("The function was stopped at its time limit; later inputs were not tried.")
        earned = points if result.passed else 0.0
        credit = credit_of(mistakes, points) if prop == "value" and not result.passed else 0.0
        if credit > 0:
            earned = credit
            lines.append(f"Partial credit for a known mistake: {credit:g} of {points:g} points.")
        tests.append(TestResult(number, name, earned, points, "\n".join(lines), tags))
    return tests
