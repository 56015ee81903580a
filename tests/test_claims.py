"""Every registered claim check (checks/check_*.py, found automatically): the claim holds, and its negative
control fails by an assertion. Claims registered with ``slow=True`` carry ``pytest.mark.slow``."""
from __future__ import annotations

import pytest

from checks.claim import METHODS, failed_by_assertion, load_all

CLAIMS = load_all()
QUESTIONS = {"1", "4a", "4b", "4c", "4e", "4f", "5a", "5b", "6", "7a", "7b", "7c", "7d", "8a", "8b", "8c", "8d"}


def _params():
    return [pytest.param(c, id=cid, marks=[pytest.mark.slow] if c.slow else []) for cid, c in CLAIMS.items()]


@pytest.mark.parametrize("claim", _params())
def test_claim_holds(claim):
    claim.check(False)


@pytest.mark.parametrize("claim", _params())
def test_negative_control_fails(claim):
    """The broken premise must make the check fail, and by a failed assertion: a crash (TypeError, a sympy
    NotImplementedError, ...) would say nothing about whether the check can detect a false claim."""
    try:
        evidence = claim.check(True)
    except Exception as error:  # noqa: BLE001 - inspected below
        assert failed_by_assertion(error), f"the control crashed instead of failing an assertion: {error!r}"
    else:
        pytest.fail(f"negative control ({claim.control}) passed: the check cannot fail. Evidence: {evidence}")


@pytest.mark.parametrize("claim", _params())
def test_claim_metadata(claim):
    """Ids look like ``q<question>.<name>``, the question exists, the check's docstring is its statement."""
    assert claim.id.startswith(f"q{claim.question}."), claim.id
    assert claim.question in QUESTIONS, claim.question
    assert claim.method in METHODS
    assert claim.statement.strip() and claim.control.strip()
    assert " ".join((claim.check.__doc__ or "").split()) == " ".join(claim.statement.split()), (
        "the check's docstring should be the claim's statement")


def test_registry_finds_the_foundation_claims():
    expected = {
        "q1.squared_distance_general_d", "q1.squared_distance_cosine", "q1.logit_range", "q1.infonce_is_cross_entropy",
        "q4c.separation_implies_retrieval", "q4e.optimum_shrinks_diameters", "q4e.optimum_grows_margins",
        "q4e.tammes_ngon_2d", "q4e.tammes_tetrahedron", "q4e.tammes_octahedron", "q4f.overlap_forces_zero_margin",
        "q5a.unit_norm_lower_bound", "q5a.simplex_attains_minimum", "q5b.scaling_limit_strict",
        "q5b.scaling_limit_tie", "q5b.scaling_limit_diverges", "q5b.naive_exp_overflows",
        "q6.dual_encoder_equals_cross_entropy", "q6.identical_predictions",
    }
    assert expected <= set(CLAIMS), sorted(expected - set(CLAIMS))
    assert not any(CLAIMS[cid].slow for cid in expected), "the theory checks must stay in the default suite"
