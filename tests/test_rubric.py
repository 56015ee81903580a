"""The staff rubric: a named mistake sets what its question earns, within the evidence.

A question file's ``rubric`` gives the points of the whole question when a mistake is named
(``simgrade/score.py``). These tests build comparisons by hand (each property passed or failed) and
score them with named mistakes: the total is the rubric's line, the points go to the failed tests in
order or come off the last ones, the verdicts stay, the lowest line counts, and a symptom that
does not look at the numbers can lower a grade but never raise it.
"""
from __future__ import annotations

import pytest

from simgrade.compare import Comparison, PropertyResult
from simgrade.key import load_key
from simgrade.mistakes import GENERIC
from simgrade.question import Mistake
from simgrade.results import TestResult as Line  # (pytest would collect a class named Test*)
from simgrade.score import apply_rubric, score_code

QUESTION = next(q for q in load_key().code if q.function == "contrastive_loss")
"""8a: value 5, gradient 2, small tau 1, form 1, inputs untouched 1."""


def _comparison(failed: set[str]) -> Comparison:
    return Comparison("contrastive_loss", "graded",
                      properties={p: PropertyResult(p, p not in failed, "") for p in QUESTION.points})


def _mistake(name: str, credit: float | None, evidence: bool = True) -> Mistake:
    return Mistake(name, "the fix the student can act on", credit=credit, evidence=evidence, question="8a")


def _scores(tests: list[Line]) -> list[float]:
    return [t.score for t in tests]


def test_a_wrong_value_with_a_named_mistake_earns_its_line_on_the_failed_tests_in_order():
    tests = score_code(QUESTION, _comparison({"value", "gradient", "small_tau", "form"}), [_mistake("m", 7)], "")
    assert _scores(tests) == [5, 2, 0, 0, 0]
    assert [t.status for t in tests] == ["failed"] * 5  # full points on 8a.1, yet the value was wrong
    line = "Rubric: with the known mistake 'm', contrastive_loss earns 7 of 10 points."
    assert all(line in t.output for t in tests)


def test_a_right_value_in_a_form_that_cannot_train_is_capped_from_the_last_tests():
    """A detached loss: value, small tau and inputs pass (7 by the properties); its line is 3."""
    tests = score_code(QUESTION, _comparison({"gradient", "form"}), [_mistake("detached", 3)], "")
    assert _scores(tests) == [3, 0, 0, 0, 0]
    assert [t.status for t in tests] == ["passed", "failed", "passed", "failed", "passed"]


def test_the_lowest_line_of_the_named_mistakes_counts():
    named = [_mistake("a", 8), _mistake("b", 3), _mistake("c", None)]
    assert sum(_scores(score_code(QUESTION, _comparison({"gradient", "form"}), named, ""))) == 3


def test_a_symptom_without_evidence_never_raises_a_grade():
    """A Tensor subclass that reports the right loss holds 0: its value fails, and the line (9) cannot lift it."""
    wrong = score_code(QUESTION, _comparison(set(QUESTION.points)), [_mistake("subclass", 9, evidence=False)], "")
    assert sum(_scores(wrong)) == 0
    lowered = score_code(QUESTION, _comparison({"inputs_untouched", "form"}), [_mistake("in place", 6, evidence=False)], "")
    assert sum(_scores(lowered)) == 6
    control = score_code(QUESTION, _comparison(set(QUESTION.points)), [_mistake("subclass", 9, evidence=True)], "")
    assert sum(_scores(control)) == 9


def test_no_line_and_nothing_failed_leave_the_properties_alone():
    assert _scores(score_code(QUESTION, _comparison({"value"}), [_mistake("m", None)], "")) == [0, 2, 0, 0, 0]
    assert _scores(score_code(QUESTION, _comparison(set()), [_mistake("m", 4)], "")) == [5, 2, 1, 1, 1]


@pytest.mark.parametrize("credit", [0, 0.5, 2.5, 9.5])
def test_apply_rubric_keeps_each_test_within_its_points(credit):
    tests = [Line(f"8a.{k}", "t", score, most, "", passed=score == most)
             for k, (score, most) in enumerate([(0, 5), (2, 2), (1, 1), (0, 1), (1, 1)], start=1)]
    ruled = apply_rubric(tests, credit)
    assert sum(_scores(ruled)) == pytest.approx(credit)
    assert all(0 <= t.score <= t.max_score for t in ruled)
    assert [t.status for t in ruled] == [t.status for t in tests]


def test_every_generic_symptom_that_ignores_the_numbers_is_marked_so():
    """The symptoms read only the reply's flags or type: they carry no evidence of the numbers."""
    assert {m.name for m in GENERIC if not m.evidence} == {
        "NumPy value returned", "Tensor subclass returned", "inputs modified in place"}


def test_every_rubric_line_is_below_the_question_total():
    for question in load_key().code:
        assert question.rubric and all(0 <= v < question.total for v in question.rubric.values()), question.question
        assert {m.name for m in question.mistakes} <= set(question.rubric)
        assert all(m.credit == question.rubric[m.name] for m in question.mistakes)


def test_the_report_shows_why_a_passed_test_lost_points():
    """A passed property whose points the rubric took is shown with its output, not folded into "more passed"."""
    from simgrade.report import format_report
    from simgrade.results import GradeResult

    tests = score_code(QUESTION, _comparison({"gradient", "form"}), [_mistake("detached", 3)], "")
    text = format_report(GradeResult(tests), "detached")
    value = next(line for line in text.splitlines() if "8a.1" in line)
    assert value.startswith("  [ok  ] 8a.1") and value.endswith("(3/5)")
    # three passed tests with their own output, and the two failed ones' identical output said once
    assert text.count("Rubric: with the known mistake 'detached', contrastive_loss earns 3 of 10 points.") == 4
    assert "more passed" not in text
    full = format_report(GradeResult(score_code(QUESTION, _comparison({"inputs_untouched"}), [], "")), "control")
    assert "[ok  ] 4 more passed (8a.1, 8a.2, 8a.3, 8a.4)" in full
