"""``python grader.py --check SUBMISSION_DIR``: what a student runs before handing in.

It shows how the grader reads the submission and whether its functions run, and nothing about
right or wrong: every written item is echoed as it was read (``q4.e_i: read as "smaller"``) or
with why it could not be read; each code question's function is found and run, in the sandbox, on
*public* inputs (fixed seeds, never the graded ones, which are drawn from the submission's digest),
and only its form is reported: a 0-dim tensor, finite, carrying gradient to every parameter, inputs
left unchanged. No reference is computed and no value is shown.

The engine knows no homework: items, functions and their arguments come from the key and the
question files. The written answers are read by :func:`simgrade.reading.echo`, the reading grading
uses, from each item's form (:func:`simgrade.written.field_form`); the kit's ``check_submission.py``
holds a copy of that code, so both echo alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simgrade.key import Key
from simgrade.reading import Echo
from simgrade.text import untrusted

CHECK_SEED = 0x5EED_C4EC
"""The public inputs' seeds start here (graded inputs come from a 64-bit digest of the submission)."""
CHECK_CASES = 3
"""Public inputs per function: the first shapes of its question's battery."""


@dataclass
class CheckReport:
    """What ``--check`` found; ``text()`` is what it prints."""

    title: str
    notes: list[str] = field(default_factory=list)
    """Submission-level messages (isolation, discovery, loading), each once."""
    written: Echo = field(default_factory=lambda: Echo([], [], [], 0))
    """How each written entry was read, or why not, and answers.toml's file-level messages."""
    code: list[tuple[str, list[tuple[bool, str]]]] = field(default_factory=list)
    """(function heading, [(ok, line)]) per code question."""

    def text(self) -> str:
        title = untrusted(self.title, 200, multiline=False)
        lines = [f"simgrade --check: {title}",
                 "This check shows how the grader reads your submission. It says nothing about your grade:",
                 "it has no answer key.", ""]
        lines += [f"  {untrusted(n, 2000)}".replace("\n", "\n    ") for n in dict.fromkeys(self.notes) if n.strip()]
        lines += ["", *self.written.lines(), "", "Code"]
        for heading, results in self.code:
            lines.append(f"  {untrusted(heading, 300, multiline=False)}")
            lines += [f"    [{'ok' if ok else '!!'}] {untrusted(line, 1500)}".replace("\n", "\n         ")
                      for ok, line in results]
        ran = sum(all(ok for ok, _ in results) for _, results in self.code)
        lines += ["", f"Summary: {self.written.summary()}; {ran} of {len(self.code)} functions found and of the "
                      "expected form."]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- written answers

def read_written(answers: bytes | None, key: Key, report: CheckReport) -> None:
    """Echo how every written entry was read, or why not; file-level problems once."""
    from simgrade.reading import echo
    from simgrade.written import field_form

    report.written = echo(answers, [field_form(item, key.max_expression_length) for item in key.items])


# ----------------------------------------------------------------------------- code

def public_cases(function: str) -> list:
    """The public inputs of ``function``: its battery's first shapes, with fixed public seeds."""
    from simgrade.probes import Case
    from simgrade.questions import question_of

    return [Case.of(function, shape, CHECK_SEED + i) for i, shape in enumerate(question_of(function).battery[:CHECK_CASES])]


def form_results(replies: list[tuple], cases: list) -> list[tuple[bool, str]]:
    """(ok, line) per form property over the replies of the public calls; compares with nothing."""
    from simgrade.report import clean_paths

    for (reply, _), case in zip(replies, cases):
        status = reply.get("status")
        if status != "ok":
            if status == "error" and reply.get("error_type") == "NotImplementedError":
                why = "still raises NotImplementedError (the FIXME stub is not filled in)"
            elif status == "error":
                where = reply.get("where", "")
                why = f"raised {clean_paths(reply.get('error', ''))}" + (f" (at {where})" if where else "")
            elif status == "timeout":
                why = "ran over its time limit"
            elif status == "missing":
                why = "is not defined when the file is loaded"
            else:
                why = f"did not return ({status}: {clean_paths(reply.get('error', ''))})"
            return [(False, f"on a public input ({case.describe()}) the function {why}")]
    results = [(True, f"runs on {len(cases)} public inputs ({'; '.join(c.describe() for c in cases)})")]

    def first(test) -> object:
        return next((c for (reply, arrays), c in zip(replies, cases) if test(reply, arrays)), None)

    bad = first(lambda r, a: r.get("kind") != "tensor" or r.get("subclass"))
    tensor = bad is None
    results.append((tensor, "returns a plain torch.Tensor" if tensor else
                    f"returns a {dict(replies[cases.index(bad)][0]).get('type')}, not a plain torch.Tensor"))
    bad = first(lambda r, a: bool(r.get("shape")))
    results.append((bad is None, "returns a 0-dim tensor (one number)" if bad is None else
                    f"returns a tensor of shape {tuple(replies[cases.index(bad)][0].get('shape', ()))}, not a 0-dim "
                    f"tensor (on {bad.describe()})"))

    def finite(arrays) -> bool:
        value = arrays.get("value")
        return value is not None and value.dtype.kind in "fiub" and bool(np.all(np.isfinite(value.astype(np.float64))))
    bad = first(lambda r, a: not finite(a))
    results.append((bad is None, "the value is finite" if bad is None else f"the value is not a finite number on {bad.describe()}"))
    bad = first(lambda r, a: not r.get("requires_grad") or r.get("no_grad")
                or any(not np.all(np.isfinite(v)) for k, v in a.items() if k.startswith("grad:")))
    if bad is None:
        results.append((True, "carries gradient to every parameter of the networks (finite gradients)"))
    else:
        reply = replies[cases.index(bad)][0]
        missing = ", ".join(reply.get("no_grad", []))
        results.append((False, f"on {bad.describe()}: " + (f"no gradient reaches {missing}" if missing else
                                                           "the returned tensor carries no (finite) gradient")))
    bad = first(lambda r, a: r.get("changed_inputs"))
    results.append((bad is None, "leaves its inputs unchanged" if bad is None else
                    "modifies its inputs in place (" + ", ".join(replies[cases.index(bad)][0]["changed_inputs"])
                    + f") on {bad.describe()}"))
    return results


def run_functions(submission, sandbox, key: Key, report: CheckReport) -> None:
    """Find and run every code question's function on public inputs, in the sandbox."""
    from simgrade.discover import locate
    from simgrade.sandbox import SandboxError, Session

    programs = [p.message() for p in submission.programs.values()]
    session = Session(sandbox, programs, submission.files) if programs else None
    try:
        for question in key.code:
            program = submission.programs.get(question.function)
            heading = f"{question.function} (question {question.question})"
            if program is None:
                report.code.append((heading, [(False, f"not found: no {question.function}"
                                                      f"({', '.join(question.parameters)}) in the submission")]))
                continue
            heading += f", found in {program.origin}" + (f" ({program.form})" if getattr(program, "form", "") else "")
            cases = public_cases(question.function)
            try:
                from simgrade.probes import make_probe

                probes = [make_probe(c) for c in cases]
                replies = session.call_many(question.function, [(p.message, p.arrays) for p in probes])
                for reply, _ in replies:
                    if reply.get("status") == "error":  # the runner's frames as the file, cell and line
                        reply["where"] = locate(programs, reply)
                report.code.append((heading, form_results(replies, cases)))
            except SandboxError as error:
                report.code.append((heading, [(False, f"the sandbox stopped answering: {error}")]))
    finally:
        if session is not None:
            session.close()
    if session is not None:
        from simgrade.report import clean_paths

        reply = session.load_reply or {}
        report.notes += [clean_paths(f"loading: {n}") for n in reply.get("notes", [])]
        if reply.get("status") == "load_failed":
            report.notes.append(clean_paths(f"loading failed: {reply.get('error')}"))
        report.notes += [clean_paths(e) for e in session.events]
        output = session.output.strip()
        if output:
            shown = output.splitlines()
            report.notes.append("your code printed" + (f" ({len(shown)} lines, the first 20 shown)" if len(shown) > 20 else "")
                                + ":\n" + "\n".join(f"| {line}" for line in shown[:20]))


def check(folder, sandbox, key: Key) -> CheckReport:
    """The whole check of one submission folder (never raises for anything the submission does)."""
    from pathlib import Path

    from simgrade.discover import discover
    from simgrade.grade import function_specs

    from simgrade.discover import Submission
    from simgrade.results import internal_error

    report = CheckReport(str(folder))
    try:
        submission = discover(Path(folder), function_specs(key.code), preferred_file=key.handout_file)
    except NotADirectoryError:
        raise
    except Exception as error:  # noqa: BLE001 - a grader bug: checked as an empty submission
        submission = Submission(notes=[internal_error("the submission folder", error)])
    report.notes += list(submission.notes)
    read_written(submission.answers_toml, key, report)
    run_functions(submission, sandbox, key, report)
    report.notes.insert(0, sandbox.isolation)  # known once a runner has started
    return report
