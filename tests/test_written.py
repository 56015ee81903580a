"""simgrade.written: answers.toml against the key (CONTRACT.md forms and normalisation; issue 3 item 5)."""
from __future__ import annotations

import datetime
import json
import math
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simgrade import PROJECT_ROOT
from simgrade.key import load_key
from simgrade.written import MAX_BYTES, NO_FILE, WHY_MAX_CHARS, WrittenGrade, grade_written

SAMPLE = Path(__file__).parent / "fixtures" / "samples" / "correct" / "answers.toml"
# the same content, written out, so that the tests below show what they grade
SAMPLE_TEXT = '''\
[q1]
num_classes = "N"
logit_range = [-1, 1]
squared_distance = "2 - 2*cos(theta)"
squared_distance_why = "Expand (u - v)^T (u - v) and use |u| = |v| = 1."
[q4]
a = ["yes", "no", "yes", "no"]
c = "ii"
e_i = "smaller"
e_ii = "larger"
f = "no"
[q5]
a = "no"
b = "yes"
[q6]
accuracy_equal = "yes"
[q7]
a = ["yes", "yes", "maybe", "maybe", "maybe", "maybe"]
d_i = "yes"
[q8]
b_A_invariant = ["color"]
b_B_invariant = ["location"]
b_C_invariant = ["shape", "location"]
'''
KEY = load_key()
HYPOTHESIS = settings(derandomize=True, database=None, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
NUMBERS = ["1.1", "1.2", "1.3", "4a.1", "4a.2", "4a.3", "4a.4", "4c.1", "4e.1", "4e.2", "4f.1",
           "5a.1", "5b.1", "6.1", "7a.1", "7a.2", "7a.3", "7a.4", "7a.5", "7a.6", "7d.1",
           "8b.1", "8b.2", "8b.3"]
FIELD_OF = {"1.1": "q1.num_classes", "1.2": "q1.logit_range", "1.3": "q1.squared_distance",
            "4c.1": "q4.c", "4e.1": "q4.e_i", "4e.2": "q4.e_ii", "4f.1": "q4.f", "5a.1": "q5.a",
            "5b.1": "q5.b", "6.1": "q6.accuracy_equal", "7d.1": "q7.d_i",
            "8b.1": "q8.b_A_invariant", "8b.2": "q8.b_B_invariant", "8b.3": "q8.b_C_invariant"}


def sample_literals() -> dict[str, str]:
    """field -> TOML literal of the correct sample (JSON literals of strings and lists are TOML)."""
    data = tomllib.loads(SAMPLE_TEXT)
    return {f"{sec}.{k}": json.dumps(v) for sec, table in data.items() for k, v in table.items()
            if not k.endswith("_why")}


def document(overrides: dict[str, str | None] | None = None, extra: str = "") -> bytes:
    """The correct sample with some fields replaced by TOML literals (None: the key removed)."""
    lits = sample_literals()
    lits.update(overrides or {})
    sections: dict[str, list[str]] = {}
    for fld, lit in lits.items():
        sec, k = fld.split(".", 1)
        sections.setdefault(sec, [])
        if lit is not None:
            sections[sec].append(f"{k} = {lit}")
    text = extra + "".join(f"[{sec}]\n" + "\n".join(lines) + "\n" for sec, lines in sections.items())
    return text.encode()


def by_number(grade: WrittenGrade) -> dict:
    return {t.number: t for t in grade.tests}


def assert_invariants(grade: WrittenGrade):
    assert [t.number for t in grade.tests] == NUMBERS
    for t in grade.tests:
        assert t.score in (0.0, t.max_score)
        assert t.output and t.name
        assert t.tags == [t.question, "written"]
        json.dumps(t.to_gradescope())


# ----------------------------------------------------------------------------- the sample

@pytest.mark.parametrize("source", ["fixture", "text"])
def test_correct_sample_scores_full_marks(source):
    grade = grade_written(SAMPLE.read_bytes() if source == "fixture" else SAMPLE_TEXT.encode(), KEY)
    assert_invariants(grade)
    assert grade.score == grade.max_score == 24
    assert all(t.status == "passed" and "correct" in t.output for t in grade.tests)
    assert grade.notes == []
    assert grade.why == {"q1.squared_distance_why": "Expand (u - v)^T (u - v) and use |u| = |v| = 1."}


def test_numbering_and_names():
    grade = grade_written(SAMPLE_TEXT.encode(), KEY)
    tests = by_number(grade)
    for number, fld in FIELD_OF.items():
        assert tests[number].name.startswith(fld + ":")
    assert tests["4a.3"].name.startswith("q4.a:") and "(3 of 4)" in tests["4a.3"].name
    assert tests["7a.6"].name.startswith("q7.a:") and "(6 of 6)" in tests["7a.6"].name


def test_grading_the_sample_needs_no_sympy():
    """Grading speed: the sample's expressions hit the fast path; sympy (0.3 s to import) stays out."""
    code = textwrap.dedent(f"""
        import sys
        from simgrade.key import load_key
        from simgrade.written import grade_written
        g = grade_written({SAMPLE_TEXT.encode()!r}, load_key())
        print(g.score, "sympy" in sys.modules)
    """)
    res = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["24.0", "False"]


def test_deterministic():
    data = document({"q1.squared_distance": '"(1 - cos(theta))*2"', "q4.c": '"i"'})
    a, b = grade_written(data, KEY), grade_written(data, KEY)
    assert [t.to_gradescope() for t in a.tests] == [t.to_gradescope() for t in b.tests]


# ----------------------------------------------------------------------------- normalisation

RIGHT = [
    ("q4.f", '"No"'), ("q4.f", '"n"'), ("q4.f", '"NO "'), ("q4.f", "false"), ("q4.f", '" no. "'),
    ("q4.f", '"(no)"'), ("q5.b", '"Yes"'), ("q5.b", '"y"'), ("q5.b", "true"), ("q5.b", '"TRUE"'),
    ("q5.b", '"yes."'), ("q6.accuracy_equal", '"Y"'),
    ("q4.c", '"(ii)"'), ("q4.c", '"II"'), ("q4.c", '" ii "'), ("q4.c", '"ii)"'), ("q4.c", '"(II)."'),
    ("q4.e_i", '"Smaller"'), ("q4.e_i", '" SMALLER "'), ("q4.e_ii", '"LARGER"'),
    ("q8.b_C_invariant", '["location", "shape"]'), ("q8.b_C_invariant", '["Shape", "LOCATION", "shape"]'),
    ("q8.b_C_invariant", '"shape, location"'), ("q8.b_A_invariant", '"color"'),
    ("q8.b_A_invariant", '"Colour"'), ("q8.b_A_invariant", '["COLOR"]'), ("q8.b_A_invariant", '["color", "color"]'),
    ("q8.b_B_invariant", '[" location "]'),
    ("q1.logit_range", "[-1, 1]"), ("q1.logit_range", "[-1.0, 1.0]"), ("q1.logit_range", '["-1", "1"]'),
    ("q1.logit_range", '"[-1, 1]"'), ("q1.logit_range", '"[-1,1]"'),
    ("q1.logit_range", '["−1", "+1"]'), ("q1.logit_range", "[-1, 1.0]"), ("q1.logit_range", '"-1, 1"'),
    ("q1.num_classes", '"K"'), ("q1.num_classes", '" n "'), ("q1.num_classes", '"N"'),
    ("q1.squared_distance", '"4*sin(theta/2)**2"'), ("q1.squared_distance", '"2(1-cos θ)"'),
    ("q1.squared_distance", '"(1-cos(theta))*2"'), ("q1.squared_distance", '"2 - 2 cos(theta)"'),
]


@pytest.mark.parametrize("fld,literal", RIGHT)
def test_accepted_variants(fld, literal):
    grade = grade_written(document({fld: literal}), KEY)
    assert_invariants(grade)
    assert grade.score == 24, [t.output for t in grade.tests if t.status == "failed"]


def test_yes_no_lists_normalised():
    grade = grade_written(document({"q4.a": '["Yes", "N", true, false]',
                                    "q7.a": '["y", true, "Maybe", "MAYBE", " maybe ", "maybe"]'}), KEY)
    assert grade.score == 24


WRONG = [
    ("q4.f", '"yes"', "incorrect (you answered \"yes\")"),
    ("q4.f", '"unsure"', 'does not start with "yes", "no" or "maybe"'),
    ("q4.f", '"yes/no"', "_why"),
    ("q4.f", '"perhaps"', "incorrect"),
    ("q1.logit_range", '"(-1, 1)"', "open end"),
    ("q4.f", "1", "got a number"),
    ("q4.f", "{a = 1}", "got a table"),
    ("q4.f", '["no"]', "got a list"),
    ("q4.f", "1979-05-27", "got a date/time"),
    ("q4.c", '"iii"', "incorrect (you answered \"iii\")"),
    ("q4.c", '"v"', 'is not one of "i", "ii", "iii", "iv"'),
    ("q4.c", "2", "got a number"),
    ("q4.c", "true", "got a boolean"),
    ("q8.b_C_invariant", '["shape"]', "incorrect"),
    ("q8.b_C_invariant", '["shape", "size"]', '"size" is not one of'),
    ("q8.b_C_invariant", "[1]", "must be a string"),
    ("q8.b_C_invariant", "{x = 1}", "got a table"),
    ("q8.b_C_invariant", '["none"]', "incorrect"),
    ("q8.b_C_invariant", '["none", "shape"]', '"none" together with'),
    ("q1.logit_range", "[0, 1]", "incorrect (you answered [0, 1])"),
    ("q1.logit_range", "[1, -1]", "lower end comes first"),
    ("q1.logit_range", "[-1]", "it has 1 entries"),
    ("q1.logit_range", "[-1, 1, 2]", "it has 3 entries"),
    ("q1.logit_range", '["a", "b"]', '"a" is not a number'),
    ("q1.logit_range", "[true, false]", "true is not a number"),
    ("q1.logit_range", "[-inf, inf]", "is not a number"),
    ("q1.logit_range", "[nan, 1]", "is not a number"),
    ("q1.logit_range", '["-1/tau", "1/tau"]', "is not a number"),
    ("q1.logit_range", "true", "got a boolean"),
    ("q1.logit_range", "inf", "got a number"),
    ("q1.squared_distance", '"2 - cos(theta)"', "not equivalent"),
    ("q1.squared_distance", "\"__import__('os').system('true')\"", "not accepted"),
    ("q1.squared_distance", '"9**9**9"', "exponent too large"),
    ("q1.squared_distance", "5", "incorrect (you answered \"5\""),
    ("q1.squared_distance", "true", "got a boolean"),
    ("q1.squared_distance", '["x"]', "got a list"),
    ("q1.squared_distance", '"' + "1+" * 150 + '1"', "too long"),
    ("q1.num_classes", '"N-1"', "not equivalent"),
    ("q1.num_classes", "10", "incorrect"),
    ("q1.num_classes", '"C"', "unknown name 'C'"),
]


@pytest.mark.parametrize("fld,literal,expected", WRONG)
def test_wrong_answers_and_types(fld, literal, expected):
    grade = grade_written(document({fld: literal}), KEY)
    assert_invariants(grade)
    failed = [t for t in grade.tests if t.status == "failed"]
    assert len(failed) == 1 and failed[0].score == 0
    assert failed[0].name.startswith(fld + ":")
    assert expected in failed[0].output, failed[0].output
    assert grade.score == 23


def test_feedback_never_states_the_expression_key():
    grade = grade_written(document({"q1.squared_distance": '"2*cos(theta)"', "q1.num_classes": '"2*N"'}), KEY)
    for t in grade.tests[:3]:
        for item in KEY.items[:3]:
            if item.kind == "expression" and t.status == "failed":
                for form in (item.answer, *item.accepted):
                    assert f'"{form}"' not in t.output and f"({form})" not in t.output


def test_yesno_list_shapes():
    tests = by_number(grade_written(document({"q4.a": '"yes"'}), KEY))
    assert all(tests[f"4a.{k}"].score == 0 and "TOML list" in tests[f"4a.{k}"].output for k in range(1, 5))
    tests = by_number(grade_written(document({"q4.a": '["yes", "no"]'}), KEY))
    assert tests["4a.1"].score == tests["4a.2"].score == 1
    assert tests["4a.3"].score == 0 and "only 2 entries" in tests["4a.3"].output
    tests = by_number(grade_written(document({"q4.a": '["yes", "no", "yes", "no", "yes"]'}), KEY))
    assert all(tests[f"4a.{k}"].score == 1 for k in range(1, 5))
    assert "extras ignored" in tests["4a.1"].output
    tests = by_number(grade_written(document({"q4.a": '[1, "no", [], ""]'}), KEY))
    assert [tests[f"4a.{k}"].score for k in range(1, 5)] == [0, 1, 0, 0]
    assert "got a number" in tests["4a.1"].output and "got a list" in tests["4a.3"].output
    assert "not answered" in tests["4a.4"].output


# ----------------------------------------------------------------------------- not answered

def test_no_file():
    grade = grade_written(None, KEY)
    assert_invariants(grade)
    assert grade.score == 0 and grade.max_score == 24
    assert all(t.output == NO_FILE for t in grade.tests)
    assert grade.notes == [NO_FILE] and grade.why == {}


def test_missing_key_scores_zero_nothing_more():
    grade = grade_written(document({"q4.c": None}), KEY)
    t = by_number(grade)["4c.1"]
    assert t.score == 0 and t.output.startswith("q4.c: not answered") and 'one of "i"' in t.output
    assert grade.score == 23 and grade.notes == []


def test_missing_section_and_empty_values():
    data = document({"q5.a": None, "q5.b": None, "q1.num_classes": '""', "q1.logit_range": "[]",
                     "q8.b_A_invariant": "[]", "q8.b_B_invariant": '[""]', "q4.a": '["", "", "", ""]',
                     "q1.squared_distance": '"   "'})
    tests = by_number(grade_written(data, KEY))
    for n in ["5a.1", "5b.1", "1.1", "1.2", "1.3", "8b.1", "8b.2", "4a.1", "4a.4"]:
        assert tests[n].score == 0 and "not answered" in tests[n].output, (n, tests[n].output)


def test_empty_file():
    grade = grade_written(b"", KEY)
    assert grade.score == 0 and all("not answered" in t.output for t in grade.tests)
    assert grade.notes == []


# ----------------------------------------------------------------------------- broken files

def test_toml_syntax_error_costs_only_its_item():
    grade = grade_written(b'[q1]\nnum_classes = "N"\n[q4]\nc = ii\n', KEY)
    assert_invariants(grade)
    assert grade.score == 1  # num_classes still read
    assert len(grade.notes) == 1 and "line 4" in grade.notes[0] and "quotes" in grade.notes[0]
    tests = by_number(grade)
    assert "line 4" in tests["4c.1"].output and 'c = "ii"' in tests["4c.1"].output
    assert tests["1.1"].score == 1 and "not answered" in tests["5a.1"].output


def test_reopened_section_is_read_and_a_repeated_key_costs_its_item():
    grade = grade_written(document(extra='[q4]\nf = "no"\n'), KEY)
    assert "not valid TOML" in grade.notes[0] and "given twice" in grade.notes[0]
    tests = by_number(grade)
    assert grade.score == 23 and tests["4f.1"].score == 0 and "given twice" in tests["4f.1"].output


@pytest.mark.parametrize("data,words", [
    (b"\x00\x01\x02\xff" * 100, "binary"),
    (bytes(range(256)), "binary"),
    (b"\xff\xfe[q1]\n", "not UTF-8"),
    ('[q4]\nf = "no"\n'.encode("utf-16"), "binary"),
    (b'[q4]\nf = "\xe9"\n', "not UTF-8"),
    (b"#" * (MAX_BYTES + 1), "64 KiB"),
    (b"a = " + b"[" * 5000 + b"]" * 5000, "nested too deeply"),
    (b"a = " + b"{b = " * 3000 + b"1" + b"}" * 3000, "nested too deeply"),
])
def test_unreadable_files(data, words):
    grade = grade_written(data, KEY)
    assert_invariants(grade)
    assert grade.score == 0
    assert len(grade.notes) == 1 and words in grade.notes[0], grade.notes


def test_size_limit_is_exact():
    body = SAMPLE_TEXT.encode()
    padded = body + b"\n" + b"#" * (MAX_BYTES - len(body) - 2) + b"\n"
    assert len(padded) == MAX_BYTES
    assert grade_written(padded, KEY).score == 24
    assert grade_written(padded + b"\n", KEY).score == 0


def test_bom_and_crlf():
    body = SAMPLE_TEXT.encode()
    assert grade_written(b"\xef\xbb\xbf" + body, KEY).score == 24
    assert grade_written(body.replace(b"\n", b"\r\n"), KEY).score == 24


def test_unknown_keys_are_noted_and_ignored():
    data = document(extra='num_classes = "N"\n[q9]\nx = 1\n') + b'[q2]\nfoo = "bar"\n'
    grade = grade_written(data, KEY)
    assert grade.score == 24
    assert len(grade.notes) == 1
    note = grade.notes[0]
    assert "unknown keys" in note and "q9" in note and "q2" in note and "belongs under [q1]" in note


def test_section_that_is_not_a_table():
    lits = sample_literals()
    body = 'q5 = "no"\n' + "".join(
        f"[{sec}]\n" + "\n".join(f"{f.split('.')[1]} = {v}" for f, v in lits.items() if f.startswith(sec + "."))
        + "\n" for sec in ["q1", "q4", "q6", "q7", "q8"])
    grade = grade_written(body.encode(), KEY)
    assert grade.score == 22
    tests = by_number(grade)
    assert "[q5] is not a table" in tests["5a.1"].output
    assert any("[q5] must be a table" in n for n in grade.notes)


def test_hostile_keys_are_shown_safely():
    data = document(extra='"\\u001b[2J\\n evil" = 1\n"' + "k" * 500 + '" = 2\n')
    grade = grade_written(data, KEY)
    note = grade.notes[0]
    assert "\x1b" not in note and "\n" not in note and len(note) < 400


# ----------------------------------------------------------------------------- _why

def test_why_fields_are_collected_and_truncated():
    long = "x" * (WHY_MAX_CHARS + 500)
    data = document({"q4.f_why": json.dumps(long), "q4.b_why": '"diameter = max, margin = min"',
                     "q7.a_why": "3"}, extra='general_why = "see my PDF"\n')
    grade = grade_written(data, KEY)
    assert grade.score == 24
    assert grade.why["q4.f_why"] == "x" * WHY_MAX_CHARS
    assert grade.why["q4.b_why"] == "diameter = max, margin = min"
    assert grade.why["general_why"] == "see my PDF"
    assert "q7.a_why" not in grade.why and any("q7.a_why" in n for n in grade.notes)


# ----------------------------------------------------------------------------- properties

@HYPOTHESIS
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_crash(data):
    grade = grade_written(data, KEY)
    assert_invariants(grade)
    assert 0 <= grade.score <= 24


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


_text = st.text(alphabet=st.characters(max_codepoint=0xFFFF, blacklist_categories=("Cs",)), max_size=30)
_words = st.sampled_from(["yes", "no", "maybe", "Y", "n", "ii", "(iv)", "smaller", "LARGER", "color", "shape",
                          "location", "none", "N", "K", "2N", "2 - 2*cos(theta)", "-1", "1", "", " ", "9**9**9",
                          "cos(", "__import__('os')", "[-1, 1]"])
_scalar = st.one_of(_words, _text, st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats())
_value = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=7),
                                                       st.dictionaries(st.sampled_from(["a", "b", "x"]), inner, max_size=2)),
                      max_leaves=10)


@settings(HYPOTHESIS, max_examples=150)
@given(st.dictionaries(st.sampled_from([i.field for i in KEY.items] + ["q1.x_why", "q9.z", "q4.b"]), _value, max_size=8))
def test_arbitrary_documents_never_crash(fields):
    sections: dict[str, list[str]] = {}
    for fld, v in fields.items():
        sec, k = fld.split(".", 1)
        sections.setdefault(sec, []).append(f"{k} = {_toml(v)}")
    body = "".join(f"[{sec}]\n" + "\n".join(lines) + "\n" for sec, lines in sections.items())
    tomllib.loads(body)  # the generator writes valid TOML
    grade = grade_written(body.encode(), KEY)
    assert_invariants(grade)
    assert grade.notes == [] or all(isinstance(n, str) and n for n in grade.notes)


# ----------------------------------------------------------------------------- key-side extensions

def _with(field, **changes):
    import dataclasses
    items = tuple(dataclasses.replace(i, **changes) if i.field == field else i for i in KEY.items)
    return dataclasses.replace(KEY, items=items)


def test_key_aliases_for_choices_and_sets():
    key = _with("q4.c", accepted=("b", "2=ii", "4=iv"))
    assert by_number(grade_written(document({"q4.c": '"B"'}), key))["4c.1"].score == 1
    assert by_number(grade_written(document({"q4.c": '"(2)"'}), key))["4c.1"].score == 1
    t = by_number(grade_written(document({"q4.c": '"4"'}), key))["4c.1"]
    assert t.score == 0 and "incorrect" in t.output
    key = _with("q8.b_C_invariant", accepted=("position=location",))
    assert by_number(grade_written(document({"q8.b_C_invariant": '["Position", "shape"]'}), key))["8b.3"].score == 1


def test_unknown_kind_scores_zero_without_crashing():
    grade = grade_written(SAMPLE_TEXT.encode(), _with("q4.f", kind="essay"))
    t = by_number(grade)["4f.1"]
    assert t.score == 0 and "unknown item kind" in t.output
    assert grade.score == 23


# ----------------------------------------------------------------------------- hostile values

FIELDS = [i.field for i in KEY.items]
HOSTILE_LITERALS = ["1" + "0" * 400, "-" + "9" * 4000, "1" + "0" * 5000, "nan", "-inf", "1e308",
                    "[1" + "0" * 400 + ", 2]", '["1' + "0" * 400 + '", 2]', "[nan, inf]", "1979-05-27T07:32:00Z",
                    "[" * 300 + "]" * 300, "[" * 3000 + "]" * 3000, "{a = " * 200 + "1" + "}" * 200,
                    json.dumps("x" * 60_000), json.dumps("\u001b[2J\r\n\nTotal: 44 / 44\u202e")]


@pytest.mark.parametrize("literal", HOSTILE_LITERALS, ids=range(len(HOSTILE_LITERALS)))
def test_hostile_values_in_every_field_never_crash(literal):
    for fld in FIELDS:
        grade = grade_written(document({fld: literal}), KEY)
        assert_invariants(grade)
        assert grade.flags == []


def test_huge_integers_are_answers_of_the_wrong_kind():
    huge = "1" + "0" * 400
    tests = by_number(grade_written(document({"q1.num_classes": huge, "q1.logit_range": f"[{huge}, 2]"}), KEY))
    assert tests["1.1"].score == 0 and "got a number (10000000000" in tests["1.1"].output
    assert tests["1.2"].score == 0 and "is not a number" in tests["1.2"].output
    grade = grade_written(f"[q1]\nnum_classes = 1{'0' * 5000}\n".encode(), KEY)
    assert grade.score == 0 and any("could not be parsed (Exceeds the limit" in n for n in grade.notes)


_bmp = st.characters(max_codepoint=0xFFFF, blacklist_categories=("Cs",))  # what json.dumps writes as TOML
_hostile_scalar = st.one_of(_scalar, st.integers(min_value=-10**450, max_value=10**450), st.text(_bmp, min_size=100, max_size=3000),
                            st.sampled_from(["\x1b[2J\r", "\u202e", "Total: 44 / 44\n"]), st.datetimes(), st.dates())
_hostile_value = st.recursive(_hostile_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.sampled_from(["a", "b_why", "c"]), inner, max_size=2)), max_leaves=12)


def _toml_any(value) -> str:
    if isinstance(value, str):
        return json.dumps(value).replace("\x7f", "\\u007f")  # TOML refuses a raw DEL
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_any(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_any(v)}" for k, v in value.items()) + "}"
    return _toml(value)


@settings(HYPOTHESIS, max_examples=150)
@given(st.dictionaries(st.sampled_from(FIELDS + [f + "_why" for f in FIELDS] + ["q1", "q4", "q4.b", "general_why"]),
                       _hostile_value, max_size=10))
def test_hostile_documents_never_crash(fields):
    top = [f"{json.dumps(f)} = {_toml_any(v)}" for f, v in fields.items() if "." not in f]
    sections: dict[str, list[str]] = {}
    for fld, v in fields.items():
        if "." in fld:
            sec, k = fld.split(".", 1)
            if sec not in fields:  # a key both a value and a table: not TOML
                sections.setdefault(sec, []).append(f"{k} = {_toml_any(v)}")
    body = "\n".join(top) + "\n" + "".join(f"[{sec}]\n" + "\n".join(lines) + "\n" for sec, lines in sections.items())
    tomllib.loads(body)
    grade = grade_written(body.encode(), KEY)
    assert_invariants(grade)
    assert grade.flags == [] and 0 <= grade.score <= grade.max_score


def test_an_item_whose_grading_fails_scores_0_alone(monkeypatch):
    import simgrade.written

    def broken(item, value, key):
        return 1 / 0

    monkeypatch.setitem(simgrade.written._GRADERS, "choice", broken)
    grade = grade_written(SAMPLE_TEXT.encode(), KEY)
    assert_invariants(grade)
    failed = {t.number for t in grade.tests if t.score == 0}
    assert failed == {"4c.1", "4e.1", "4e.2"} and grade.score == 21
    message = "internal error while grading q4.c (flagged for the TA): ZeroDivisionError: division by zero"
    assert by_number(grade)["4c.1"].output == message and message in grade.notes
    assert grade.flags == ["grader error"]
