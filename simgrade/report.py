"""The human report on stdout, read top to bottom: the total and what failed first, passing questions
one line each (every test with ``verbose``), a message shared by several tests said once.

Only this module writes the report's structure lines (the title, ``Total:``, ``Question ...:``),
and only those start at column 0. Notes and test outputs quote the submission: every line of
them is escaped (:func:`simgrade.text.untrusted`) and indented under its heading, so nothing a
submission prints or raises can move the cursor or pass for a line of the grade. Paths of the
sandbox (the runner's scratch folder, the worker) never reach the student (:func:`clean_paths`),
and text that is cut says how much was left out.
"""
from __future__ import annotations

from simgrade.results import GradeResult, clean_paths, shown  # noqa: F401  (clean_paths re-exported)
from simgrade.text import untrusted

def _indented(text: str, first: str, rest: str) -> list[str]:
    """The non-blank lines of ``text``, escaped: the first after ``first``, the others after ``rest``."""
    lines = [line for line in shown(text).splitlines() if line.strip()]
    return [(rest if i else first) + line for i, line in enumerate(lines)]


def _line(test) -> str:
    mark = "ok  " if test.status == "passed" else "FAIL"
    return f"  [{mark}] {test.number} {untrusted(test.name, 300, multiline=False)} ({test.score:g}/{test.max_score:g})"


def _numbers(numbers: list[str]) -> str:
    return ", ".join(numbers) if len(numbers) <= 12 else ", ".join(numbers[:12]) + f" and {len(numbers) - 12} more"


def format_report(result: GradeResult, title: str, verbose: bool = False, wall_time: float | None = None) -> str:
    """A plain-text report of one submission, read top to bottom.

    First the total and which tests fail, then the submission's notes (each once) and any output
    shared by several failing tests (a file-level problem: said once, not per test), then per
    question, in order: a passing question in one line (its tests too when ``verbose``), a failing
    one with each failing test and why. ``wall_time``: the run's real wall time, when known.
    """
    title = untrusted(title, 200, multiline=False)
    seconds = result.execution_time if wall_time is None else wall_time
    by_question: dict[str, list] = {}
    for test in result.tests:
        by_question.setdefault(test.question, []).append(test)
    failing = {q: [t.number for t in ts if t.status != "passed"] for q, ts in by_question.items()}
    failing = {q: numbers for q, numbers in failing.items() if numbers}
    lines = [f"simgrade: {title}", "=" * min(78, 10 + len(title)),
             f"  Total: {result.score:g} / {result.max_score:g}   ({seconds:.1f} s wall time)"]
    if failing:
        count = sum(len(n) for n in failing.values())
        lines.append(f"  Failing: {count} test{'s' * (count != 1)} in {len(failing)} of {len(by_question)} questions: "
                     + "; ".join(f"{q} ({_numbers(n)})" for q, n in failing.items()))
    else:
        lines.append(f"  Every test of the {len(by_question)} questions passed.")
    notes = list(dict.fromkeys(n for n in result.notes if n and n.strip()))
    if notes:
        lines += ["", "  About the submission:"]
        for note in notes:
            lines += _indented(note, "  - ", "    ")
    outputs: dict[str, list[str]] = {}
    for test in result.tests:
        if test.status != "passed" and test.output.strip():
            outputs.setdefault(test.output, []).append(test.number)
    said_once = {o for o, numbers in outputs.items() if len(numbers) > 1}
    for output in said_once - set(notes):
        numbers = outputs[output]
        lines += ["", f"  For {len(numbers)} tests ({_numbers(numbers)}):"]
        lines += _indented(output, "    ", "    ")
    lines.append("")
    for question, tests in by_question.items():
        earned, available = sum(t.score for t in tests), sum(t.max_score for t in tests)
        if question not in failing:
            lines.append(f"Question {question}: {earned:g} / {available:g}   passed "
                         f"({len(tests)} test{'s' * (len(tests) != 1)})")
            if verbose:
                lines += [_line(t) for t in tests]
            continue
        if len({t.output for t in tests}) == 1 and tests[0].output in said_once and not earned:
            first = shown(tests[0].output, 70, multiline=False)
            lines.append(f"Question {question}: {earned:g} / {available:g}   failed, all {len(tests)} "
                         f"test{'s' * (len(tests) != 1)}: said above ({first})")
            continue
        lines.append(f"Question {question}: {earned:g} / {available:g}")
        for test in tests:
            short = test.score < test.max_score  # a passed property whose points a rubric line took: say why
            if test.status == "passed" and not short and not verbose:
                continue
            if test.status != "passed" and test.output in said_once:
                lines.append(_line(test) + "  (why: said above)")
                continue
            lines.append(_line(test))
            if test.status != "passed" or short:
                lines += _indented(test.output, "         ", "         ")
        passed = [t.number for t in tests if t.status == "passed" and t.score >= t.max_score]
        if passed and not verbose:
            lines.append(f"  [ok  ] {len(passed)} more passed ({_numbers(passed)})")
    reasons = {k: v for k, v in (result.extra.get("why") or {}).items() if str(v).strip()}
    if reasons:  # the written answers' _why companions: for the TA, not scored
        lines += ["", "  Reasons given (not scored; for the TA):"]
        for key, text in sorted(reasons.items()):
            lines += _indented(f"{key.removesuffix('_why')}: {text}", "  - ", "    ")
    lines += ["", f"Total: {result.score:g} / {result.max_score:g}   ({seconds:.1f} s)"]
    return "\n".join(lines)
