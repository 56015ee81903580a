"""Turn comparisons and diagnoses into points: one TestResult per property, numbered as CONTRACT.md says."""
from __future__ import annotations

from simgrade.compare import Comparison
from simgrade.key import CodeQuestion
from simgrade.mistakes import Mistake
from simgrade.results import TestResult

TITLES = {
    "value": "value equals the reference",
    "gradient": "gradients equal the reference's",
    "small_tau": "finite and right at small tau",
    "form": "returns a 0-dim tensor that carries gradient",
    "inputs_untouched": "leaves its inputs unchanged",
}
GATED = ("small_tau", "form", "inputs_untouched")  # earn only beside a right value: a constant passes them all


def mistakes_text(mistakes: list[Mistake]) -> str:
    """The named mistakes with their fixes, one line each."""
    return "\n".join(f"Known mistake: {m.name}. Fix: {m.fix}." for m in mistakes)


def score_code(question: CodeQuestion, comparison: Comparison, mistakes: list[Mistake], origin: str) -> list[TestResult]:
    """The tests of one code question, ``<question>.1`` ... in the key's order of properties."""
    tests = []
    tags = [question.question, "code", *[f"mistake:{m.name}" for m in mistakes]]
    where = f" ({question.function} from {origin})" if origin else ""
    for k, (prop, points) in enumerate(question.points.items(), start=1):
        name = f"{question.question} {question.function}: {TITLES.get(prop, prop)}"
        number = f"{question.question}.{k}"
        if comparison.status not in ("graded", "timeout") or prop not in comparison.properties:
            message = comparison.message or f"{prop} could not be checked"
            tests.append(TestResult(number, name, 0.0, points, message + where, tags))
            continue
        result = comparison.properties[prop]
        if result.passed and prop in GATED and not comparison.properties["value"].passed:
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
        tests.append(TestResult(number, name, points if result.passed else 0.0, points, "\n".join(lines), tags))
    return tests
