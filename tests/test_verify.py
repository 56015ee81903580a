"""simgrade.verify.main on a small fake registry and key: verdicts, the table, and the exit status."""
from __future__ import annotations

import io

import pytest

import simgrade.verify as verify_module
from checks.claim import Claim, Contradicted
from simgrade.key import Key, KeyItem


def _good(broken: bool) -> str:
    if broken:
        raise AssertionError("counterexample: x = 42")
    return "measured 1.0000 vs 1.0000"


def _false(broken: bool) -> str:
    raise AssertionError("the claim fails at x = 7")


def _weak(broken: bool) -> str:
    return "always fine"


def _crashes(broken: bool) -> str:
    raise TypeError("bug in the check")


def _control_crashes(broken: bool) -> str:
    if broken:
        raise TypeError("the control's own code has a bug: it never reaches its assertion")
    return "measured 1.0000 vs 1.0000"


def _slow(broken: bool) -> str:
    if broken:
        raise AssertionError("slow control fails")
    return "trained for hours"


def _prediction_contradicted(broken: bool) -> str:
    if broken:
        raise Contradicted("location kept: lift +0.84", "autoencoder: location lift +0.84")
    raise Contradicted("shape lost: lift +0.08 (+0.07..+0.10, 3 seeds)", "contrastive_B: shape lift +0.08")


def _prediction_confirmed(broken: bool) -> str:
    if broken:
        raise Contradicted("color kept: lift +0.73", "autoencoder: color lift +0.73")
    return "contrastive_A: color lift +0.01 (at chance)"


def _prediction_plain_assertion(broken: bool) -> str:
    assert False, "fewer than 3 seeds cached"  # a broken check, not a measurement that contradicts the prediction


def _prediction_crashes(broken: bool) -> str:
    if broken:
        raise Contradicted("location kept", "")
    raise KeyError("contrastive_B")


def _prediction_control_passes(broken: bool) -> str:
    if broken:
        return "the autoencoder passes too"
    raise Contradicted("shape lost: lift +0.08", "")


REGISTRY = {
    c.id: c for c in [
        Claim("q1.good", "1", "A true statement that is checked.", "sympy proof", "a broken premise", _good),
        Claim("q1.false", "1", "A false statement.", "hypothesis property", "anything", _false),
        Claim("q1.weak", "1", "A check that cannot fail.", "numeric experiment", "nothing changes", _weak),
        Claim("q1.crashes", "1", "A check with a bug.", "numeric experiment", "n/a", _crashes),
        Claim("q1.control_crashes", "1", "A true statement whose control crashes.", "numeric experiment", "typo",
              _control_crashes),
        Claim("q8b.slow", "8b", "A long empirical claim.", "numeric experiment", "untrained", _slow, slow=True),
        Claim("q6.extra", "6", "Registered but not in the key, and false.", "sympy proof", "n/a", _false),
        Claim("q8b.contradicted", "8b", "A staff prediction the data contradict.", "numeric experiment",
              "the autoencoder's features", _prediction_contradicted, prediction=True),
        Claim("q8b.confirmed", "8b", "A staff prediction the data confirm.", "numeric experiment",
              "the autoencoder's features", _prediction_confirmed, prediction=True),
        Claim("q8b.plain_assertion", "8b", "A staff prediction whose check fails a plain assertion.",
              "numeric experiment", "n/a", _prediction_plain_assertion, prediction=True),
        Claim("q8b.crashes", "8b", "A staff prediction whose check crashes.", "numeric experiment", "n/a",
              _prediction_crashes, prediction=True),
        Claim("q8b.control_passes", "8b", "A contradicted staff prediction whose control passes.",
              "numeric experiment", "n/a", _prediction_control_passes, prediction=True),
        Claim("q1.contradicted_not_prediction", "1", "A claim (not a prediction) whose check raises Contradicted.",
              "numeric experiment", "n/a", _prediction_contradicted),
    ]
}


def _item(field: str, checks=(), basis="check", question="1") -> KeyItem:
    return KeyItem(question=question, field=field, title=field, kind="yesno", answer="yes", points=1,
                   checks=tuple(checks), basis=basis)


def run(monkeypatch, items, include_slow=True):
    monkeypatch.setattr(verify_module, "load_all", lambda: dict(sorted(REGISTRY.items())))
    monkeypatch.setattr(verify_module, "load_key", lambda: Key(tuple(items), (), ()))
    out = io.StringIO()
    status = verify_module.main(include_slow=include_slow, out=out)
    return status, out.getvalue()


def test_all_verified_exits_zero_and_shows_the_evidence(monkeypatch):
    status, text = run(monkeypatch, [_item("q1.x", ["q1.good"]), _item("q4.a", basis="staff", question="4a")])
    assert status == 0
    row = next(line for line in text.splitlines() if "q1.good" in line and "sympy proof" in line)
    assert row.split()[0] == "1" and "verified" in row and "A true statement" in row
    assert "measured 1.0000 vs 1.0000" in text  # the evidence of the real run
    assert "counterexample: x = 42" in text and "a broken premise" in text  # the control's counterexample
    assert "verified by q1.good" in text
    assert "staff answer" in text
    assert "OK" in text.splitlines()[-1]


def test_unreferenced_claims_run_but_do_not_change_the_exit_status(monkeypatch):
    status, text = run(monkeypatch, [_item("q1.x", ["q1.good"])])
    assert status == 0
    assert "q6.extra" in text and "FALSIFIED *" in text and "not referenced by the answer key" in text


@pytest.mark.parametrize("cid, label", [("q1.false", "FALSIFIED"), ("q1.weak", "CONTROL PASSED"),
                                        ("q1.crashes", "FALSIFIED"), ("q1.control_crashes", "CONTROL CRASHED")])
def test_a_failing_claim_behind_the_key_exits_one(monkeypatch, cid, label):
    status, text = run(monkeypatch, [_item("q1.x", ["q1.good", cid])])
    assert status == 1
    row = next(line for line in text.splitlines() if line.split()[1:2] == [cid])
    assert label in row
    assert f"NOT VERIFIED: {cid} {label}" in text
    assert "FAILED" in text.splitlines()[-1] and cid in text.splitlines()[-1]
    if cid == "q1.weak":
        assert "cannot fail" in text
    if cid == "q1.control_crashes":
        assert "failed before its assertion" in text
    if cid == "q1.false":
        assert "the claim fails at x = 7" in text


def test_a_missing_claim_exits_one(monkeypatch):
    status, text = run(monkeypatch, [_item("q1.x", ["q1.good"]), _item("q7.d_i", ["q7d.absent"], question="7d")])
    assert status == 1
    row = next(line for line in text.splitlines() if "q7d.absent" in line and "MISSING" in line)
    assert row.split()[0] == "7d"
    assert "NOT VERIFIED: q7d.absent missing" in text


def test_slow_claims_are_skipped_on_request(monkeypatch):
    items = [_item("q1.x", ["q1.good"]), _item("q8.b", ["q8b.slow"], question="8b")]
    status, text = run(monkeypatch, items, include_slow=False)
    assert status == 0
    assert "skipped" in text and "trained for hours" not in text and "not run (slow)" in text
    status, text = run(monkeypatch, items, include_slow=True)
    assert status == 0
    assert "trained for hours" in text and "verified by q8b.slow" in text


def test_each_claim_shows_its_kind(monkeypatch):
    """The table says how strong each verdict is (proof / property / experiment over n seeds), per claim and per key item."""
    def _seeded(broken: bool) -> str:
        if broken:
            raise AssertionError("control fails")
        return "3 starts agree"

    _seeded.seeds = 3
    registry = dict(REGISTRY, **{"q1.seeded": Claim("q1.seeded", "1", "An experiment.", "numeric experiment", "a broken premise", _seeded)})
    monkeypatch.setattr(verify_module, "load_all", lambda: dict(sorted(registry.items())))
    monkeypatch.setattr(verify_module, "load_key", lambda: Key((_item("q1.x", ["q1.good", "q1.seeded"]),), (), ()))
    out = io.StringIO()
    assert verify_module.main(out=out) == 0
    text = out.getvalue()
    assert "kind: symbolic proof (exact" in text
    assert "kind: experiment over 3 seeds" in text
    assert "kind: property over generated inputs" in text  # q1.false, registered but not in the key
    assert "verified by q1.good (symbolic proof), q1.seeded (experiment over 3 seeds)" in text


def _row_of(text: str, cid: str) -> str:
    return next(line for line in text.splitlines() if line.split()[1:2] == [cid])


def test_a_contradicted_staff_prediction_is_shown_plainly_and_exits_zero(monkeypatch):
    """A staff prediction the measurement contradicts is reported (table, key list, counts), not a failure."""
    items = [_item("q1.x", ["q1.good"]), _item("q8.b_B", ["q8b.contradicted"], question="8b")]
    status, text = run(monkeypatch, items)
    assert status == 0
    row = _row_of(text, "q8b.contradicted")
    assert "STAFF PREDICTION (measurement contradicts: shape lost: lift +0.08 (+0.07..+0.10, 3 seeds))" in row
    assert "verified" not in row and "FALSIFIED" not in row
    assert "measured, against the prediction: Contradicted: shape lost: lift +0.08" in text  # the measurement, not "holds"
    assert "fails as it should: Contradicted: location kept" in text  # its control still has to fail by its assertion
    assert "staff prediction (a measurement that contradicts it is reported, not a failure)" in text
    assert "STAFF PREDICTION, the measurement contradicts it: q8b.contradicted: shape lost" in text
    assert "verified by q8b.contradicted" not in text
    summary = next(line for line in text.splitlines() if line.startswith("claims:"))
    claims, items = summary.split("; key items: ")
    assert "1 staff prediction contradicted by the measurement" in claims
    assert items.startswith("1 verified, 1 staff prediction contradicted by the measurement") and "0 NOT verified" in items
    assert "q8b.contradicted (shape lost" in text
    last = text.splitlines()[-1]
    assert last.startswith("OK") and "1 staff prediction the measurement contradicts" in last


def test_a_confirmed_staff_prediction_is_verified(monkeypatch):
    status, text = run(monkeypatch, [_item("q8.b_A", ["q8b.confirmed"], question="8b")])
    assert status == 0
    assert "verified" in _row_of(text, "q8b.confirmed")
    assert "staff prediction, confirmed by the measurement" in text
    assert "0 staff predictions contradicted" in text
    assert text.splitlines()[-1] == "OK: every claim behind the key is verified"


@pytest.mark.parametrize("cid, label", [("q8b.plain_assertion", "FALSIFIED"), ("q8b.crashes", "FALSIFIED"),
                                        ("q8b.control_passes", "CONTROL PASSED"),
                                        ("q1.contradicted_not_prediction", "FALSIFIED")])
def test_only_a_contradiction_with_a_working_control_excuses_a_prediction(monkeypatch, cid, label):
    """A prediction's check that fails by a plain assertion or a crash, a contradicted prediction whose control
    passes, and Contradicted raised by a claim that is not a prediction: all still fail the run."""
    status, text = run(monkeypatch, [_item("q8.b", [cid], question=cid[1:].split(".")[0])])
    assert status == 1
    row = _row_of(text, cid)
    assert label in row and "STAFF PREDICTION" not in row
    assert f"NOT VERIFIED: {cid} {label}" in text
    assert "FAILED" in text.splitlines()[-1]


def test_a_failing_claim_still_fails_beside_a_contradicted_prediction(monkeypatch):
    items = [_item("q1.x", ["q1.false"]), _item("q8.b_B", ["q8b.contradicted"], question="8b")]
    status, text = run(monkeypatch, items)
    assert status == 1
    last = text.splitlines()[-1]
    assert last.startswith("FAILED") and "q1.false" in last and "q8b.contradicted" not in last
    assert "STAFF PREDICTION (measurement contradicts" in _row_of(text, "q8b.contradicted")
