"""Every registered claim check (checks/check_*.py, found automatically): the claim holds, and its negative
control fails by an assertion. Claims registered with ``slow=True`` carry ``pytest.mark.slow``."""
from __future__ import annotations

import pytest

from checks.claim import METHODS, Contradicted, failed_by_assertion, load_all

CLAIMS = load_all()
QUESTIONS = {"1", "4a", "4b", "4c", "4e", "4f", "5a", "5b", "6", "7a", "7b", "7c", "7d", "8a", "8b", "8c", "8d"}


def _params():
    return [pytest.param(c, id=cid, marks=[pytest.mark.slow] if c.slow else []) for cid, c in CLAIMS.items()]


@pytest.mark.parametrize("claim", _params())
def test_claim_holds(claim):
    """The claim holds; a staff prediction (``prediction=True``) that the measurement contradicts is reported as an
    expected failure with what was measured (``--verify`` shows it as STAFF PREDICTION), any other failure fails."""
    try:
        claim.check(False)
    except Contradicted as contradiction:
        if not claim.prediction:
            raise
        pytest.xfail(f"staff prediction, the measurement contradicts it: {contradiction.summary}")


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


def test_fast_experiments_state_their_seeds():
    """A non-slow numeric experiment says how many random starts its verdict rests on (``checks.check_q4.seeds``),
    so ``--verify`` can show it as "experiment over n seeds"."""
    unstated = [cid for cid, c in CLAIMS.items() if c.method == "numeric experiment" and not c.slow
                and not getattr(c.check, "seeds", None)]
    assert not unstated, unstated


def test_registry_finds_the_sharpened_claims():
    """The claims that replaced tautological or weak checks (see docs/CLAIMS.md, "What each check can detect")."""
    expected = {
        "q1.logit_range_identity", "q4e.tammes_limit_n8", "q4e.not_tammes_at_finite_tau",
        "q4f.overlap_blocks_retrieval", "q4f.overlap_loss_floor", "q5a.mean_loss_bound_identity", "q5a.mean_loss_bound",
        "q6.one_directional_loss_is_cross_entropy", "q6.trained_agree_balanced", "q6.trained_agree_one_directional",
    }
    assert expected <= set(CLAIMS), sorted(expected - set(CLAIMS))
    assert not any(CLAIMS[cid].slow for cid in expected)


def test_every_claim_is_listed_in_the_guide():
    """docs/CLAIMS.md lists every claim with its kind and what its control breaks."""
    from simgrade import PROJECT_ROOT

    guide = (PROJECT_ROOT / "docs" / "CLAIMS.md").read_text(encoding="utf-8")
    unlisted = [cid for cid in CLAIMS if f"| `{cid}` |" not in guide]
    assert not unlisted, f"add these to the table of docs/CLAIMS.md: {unlisted}"
