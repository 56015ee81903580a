"""Written answers: a submission's ``answers.toml`` against the key's items (``answers/key.toml``).

One :class:`~simgrade.results.TestResult` per item, one per element of a ``yesno_list``,
numbered ``<question>.<k>`` with k counting from 1 within each question id in key order.
Forms and normalisation are docs/CONTRACT.md's; docs/WRITTEN.md is the TA's note. Reading the file and
each value is :mod:`simgrade.reading`'s (shared with ``--check`` and the kit's check, and blind to the
answers); each kind of item here is one entry of :data:`KINDS`: the value read, then compared with the key.
Feedback says what form was expected and, on a wrong answer, what the student gave; it never
states the staff answer. Nothing here raises on anything a submission holds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from simgrade.expressions import equivalent
from simgrade.key import Key, KeyItem
from simgrade.reading import MAX_BYTES, NO_FILE  # noqa: F401  (re-exported: the file's limits and its absence)
from simgrade.reading import (MISSING, NOT_ANSWERED, READERS, WHY_MAX_CHARS, YESNO_FORM, FieldForm, Reader, Refused,
                              Unanswered, blank, collect, lookup, read_answers, show, split_list, type_name, verdict)
from simgrade.results import GRADER_ERROR, TestResult, internal_error


@dataclass
class WrittenGrade:
    """The grade of a submission's written answers."""

    tests: list[TestResult]
    """One test per key item (per element of a yes/no list), in key order, numbered ``<question>.<k>``."""
    notes: list[str] = field(default_factory=list)
    """File-level messages: no file, not UTF-8, too large, TOML syntax error (with its line), unknown keys ignored."""
    why: dict[str, str] = field(default_factory=dict)
    """Every ``<key>_why`` free text, keyed by its field (``q1.squared_distance_why``), cut to 2,000 characters; for the TA, not scored."""
    flags: list[str] = field(default_factory=list)
    """``grader error`` when grading some item raised (that item scored 0, with a note): for the TA."""

    @property
    def score(self) -> float:
        """Points earned."""
        return round(sum(t.score for t in self.tests), 4)

    @property
    def max_score(self) -> float:
        """Points available."""
        return sum(t.max_score for t in self.tests)


def _entries(item: KeyItem) -> int:
    """Tests of the item: one per element of a yes/no list, else one."""
    return len(item.answer) if item.kind == "yesno_list" and isinstance(item.answer, list) else 1


def field_form(item: KeyItem, max_length: int = 200) -> FieldForm:
    """How ``item`` is read (:mod:`simgrade.reading`): its form and spellings. Of its answer only a choice's bare
    aliases (other spellings of the answer) say something, and they are marked secret: never shown, never in the kit.
    ``max_length``: the key's ``max_expression_length``."""
    aliases: list[tuple[str, str]] = []
    secret: list[str] = []
    for alias in item.accepted if item.kind in ("choice", "set") else ():
        left, equals, right = alias.partition("=")
        if equals and right.strip() in item.options:
            aliases.append((left, right.strip()))
        elif not equals and item.kind == "choice":
            aliases.append((alias, str(item.answer)))
            secret.append(alias)
    products = tuple((k, v) for k, v in item.substitute.items() if "." in k) if item.kind == "expression" else ()
    return FieldForm(item.field, item.kind, tuple(item.options), tuple(aliases), tuple(secret), tuple(item.symbols),
                     products, _entries(item), max_length)


def form_of(item: KeyItem) -> str:
    """The form an item's answer takes, for the handout and the feedback (never the answer)."""
    reader = READERS.get(item.kind)
    return reader.form(field_form(item)) if reader is not None else "(unknown form)"


# ----------------------------------------------------------------------------- the kinds
# Each kind is an entry of KINDS: how the student's value is read (reading.READERS), and how that is compared
# with the key's answer. The wording of the feedback (not answered, refused, correct, incorrect) is Kind.__call__'s.

@dataclass(frozen=True)
class Kind:
    """One kind of written item: read the student's value, then compare it with the key."""

    reader: Reader
    """The form, normalisation and echo of its values (:data:`simgrade.reading.READERS`)."""
    compare: Callable[[KeyItem, object, object, Key], tuple[bool, str]]
    """``(normalised, the key's answer)`` -> right or not, and a detail for the feedback (``""``: none); may raise Refused."""

    def __call__(self, item: KeyItem, value, key: Key) -> list[tuple[float, str]]:
        """(score, output) per test of ``item``."""
        form = field_form(item, key.max_expression_length)
        if self.reader.each:
            return self._elements(item, form, value, key)
        return [self._judge(item, form, value, item.answer, key, item.field, self.reader.form(form))]

    def _judge(self, item: KeyItem, form: FieldForm, value, answer, key: Key, label: str, shape: str,
               extra: str = "") -> tuple[float, str]:
        """One test: ``value`` (the student's) against ``answer`` (the key's); ``shape``: the form expected."""
        if value is MISSING or blank(value):
            return 0.0, f"{label}: {NOT_ANSWERED}. Expected {shape}.{extra}"
        value = self.reader.prepare(value)
        try:
            right, detail = self.compare(item, self.reader.normalise(form, value), answer, key)
        except Unanswered:
            return 0.0, f"{label}: {NOT_ANSWERED}. Expected {shape}.{extra}"
        except Refused as refused:
            return 0.0, f"{label}: {refused}{extra}"
        if right:
            return float(item.points), f"{label}: correct ({show(value)}{': ' + detail if detail else ''}).{extra}"
        return 0.0, f"{label}: incorrect (you answered {show(value)}{'; ' + detail if detail else ''}).{extra}"

    def _elements(self, item: KeyItem, form: FieldForm, value, key: Key) -> list[tuple[float, str]]:
        f, n = item.field, len(item.answer)
        if value is MISSING:
            return [(0.0, f"{f} ({i} of {n}): {NOT_ANSWERED}. Expected {self.reader.form(form)}.") for i in range(1, n + 1)]
        if isinstance(value, str):
            value = split_list(value, n)
        if not isinstance(value, list):
            return [(0.0, f"{f}: expected {self.reader.form(form)}, written as a TOML list [\"…\", \"…\", …], "
                          f"got {type_name(value)} ({show(value)}); scored 0.")] * n
        extra = f" (the list has {len(value)} entries, {n} expected; extras ignored)" if len(value) > n else ""
        out = []
        for i in range(n):
            label = f"{f} ({i + 1} of {n})"
            if i >= len(value):
                out.append((0.0, f"{label}: {NOT_ANSWERED} (the list has only {len(value)} entries). Expected {YESNO_FORM}."))
            else:
                out.append(self._judge(item, form, value[i], item.answer[i], key, label, YESNO_FORM, extra))
        return out


def _same_yesno(item: KeyItem, got: tuple[str, str], answer, key: Key) -> tuple[bool, str]:
    said, rest = got
    return said == verdict(answer)[0], (f'read as "{said}"; the rest is kept for the TA' if rest else "")


def _same(item: KeyItem, got, answer, key: Key) -> tuple[bool, str]:
    return got == answer, ""


def _same_set(item: KeyItem, got: set[str], answer, key: Key) -> tuple[bool, str]:
    return got == set(answer) or any(got == set(other) for other in item.also_right), ""


def _same_interval(item: KeyItem, got: tuple[float, float, bool], answer, key: Key) -> tuple[bool, str]:
    """The key's intervals are closed: an open end is wrong whatever the numbers (and the feedback,
    the same for any numbers, does not tell whether they were right)."""
    low, high, is_open = got
    if is_open:
        return False, "an open end ( or ) or a strict < excludes that end"
    return all(abs(a - float(b)) <= 1e-9 * max(1.0, abs(float(b))) for a, b in zip((low, high), answer)), ""


def _equivalent(item: KeyItem, got: str, answer, key: Key) -> tuple[bool, str]:
    ok, why = equivalent(got, [str(answer), *item.accepted], item.symbols, dict(item.substitute), key.max_expression_length)
    if not ok and why.startswith("not accepted"):
        raise Refused(f"{show(got)} is {why}. Expected {form_of(item)}; scored 0.")
    return ok, why


KINDS: dict[str, Kind] = {
    "yesno": Kind(READERS["yesno"], _same_yesno),
    "yesno_list": Kind(READERS["yesno_list"], _same_yesno),
    "choice": Kind(READERS["choice"], _same),
    "set": Kind(READERS["set"], _same_set),
    "interval": Kind(READERS["interval"], _same_interval),
    "expression": Kind(READERS["expression"], _equivalent),
}
"""Every kind of written item (``kind`` in answers/key.toml): a grader ``(item, value, key) -> [(score, output)]``."""
_GRADERS = KINDS
"""The same table, under its former name."""


# ----------------------------------------------------------------------------- the file

def _keep_reasons(item: KeyItem, value, why: dict[str, str]) -> None:
    """The reason after a yes/no verdict (``"No, because ..."``) joins ``<field>_why``, first."""
    if item.kind == "yesno":
        values = [value]
    elif item.kind == "yesno_list" and isinstance(value, list):
        values = value
    else:
        return
    reasons = []
    for k, v in enumerate(values, 1):
        said, rest = verdict(v)
        if said and rest:
            reasons.append(rest if item.kind == "yesno" else f"({k}) {rest}")
    if reasons:
        name = f"{item.field}_why"
        text = "\n".join(reasons + ([why[name]] if name in why else []))
        why[name] = text[:WHY_MAX_CHARS]


def grade_written(answers: bytes | None, key: Key) -> WrittenGrade:
    """Grade the bytes of a submission's ``answers.toml`` (None: the submission has none)."""
    notes: list[str] = []
    why: dict[str, str] = {}
    flags: list[str] = []

    def internal(what: str, error: Exception) -> str:
        notes.append(internal_error(what, error))
        flags[:] = [GRADER_ERROR]
        return notes[-1]

    broken: dict[str, str] = {}
    try:
        data, unread = read_answers(answers, notes, broken)
    except Exception as error:  # noqa: BLE001 - a grader bug: every written item scores 0, flagged
        data, unread = None, internal("answers.toml", error)
    if data is not None:
        try:
            collect(data, [field_form(item) for item in key.items], notes, why)
        except Exception as error:  # noqa: BLE001 - only notes and _why texts are lost
            internal("the keys of answers.toml", error)
    tests: list[TestResult] = []
    counters: dict[str, int] = {}
    for item in key.items:
        n = _entries(item)
        if data is None:
            results = [(0.0, unread)] * n
        else:
            value, problem = lookup(data, item.field)
            grader = KINDS.get(item.kind)
            if item.field in broken and value is MISSING:
                results = [(0.0, f"{item.field}: not read: {broken[item.field]}; scored 0.")] * n
            elif problem:
                results = [(0.0, f"{item.field}: {problem}; scored 0.")] * n
            elif grader is None:
                results = [(0.0, f"{item.field}: grader error: unknown item kind {item.kind!r}")] * n
            else:
                try:
                    results = grader(item, value, key)
                except RecursionError:
                    results = [(0.0, f"{item.field}: the answer nests too deeply to grade; scored 0.")] * n
                except Exception as error:  # noqa: BLE001 - a grader bug: this item scores 0, the others are graded
                    results = [(0.0, internal(item.field, error))] * n
                try:
                    _keep_reasons(item, value, why)
                except Exception as error:  # noqa: BLE001 - only the reason text is lost
                    internal(f"{item.field}_why", error)
        for i, (score, output) in enumerate(results):
            counters[item.question] = counters.get(item.question, 0) + 1
            name = item.title if n == 1 else f"{item.title} ({i + 1} of {n})"
            tests.append(TestResult(
                number=f"{item.question}.{counters[item.question]}",
                name=f"{item.field}: {name}",
                score=score,
                max_score=float(item.points),
                output=output,
                tags=[item.question, "written"],
            ))
    return WrittenGrade(tests=tests, notes=notes, why=why, flags=flags)
