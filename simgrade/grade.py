"""Grade one submission: discover -> sandbox -> compare -> diagnose -> score -> report data."""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import torch

from simgrade.compare import Comparison, compare
from simgrade.discover import Submission, discover
from simgrade.key import Key
from simgrade.mistakes import diagnose
from simgrade.results import GradeResult, TestResult
from simgrade.sandbox import Sandbox, Session
from simgrade.score import score_code
from simgrade.written import grade_written


torch.set_num_threads(1)  # the probes are tiny: handing work to a second thread costs more than it saves


def _program_message(program) -> dict:
    return {"origin": program.origin, "function": program.function,
            "chunks": [{"source": c.source, "label": c.label, "kind": c.kind} for c in program.chunks]}


def _order(key: Key, tests: list[TestResult]) -> list[TestResult]:
    rank = {q: i for i, q in enumerate(key.question_ids)}
    return sorted(tests, key=lambda t: (rank.get(t.question, len(rank)), int(t.number.rsplit(".", 1)[1])))


def grade_code(submission: Submission, sandbox: Sandbox, key: Key) -> tuple[list[TestResult], list[str], dict]:
    """Run and score every code question; returns tests, notes and data for the TA."""
    programs = [_program_message(p) for p in submission.programs.values()]
    session = Session(sandbox, programs, submission.files)
    tests, notes, extra = [], [], {"mistakes": {}, "flags": []}
    try:
        for question in key.code:
            program = submission.programs.get(question.function)
            if program is None:
                comparison = Comparison(question.function, "missing",
                                        message=f"no {question.function} found in the submission (see the notes above)")
                mistakes = []
            else:
                comparison = compare(session, question.function)
                mistakes = diagnose(comparison)
            extra["mistakes"][question.question] = [m.name for m in mistakes]
            tests += score_code(question, comparison, mistakes, program.origin if program else "")
    finally:
        session.close()
    if session.load_reply:
        notes += [f"loading: {n}" for n in session.load_reply.get("notes", [])]
        if session.load_reply.get("status") == "load_failed":
            notes.append(f"loading failed: {session.load_reply.get('error')}")
    notes += session.events
    if session.timed_out:
        extra["flags"].append("timed out")
    if session.crashes or (session.load_reply or {}).get("status") == "load_failed":
        extra["flags"].append("ended its own process")
    output = session.output.strip()
    if output:
        notes.append("the submission's code printed:\n" + "\n".join(f"    | {line}" for line in output.splitlines()[:40]))
        if "more bytes of output not kept" in output:
            extra["flags"].append("output flood")
    return tests, notes, extra


def grade(folder: Path, sandbox: Sandbox, key: Key) -> GradeResult:
    """The whole grade of one submission folder (never raises for anything the submission does)."""
    start = time.monotonic()
    submission = discover(Path(folder), tuple(q.function for q in key.code))
    written = grade_written(submission.answers_toml, key)
    code_tests, code_notes, extra = grade_code(submission, sandbox, key)
    notes = [sandbox.isolation] + submission.notes + written.notes + code_notes
    extra.update({"why": written.why, "fingerprints": submission.fingerprints,
                  "forms": {name: p.form for name, p in submission.programs.items()}})
    return GradeResult(_order(key, written.tests + code_tests), notes, time.monotonic() - start, extra)
