"""The catalogue of known mistakes (simgrade/mistakes.py): well formed, documented, and every formula can be told apart.

A formula mistake is recognised when the student's values equal it on every input of the battery
(compare.VALUE_CASES, the inputs the grader always runs). So each formula must differ from the
reference on some battery input, and no two formulas may agree on all of them: otherwise the
grader could never tell them apart and would name both (or neither) for one submission.
"""
import itertools
import math
import re

import numpy as np
import pytest
import torch

from simgrade import PROJECT_ROOT
from simgrade.compare import REFERENCE, TOLERANCE, Comparison, Observation, value_cases
from simgrade.mistakes import CATALOGUE, QUESTION_OF, Mistake, diagnose
from simgrade.probes import make_probe

FUNCTION_OF = {question: function for function, question in QUESTION_OF.items()}
FORMULAS = [m for m in CATALOGUE if m.formula is not None]
MARGIN = 10  # "different" means more than ten times the grader's tolerance apart on some battery input


def _battery_values(function, formula) -> list[tuple[str, float]]:
    """``formula``'s value on every battery input of ``function`` (float64, the inputs rounded to the case dtype)."""
    values = []
    for case in value_cases(function):
        probe = make_probe(case)
        modules, batches = probe.reference_inputs()
        with torch.no_grad():
            values.append((case.dtype, float(formula(*probe.arguments(modules, batches)))))
    return values


@pytest.fixture(scope="module")
def battery():
    """Per mistake (and per question's reference), its values on the battery."""
    table = {("reference", q): _battery_values(f, REFERENCE[f]) for f, q in QUESTION_OF.items()}
    for mistake in FORMULAS:
        table[(mistake.name, mistake.question)] = _battery_values(FUNCTION_OF[mistake.question], mistake.formula)
    return table


def _far_apart(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> bool:
    """On some battery input the two values differ by more than MARGIN x the tolerance (or one is not finite)."""
    for (dtype, x), (_, y) in zip(a, b):
        if not (math.isfinite(x) and math.isfinite(y)):
            if not (x == y or (math.isnan(x) and math.isnan(y))):
                return True
            continue
        rtol, atol = TOLERANCE[dtype]
        if abs(x - y) > MARGIN * (atol + rtol * abs(y)):
            return True
    return False


def test_entries_are_well_formed():
    seen = set()
    for mistake in CATALOGUE:
        assert isinstance(mistake, Mistake)
        assert mistake.name.strip() and mistake.name == mistake.name.strip(), mistake
        assert mistake.question in FUNCTION_OF, mistake
        assert len(mistake.fix.strip()) > 10, f"{mistake.name}: a fix the student can act on"
        assert (mistake.formula is None) != (mistake.symptom is None), f"{mistake.name}: exactly one of formula, symptom"
        assert (mistake.name, mistake.question) not in seen, f"{mistake.name} twice for {mistake.question}"
        seen.add((mistake.name, mistake.question))


def test_every_formula_differs_from_the_reference_on_the_battery(battery):
    never = [m.name for m in FORMULAS
             if not _far_apart(battery[(m.name, m.question)], battery[("reference", m.question)])]
    assert not never, f"equal to the reference on every battery input, so never recognised: {never}"
    nowhere_finite = [m.name for m in FORMULAS if not any(math.isfinite(v) for _, v in battery[(m.name, m.question)])]
    assert not nowhere_finite, f"not finite anywhere on the battery: {nowhere_finite}"


def test_no_two_formulas_agree_on_the_battery(battery):
    twins = [(a.question, a.name, b.name) for a, b in itertools.combinations(FORMULAS, 2)
             if a.question == b.question and not _far_apart(battery[(a.name, a.question)], battery[(b.name, b.question)])]
    assert not twins, f"the grader cannot tell these apart on its battery: {twins}"


@pytest.mark.parametrize("mistake", FORMULAS, ids=lambda m: f"{m.question}:{m.name}")
def test_a_student_who_writes_the_formula_gets_exactly_that_diagnosis(battery, mistake):
    """Feed diagnose() the formula's own values, rounded to each input's dtype: it names this mistake and no other."""
    function = FUNCTION_OF[mistake.question]
    reply = {"status": "ok", "kind": "tensor", "type": "Tensor", "subclass": False, "shape": [],
             "requires_grad": True, "no_grad": [], "changed_inputs": []}
    observations = [
        Observation(case, reply, np.asarray(float(np.dtype(case.dtype).type(wrong)), dtype=np.float64), {}, expected, {})
        for case, (_, wrong), (_, expected) in zip(value_cases(function), battery[(mistake.name, mistake.question)],
                                                   battery[("reference", mistake.question)])]
    assert [m.name for m in diagnose(Comparison(function, "graded", observations))] == [mistake.name]


def test_every_mistake_is_documented_for_tas():
    text = (PROJECT_ROOT / "docs" / "MISTAKES.md").read_text(encoding="utf-8")
    rows = {(m.group(1).strip(), m.group(2).strip()) for m in re.finditer(r"^\|\s*([^|]+?)\s*\|\s*(7b|8a)\s*\|", text, re.M)}
    missing = [(m.name, m.question) for m in CATALOGUE if (m.name, m.question) not in rows]
    assert not missing, f"add these to the tables of docs/MISTAKES.md: {missing}"
    stale = rows - {(m.name, m.question) for m in CATALOGUE}
    assert not stale, f"docs/MISTAKES.md lists mistakes the catalogue does not have: {sorted(stale)}"
