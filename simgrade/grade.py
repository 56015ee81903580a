"""Grade one submission: discover -> sandbox -> compare -> diagnose -> score -> report data."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Iterable

import torch

from simgrade.compare import Comparison, compare
from simgrade.discover import FunctionSpec, Submission, discover
from simgrade.key import Key
from simgrade.mistakes import diagnose
from simgrade.probes import submission_seed
from simgrade.question import CodeQuestion
from simgrade.results import GRADER_ERROR, GradeResult, TestResult, internal_error
from simgrade.sandbox import Sandbox, SandboxError, Session
from simgrade.score import score_code
from simgrade.written import grade_written


torch.set_num_threads(1)  # the probes are tiny: handing work to a second thread costs more than it saves

SANDBOX_FLAG = "sandbox stopped answering"
"""Flag of a submission during whose grading the sandbox itself stopped answering (it is restarted)."""


def function_specs(questions: Iterable[CodeQuestion]) -> list[FunctionSpec]:
    """What discovery looks for: per code question, its function, arguments and place in the course notebook."""
    return [FunctionSpec(q.function, q.parameters, q.notebook.training, tuple(q.notebook.locals), q.notebook.assigns,
                         tuple(q.notebook.bound)) if q.notebook else FunctionSpec(q.function, q.parameters, None)
            for q in questions]


def _order(key: Key, tests: list[TestResult]) -> list[TestResult]:
    rank = {q: i for i, q in enumerate(key.question_ids)}
    return sorted(tests, key=lambda t: (rank.get(t.question, len(rank)), int(t.number.rsplit(".", 1)[1])))


def _failed(question, message: str, origin: str) -> list[TestResult]:
    """The tests of a code question that could not be graded: 0 points, ``message`` as the output."""
    return score_code(question, Comparison(question.function, "not_graded", message=message), [], origin)


def _restart(sandbox: Sandbox) -> None:
    """A fresh zygote in place of one that stopped answering (one that cannot start fails the next question alike)."""
    try:
        sandbox.close()
        sandbox.start()
    except Exception:  # noqa: BLE001 - the next request raises SandboxError, reported there
        pass


def grade_code(submission: Submission, sandbox: Sandbox, key: Key) -> tuple[list[TestResult], list[str], dict]:
    """Run and score every code question; returns tests, notes and data for the TA.

    Never raises: a question whose grading fails scores 0 with the reason and a flag, and the next
    question goes on (in a restarted sandbox when the sandbox itself stopped answering).
    """
    programs = [p.message() for p in submission.programs.values()]
    sessions = [Session(sandbox, programs, submission.files)]
    tests, notes, extra = [], [], {"mistakes": {}, "flags": []}
    for question in key.code:
        program = submission.programs.get(question.function)
        origin = program.origin if program else ""
        mistakes = []
        try:
            if program is None:
                comparison = Comparison(question.function, "missing",
                                        message=f"no {question.function} found in the submission (see the notes above)")
            else:
                comparison = compare(sessions[-1], question.function, seed=submission_seed(submission, question.function))
                mistakes = diagnose(comparison)
            question_tests = score_code(question, comparison, mistakes, origin)
        except SandboxError as error:
            mistakes, message = [], f"the sandbox stopped answering while grading this question: {error}"
            question_tests = _failed(question, message, origin)
            notes.append(f"{question.function}: {message}; restarted for what follows")
            extra["flags"].append(SANDBOX_FLAG)
            sessions[-1].close()
            _restart(sandbox)
            sessions.append(Session(sandbox, programs, submission.files))
        except Exception as error:  # noqa: BLE001 - a grader bug: this question scores 0, the rest is graded
            mistakes, message = [], internal_error(question.question, error)
            question_tests = _failed(question, message, origin)
            notes.append(message)
            extra["flags"].append(GRADER_ERROR)
        extra["mistakes"][question.question] = [m.as_data() for m in mistakes]
        tests += question_tests
    sessions[-1].close()
    extra["events"] = []  # what the class report shows beside a flag: the runner's own account, as data
    for session in sessions:
        notes += _session_notes(session, extra["flags"])
        extra["events"] += session.events + ([f"loading failed: {session.load_reply.get('error')}"]
                                             if (session.load_reply or {}).get("status") == "load_failed" else [])
    extra["flags"] = list(dict.fromkeys(extra["flags"]))
    return tests, notes, extra


def _session_notes(session: Session, flags: list[str]) -> list[str]:
    """What happened in one runner: loading, time-outs, crashes, what the code printed (flags added to ``flags``)."""
    notes = []
    if session.load_reply:
        notes += [f"loading: {n}" for n in session.load_reply.get("notes", [])]
        if session.load_reply.get("status") == "load_failed":
            notes.append(f"loading failed: {session.load_reply.get('error')}")
    notes += session.events
    if session.timed_out:
        flags.append("timed out")
    if session.crashes or (session.load_reply or {}).get("status") == "load_failed":
        flags.append("ended its own process")
    output = session.output.strip()
    if output:
        notes.append("the submission's code printed:\n" + "\n".join(f"    | {line}" for line in output.splitlines()[:40]))
    if session.output_dropped:
        flags.append("output flood")
    return notes


def failed_result(key: Key, message: str) -> GradeResult:
    """Every test of the key at 0 with ``message`` as its output: the results.json of a grading that failed."""
    tests = [replace(t, output=message) for t in grade_written(None, key).tests]
    for question in key.code:
        tests += _failed(question, message, "")
    return GradeResult(_order(key, tests), [message], 0.0, {"mistakes": {}, "flags": [GRADER_ERROR]})


def grade(folder: Path, sandbox: Sandbox, key: Key) -> GradeResult:
    """The whole grade of one submission folder (never raises for anything the submission does)."""
    start = time.monotonic()
    flags = []
    try:
        submission = discover(Path(folder), function_specs(key.code), preferred_file=key.handout_file)
    except NotADirectoryError:
        raise
    except Exception as error:  # noqa: BLE001 - a grader bug: graded as an empty submission, flagged
        submission = Submission(notes=[internal_error("the submission folder", error)])
        flags.append(GRADER_ERROR)
    written = grade_written(submission.answers_toml, key)
    code_tests, code_notes, extra = grade_code(submission, sandbox, key)
    notes = [sandbox.isolation] + submission.notes + written.notes + code_notes
    extra["flags"] = list(dict.fromkeys(flags + written.flags + extra["flags"]))
    extra.update({"isolated": sandbox.isolated, "why": written.why, "fingerprints": submission.fingerprints,
                  "forms": {name: p.form for name, p in submission.programs.items()}})
    return GradeResult(_order(key, written.tests + code_tests), notes, time.monotonic() - start, extra)
