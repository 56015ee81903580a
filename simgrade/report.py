"""The human report on stdout: per question the points, what passed, what failed and why."""
from __future__ import annotations

from simgrade.results import GradeResult


def format_report(result: GradeResult, title: str) -> str:
    """A plain-text report of one submission."""
    lines = [f"simgrade: {title}", "=" * min(78, 10 + len(title))]
    lines += [f"  {note}" for note in result.notes]
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
                lines += [f"         {line}" for line in test.output.splitlines() if line.strip()]
    lines += ["", f"Total: {result.score:g} / {result.max_score:g}   ({result.execution_time:.1f} s)"]
    return "\n".join(lines)
