"""A student cannot game the grader: feedback cannot be tabulated, credit needs evidence, replies are capped.

The graded inputs are drawn from a digest of the submission (probes.submission_seed), so the
expected values one grading shows are of no use to the next submission; points beside the value
need the value to be right; the form point rests on gradients the grader checks itself, not on
the runner's flags; and of a reply the grader keeps only the arrays its properties read.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from simgrade.compare import (Comparison, Observation, PropertyResult, _form_property, observe_many, reference_result,
                              stress_cases, value_cases)
from simgrade.discover import discover
from simgrade.grade import function_specs, grade
from simgrade.key import load_key
from simgrade.probes import Case, make_probe, submission_seed
from simgrade.score import score_code

HOMEWORK_FUNCTIONS = function_specs(load_key().code)

FUNCTIONS = {"7b": "autoencoder_loss", "8a": "contrastive_loss"}
TABLE_SUBMISSION = '''
import torch

TABLE = {table!r}


def _looked_up(key, batch, *modules):
    zero = 0.0 * sum(p.sum() for module in modules for p in module.parameters())
    return torch.tensor(TABLE.get(key, 0.5), dtype=batch.dtype) + zero


def autoencoder_loss(enc, dec, batch):
    with torch.no_grad():
        d = enc(batch).shape[1]
    return _looked_up((len(batch), d, None, str(batch.dtype)[6:]), batch, enc, dec)


def contrastive_loss(enc, batch1, batch2, tau):
    with torch.no_grad():
        d = enc(batch1).shape[1]
    return _looked_up((len(batch1), d, round(tau, 6), str(batch1.dtype)[6:]), batch1, enc)
'''
# "on B=2, d=2, tau=0.5, float64 it returned 0.5, expected 0.7040124749": a graded input and its expected value
SHOWN = re.compile(r"B=(\d+), d=(\d+)(?:, tau=([0-9.e-]+))?(?:, well-aligned positive pairs)?, (float32|float64) "
                   r"it returned \S+, expected ([-+0-9.e]+)")


def _write_table_submission(folder: Path, table: dict) -> Path:
    folder.mkdir()
    (folder / "similarity.py").write_text(TABLE_SUBMISSION.format(table=table), encoding="utf-8")
    return folder


def _shown(result, question: str) -> dict:
    """The expected values the feedback of ``question`` shows for graded inputs, keyed by (B, d, tau, dtype)."""
    return {(int(b), int(d), float(tau) if tau else None, dtype): float(value)
            for test in result.tests if test.question == question
            for b, d, tau, dtype, value in SHOWN.findall(test.output)}


def _json(result) -> str:
    data = result.to_gradescope()
    data.pop("execution_time")
    return json.dumps(data, sort_keys=True)


def test_the_seed_is_a_digest_of_what_the_sandbox_runs(tmp_path):
    first = _write_table_submission(tmp_path / "first", {})
    (first / "notes.json").write_text("{}")
    functions = HOMEWORK_FUNCTIONS
    seed = submission_seed(discover(first, functions), "contrastive_loss")
    assert seed == submission_seed(discover(first, functions), "contrastive_loss")
    assert seed != submission_seed(discover(first, functions), "autoencoder_loss")
    (first / "notes.json").write_text('{"(2, 2, 0.5, \'float64\')": 0.704}')  # a file the code could read at run time
    assert seed != submission_seed(discover(first, functions), "contrastive_loss")


def test_a_table_of_the_values_feedback_showed_earns_no_value_points(sandbox, key, tmp_path):
    """The attack that worked on fixed inputs: resubmit a table of every expected value the feedback showed so far.

    Each feedback shows the first wrong input; with fixed inputs the table was right on one more input
    each time, and held all of them after one resubmission per input. Now no round earns anything.
    """
    table = {}
    for attempt in range(max(len(q.battery) for q in key.code) + 1):
        folder = _write_table_submission(tmp_path / f"attempt{attempt}", table)
        result = grade(folder, sandbox, key)
        submission = discover(folder, HOMEWORK_FUNCTIONS)
        for question, function in FUNCTIONS.items():
            tests = [t for t in result.tests if t.question == question]
            assert sum(t.score for t in tests) == 0, f"attempt {attempt}:\n" + "\n".join(
                f"{t.number} {t.score}: {t.output}" for t in tests)
            shown = _shown(result, question)
            seed = submission_seed(submission, function)
            graded = {(c.batch, c.dim, c.scalar_values().get("tau"), c.dtype): c
                      for c in value_cases(function, seed) + stress_cases(function, seed)}
            assert shown and set(shown) <= set(graded), f"{question}: not the graded inputs:\n{shown}"
            for k, value in shown.items():  # the feedback is true: the reference on the inputs this grading drew
                assert value == pytest.approx(reference_result(make_probe(graded[k]))[0], rel=1e-8, abs=1e-9)
            table.update(shown)


def test_the_same_submission_gets_the_same_json(sandbox, key, tmp_path):
    folder = _write_table_submission(tmp_path / "table", {(2, 2, 0.5, "float64"): 0.7})
    assert _json(grade(folder, sandbox, key)) == _json(grade(folder, sandbox, key))


# ------------------------------------------------------------------------------- evidence for credit
RIGHT_TENSOR = {"status": "ok", "kind": "tensor", "type": "Tensor", "subclass": False, "shape": [], "requires_grad": True,
                "no_grad": [], "changed_inputs": []}


def _observations(function: str, grads: bool) -> list[Observation]:
    """The right values with the flags of a loss with gradient; the gradients themselves only if ``grads``."""
    observations = []
    for case in value_cases(function):
        expected, expected_grads = reference_result(make_probe(case))
        observations.append(Observation(case, RIGHT_TENSOR, np.asarray(expected), dict(expected_grads) if grads else {},
                                        expected, expected_grads))
    return observations


@pytest.mark.parametrize("function", sorted(FUNCTIONS.values()))
def test_the_form_point_needs_the_gradients_not_the_runners_flags(function):
    forged = _form_property(_observations(function, grads=False))
    assert not forged.passed and "no gradient reaches" in forged.detail
    assert _form_property(_observations(function, grads=True)).passed


def test_points_beside_the_value_need_a_right_value(key):
    question = next(q for q in key.code if q.function == "contrastive_loss")
    comparison = Comparison("contrastive_loss", "graded",
                            properties={p: PropertyResult(p, p != "value", "") for p in question.points})
    tests = score_code(question, comparison, [], "")
    assert sum(t.score for t in tests) == question.points["gradient"]
    assert all(t.output.startswith("not scored: the value is wrong") for t in tests[2:])


# ---------------------------------------------------------------------------------- replies capped
class _PaddingSession:
    """Answers two calls like a runner that pads its replies: arrays no property reads, a value longer than B."""

    def call_many(self, function, requests, overlap):
        overlap()
        batch = len(requests[1][1]["batch1"])
        self.replies = [(dict(RIGHT_TENSOR), {"value": np.zeros(()), "padding": np.zeros(1000),
                                              "grad:not.a.parameter": np.zeros(3), "grad:enc.net.1.weight": np.zeros((1, 1))}),
                        (dict(RIGHT_TENSOR), {"value": np.zeros(batch + 1)})]
        return self.replies


def test_only_the_arrays_the_properties_read_are_kept():
    session = _PaddingSession()
    padded, too_long = observe_many(session, [Case("contrastive_loss", 4, 2), Case("contrastive_loss", 4, 2, seed=1)])
    assert padded.value.shape == () and padded.grads == {}  # a gradient of the wrong shape is no gradient
    assert too_long.value is None  # more numbers than B: neither a loss nor per-row losses
    assert all(arrays == {} for _, arrays in session.replies), "the padding outlived the observation"
