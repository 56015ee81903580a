"""--check, per-item visibility, the student-facing report and the kit's check_submission.py."""
import json
import re
from dataclasses import replace
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from simgrade import PROJECT_ROOT
from simgrade.check import CheckReport, check, read_written
from simgrade.check_script import script_text, spec
from simgrade.grade import grade
from simgrade.handout import write_handout
from simgrade.key import AnswerKeyError, load_key
from simgrade.reading import Echo
from simgrade.report import format_report
from simgrade.results import GradeResult, clean_paths, shown
from simgrade.results import TestResult as Result
from simgrade.written import NO_FILE, grade_written
from tests.test_written_spellings import BROKEN, RIGHT, SAMPLE, WRONG, _sample_with, document

SCHEMA = json.loads((Path(__file__).parent / "results.schema.json").read_text())
CORRECT = (PROJECT_ROOT / "examples" / "correct" / "answers.toml").read_bytes()
VERDICTS = re.compile(r"\b(correct|incorrect|right|wrong|points?|scored?)\b", re.IGNORECASE)


def read(answers: bytes | None, key) -> Echo:
    report = CheckReport("x")
    read_written(answers, key, report)
    return report.written


# --------------------------------------------------------------------------- the written check
def test_every_written_entry_is_echoed_as_read(key):
    report = read(CORRECT, key)
    assert not report.unread and len(report.read) == report.entries == 24 and not report.notes
    shown_as = dict(report.read)
    assert shown_as["q4.e_i"] == 'read as "smaller"' and shown_as["q4.a (3 of 4)"] == 'read as "yes"'
    assert shown_as["q1.logit_range"] == "read as the interval [-1, 1]"


def test_a_wrong_answer_reads_like_a_right_one(key):
    """Nothing but the echoed value differs between a right and a wrong answer of the same form."""
    wrong = CORRECT.replace(b'e_i = "smaller"', b'e_i = "Larger."').replace(b'c = "(ii)"', b'c = "iv"')
    assert wrong != CORRECT
    right_text, wrong_text = read(CORRECT, key), read(wrong, key)
    assert [e for e, _ in right_text.read] == [e for e, _ in wrong_text.read] and not wrong_text.unread
    assert dict(wrong_text.read)["q4.e_i"] == 'read as "larger"'
    differ = [e for (e, a), (_, b) in zip(right_text.read, wrong_text.read) if a != b]
    assert differ == ["q4.c", "q4.e_i"]
    assert not VERDICTS.search("\n".join(wrong_text.lines()))


def test_what_cannot_be_read_is_listed_with_why(key):
    answers = b'[q1]\nlogit_range = [1, -1]\nnum_classes = "N+"\n[q4]\na = ["yes", "banana"]\ne_ii = "purple"\nf = true\n'
    report = read(answers, key)
    unread = dict(report.unread)
    assert "lower end comes first" in unread["q1.logit_range"]
    assert "parse" in unread["q1.num_classes"]
    assert '"banana"' in unread["q4.a (2 of 4)"] and "not answered" in unread["q4.a (3 of 4)"]
    assert '"purple"' in unread["q4.e_ii"]
    assert unread["q5.a"].startswith("not answered")
    assert dict(report.read)["q4.f"] == 'read as "yes"'
    assert not any("scored 0" in why for why in unread.values())
    assert not VERDICTS.search("\n".join(report.lines()).replace("each scores 0 as it stands", ""))


def test_a_file_level_problem_is_said_once(key):
    report = read(None, key)
    assert report.notes == [NO_FILE] and len(report.unread) == 1
    report = read(b"[q1\nx = 1", key)
    assert len(report.notes) == 1 and "not valid TOML" in report.notes[0]


def test_a_broken_file_is_read_as_grading_reads_it(key):
    """A file with a TOML error: the check shows what grading reads of it, and the broken line's reason."""
    answers = b'[q4]\ne_i = "smaller"\nf = "no"\nc = ii\n'
    report = read(answers, key)
    graded = {t.name.split(":")[0]: t.output for t in grade_written(answers, key).tests}
    for entry, _ in report.read:
        assert "not answered" not in graded[entry] and "not read" not in graded[entry], entry
    assert len(report.notes) == 1
    unread = dict(report.unread)
    assert "q4.c" in unread and "not answered" not in unread["q4.c"]


def test_check_runs_the_functions_for_form_only(sandbox, key, samples, tmp_path):
    good = check(samples / "correct", sandbox, key)
    assert all(ok for _, results in good.code for ok, _ in results) and len(good.code) == 2
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "similarity.py").write_text(
        "def autoencoder_loss(enc, dec, batch):\n    batch.mul_(1.0)\n    return (dec(enc(batch)) - batch).detach()\n"
        "def contrastive_loss(enc, batch1, batch2, tau):\n    return open('data/x.csv')\n")
    report = check(bad, sandbox, key)
    text = report.text()
    assert "not a 0-dim tensor" in text and "in place (batch)" in text and "FileNotFoundError" in text
    assert "simgrade-runner" not in text and "/sandbox/" not in text
    assert not VERDICTS.search(text.replace("each scores 0 as it stands", ""))


# ------------------------------------------------------------------------------------- visibility
def test_written_items_are_after_the_due_date_and_code_visible(key, samples, sandbox):
    assert key.written_visibility == "after_due_date" and key.code_visibility == "visible"
    data = grade(samples / "missing_temperature", sandbox, key).with_visibility(key.visibility_of).to_gradescope()
    jsonschema.validate(data, SCHEMA)
    for test in data["tests"]:
        assert test["visibility"] == ("after_due_date" if "written" in test["tags"] else "visible"), test


def test_an_item_may_set_its_own_visibility(tmp_path):
    text = (PROJECT_ROOT / "answers" / "key.toml").read_text(encoding="utf-8")
    path = tmp_path / "key.toml"
    path.write_text(text.replace('field = "q4.f"\n', 'field = "q4.f"\nvisibility = "hidden"\n')
                    .replace('code_visibility = "visible"', 'code_visibility = "after_published"'), encoding="utf-8")
    (tmp_path / "questions").symlink_to(PROJECT_ROOT / "answers" / "questions")
    key = load_key(path)
    assert key.visibility_of("4f.1", "q4.f: can an encoder ...", ("4f", "written")) == "hidden"
    assert key.visibility_of("4e.1", "q4.e_i: ...", ("4e", "written")) == "after_due_date"
    assert key.visibility_of("8a.1", "8a contrastive_loss: value", ("8a", "code")) == "after_published"
    path.write_text(text.replace('written_visibility = "after_due_date"', 'written_visibility = "later"'),
                    encoding="utf-8")
    with pytest.raises(AnswerKeyError, match="written_visibility"):
        load_key(path)


# ----------------------------------------------------------------------------------------- report
def _result(notes=(), tests=None) -> GradeResult:
    tests = tests or [Result("1.1", "q1.a: a", 0, 1, NO_FILE, ["1", "written"]),
                      Result("1.2", "q1.b: b", 0, 1, NO_FILE, ["1", "written"]),
                      Result("7b.1", "7b f: value", 5, 5, "Passed: ok", ["7b", "code"]),
                      Result("7b.2", "7b f: gradient", 0, 3, "Failed: no gradient", ["7b", "code"]),
                      Result("8a.1", "8a g: value", 5, 5, "Passed: ok", ["8a", "code"])]
    return GradeResult(tests, list(notes), 1.0)


def test_report_total_and_failures_first_passing_collapsed():
    report = format_report(_result([NO_FILE]), "sub", wall_time=3.25)
    lines = report.splitlines()
    assert lines[2].strip().startswith("Total: 10 / 15") and "3.2 s wall time" in lines[2]
    assert lines[3].strip().startswith("Failing: 3 tests in 2 of 3 questions: 1 (1.1, 1.2); 7b (7b.2)")
    assert report.count(NO_FILE) == 2  # the note, and the one-line summary of question 1
    assert "Question 8a: 5 / 5   passed (1 test)" in report and "8a.1" not in report
    assert "[ok  ] 1 more passed (7b.1)" in report
    verbose = format_report(_result([NO_FILE]), "sub", verbose=True)
    assert "8a.1" in verbose and "7b.1" in verbose


def test_report_paths_and_cuts_are_never_silent():
    text = "FileNotFoundError: '/tmp/simgrade-runner-77-2/data/x.csv' (at /sandbox/worker.py:246: f())"
    assert clean_paths(text) == "FileNotFoundError: 'data/x.csv' (at (the grader): f())"
    cut = shown("x" * 50_000)
    assert len(cut) <= 20_000 and "more characters not shown" in cut
    result = _result(tests=[Result("7b.1", "v", 0, 1, text + "\n" + "y" * 30_000, ["7b", "code"])])
    report = format_report(result, "s")
    assert "simgrade-runner" not in report and "/sandbox/" not in report and "more characters not shown" in report
    assert "simgrade-runner" not in json.dumps(result.to_gradescope())


# ---------------------------------------------------------------------------- the kit's own check
def test_the_kit_check_holds_no_answer(key):
    data = spec(key)
    assert all(set(item) == {"field", "kind", "options", "aliases", "symbols", "products", "entries", "max_length"}
               for item in data["items"])
    text = script_text(key)
    assert "answer" not in json.dumps(data) and "reference" not in text.lower().replace("no reference", "")
    for item in key.items:  # an expression's answer and its accepted forms are the key itself
        if item.kind == "expression":
            assert not [form for form in (item.answer, *item.accepted) if len(form) > 3 and form in text], item.field
    for grading in ("def equivalent(", "def grade_written(", "KINDS", "def _symbolic_zero(", "load_key"):
        assert grading not in text  # only the reading is vendored, nothing that compares with a key
    # a choice's bare alias stands for its answer: read by the grader, never shipped; "alias=option" is a spelling
    aliased = replace(key, items=tuple(replace(i, accepted=("b", "2=ii")) if i.field == "q4.c" else i for i in key.items))
    (q4c,) = [item for item in spec(aliased)["items"] if item["field"] == "q4.c"]
    assert q4c["aliases"] == [["2", "ii"]]
    assert dict(read(b'[q4]\nc = "b"\n', aliased).read)["q4.c"] == "read as an accepted spelling of one of the options"


_KIT = """
import contextlib, io, json, runpy, sys
script, blocked, out = sys.argv[1], sys.argv[2].split(","), {}
sys.modules.update(dict.fromkeys(blocked))  # a module set to None cannot be imported
for folder in sys.argv[3:]:
    sys.argv, printed = [script, folder], io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as end:
            assert end.code == 0, end.code
    out[folder] = printed.getvalue()
print(json.dumps(out))
"""


def run_kit(script: Path, folders: list[Path], cwd: Path, blocked: str = "simgrade") -> dict[str, str]:
    """What the kit's check_submission.py prints for each folder, run as ``__main__`` by a plain ``python -I`` in
    which the ``blocked`` modules cannot be imported: ``simgrade`` at least (an editable install would find it)."""
    done = subprocess.run([sys.executable, "-I", "-c", _KIT, str(script), blocked, *map(str, folders)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def written_section(printed: str) -> list[str]:
    """The lines a check prints about answers.toml, from its heading to the blank line before ``Code``."""
    lines = printed.splitlines()
    start = lines.index("Written answers (answers.toml)")
    return lines[start:lines.index("Code", start) - 1]


def _documents() -> dict[str, bytes]:
    """answers.toml files: every hand-judged spelling of test_written_spellings.py, its broken lines, and broken files."""
    docs = {f"{kind}{i}": document(field_name, literal)
            for kind, cases in (("right", RIGHT), ("wrong", WRONG)) for i, (field_name, literal) in enumerate(cases)}
    docs.update({f"broken{i}": _sample_with(line.split()[0].rstrip(":") + " =", line)[0].encode()
                 for i, (line, _, _) in enumerate(BROKEN)})
    docs["several_broken"] = (SAMPLE.replace('c = "ii"', 'c: "ii"').replace('f = "no"', "f = \u201cno\u201d")
                              .replace("[q6]", "[q6").replace('b = "yes"', 'b = "yes"\nb = "no"')).encode()
    docs["not_a_table"] = SAMPLE.replace('[q5]\na = "no"\nb = "yes"\n', 'q5 = "no"\n').encode()
    docs["unknown_keys"] = (SAMPLE + 'c_why = 3\n[q9]\nx = 1\n').encode()
    docs["short_list"] = SAMPLE.replace('["yes", "no", "yes", "no"]', '"yes, no, yes"').encode()
    docs["binary"] = b"\x00\x01[q1]"
    docs["latin1"] = 'f = "n\u00e9"'.encode("latin-1")
    return docs


@pytest.mark.parametrize("name", [name for name in _documents() if name not in ("binary", "latin1")])
def test_an_entry_is_echoed_as_read_exactly_when_grading_judges_it(name, key):
    """Read by the check <=> graded correct or incorrect; not read <=> refused or not answered (never a verdict)."""
    answers = _documents()[name]
    graded = dict(t.output.split(": ", 1) for t in grade_written(answers, key).tests)
    seen = read(answers, key)
    assert seen.read and all(graded[entry].startswith(("correct", "incorrect")) for entry, _ in seen.read), seen.read
    refused = [entry for entry, _ in seen.unread if entry in graded]
    assert all(not graded[entry].startswith(("correct", "incorrect")) for entry in refused), seen.unread
    assert {entry for entry, _ in seen.read} | set(refused) == set(graded)  # every test's entry is echoed


def test_the_kit_reads_answers_exactly_as_check_does(tmp_path, key):
    """The kit's echo is --check's, item by item, for every hand-judged spelling and broken line; negative control:
    a kit whose reading lost one spelling differs on the file that uses it."""
    kit = tmp_path / "kit"
    write_handout(kit, key)
    folders = {}
    for name, answers in _documents().items():
        folder = folders[name] = tmp_path / "answers" / name
        folder.mkdir(parents=True)
        (folder / "answers.toml").write_bytes(answers)
    folders["none"] = tmp_path / "answers" / "none"
    folders["none"].mkdir()
    lost = tmp_path / "lost" / "check_submission.py"  # the same kit without the synonym "shrink" -> smaller
    lost.parent.mkdir()
    text = (kit / "check_submission.py").read_text(encoding="utf-8")
    assert text.count('"shrink": "smaller", ') == 1
    lost.write_text(text.replace('"shrink": "smaller", ', ""), encoding="utf-8")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    printed = run_kit(kit / "check_submission.py", list(folders.values()), cwd)
    assert len(printed) == len(folders) > 120
    for name, folder in folders.items():
        answers = folder / "answers.toml"
        expected = read(answers.read_bytes() if answers.exists() else None, key).lines()
        got = written_section(printed[str(folder)])
        assert got == expected, (name, [(a, b) for a, b in zip(got, expected) if a != b] or (got, expected))
    shrink = next(folders[f"right{i}"] for i, (f, lit) in enumerate(RIGHT) if lit == '"shrink"')
    (lost_printed,) = run_kit(lost, [shrink], cwd).values()
    assert written_section(lost_printed) != read((shrink / "answers.toml").read_bytes(), key).lines()
    assert '  q4.e_i: read as "smaller"' in written_section(printed[str(shrink)])
    assert any(line.startswith("  ! q4.e_i: ") for line in written_section(lost_printed))


def test_the_kit_without_sympy_echoes_an_expression_unparsed(tmp_path, key):
    kit = tmp_path / "kit"
    write_handout(kit, key)
    (kit / "answers.toml").write_bytes(CORRECT)
    (printed,) = run_kit(kit / "check_submission.py", [kit], tmp_path, blocked="simgrade,sympy,torch").values()
    section = written_section(printed)
    assert '  q1.squared_distance: read as the expression text "4*sin(theta/2)^2" (not parsed here: sympy is not ' \
           'installed)' in section and '  q4.e_i: read as "smaller"' in section
    assert "torch is not installed here" in printed and "24 of 24 written entries read" in printed


def test_the_kit_and_the_check_command_print_the_same(tmp_path, key):
    """The same comparison against ``grader.py --check`` itself, on a file with broken lines."""
    kit = tmp_path / "kit"
    write_handout(kit, key)
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "answers.toml").write_bytes(_documents()["several_broken"])
    check_cli = subprocess.run([sys.executable, str(PROJECT_ROOT / "grader.py"), "--check", str(folder)],
                               capture_output=True, text=True, timeout=300)
    assert check_cli.returncode == 0, check_cli.stderr
    (kit_printed,) = run_kit(kit / "check_submission.py", [folder], tmp_path).values()
    section = written_section(kit_printed)
    assert section == written_section(check_cli.stdout)
    assert sum(line.startswith("  ! q") for line in section) == 4 and "line 7" in "\n".join(section)


def test_the_kit_finds_answers_toml_where_the_grader_does(tmp_path, key):
    """At the top of the folder, else the only one below it (as discovery takes it); two below: none."""
    kit = tmp_path / "kit"
    write_handout(kit, key)
    one, two = tmp_path / "one", tmp_path / "two"
    (one / "hw").mkdir(parents=True)
    (one / "hw" / "answers.toml").write_bytes(CORRECT)
    for sub in ("a", "b"):
        (two / sub).mkdir(parents=True)
        (two / sub / "answers.toml").write_bytes(CORRECT)
    printed = run_kit(kit / "check_submission.py", [one, two], tmp_path)
    assert "answers.toml: using hw/answers.toml" in printed[str(one)]
    assert "24 of 24 written entries read" in printed[str(one)]
    assert "none at the top of the folder and 2 elsewhere" in printed[str(two)]
    assert "24 of 24 written entries read" not in printed[str(two)]


def test_the_kit_check_runs_with_plain_python(tmp_path, key):
    kit = tmp_path / "kit"
    write_handout(kit, key)
    run = lambda: subprocess.run([sys.executable, "-I", str(kit / "check_submission.py")], cwd=tmp_path,  # noqa: E731
                                 capture_output=True, text=True, timeout=120)
    blank = run()
    assert blank.returncode == 0, blank.stderr
    assert "NotImplementedError" in blank.stdout and "0 of 24 written entries read" in blank.stdout
    for name in ("similarity.py", "answers.toml"):
        (kit / name).write_bytes((PROJECT_ROOT / "examples" / "correct" / name).read_bytes())
    filled = run()
    assert filled.returncode == 0, filled.stderr
    assert "24 of 24 written entries read; 2 of 2 functions found and of the expected form" in filled.stdout
    assert 'q4.e_i: read as "smaller"' in filled.stdout
