"""answers/key.toml: complete for CONTRACT.md's answers.toml, consistent, and every claim it names exists."""
from __future__ import annotations

import re
import tomllib

import pytest

from checks.claim import load_all
from simgrade import PROJECT_ROOT
from simgrade.key import load_key

KEY = load_key()

CONTRACT_FIELDS = {
    # the auto-graded keys of the answers.toml example in CONTRACT.md
    "q1.num_classes", "q1.logit_range", "q1.squared_distance",
    "q4.a", "q4.c", "q4.e_i", "q4.e_ii", "q4.f",
    "q5.a", "q5.b",
    "q6.accuracy_equal",
    "q7.a", "q7.d_i",
    "q8.b_A_invariant", "q8.b_B_invariant", "q8.b_C_invariant",
}
CONTRACT_QUESTIONS = ["1", "4a", "4c", "4e", "4f", "5a", "5b", "6", "7a", "7b", "7d", "8a", "8b"]

STAFF_ANSWERS = {
    # HOMEWORK.md's staff answers, entered a second time: the key must agree with them
    "q1.num_classes": "N", "q1.logit_range": [-1, 1], "q1.squared_distance": "2*(1 - cos(theta))",
    "q4.a": ["yes", "no", "yes", "no"], "q4.c": "ii", "q4.e_i": "smaller", "q4.e_ii": "larger", "q4.f": "no",
    "q5.a": "no", "q5.b": "yes", "q6.accuracy_equal": "yes",
    "q7.a": ["yes", "yes", "maybe", "maybe", "maybe", "maybe"], "q7.d_i": "yes",
    "q8.b_A_invariant": ["color"], "q8.b_B_invariant": ["location"], "q8.b_C_invariant": ["shape", "location"],
}


def test_every_contract_field_is_in_the_key():
    fields = [item.field for item in KEY.items]
    assert len(fields) == len(set(fields)), "a field appears twice"
    assert CONTRACT_FIELDS <= set(fields), sorted(CONTRACT_FIELDS - set(fields))


def test_contract_example_matches_the_key():
    """The answers.toml example of the project's own docs/CONTRACT.md names every field the key grades."""
    contract = PROJECT_ROOT / "docs" / "CONTRACT.md"
    block = re.search(r"```toml\n(.*?)```", contract.read_text(encoding="utf-8"), re.S)
    assert block, "no toml block in CONTRACT.md"
    example = tomllib.loads(block.group(1))
    fields = {f"{section}.{key}" for section, table in example.items() for key in table}
    assert fields == CONTRACT_FIELDS
    assert fields <= {item.field for item in KEY.items}


def test_key_answers_are_the_staff_answers():
    for item in KEY.items:
        assert item.answer == STAFF_ANSWERS[item.field], item.field


def test_every_named_claim_exists():
    """Every claim id the key names is registered by a check. The empirical ones (q7d.*, q8b.*) come from
    checks/check_empirical*.py; this test fails until they exist, on purpose: the key must not name
    checks that do not run."""
    registry = load_all()
    missing = sorted({cid for item in KEY.items for cid in item.checks if cid not in registry})
    assert not missing, f"the key names claims no check registers: {missing}"


def test_checks_or_staff_basis():
    for item in KEY.items:
        assert item.basis in ("check", "staff"), item.field
        if item.basis == "staff":
            assert not item.checks, f"{item.field}: staff-basis items name no checks"
        else:
            assert item.checks, f"{item.field}: no checks"
            assert all(re.fullmatch(rf"q{item.question}\.\w+", cid) for cid in item.checks), item.checks


def test_points_positive_and_questions_known():
    for item in KEY.items:
        assert item.points > 0 and item.max_points > 0, item.field
        assert item.question in CONTRACT_QUESTIONS, item.question
    for code in KEY.code:
        assert code.question in CONTRACT_QUESTIONS
        assert code.points and all(p > 0 for p in code.points.values()), code.question
    assert set(KEY.question_ids) == set(CONTRACT_QUESTIONS)
    assert {c.function for c in KEY.code} == {"autoencoder_loss", "contrastive_loss"}


def test_item_kinds_are_consistent():
    for item in KEY.items:
        if item.kind == "choice":
            assert item.answer in item.options, item.field
        elif item.kind == "set":
            assert set(item.answer) <= set(item.options), item.field
        elif item.kind == "yesno":
            assert item.answer in ("yes", "no", "maybe"), item.field
        elif item.kind == "yesno_list":
            assert item.answer and all(a in ("yes", "no", "maybe") for a in item.answer), item.field
        elif item.kind == "interval":
            assert len(item.answer) == 2 and item.answer[0] < item.answer[1], item.field
        elif item.kind == "expression":
            assert item.symbols, item.field
        else:
            pytest.fail(f"{item.field}: unknown kind {item.kind}")


def test_also_right_is_for_set_items_only(tmp_path):
    """`also_right` (other sets earning full points) must be a list of a set item's options."""
    from simgrade.key import AnswerKeyError, KEY_PATH

    text = KEY_PATH.read_text(encoding="utf-8")
    assert KEY.items[[i.field for i in KEY.items].index("q8.b_B_invariant")].also_right == (("location", "shape"),)
    for wrong in ('also_right = [["location", "size"]]', 'also_right = ["location"]'):
        broken = tmp_path / "key.toml"
        broken.write_text(text.replace('also_right = [["location", "shape"]]', wrong), encoding="utf-8")
        with pytest.raises(AnswerKeyError, match="also_right"):
            load_key(broken)
    on_a_choice = text.replace('answer = "ii"\n', 'answer = "ii"\nalso_right = [["i"]]\n', 1)
    assert on_a_choice != text
    (tmp_path / "key.toml").write_text(on_a_choice, encoding="utf-8")
    with pytest.raises(AnswerKeyError, match="also_right"):
        load_key(tmp_path / "key.toml")
