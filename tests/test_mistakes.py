"""The known mistakes (each question file's, and simgrade/mistakes.py's generic symptoms): well formed,
documented, and every formula can be told apart.

A formula mistake is recognised when the student's values equal it on every input of the battery
(the question file's battery shapes, with numbers drawn from the grading's seed, a digest of the
submission). So each formula must differ from the reference on some battery input, and no two
formulas may agree on all of them, whatever the seed: otherwise the grader could never tell them
apart and would name both (or neither) for one submission. The checks run for the default seed
and two others. A symptom that says "the loss in a wrong form" is named only beside the loss's numbers.
"""
import itertools
import math
import re

import numpy as np
import pytest
import torch

from simgrade import PROJECT_ROOT
from simgrade.compare import (TOLERANCE, Comparison, Observation, large_batch_case, reference_result, stress_cases,
                              value_cases)
from simgrade.key import load_key
from simgrade.mistakes import Mistake, catalogue, diagnose
from simgrade.probes import make_probe

QUESTIONS = load_key().code
CATALOGUE = [m for q in QUESTIONS for m in catalogue(q)]
FUNCTION_OF = {q.question: q.function for q in QUESTIONS}
REFERENCE = {q.function: q.reference for q in QUESTIONS}
FORMULAS = [m for m in CATALOGUE if m.formula is not None]
GRADIENTS = [m for m in CATALOGUE if m.gradient is not None]
RUBRIC = {q.question: q.rubric for q in QUESTIONS}
MARGIN = 10  # "different" means more than ten times the grader's tolerance apart on some battery input
SEEDS = (0, 2**63 + 12345, 0x5EED_D16E_57AB_C0DE)  # the default battery, and two a submission's digest could give


def _battery_values(function, formula, seed) -> list[tuple[str, float]]:
    """``formula``'s value on every battery input of ``function`` (float64, the inputs rounded to the case dtype)."""
    values = []
    for case in value_cases(function, seed):
        probe = make_probe(case)
        modules, batches = probe.reference_inputs()
        with torch.no_grad():
            values.append((case.dtype, float(formula(*probe.arguments(modules, batches)))))
    return values


@pytest.fixture(scope="module", params=SEEDS, ids=lambda seed: f"seed{seed:x}")
def battery(request):
    """Per mistake (and per question's reference), its values on the battery of one seed (``table["seed"]``)."""
    seed = request.param
    table = {("reference", q): _battery_values(f, REFERENCE[f], seed) for q, f in FUNCTION_OF.items()}
    for mistake in FORMULAS:
        table[(mistake.name, mistake.question)] = _battery_values(FUNCTION_OF[mistake.question], mistake.formula, seed)
    table["seed"] = seed
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
        kinds = [k for k in (mistake.formula, mistake.symptom, mistake.gradient) if k is not None]
        assert len(kinds) == 1, f"{mistake.name}: exactly one of formula, symptom, gradient"
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
        for case, (_, wrong), (_, expected) in zip(value_cases(function, battery["seed"]),
                                                   battery[(mistake.name, mistake.question)],
                                                   battery[("reference", mistake.question)])]
    assert [m.name for m in diagnose(Comparison(function, "graded", observations))] == [mistake.name]


RIGHT_TENSOR = {"status": "ok", "kind": "tensor", "type": "Tensor", "subclass": False, "shape": [], "requires_grad": True,
                "no_grad": [], "changed_inputs": []}
FAILED = {"status": "error", "error": "RuntimeError: shape mismatch", "error_type": "RuntimeError"}


def _comparison(function: str, loss, reply=RIGHT_TENSOR, returns=lambda case, value: value) -> Comparison:
    """A function whose values are ``loss(case, expected)`` on the battery and the stress inputs, in the
    form ``returns(case, value)`` (None: the call raised), with the reply ``reply``; B = 256 probed too."""
    observations = []
    for case in value_cases(function) + stress_cases(function) + [large_batch_case(function)]:
        expected, grads = reference_result(make_probe(case))
        value = returns(case, loss(case, expected))
        observations.append(Observation(case, reply if value is not None else FAILED,
                                        None if value is None else np.asarray(value, dtype=np.float64), {}, expected, grads))
    return Comparison(function, "graded", observations[:-1], probes=observations[-1:])


# a symptom that says "the loss in a wrong form": how a function with it replies, and returns its numbers
WRONG_FORM = {
    "detached or no-grad graph": dict(reply={**RIGHT_TENSOR, "requires_grad": False}),
    ".item() returns a Python number": dict(reply={"status": "ok", "kind": "number", "type": "float", "changed_inputs": []}),
    "per-row losses not reduced": dict(returns=lambda case, value: value + np.arange(case.batch) - (case.batch - 1) / 2),
    "loss.backward() called inside the loss": dict(reply={
        **RIGHT_TENSOR, "backward_error": "RuntimeError: Trying to backward through the graph a second time"}),
    "hard-coded batch size": dict(returns=lambda case, value: value if case.batch == 256 else None),
    "breaks at batch size 1": dict(returns=lambda case, value: None if case.batch == 1 else value),
    "exp overflow": dict(returns=lambda case, value: np.nan if case.check else value),
}


@pytest.mark.parametrize("name, function", [(m.name, FUNCTION_OF[m.question]) for m in CATALOGUE if m.name in WRONG_FORM],
                         ids=lambda v: v)
def test_a_wrong_form_is_named_only_beside_the_loss_numbers(name, function):
    """The symptom is named when the function's numbers are the loss's; with a constant in the same form, nothing is."""
    right = _comparison(function, lambda case, expected: expected, **WRONG_FORM[name])
    assert name in [m.name for m in diagnose(right)]
    constant = _comparison(function, lambda case, expected: 0.5, **WRONG_FORM[name])
    assert [m.name for m in diagnose(constant)] == []


def test_every_mistake_is_documented_for_tas():
    text = (PROJECT_ROOT / "docs" / "MISTAKES.md").read_text(encoding="utf-8")
    table = {(m.group(1).strip(), m.group(2)): m.group(3).strip()
             for m in re.finditer(r"^\|\s*([^|]+?)\s*\|\s*(7b|8a)\s*\|([^|]+)\|", text, re.M)}
    rows = set(table)
    wrong_points = [(name, q, table[(name, q)]) for (name, q) in rows
                    if (name, q) in {(m.name, m.question) for m in CATALOGUE}
                    and table[(name, q)] != _points_text(RUBRIC[q].get(name))]
    assert not wrong_points, f"the points column of docs/MISTAKES.md differs from the question files' rubric: {wrong_points}"
    missing = [(m.name, m.question) for m in CATALOGUE if (m.name, m.question) not in rows]
    assert not missing, f"add these to the tables of docs/MISTAKES.md: {missing}"
    stale = rows - {(m.name, m.question) for m in CATALOGUE}
    assert not stale, f"docs/MISTAKES.md lists mistakes the catalogue does not have: {sorted(stale)}"


def _points_text(points) -> str:
    return "by its properties" if points is None else f"{points:g}"


# ---------------------------------------------------------------------- gradient mistakes
def _with_gradients(function, loss, seed=0) -> Comparison:
    """A function with the right values whose gradients are ``loss``'s (parameters it leaves untouched: absent)."""
    observations = []
    for case in value_cases(function, seed):
        expected, expected_grads = reference_result(make_probe(case))
        grads = {n: g for n, g in reference_result(make_probe(case), loss)[1].items() if np.any(g)}
        observations.append(Observation(case, RIGHT_TENSOR, np.asarray(expected), grads, expected, expected_grads))
    return Comparison(function, "graded", observations)


@pytest.mark.parametrize("mistake", GRADIENTS, ids=lambda m: f"{m.question}:{m.name}")
@pytest.mark.parametrize("seed", SEEDS[:2], ids=lambda seed: f"seed{seed:x}")
def test_a_student_whose_gradients_are_the_mistakes_gets_exactly_that_diagnosis(mistake, seed):
    function = FUNCTION_OF[mistake.question]
    assert [m.name for m in diagnose(_with_gradients(function, mistake.gradient, seed))] == [mistake.name]


@pytest.mark.parametrize("mistake", GRADIENTS, ids=lambda m: f"{m.question}:{m.name}")
def test_a_gradient_mistake_is_not_named_for_other_gradients(mistake):
    """The right gradients, or the mistake's own scaled by 1.5 (a control: close, but not its), name nothing."""
    function = FUNCTION_OF[mistake.question]
    assert [m.name for m in diagnose(_with_gradients(function, REFERENCE[function]))] == []
    scaled = lambda *args: 1.5 * mistake.gradient(*args) - 0.5 * mistake.gradient(*args).detach()  # same value
    assert mistake.name not in [m.name for m in diagnose(_with_gradients(function, scaled))]


# ------------------------------------------------------------------- a known loss times a factor
def _values(function, loss, seed=0) -> Comparison:
    """A function whose value on each battery input is ``loss(case, expected)``, in the right form."""
    observations = []
    for case in value_cases(function, seed):
        probe = make_probe(case)
        expected, grads = reference_result(probe)
        value = float(np.dtype(case.dtype).type(loss(case, probe, expected)))
        observations.append(Observation(case, RIGHT_TENSOR, np.asarray(value), {}, expected, grads))
    return Comparison(function, "graded", observations)


def _formula(mistake_name: str, question: str):
    mistake = next(m for m in FORMULAS if m.name == mistake_name and m.question == question)

    def value(case, probe, expected):
        modules, batches = probe.reference_inputs()
        with torch.no_grad():
            return float(mistake.formula(*probe.arguments(modules, batches)))

    return value


@pytest.mark.parametrize("function, loss, name", [
    ("contrastive_loss", lambda c, p, e: _formula("SimCLR (NT-Xent) loss over 2B views", "8a")(c, p, e) * c.batch / (c.batch - 1),
     "SimCLR (NT-Xent) loss over 2B views, times B/(B-1)"),
    ("contrastive_loss", lambda c, p, e: _formula("SimCLR (NT-Xent) loss over 2B views", "8a")(c, p, e)
     * c.scalar_values()["tau"] / 0.07, "SimCLR (NT-Xent) loss over 2B views, times tau/0.07"),
    ("contrastive_loss", lambda c, p, e: 2 * e, "the right loss times a factor (2)"),
    ("contrastive_loss", lambda c, p, e: _formula("symmetric (CLIP) loss", "8a")(c, p, e) / c.batch,
     "symmetric (CLIP) loss, times 1/B"),
    ("autoencoder_loss", lambda c, p, e: e / c.batch, "the right loss times a factor (1/B)"),
])
def test_a_known_loss_times_a_factor_is_named_with_its_family_and_factor(function, loss, name):
    """B = 1 makes B/(B-1) infinite: a student's code raises there, and the other inputs name it (here that
    input is left out, as an error reply would be)."""
    comparison = _values(function, lambda c, p, e: loss(c, p, e) if c.batch > 1 or "B-1" not in name else 0.0)
    if "B-1" in name:
        comparison.observations = [o for o in comparison.observations if o.case.batch > 1]
    named = diagnose(comparison)
    assert [m.name for m in named] == [name]
    question = next(q for q in QUESTIONS if q.function == function)
    family = name.rpartition(", times ")[0]
    lines = [question.rubric.get(family), question.rubric.get("the right loss times a factor")]
    assert named[0].credit == min(c for c in lines if c is not None)


@pytest.mark.parametrize("function", sorted(REFERENCE))
def test_a_loss_times_no_known_factor_is_not_named(function):
    """Controls: the right loss times 1.37, and times B + 1/3 (no factor of the list), name nothing."""
    assert diagnose(_values(function, lambda c, p, e: 1.37 * e)) == []
    assert diagnose(_values(function, lambda c, p, e: (c.batch + 1 / 3) * e)) == []
