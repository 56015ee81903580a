"""Turn comparisons and diagnoses into points: one TestResult per property, numbered as CONTRACT.md says."""
from __future__ import annotations

from dataclasses import replace

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


def rubric_line(mistakes: list[Mistake]) -> Mistake | None:
    """The named mistake whose rubric line counts: the lowest credit among those that have one."""
    ruled = [m for m in mistakes if m.credit is not None]
    return min(ruled, key=lambda m: m.credit) if ruled else None


def mistakes_text(mistakes: list[Mistake]) -> str:
    """The named mistakes with their fixes, one line each."""
    return "\n".join(f"Known mistake: {m.name}. Fix: {m.fix}." for m in mistakes)


def apply_rubric(tests: list[TestResult], credit: float) -> list[TestResult]:
    """The question's tests re-scored to earn ``credit`` in all: points go to the tests that failed, in order, up
    to each one's maximum, or are taken from the last tests first; the verdicts (passed/failed) stay."""
    earned = [t.score for t in tests]
    surplus = credit - sum(earned)
    order = range(len(tests)) if surplus > 0 else reversed(range(len(tests)))
    for k in order:
        if abs(surplus) < 1e-12:
            break
        room = tests[k].max_score - earned[k] if surplus > 0 else -earned[k]
        step = min(surplus, room) if surplus > 0 else max(surplus, room)
        earned[k] += step
        surplus -= step
    return [replace(t, score=e) for t, e in zip(tests, earned)]


def score_code(question: CodeQuestion, comparison: Comparison, mistakes: list[Mistake], origin: str) -> list[TestResult]:
    """The tests of one code question, ``<question>.1`` ... in the key's order of properties; a named mistake with
    a line in the question's rubric sets what they earn together (:func:`apply_rubric`)."""
    tests = []
    tags = [question.question, "code", *[f"mistake:{m.name}" for m in mistakes]]
    where = f" ({question.function} from {origin})" if origin else ""
    titles = _titles(question)
    ruling = rubric_line(mistakes)
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
            tests.append(TestResult(number, name, 0.0, points, output, tags, passed=False))
            continue
        lines = [("Passed: " if result.passed else "Failed: ") + result.detail]
        if not result.passed:
            if prop == "value" and comparison.counterexample:
                lines.append(comparison.counterexample)
            if mistakes:
                lines.append(mistakes_text(mistakes))
        if comparison.status == "timeout" and not result.passed:
            lines.append("The function was stopped at its time limit; later inputs were not tried.")
        tests.append(TestResult(number, name, points if result.passed else 0.0, points, "\n".join(lines), tags,
                                passed=result.passed))
    if ruling is None or all(t.status == "passed" for t in tests):
        return tests
    credit = ruling.credit if ruling.evidence else min(ruling.credit, sum(t.score for t in tests))
    line = f"Rubric: with the known mistake '{ruling.name}', {question.function} earns {credit:g} of {question.total:g} points."
    ruled = apply_rubric(tests, credit)
    return [replace(t, output=f"{t.output}\n{line}") if t.score != before.score or t.status != "passed" else t
            for t, before in zip(ruled, tests)]
