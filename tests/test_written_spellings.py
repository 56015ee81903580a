"""Written answers read as a TA would (docs/WRITTEN.md, "Spellings a TA accepts").

Every spelling below was judged by hand: a correct one earns the item's full points, a wrong one
earns nothing for it. Each case replaces one field of the correct sample, so a right spelling keeps
24/24 and a wrong one loses exactly that item's points. The broken-TOML cases check that one bad
line costs only its own item and that the note names the line and the fix.
"""
from __future__ import annotations

import json
import re
import tomllib

import pytest

from simgrade.key import load_key
from simgrade.written import grade_written

KEY = load_key()
SAMPLE = '''\
[q1]
num_classes = "N"
logit_range = [-1, 1]
squared_distance = "2 - 2*cos(theta)"
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
POINTS = {item.field: item.points * (len(item.answer) if item.kind == "yesno_list" else 1) for item in KEY.items}


def document(field: str, literal: str) -> bytes:
    """The correct sample with ``field`` set to the TOML ``literal`` (written as is)."""
    lits = {f"{sec}.{k}": json.dumps(v) for sec, t in tomllib.loads(SAMPLE).items() for k, v in t.items()}
    lits[field] = literal
    sections: dict[str, list[str]] = {}
    for fld, lit in lits.items():
        sec, k = fld.split(".", 1)
        sections.setdefault(sec, []).append(f"{k} = {lit}")
    return "".join(f"[{sec}]\n" + "\n".join(lines) + "\n" for sec, lines in sections.items()).encode()


def test_the_sample_is_right():
    assert grade_written(SAMPLE.encode(), KEY).score == 24


# (field, TOML literal): every one of these is a correct answer, judged by hand
RIGHT = [
    # yes/no with its reason, and informal verdicts
    ("q4.f", '"No, because the supports overlap"'),
    ("q4.f", '"nope"'),
    ("q4.f", '"NO!"'),
    ("q4.f", "'No - the margin is 0'"),
    ("q4.f", '"Nah"'),
    ("q5.b", '"Yes (in the limit)"'),
    ("q5.b", '"yeah"'),
    ("q5.b", '"YES!"'),
    ("q5.b", '"Yep, scale f up"'),
    ("q5.b", '"Yes, in the limit s -> inf."'),
    ("q5.a", '"No: the bound is positive"'),
    ("q6.accuracy_equal", '"yes \u2014 the predictions are identical"'),
    ("q7.d_i", '"Yes; colour and location are kept"'),
    # lists written as one string, lists with reasons
    ("q4.a", '"yes, no, yes, no"'),
    ("q4.a", '"Yes No Yes No"'),
    ("q4.a", '"yes; no; yes; no"'),
    ("q4.a", '["Yes, because it is a group", "no", "yes", "nope"]'),
    ("q7.a", '"yes, yes, maybe, maybe, maybe, maybe"'),
    # choices: phrasing, synonyms
    ("q4.c", '"(ii) most likely"'),
    ("q4.c", '"option ii"'),
    ("q4.c", '"Option (ii)."'),
    ("q4.c", '"ii - the separation condition"'),
    ("q4.c", '"I think (ii)"'),
    ("q4.e_i", '"shrink"'),
    ("q4.e_i", '"decrease"'),
    ("q4.e_i", '"they shrink"'),
    ("q4.e_i", '"Smaller."'),
    ("q4.e_i", '"decreases"'),
    ("q4.e_i", '"get smaller"'),
    ("q4.e_ii", '"grow"'),
    ("q4.e_ii", '"increase"'),
    ("q4.e_ii", '"bigger"'),
    ("q4.e_ii", '"They grow."'),
    # sets: synonyms, one string
    ("q8.b_A_invariant", '"hue"'),
    ("q8.b_A_invariant", '["Hue"]'),
    ("q8.b_A_invariant", '"colour"'),
    ("q8.b_B_invariant", '"position"'),
    ("q8.b_B_invariant", '"translation"'),
    ("q8.b_B_invariant", '["Position"]'),
    ("q8.b_B_invariant", '"the location"'),
    ("q8.b_B_invariant", '"shape & position"'),  # what was measured (HOMEWORK.md Q8(d)): the key's also_right
    ("q8.b_B_invariant", '["location", "shape"]'),
    ("q8.b_C_invariant", '"Shape and location"'),
    ("q8.b_C_invariant", '"shape & position"'),
    ("q8.b_C_invariant", '"location/shape"'),
    ("q8.b_C_invariant", '["shape", "position"]'),
    ("q8.b_C_invariant", '"shape, translation"'),
    ("q8.b_C_invariant", '"location; shape"'),
    ("q8.b_C_invariant", '"Shape + Location"'),
    # intervals in words (closed)
    ("q1.logit_range", '"-1 to 1"'),
    ("q1.logit_range", '"between -1 and 1"'),
    ("q1.logit_range", '"from -1 to 1"'),
    ("q1.logit_range", '"-1 <= x <= 1"'),
    ("q1.logit_range", '"[-1, +1]"'),
    ("q1.logit_range", '"\u22121 to 1"'),
    ("q1.logit_range", '"[-1, 1]."'),
    # expressions: LaTeX, labels, periods, chains, vector forms
    ("q1.squared_distance", "'2 - 2\\cos\\theta'"),
    ("q1.squared_distance", "'2\\left(1 - \\cos\\theta\\right)'"),
    ("q1.squared_distance", "'4\\sin^2\\left(\\frac{\\theta}{2}\\right)'"),
    ("q1.squared_distance", "'$4\\sin^{2}(\\theta/2)$'"),
    ("q1.squared_distance", '"2 - 2\\\\cos\\\\theta"'),
    ("q1.squared_distance", '"2(1 - cos\\theta)"'),  # TOML reads \t as a tab: the backslash is put back
    ("q1.squared_distance", '"= 2 - 2cos(theta)"'),
    ("q1.squared_distance", '"2 - 2cos(theta)."'),
    ("q1.squared_distance", '"2-2cos(theta) = 4sin^2(theta/2)"'),
    ("q1.squared_distance", '"||u - v||^2 = 2 - 2 cos \u03b8"'),
    ("q1.squared_distance", '"2 - 2u^Tv"'),
    ("q1.squared_distance", '"2(1 - u\u00b7v)"'),
    ("q1.squared_distance", '"2 - 2<u, v>"'),
    ("q1.squared_distance", "'2 - 2u^\\top v'"),
    ("q1.squared_distance", '"0.5 * 4 * (1 - cos(theta))"'),
    ("q1.num_classes", '"C = N"'),
    ("q1.num_classes", '"C = K"'),
    ("q1.num_classes", '"N."'),
    ("q1.num_classes", '"= N"'),
    ("q1.num_classes", "'$N$'"),
    ("q1.num_classes", '"N (the batch size)"'),  # a remark in words after the expression
    ("q1.num_classes", '"N, one class per image of the batch"'),
    ("q1.num_classes", '"C = N where N is the batch size"'),
    ("q1.squared_distance", '"2 - 2cos(theta) (law of cosines, unit vectors)"'),
]


@pytest.mark.parametrize("fld,literal", RIGHT)
def test_right_spellings_earn_full_points(fld, literal):
    grade = grade_written(document(fld, literal), KEY)
    assert grade.score == 24, [t.output for t in grade.tests if t.score < t.max_score]
    assert not grade.notes


# (field, TOML literal): every one of these is wrong and earns nothing for its item
WRONG = [
    # the interval is closed: cos theta reaches -1 and 1
    ("q1.logit_range", '"(-1, 1)"'),
    ("q1.logit_range", '"[-1, 1)"'),
    ("q1.logit_range", '"-1 < x < 1"'),
    ("q1.logit_range", '"0 to 1"'),
    ("q1.logit_range", '"between -1 and 0"'),
    # expressions: perturbations, one wrong side of a chain, wrong vectors
    ("q1.squared_distance", '"2-2cos(theta+0.0000000001)"'),
    ("q1.squared_distance", '"2-2cos(theta+1e-10)"'),
    ("q1.squared_distance", '"2 - 2cos(theta)*1.0000001"'),
    ("q1.squared_distance", '"2-2cos(theta) = 4sin^2(theta)"'),
    ("q1.squared_distance", '"4sin^2(theta) = 2-2cos(theta)"'),
    ("q1.squared_distance", '"2 - 2u^Tw"'),
    ("q1.squared_distance", '"2 + 2u^Tv"'),
    ("q1.squared_distance", "'2 - 2\\cos(2\\theta)'"),
    ("q1.num_classes", '"C = N - 1"'),
    ("q1.num_classes", '"N - 1 (the positive is not a class)"'),  # the remark goes, the expression stays wrong
    ("q1.num_classes", '"2N, since both views count"'),
    ("q1.num_classes", '"N = N + 1"'),
    # yes/no
    ("q4.f", '"yes, because they overlap"'),
    ("q4.f", '"no idea"'),
    ("q4.f", '"yes or no"'),
    ("q4.f", '"n/a"'),
    ("q4.f", '"Not sure"'),
    ("q5.b", '"no (it cannot)"'),
    ("q5.b", '"nope"'),
    ("q4.a", '"yes, no, yes"'),
    # choices
    ("q4.c", '"not ii"'),
    ("q4.c", '"i or ii"'),
    ("q4.c", '"(iii) most likely"'),
    ("q4.c", '"option iv"'),
    ("q4.e_i", '"larger"'),
    ("q4.e_i", '"not smaller"'),
    ("q4.e_i", '"grow"'),
    ("q4.e_i", '"smaller or larger"'),
    ("q4.e_ii", '"shrink"'),
    ("q4.e_ii", '"decrease"'),
    # sets
    ("q8.b_A_invariant", '"shape"'),
    ("q8.b_A_invariant", '"hue and shape"'),
    ("q8.b_B_invariant", '"color and position"'),
    ("q8.b_B_invariant", '["shape"]'),
    ("q8.b_C_invariant", '"shape"'),
    ("q8.b_C_invariant", '"location/color"'),
    ("q8.b_C_invariant", '"not shape"'),
]


@pytest.mark.parametrize("fld,literal", WRONG)
def test_wrong_spellings_earn_nothing(fld, literal):
    grade = grade_written(document(fld, literal), KEY)
    mine = [t for t in grade.tests if t.name.startswith(fld + ":")]
    assert all(t.score == 0 for t in mine), [t.output for t in mine]
    assert grade.score == 24 - POINTS[fld]


def test_a_list_with_one_wrong_entry_loses_only_that_entry():
    grade = grade_written(document("q4.a", '"no, no, yes, no"'), KEY)
    assert grade.score == 23
    assert [t.score for t in grade.tests if t.name.startswith("q4.a:")] == [0, 1, 1, 1]


def test_spelling_cases_cover_the_issue():
    assert len(RIGHT) + len(WRONG) >= 80


# ----------------------------------------------------------------------------- the reason after a verdict

def test_the_reason_after_a_verdict_is_kept_for_the_ta():
    text = SAMPLE.replace('f = "no"', 'f = "No, because the supports overlap"\nf_why = "see the figure"')
    text = text.replace('b = "yes"', 'b = "Yes (in the limit)"')
    text = text.replace('a = ["yes", "no", "yes", "no"]', 'a = ["yes", "no, not a group", "yes", "no"]')
    grade = grade_written(text.encode(), KEY)
    assert grade.score == 24
    assert grade.why["q4.f_why"] == "because the supports overlap\nsee the figure"
    assert grade.why["q5.b_why"] == "(in the limit)"
    assert grade.why["q4.a_why"] == "(2) not a group"
    out = next(t.output for t in grade.tests if t.name.startswith("q4.f:"))
    assert "kept for the TA" in out


# ----------------------------------------------------------------------------- broken TOML lines

BROKEN = [
    # (the line as written, the field it costs, words of the fix)
    ('squared_distance = "2 - 2\\cos\\theta"', "q1.squared_distance", "single quotes"),
    ("c = \u201cii\u201d", "q4.c", "straight quotes"),
    ('c: "ii"', "q4.c", "write ="),
    ("f = no", "q4.f", 'f = "no"'),
    ('e_i = "smaller', "q4.e_i", "not closed"),
    ('d_i = "yes" "no"', "q7.d_i", "line"),
]


def _sample_with(old_prefix: str, new_line: str) -> tuple[str, int]:
    lines = SAMPLE.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith(old_prefix))
    lines[i] = new_line
    return "\n".join(lines) + "\n", i + 1


@pytest.mark.parametrize("line,fld,fix", BROKEN)
def test_a_broken_line_costs_only_its_item(line, fld, fix):
    key = fld.split(".")[1]
    text, n = _sample_with(key + " =", line)
    grade = grade_written(text.encode(), KEY)
    assert grade.score == 24 - POINTS[fld], [t.output for t in grade.tests if t.score == 0]
    mine = [t for t in grade.tests if t.name.startswith(fld + ":")]
    assert all(t.score == 0 and f"line {n}" in t.output and fix in t.output for t in mine), [t.output for t in mine]
    assert len(grade.notes) == 1 and f"line {n}" in grade.notes[0] and fix in grade.notes[0]


def test_a_key_given_twice_costs_its_item():
    text = SAMPLE.replace('c = "ii"', 'c = "ii"\nc = "iii"')
    grade = grade_written(text.encode(), KEY)
    assert grade.score == 23
    out = next(t.output for t in grade.tests if t.name.startswith("q4.c:"))
    assert "line 8" in out and "given twice" in out and "line 7" in out


def test_several_broken_lines_each_cost_one_item():
    text = SAMPLE.replace('c = "ii"', 'c: "ii"').replace('f = "no"', "f = \u201cno\u201d")
    text = text.replace('squared_distance = "2 - 2*cos(theta)"', 'squared_distance = "2 - 2\\cos\\theta"')
    text = text.replace('accuracy_equal = "yes"', "accuracy_equal = yes")
    grade = grade_written(text.encode(), KEY)
    assert grade.score == 20
    note = grade.notes[0]
    assert all(f"line {n}" in note for n in (4, 7, 10, 15))


def test_a_broken_why_line_costs_nothing_and_multiline_values_survive():
    text = SAMPLE.replace('f = "no"', 'f = "no"\nf_why = "uses \\sigma"')
    text = text.replace('a = ["yes", "no", "yes", "no"]', 'a = [\n  "yes", "no",\n  "yes", "no",\n]')
    text += 'note = """\nfirst line\nkey = value inside a string\n"""\n'
    grade = grade_written(text.encode(), KEY)
    assert grade.score == 24
    assert re.search(r"line \d+ \(`f_why", grade.notes[0])


def test_a_broken_section_header_skips_its_keys_only():
    text = SAMPLE.replace("[q6]", "[q6")
    grade = grade_written(text.encode(), KEY)
    assert grade.score == 23 and "line 14" in grade.notes[0]
