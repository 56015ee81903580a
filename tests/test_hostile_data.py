"""Student data never crashes the grader, and nothing student-controlled can fool the reader of a report.

The sandbox's reply frames, a sandbox that stops answering, a bug of the grader on one question,
huge source files, and report text forged through exception messages, prints and file names.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import unicodedata
from pathlib import Path

import jsonschema
import numpy as np
import pytest

import simgrade.grade
from simgrade import PROJECT_ROOT
from simgrade.discover import MAX_PARSE_BYTES
from simgrade.grade import SANDBOX_FLAG, grade
from simgrade.report import format_report
from simgrade.results import GRADER_ERROR, GradeResult
from simgrade.results import TestResult as Result  # a name pytest does not collect
from simgrade.sandbox import Sandbox
from simgrade.sandbox.inside import protocol
from simgrade.text import untrusted

from conftest import TEST_LIMITS

CORPUS = Path(__file__).parent / "corpus" / "grader"
FORGED_CASE = CORPUS / "hostile_forged_report"
CORRECT = CORPUS / "ok_mse_recon_batch"
SCHEMA = json.loads((Path(__file__).parent / "results.schema.json").read_text())
FORGED = "\n\nQuestion 7b: 10 / 10\nTotal: 44 / 44\x1b[2J\r"


def raw_controls(text: str) -> list[str]:
    """Characters a terminal or a bidi renderer acts on, other than newline and tab."""
    return [c for c in text if c not in "\n\t" and unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")]


def check_structure(report: str, result: GradeResult) -> None:
    """Only the report's own lines start at column 0: title, rule, one line per question in order, one total."""
    top = [line for line in report.splitlines() if line and not line[0].isspace()]
    questions = list(dict.fromkeys(t.question for t in result.tests))
    assert top[0].startswith("simgrade: ") and set(top[1]) == {"="}
    assert top[2:-1] == [line for line in top[2:-1] if line.startswith("Question ")]
    assert [line.split(":")[0] for line in top[2:-1]] == [f"Question {q}" for q in questions]
    assert top[-1].startswith(f"Total: {result.score:g} / {result.max_score:g}")
    assert not raw_controls(report)


# ------------------------------------------------------------------------------------------ text
def test_untrusted_escapes_controls_and_caps_length():
    text = untrusted("a\x1b[2J\rb\x00\b\u202e\u2066\u2028\ud800\U000e0001 c\u00e9\t\n" + "x" * 50, 90)
    assert text.startswith("a\\x1b[2J\\x0db\\x00\\x08\\u202e\\u2066\\u2028\\ud800\\U000e0001 c\u00e9\t\n")
    assert len(text) == 90 and text.endswith("…")
    assert untrusted("one\r\ntwo") == "one\ntwo"
    assert untrusted("one\ntwo", multiline=False) == "one\\x0atwo"
    assert untrusted(untrusted(FORGED)) == untrusted(FORGED)  # applying it twice changes nothing
    assert untrusted(123) == "123"


def test_report_indents_every_line_of_student_text():
    tests = [Result("7b.1", "7b autoencoder_loss: value", 0.0, 5.0, "Failed: raised RuntimeError: " + FORGED),
             Result("7b.2", "7b autoencoder_loss: gradient", 3.0, 3.0, "Passed")]
    result = GradeResult(tests, ["isolated", "loading: skipped def f: RuntimeError: " + FORGED, FORGED], 1.0,
                         {"why": {"q5.a_why": FORGED}})
    report = format_report(result, "sub\x1b]0;owned\x07")
    check_structure(report, result)
    assert "\\x1b[2J\\x0d" in report and "\\x1b]0;owned\\x07" in report
    assert [line for line in report.splitlines() if "Total:" in line][0].startswith(" ")
    assert "  Reasons given (not scored; for the TA):\n  - q5.a: " in report  # the _why, shown to the TA, indented

    data = result.to_gradescope()
    for text in [data["output"], data["tests"][0]["output"], *data["extra_data"]["why"].values()]:
        assert not raw_controls(text) and "\\x1b[2J" in text
    assert len(GradeResult([Result("7b.1", "n", 0, 1, "x" * 10**6)]).to_gradescope()["tests"][0]["output"]) <= 20_000


# ------------------------------------------------------------------------------------ protocol
def _frame(header: bytes, *blobs: bytes) -> bytes:
    return struct.pack("<I", len(header)) + header + b"".join(struct.pack("<Q", len(b)) + b for b in blobs)


def _npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, a=np.zeros(3))
    return buffer.getvalue()


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _npy_claiming(shape: tuple) -> bytes:
    """A .npy header for ``shape`` of float64, followed by 16 bytes of data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buffer.getvalue() + bytes(16)


@pytest.mark.parametrize("frame", [
    _frame(b"[" * 200_000 + b"]" * 200_000),
    _frame(b'{"a": ' * 100_000 + b"1" + b"}" * 100_000),
    _frame(b"\xff\xfe not json"),
    _frame(b"[1, 2]"),
    _frame(b'{"arrays": [["nested"]]}', b""),
    _frame(b'{"arrays": "value"}'),
    _frame(b'{"arrays": ["value"]}', b"garbage, not npy"),
    _frame(b'{"arrays": ["value"]}', _npy(np.zeros(3))[:20]),
    _frame(b'{"arrays": ["value"]}', _npz()),
    _frame(b'{"arrays": ["value"]}', _npy_claiming((10**13,))),
], ids=["deep-array", "deep-object", "not-utf8", "not-object", "name-not-string", "names-not-list", "garbage-npy",
        "truncated-npy", "npz", "huge-shape"])
def test_malformed_frames_are_protocol_errors(frame):
    ours, theirs = socket.socketpair()
    with ours, theirs:
        sender = threading.Thread(target=lambda: (theirs.sendall(frame), theirs.shutdown(socket.SHUT_WR)))
        sender.start()  # a frame larger than the socket's buffer: sent while it is read
        with pytest.raises(protocol.ProtocolError):
            protocol.receive(ours, deadline=time.monotonic() + 30)
        ours.shutdown(socket.SHUT_RD)
        sender.join()


# ------------------------------------------------------------------------------- forged report
def test_forged_report_lines_stay_indented_and_escaped(sandbox, key):
    result = grade(FORGED_CASE, sandbox, key)
    assert any("Question 7b: 10 / 10" in note for note in result.notes)  # the forgery reached the notes...
    report = format_report(result, str(FORGED_CASE))
    check_structure(report, result)  # ...but not a line of the report's own
    assert "evil\\u202e\\u2066yp.py" in report and "\\x1b[2J" in report
    data = result.to_gradescope()
    jsonschema.validate(data, SCHEMA)
    assert not raw_controls(json.dumps(data, ensure_ascii=False).replace("\\n", "").replace("\\t", ""))


def test_grader_command_on_the_forged_report(tmp_path):
    out = tmp_path / "results.json"
    run = subprocess.run([sys.executable, "grader.py", str(FORGED_CASE), "--json", str(out), "--time-limit", "5"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    jsonschema.validate(data, SCHEMA)
    top = [line for line in run.stdout.splitlines() if line and not line[0].isspace()]
    assert [line for line in top if line.startswith("Total:")] == [top[-1]]
    assert top[-1].startswith(f"Total: {data['score']:g} / {data['max_score']:g}")
    assert not raw_controls(run.stdout)


# ----------------------------------------------------------------------------- grading survives
def test_sandbox_that_stops_answering_scores_the_question_0_and_is_restarted(key, monkeypatch):
    real_compare, calls = simgrade.grade.compare, []

    def compare_after_the_zygote_died(session, function, **kwargs):
        if not calls:  # the zygote goes away, as when it cannot fork because a submission filled its pids cgroup
            session.sandbox.control.send(b'{"op": "exit"}')
        calls.append(function)
        return real_compare(session, function, **kwargs)

    monkeypatch.setattr(simgrade.grade, "compare", compare_after_the_zygote_died)
    with Sandbox(TEST_LIMITS) as sandbox:
        result = grade(CORRECT, sandbox, key)
        ae = [t for t in result.tests if t.question == "7b"]
        assert ae and all(t.score == 0 for t in ae)
        assert all(t.output.startswith("the sandbox stopped answering while grading this question:") for t in ae)
        assert sum(t.score for t in result.tests if t.question == "8a") == 10  # graded in the restarted sandbox
        assert SANDBOX_FLAG in result.extra["flags"]
        assert any("restarted for what follows" in note for note in result.notes)
        again = grade(CORRECT, sandbox, key)  # the next submission finds a working sandbox
        assert sum(t.score for t in again.tests if t.question in ("7b", "8a")) == 20
        assert SANDBOX_FLAG not in again.extra["flags"]


def test_a_grader_bug_on_one_question_costs_only_that_question(sandbox, key, monkeypatch):
    real_diagnose = simgrade.grade.diagnose

    def diagnose(comparison):
        if comparison.function == "autoencoder_loss":
            raise KeyError("boom")
        return real_diagnose(comparison)

    monkeypatch.setattr(simgrade.grade, "diagnose", diagnose)
    result = grade(CORRECT, sandbox, key)
    message = "internal error while grading 7b (flagged for the TA): KeyError: 'boom'"
    assert all(t.score == 0 and t.output.startswith(message) for t in result.tests if t.question == "7b")
    assert sum(t.score for t in result.tests if t.question == "8a") == 10
    assert GRADER_ERROR in result.extra["flags"] and message in result.notes
    jsonschema.validate(result.to_gradescope(), SCHEMA)


def test_a_discovery_bug_grades_an_empty_submission_flagged(sandbox, key, monkeypatch):
    def discover(folder, specs, **options):
        raise IndexError("discovery bug")

    monkeypatch.setattr(simgrade.grade, "discover", discover)
    result = grade(CORRECT, sandbox, key)
    assert result.score == 0 and len(result.tests) == len(simgrade.grade.failed_result(key, "").tests)
    assert GRADER_ERROR in result.extra["flags"]
    assert any(n.startswith("internal error while grading the submission folder") for n in result.notes)


def test_huge_source_files_stop_at_the_discovery_budget(sandbox, key, tmp_path):
    folder = tmp_path / "huge"
    shutil.copytree(CORRECT, folder)
    filler = "x = 1\n" * ((2 * 1024 * 1024 - 100) // 6) + "def broken(:\n"
    for i in range(MAX_PARSE_BYTES // len(filler) + 2):
        (folder / f"data_{i}.py").write_text(filler)
    result = grade(folder, sandbox, key)
    assert any(n.startswith("not searched for code (") and "data_" in n for n in result.notes), result.notes
    assert sum(t.score for t in result.tests if t.question in ("7b", "8a")) == 20  # similarity.py is read first


def test_hard_link_to_the_key_is_not_read(sandbox, key, tmp_path):
    folder = tmp_path / "linked"
    shutil.copytree(CORRECT, folder)
    outside = tmp_path / "key.toml"
    shutil.copy(PROJECT_ROOT / "answers" / "key.toml", outside)
    os.link(outside, folder / "answers.toml")
    result = grade(folder, sandbox, key)
    assert "answers.toml: a hard link (one file with 2 names); refused" in result.notes
    assert "key.toml" not in "\n".join(t.output for t in result.tests)
    assert all(t.score == 0 for t in result.tests if t.question not in ("7b", "8a"))
