"""The grader corpus: every submission under tests/corpus/grader/ gets the grade EXPECTED.toml says.

Each case is graded in this process with ``grade(folder, sandbox, key)`` on the shared sandbox of
conftest.py (its limits are short, so the hostile cases end fast). The manifest says, per folder,
the points of 7b and 8a, the mistakes that must be named, and texts the feedback and the notes
must hold. Some checks apply to every case (see ``check_common``). Cases that need isolation are
skipped, with the reason, where the sandbox could not use bubblewrap.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import tomllib
from pathlib import Path

import jsonschema
import pytest

from simgrade import PROJECT_ROOT
from simgrade.grade import grade
from simgrade.handout import write_handout
from simgrade.key import load_key
from simgrade.mistakes import catalogue
from simgrade.question import SCALED

CORPUS = Path(__file__).parent / "corpus" / "grader"
MANIFEST = tomllib.loads((CORPUS / "EXPECTED.toml").read_text(encoding="utf-8"))
SCHEMA = json.loads((Path(__file__).parent / "results.schema.json").read_text())
CODE = ("7b", "8a")
KNOWN_FIELDS = {"what", "7b", "8a", "written", "written_total", "mistakes_7b", "mistakes_8a", "feedback_7b", "feedback_8a", "notes",
                "flags", "isolation", "template", "checks", "xfail", "generate"}

FAKE_MARKER = b"simgrade-corpus-fake"  # in every fake results.json the hostile cases write
PROCESS_MARKERS = {"hostile_escapee": b"simgrade-corpus-escapee",  # in the command line of what each one starts
                   "hostile_fake_results_late": b"simgrade-corpus-late-writer"}
PWNED = Path("/tmp/simgrade-corpus-pwned")  # what the pickle payload would create if anyone unpickled it
RIGHT_ANSWERS = Path(__file__).parent / "fixtures" / "samples" / "correct" / "answers.toml"


# ------------------------------------------------------------------------------------------- cases
def _cases() -> list:
    return [pytest.param(name, spec, id=name,
                         marks=[pytest.mark.xfail(strict=True, reason=spec["xfail"])] if "xfail" in spec else [])
            for name, spec in MANIFEST.items()]


# -------------------------------------------------------------------------- generated submissions
def _empty_folder(folder: Path, key) -> None:
    folder.mkdir()


def _handout(folder: Path, key) -> None:
    write_handout(folder, key)


def _huge_answers(folder: Path, key) -> None:
    folder.mkdir()
    shutil.copy(CORPUS / "ok_mse_recon_batch" / "similarity.py", folder / "similarity.py")
    right = RIGHT_ANSWERS.read_text()
    (folder / "answers.toml").write_text(right + "\n# padding\n" + ("#" * 1023 + "\n") * 1024)


def _symlinks_absolute(folder: Path, key) -> None:
    folder.mkdir()
    os.symlink(PROJECT_ROOT / "reference" / "losses.py", folder / "similarity.py")
    os.symlink(PROJECT_ROOT / "answers" / "key.toml", folder / "answers.toml")
    os.symlink(PROJECT_ROOT / "reference", folder / "code")


def _from_template(source: Path, folder: Path) -> Path:
    """A copy of ``source`` with @PROJECT_ROOT@ and @SUBMISSION@ replaced by the real paths."""
    shutil.copytree(source, folder, symlinks=True)
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace("@PROJECT_ROOT@", str(PROJECT_ROOT)).replace("@SUBMISSION@", str(folder)),
                            encoding="utf-8")
    return folder


GENERATORS = {"empty_folder": _empty_folder, "handout": _handout, "huge_answers": _huge_answers,
              "symlinks_absolute": _symlinks_absolute}


# ------------------------------------------------------------------------------- hostile checks
def _survivors(markers=tuple(PROCESS_MARKERS.values())) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if any(marker in cmdline for marker in markers):
            found.append(f"{pid}: {cmdline[:120]!r}")
    return found


def _wait_for_no_survivors(markers, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := _survivors(markers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def check_no_survivors(folder: Path) -> None:
    """Every process the submission started is gone once grading returns (polled briefly: killing is asynchronous)."""
    left = _wait_for_no_survivors((PROCESS_MARKERS[folder.name],), 3)
    assert not left, f"processes of the submission outlived its grading: {left}"


def _fake_result_files(folder: Path) -> list[str]:
    candidates = [folder / "results.json", folder / "grades.csv", Path("/tmp/results.json"), Path("/tmp/grades.csv"),
                  Path.home() / "results.json", PROJECT_ROOT / "results.json", PROJECT_ROOT / "grades.csv",
                  PROJECT_ROOT / "answers" / "results.json", Path.cwd() / "results.json"]
    found = []
    for path in candidates:
        try:
            if FAKE_MARKER in path.read_bytes():
                found.append(str(path))
        except OSError:
            pass
    return found


def check_no_fake_results(folder: Path) -> None:
    """The fake results.json never lands outside the sandbox: not beside the submission, in /tmp, $HOME or the project."""
    assert not _fake_result_files(folder), f"fake results escaped the sandbox: {_fake_result_files(folder)}"


def check_not_unpickled(folder: Path) -> None:
    """Nothing the submission returned was unpickled in the grader (its payload would have created PWNED)."""
    assert not PWNED.exists(), f"{PWNED} exists: a returned object was unpickled outside the sandbox"


CHECKS = {"no_survivors": check_no_survivors, "no_fake_results": check_no_fake_results,
          "not_unpickled": check_not_unpickled}


# ------------------------------------------------------------------------------------ the checks
def _snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (links not followed): its kind and content hash."""
    entries = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            rel = str(path.relative_to(folder))
            if path.is_symlink():
                entries[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                entries[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                entries[rel] = "dir"
    return entries


def _points(result, question: str) -> tuple[float, float]:
    tests = [t for t in result.tests if t.question == question]
    return sum(t.score for t in tests), sum(t.max_score for t in tests)


def _expect_points(result, question: str, expected, name: str) -> None:
    got, most = _points(result, question)
    assert most > 0, f"{name}: no tests for question {question}"
    outputs = "\n".join(f"  {t.number} {t.score}/{t.max_score}: {t.output}" for t in result.tests if t.question == question)
    if expected == "full":
        assert got == most, f"{name}: {question} must get full marks, got {got}/{most}\n{outputs}"
    elif expected == "zero":
        assert got == 0, f"{name}: {question} must get 0, got {got}/{most}\n{outputs}"
    else:
        low, high = expected
        assert low <= got <= high, f"{name}: {question} must get {low}-{high} points, got {got}/{most}\n{outputs}"
        assert got < most, f"{name}: a known mistake must not earn full marks on {question}"


CATALOGUE = [m for q in load_key().code for m in catalogue(q)]
"""Every mistake the grader can name, per question (its own, then the generic symptoms)."""


def _names(result, question: str) -> list[str]:
    """The names of the mistakes diagnosed for ``question`` (results carry ``{name, fix, credit}``)."""
    mistakes = result.extra["mistakes"].get(question, [])
    assert all(set(m) == {"name", "fix", "credit"} for m in mistakes), mistakes
    return [m["name"] for m in mistakes]


def _known_fix(question: str, name: str) -> str:
    """The fix of a mistake the grader may name for ``question``: one of its catalogue, or a known loss (the right
    one, or one of its formula mistakes) times a factor of simgrade.mistakes, named after the family."""
    known = {m.name: m for m in CATALOGUE if m.question == question}
    if name in known:
        return known[name].fix
    scaled = re.fullmatch(re.escape(SCALED) + r" \((.+)\)", name)
    if scaled:
        return f"return the loss itself, without the factor {scaled.group(1)}"
    family, _, factor = name.rpartition(", times ")
    assert family in known and known[family].formula is not None, f"{name!r} is no mistake the grader knows"
    return f"{known[family].fix}; and drop the factor {factor}"


def check_common(name: str, folder: Path, result) -> None:
    """What every case must show, whatever its grade."""
    jsonschema.validate(result.to_gradescope(), SCHEMA)
    for question in CODE:
        tests = [t for t in result.tests if t.question == question]
        for mistake in _names(result, question):
            fix = _known_fix(question, mistake)
            for test in tests:
                if test.status == "failed" and not test.output.startswith("not scored"):
                    assert f"Known mistake: {mistake}. Fix: {fix}" in test.output, (
                        f"{name}: {test.number} fails without naming {mistake!r}:\n{test.output}")
        value = tests[0] if tests else None  # <question>.1 is the value property
        stopped = {"timed out", "ended its own process"} & set(result.extra["flags"])  # the search stops then
        if value is not None and value.output.startswith("Failed: differs from the reference") and not stopped:
            assert "smallest input found where the value differs" in value.output, (
                f"{name}: the failed value test of {question} shows no smallest input:\n{value.output}")


@pytest.mark.parametrize("name, spec", _cases())
def test_corpus_case(name, spec, sandbox, key, tmp_path):
    unknown = set(spec) - KNOWN_FIELDS
    assert not unknown, f"{name}: unknown fields in EXPECTED.toml: {unknown}"
    if spec.get("isolation") and not sandbox.isolated:
        pytest.skip(f"needs the bubblewrap sandbox: {sandbox.isolation}")
    if "generate" in spec:
        folder = tmp_path / name
        GENERATORS[spec["generate"]](folder, key)
    elif spec.get("template"):
        folder = _from_template(CORPUS / name, tmp_path / name)
    else:
        folder = CORPUS / name
        assert folder.is_dir(), f"{name} is in EXPECTED.toml but not in {CORPUS}"
    before = _snapshot(folder)

    result = grade(folder, sandbox, key)

    assert _snapshot(folder) == before, f"{name}: the submission folder changed while it was graded"
    check_common(name, folder, result)
    for question in CODE:
        _expect_points(result, question, spec[question], name)
        diagnosed = _names(result, question)
        assert sorted(diagnosed) == sorted(spec.get(f"mistakes_{question}", [])), (
            f"{name}: {question} diagnosed {diagnosed}, expected {spec.get(f'mistakes_{question}', [])}")
        feedback = "\n".join(t.output for t in result.tests if t.question == question)
        for text in spec.get(f"feedback_{question}", []):
            assert text in feedback, f"{name}: {text!r} is not in the feedback of {question}:\n{feedback}"
    if "written" in spec:
        written = [q for q in {t.question for t in result.tests} if q not in CODE]
        for question in written:
            _expect_points(result, question, spec["written"], name)
    if "written_total" in spec:
        total = sum(t.score for t in result.tests if t.question not in CODE)
        assert total == spec["written_total"], f"{name}: the written items must earn {spec['written_total']}, got {total}"
    notes = "\n".join(result.notes)
    for text in spec.get("notes", []):
        assert text in notes, f"{name}: {text!r} is not in the notes:\n{notes}"
    for flag in spec.get("flags", []):
        assert flag in result.extra["flags"], f"{name}: flag {flag!r} missing from {result.extra['flags']}"
    for check in spec.get("checks", []):
        CHECKS[check](folder)


def test_manifest_lists_every_folder():
    folders = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    listed = {name for name, spec in MANIFEST.items() if "generate" not in spec}
    assert folders == listed, f"in the corpus, not in EXPECTED.toml: {folders - listed}; the reverse: {listed - folders}"
    assert all(spec["generate"] in GENERATORS for spec in MANIFEST.values() if "generate" in spec)
    assert all(check in CHECKS for spec in MANIFEST.values() for check in spec.get("checks", []))
    assert all(name in PROCESS_MARKERS for name, spec in MANIFEST.items() if "no_survivors" in spec.get("checks", []))


def test_every_catalogue_mistake_has_a_corpus_submission():
    named = {(m, q) for spec in MANIFEST.values() if "xfail" not in spec for q in CODE for m in spec.get(f"mistakes_{q}", [])}
    # A symptom is the same predicate for both questions: one question's submission covers it. A formula is per question.
    covered = {m for m, _ in named}
    missing = [(m.name, m.question) for m in CATALOGUE
               if (m.name, m.question) not in named and (m.formula is not None or m.name not in covered)]
    assert not missing, f"add a bad_* submission for: {missing}"


def test_nothing_was_left_behind():
    """After the corpus (last in this module; under xdist a hostile case may still run elsewhere, hence the wait)."""
    left = _wait_for_no_survivors(tuple(PROCESS_MARKERS.values()), 10)
    assert not left, left
    assert not _fake_result_files(CORPUS), _fake_result_files(CORPUS)
    assert not PWNED.exists()
