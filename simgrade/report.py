"""The human report on stdout: per question the points, what passed, what failed and why.

Only this module writes the report's structure lines (the title, ``Question ...:``, ``Total:``),
and only those start at column 0. Notes and test outputs quote the submission: every line of
them is escaped (:func:`simgrade.text.untrusted`) and indented under its heading, so nothing a
submission prints or raises can move the cursor or pass for a line of the grade.
"""
from __future__ import annotations

from simgrade.results import OUTPUT_LIMIT, GradeResult
from simgrade.text import untrusted


def _indented(text: str, first: str, rest: str) -> list[str]:
    """The non-blank lines of ``text``, escaped: the first after ``first``, the others after ``rest``."""
    lines = [line for line in untrusted(text, OUTPUT_LIMIT).splitlines() if line.strip()]
    return [(rest if i else first) + line for i, line in enumerate(lines)]


def format_report(result: GradeResult, title: str) -> str:
    """A plain-text report of one submission."""
    title = untrusted(title, 200, multiline=False)
    lines = [f"simgrade: {title}", "=" * min(78, 10 + len(title))]
    for note in result.notes:
        lines += _indented(note, "  ", "    ")
    by_question: dict[str, list] = {}
    for test in result.tests:
        by_question.setdefault(test.question, []).append(test)
    for question, tests in by_question.items():
        earned, available = sum(t.score for t in tests), sum(t.max_score for t in tests)
        lines += ["", f"Question {question}: {earned:g} / {available:g}"]
        for test in tests:
            mark = "ok  " if test.status == "passed" else "FAIL"
            lines.append(f"  [{mark}] {test.number} {test.name} ({test.score:g}/{test.max_score:g})")
            if test.status != "passed":
                lines += _indented(test.output, "         ", "         ")
    lines += ["", f"Total: {result.score:g} / {result.max_score:g}   ({result.execution_time:.1f} s)"]
    return "\n".join(lines)
