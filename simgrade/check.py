"""``python grader.py --check SUBMISSION_DIR``: what a student runs before handing in.

It shows how the grader reads the submission and whether its functions run, and nothing about
right or wrong: every written item is echoed as it was read (``q4.e_i: read as "smaller"``) or
with why it could not be read; each code question's function is found and run, in the sandbox, on
*public* inputs (fixed seeds, never the graded ones, which are drawn from the submission's digest),
and only its form is reported: a 0-dim tensor, finite, carrying gradient to every parameter, inputs
left unchanged. No reference is computed and no value is shown.

The engine knows no homework: items, functions and their arguments come from the key and the
question files. Reading a written value uses :mod:`simgrade.written`'s public table of kinds
(:data:`~simgrade.written.KINDS`: each kind's ``normalise``), the same normalisation grading uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simgrade.key import Key, KeyItem
from simgrade.text import untrusted

CHECK_SEED = 0x5EED_C4EC
"""The public inputs' seeds start here (graded inputs come from a 64-bit digest of the submission)."""
CHECK_CASES = 3
"""Public inputs per function: the first shapes of its question's battery."""
NOT_SCORED = ("; scored 0.", " scored 0.", "; scored 0")


@dataclass
class CheckReport:
    """What ``--check`` found; ``text()`` is what it prints."""

    title: str
    notes: list[str] = field(default_factory=list)
    """Submission-level messages (isolation, discovery, loading), each once."""
    written_notes: list[str] = field(default_factory=list)
    """answers.toml's file-level messages (missing, not UTF-8, TOML syntax error, unknown keys), each once."""
    read: list[tuple[str, str]] = field(default_factory=list)
    """(entry, how it was read) per written entry read."""
    unread: list[tuple[str, str]] = field(default_factory=list)
    """(entry, why not) per written entry that could not be read."""
    code: list[tuple[str, list[tuple[bool, str]]]] = field(default_factory=list)
    """(function heading, [(ok, line)]) per code question."""
    entries: int = 0
    """Written entries the key has (one per item, one per element of a yes/no list)."""

    def text(self) -> str:
        title = untrusted(self.title, 200, multiline=False)
        lines = [f"simgrade --check: {title}",
                 "This check shows how the grader reads your submission. It says nothing about your grade:",
                 "it has no answer key.", ""]
        lines += [f"  {untrusted(n, 2000)}".replace("\n", "\n    ") for n in dict.fromkeys(self.notes) if n.strip()]
        lines += ["", "Written answers (answers.toml)"]
        lines += [f"  ! {untrusted(n, 2000)}".replace("\n", "\n    ") for n in self.written_notes]
        lines += [f"  {untrusted(entry, 120, multiline=False)}: {untrusted(how, 400, multiline=False)}"
                  for entry, how in self.read]
        if self.unread:
            lines += ["", f"  Not read ({len(self.unread)}; each scores 0 as it stands):"]
            lines += [f"  ! {untrusted(entry, 120, multiline=False)}: {untrusted(why, 600, multiline=False)}"
                      for entry, why in self.unread]
        lines += ["", "Code"]
        for heading, results in self.code:
            lines.append(f"  {untrusted(heading, 300, multiline=False)}")
            lines += [f"    [{'ok' if ok else '!!'}] {untrusted(line, 1500)}".replace("\n", "\n         ")
                      for ok, line in results]
        ran = sum(all(ok for ok, _ in results) for _, results in self.code)
        lines += ["", f"Summary: {len(self.read)} of {self.entries} written entries read; "
                      f"{ran} of {len(self.code)} functions found and of the expected form."]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- written answers

def _parse(answers: bytes | None, broken: dict | None = None) -> dict | None:
    """The document as grading reads it (line by line when the TOML is broken), or None (grade_written's notes say why)."""
    from simgrade.written import read_answers

    try:
        data, _ = read_answers(answers, [], broken if broken is not None else {})
    except Exception:  # noqa: BLE001 - the file is not read; grade_written's notes say why
        return None
    return data if isinstance(data, dict) else None


def _plain(message: str) -> str:
    """A written.py refusal without its scoring words."""
    text = str(message).strip()
    for tail in NOT_SCORED:
        if text.endswith(tail):
            text = text[: -len(tail)].rstrip(" ;.") + "."
    return text


def _shown(item: KeyItem, normalised, key: Key) -> str:
    """How a normalised value is shown: the form the grader compares (never the key's answer)."""
    if item.kind in ("yesno", "yesno_list"):
        verdict, rest = (normalised[0], normalised[1]) if isinstance(normalised, tuple) else (normalised, "")
        return f'read as "{verdict}"' + ("; the words after it are kept for the TA" if rest else "")
    if item.kind == "choice":
        return f'read as "{normalised}"'
    if item.kind == "set":
        return ("read as none of the options" if not normalised
                else "read as the set {" + ", ".join(f'"{o}"' for o in sorted(normalised)) + "}")
    if item.kind == "interval":
        low, high = normalised[0], normalised[1]
        is_open = len(normalised) > 2 and bool(normalised[2])
        return f"read as the interval [{low:g}, {high:g}]" + (" with an open end" if is_open else "")
    if item.kind == "expression":
        from simgrade.expressions import parse_expression

        expr = parse_expression(str(normalised), item.symbols, key.max_expression_length)  # raises ExpressionError
        return f"read as the expression {expr}"
    return f"read as {normalised!r}"


def _choice_alias(item: KeyItem, value) -> bool:
    """The value is one of the key's bare aliases of a choice (an alias of the answer itself): which option it
    stands for is not shown, as that would give the answer away."""
    from simgrade.written import normalised_word

    if item.kind != "choice" or not isinstance(value, str):
        return False
    bare = {normalised_word(a) for a in item.accepted if "=" not in a}
    return normalised_word(value) in bare and normalised_word(value) not in {normalised_word(o) for o in item.options}


def _read_value(item: KeyItem, value, key: Key, kind) -> tuple[bool, str]:
    """(read, how or why not) for one value of an item (one element of a yes/no list)."""
    from simgrade.written import NOT_ANSWERED

    if isinstance(value, str) and not value.strip():
        return False, NOT_ANSWERED
    try:
        value = kind.prepare(value)
        normalised = kind.normalise(item, value)
        if _choice_alias(item, value):
            return True, "read as an accepted spelling of one of the options"
        return True, _shown(item, normalised, key)
    except RecursionError:
        return False, "nests too deeply to read"
    except Exception as error:  # noqa: BLE001 - written.py's refusals (_Refused, _Unanswered), ExpressionError
        message = str(error)
        if not message:  # _Unanswered
            return False, NOT_ANSWERED
        return False, _plain(message)


def read_written(answers: bytes | None, key: Key, report: CheckReport) -> None:
    """Echo how every written entry was read, or why not; file-level problems once."""
    from simgrade.written import KINDS, NOT_ANSWERED, YESNO_FORM, form_of, grade_written

    report.written_notes += grade_written(answers, key).notes  # file-level only; its scores are dropped
    report.entries = sum(len(i.answer) if KINDS.get(i.kind) is not None and KINDS[i.kind].each else 1 for i in key.items)
    broken: dict[str, str] = {}  # field -> why its line could not be read (a file read line by line)
    data = _parse(answers, broken)
    if data is None:
        report.unread.append((f"all {report.entries} entries", "the file was not read (see above)"))
        return
    for item in key.items:
        kind = KINDS.get(item.kind)
        section = data.get(item.section)
        value = section.get(item.key) if isinstance(section, dict) else None
        if kind is None:
            report.unread.append((item.field, f"unknown item kind {item.kind!r} (a problem of the key)"))
        elif value is None and isinstance(broken.get(item.field), str):
            report.unread.append((item.field, _plain(broken[item.field])))
        elif value is None:
            n = len(item.answer) if kind.each else 1
            why = f"{NOT_ANSWERED} (expected {form_of(item)})" + (f"; {n} entries" if n > 1 else "")
            report.unread.append((item.field, why))
        elif kind.each:
            n = len(item.answer)
            if not isinstance(value, list):
                report.unread.append((item.field, f"expected {form_of(item)}, written as a TOML list"))
                continue
            for i in range(n):
                label = f"{item.field} ({i + 1} of {n})"
                if i >= len(value):
                    report.unread.append((label, f"{NOT_ANSWERED} (the list has only {len(value)} entries)"))
                    continue
                ok, how = _read_value(item, value[i], key, kind)
                if not ok and how == NOT_ANSWERED:
                    how = f"{NOT_ANSWERED} (expected {YESNO_FORM})"
                (report.read if ok else report.unread).append((label, how))
            if len(value) > n:
                report.unread.append((item.field, f"the list has {len(value)} entries, {n} expected; extras ignored"))
        else:
            ok, how = _read_value(item, value, key, kind)
            if not ok and how == NOT_ANSWERED:
                how = f"{NOT_ANSWERED} (expected {form_of(item)})"
            (report.read if ok else report.unread).append((item.field, how))


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
                where = "; ".join(clean_paths(w) for w in reply.get("where", []))
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
    from simgrade.grade import program_message
    from simgrade.sandbox import SandboxError, Session

    programs = [program_message(p) for p in submission.programs.values()]
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
