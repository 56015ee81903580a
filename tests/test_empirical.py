"""checks/check_empirical.py on synthetic runs (no training): what each empirical claim asserts, over seeds, and how
it fails: a staff prediction contradicted by the data, a control that passes, a seed that disagrees."""
from __future__ import annotations

import pytest

import checks.check_empirical as empirical
from checks.claim import Contradicted, load_all, run_check, verify

CHANCE = {"color": 0.125, "shape": 1 / 3, "location": 1 / 9}
N_VAL = 3000


def acc(color: float, shape: float, location: float) -> dict[str, float]:
    """1-NN accuracies with the given lifts over CHANCE."""
    lifts = {"color": color, "shape": shape, "location": location}
    return {f: CHANCE[f] + lifts[f] * (1 - CHANCE[f]) for f in CHANCE}


# lifts measured on the 16x16 quick preset, seed 0 (rounded): the shape of real data
AUTOENCODER, UNTRAINED, RAW = acc(0.73, 0.15, 0.84), acc(0.58, 0.20, 0.80), acc(0.69, 0.26, 0.85)
A, B, C = acc(0.01, 0.66, 0.85), acc(1.00, 0.08, 0.07), acc(1.00, 0.11, 0.15)


def fake_run(seed: int, autoencoder=AUTOENCODER, untrained=UNTRAINED, raw=RAW, a=A, b=B, c=C, size=16):
    encoders = {"autoencoder": autoencoder, "contrastive_A": a, "contrastive_B": b, "contrastive_C": c}
    metrics = {"encoders": {n: {"knn_accuracy": v} for n, v in encoders.items()}, "chance": dict(CHANCE)}
    geometry = {str(e): {"mean_diameter": d, "mean_margin": m, "min_margin": mm, "separated": 0.0}
                for e, (d, m, mm) in enumerate([(0.03, 0.02, 0.01), (0.46, 0.3, 0.14), (0.40, 0.9, 0.6),
                                                (0.38, 1.0, 0.7), (0.37, 1.1, 0.75), (0.37, 1.1, 0.75)])}
    details = {"preset": {"image_size": size, "seed": seed}, "n_val": N_VAL, "raw_pixels": raw,
               "untrained": {n: untrained for n in encoders}, "geometry": {"contrastive_A": geometry}}
    return seed, metrics, details


@pytest.fixture
def runs(monkeypatch):
    """Set the runs the checks read: ``runs(run, run, ...)``."""
    def set_runs(*fake):
        monkeypatch.setattr(empirical, "_runs", lambda: list(fake))
    set_runs(*(fake_run(s) for s in empirical.SEEDS))
    return set_runs


CLAIMS = load_all()


def test_every_empirical_claim_rests_on_at_least_three_seeds():
    assert len(empirical.SEEDS) >= 3 and len(set(empirical.SEEDS)) == len(empirical.SEEDS)
    empirical_claims = [c for c in CLAIMS.values() if c.check.__module__ == empirical.__name__]
    assert len(empirical_claims) == 5
    assert all(c.slow and c.check.seeds == len(empirical.SEEDS) for c in empirical_claims)
    assert {c.id for c in empirical_claims if c.prediction} == {"q8b.invariance_A", "q8b.invariance_B",
                                                                "q8b.invariance_C"}


def test_predictions_confirmed_and_contradicted(runs):
    assert "contrastive_A: color lift +0.01" in CLAIMS["q8b.invariance_A"].check(False)
    assert "3 training seeds (0, 1, 2)" in CLAIMS["q8b.invariance_C"].check(False)
    with pytest.raises(Contradicted) as error:
        CLAIMS["q8b.invariance_B"].check(False)
    assert error.value.summary == "shape lost (predicted kept), lift +0.08 (+0.08..+0.08) over 3 training seeds"
    assert "contrastive_A's shape lift is +0.66 (+0.66..+0.66) (1-NN does see shape" in str(error.value)
    v = verify(CLAIMS["q8b.invariance_B"])
    assert v.contradicted and not v.verified and v.ok
    assert v.label.startswith("STAFF PREDICTION (measurement contradicts: shape lost")


def test_a_prediction_the_data_confirm_is_verified(runs):
    """B keeps shape in every seed (as the staff predicted): the same check then verifies it."""
    runs(*(fake_run(s, b=acc(1.0, 0.6 + 0.05 * s, 0.1)) for s in empirical.SEEDS))
    v = verify(CLAIMS["q8b.invariance_B"])
    assert v.verified and v.label == "verified"
    assert "shape lift +0.65 (+0.60..+0.70) (kept)" in v.holds.evidence
    assert "location kept (predicted lost)" in v.control.contradicted  # the autoencoder keeps location


def test_one_seed_against_the_prediction_is_enough_to_contradict_it(runs):
    runs(fake_run(0, b=acc(1.0, 0.7, 0.1)), fake_run(1, b=acc(1.0, 0.2, 0.1)), fake_run(2, b=acc(1.0, 0.6, 0.1)))
    with pytest.raises(Contradicted) as error:
        CLAIMS["q8b.invariance_B"].check(False)
    assert error.value.summary.startswith("shape varies across seeds (predicted kept), lift +0.50 (+0.20..+0.70)")
    assert error.value.summary.endswith("1 of them against the prediction")


Q7D = "q7d.training_favours_color_location_over_shape"


def test_q7d_holds_for_the_autoencoder_and_both_controls_fail(runs):
    outcome = run_check(CLAIMS[Q7D].check, broken=False)
    assert outcome.passed, outcome.evidence
    assert "autoencoder against the raw pixels, gain over shape: color +0.108" in outcome.evidence  # accuracies, not lifts
    control = run_check(CLAIMS[Q7D].check, broken=True)
    assert not control.passed and control.asserted
    assert "untrained autoencoder: 6 failures, first seed 0: color over shape" in control.evidence  # by measurement
    assert "gain -0.056" in control.evidence  # the untrained network's neighbours favour shape more than the pixels'
    assert "raw pixels: 6 failures, first seed 0: color over shape" in control.evidence
    assert "gain +0.000" in control.evidence


def test_q7d_holds_when_color_is_at_parity_with_the_pixels(runs):
    """As measured at 32x32, seed 0: color 0.021 below the pixels', shape 0.075 below: a gain of color over shape."""
    ae = {"color": RAW["color"] - 0.021, "shape": RAW["shape"] - 0.075, "location": RAW["location"] - 0.013}
    runs(*(fake_run(s, autoencoder=ae) for s in empirical.SEEDS))
    assert "color +0.054" in CLAIMS[Q7D].check(False)


def test_q7d_fails_when_the_gain_is_within_the_noise(runs):
    """A code that loses shape and color alike (gain 0.01 in one seed, within two standard errors): no claim."""
    ae = {"color": RAW["color"] - 0.06, "shape": RAW["shape"] - 0.07, "location": AUTOENCODER["location"]}
    runs(fake_run(0), fake_run(1, autoencoder=ae), fake_run(2))
    with pytest.raises(AssertionError, match=r"seed 1: color over shape .* gain \+0\.010, not above 2 SE") as error:
        CLAIMS[Q7D].check(False)
    assert "seed 0" not in str(error.value).split(" | ")[0] and "location" not in str(error.value).split(" | ")[0]


def test_q7d_fails_when_the_code_does_not_keep_color(runs):
    """Shape given up for nothing: color lift 0.35 (an autoencoder stopped before its color code appears)."""
    runs(*(fake_run(s, autoencoder=dict(AUTOENCODER, color=acc(0.35, 0, 0)["color"], shape=acc(0, 0.0, 0)["shape"]))
           for s in empirical.SEEDS))
    with pytest.raises(AssertionError, match=r"seed 0: color lift \+0\.35 < 0\.50"):
        CLAIMS[Q7D].check(False)


def test_q7d_control_passes_when_the_untrained_network_already_does_it(runs):
    """If the untrained network's neighbours already favoured color and location over shape, the check could not tell
    training from its absence: the control passes and --verify says CONTROL PASSED."""
    runs(*(fake_run(s, untrained=AUTOENCODER) for s in empirical.SEEDS))
    v = verify(CLAIMS[Q7D])
    assert v.holds.passed and v.control.passed and v.label == "CONTROL PASSED"
    assert "holds for untrained autoencoder too" in v.control.evidence


def test_geometry_claim_over_seeds(runs):
    v = verify(CLAIMS["q4e.training_shrinks_diameters_grows_margins"])
    assert v.verified, (v.holds.evidence, v.control.evidence)
    assert "seed 0: mean diameter did not shrink (0.030 -> 0.460)" in v.control.evidence
    bad = fake_run(1)
    bad[2]["geometry"]["contrastive_A"]["5"]["min_margin"] = 0.1  # the last epochs' smallest margin below epoch 1's
    bad[2]["geometry"]["contrastive_A"]["4"]["min_margin"] = 0.1
    bad[2]["geometry"]["contrastive_A"]["3"]["min_margin"] = 0.1
    runs(fake_run(0), bad, fake_run(2))
    with pytest.raises(AssertionError, match="seed 1: smallest margin did not grow"):
        CLAIMS["q4e.training_shrinks_diameters_grows_margins"].check(False)
