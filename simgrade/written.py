"""Written answers: a submission's ``answers.toml`` against the key's items (``answers/key.toml``).

One :class:`~simgrade.results.TestResult` per item, one per element of a ``yesno_list``,
numbered ``<question>.<k>`` with k counting from 1 within each question id in key order.
Forms and normalisation are CONTRACT.md's; docs/WRITTEN.md is the TA's note. Feedback says
what form was expected and, on a wrong answer, what the student gave; it never states the
staff answer. Nothing here raises on anything a submission holds.
"""
from __future__ import annotations

import datetime
import json
import math
import re
import tomllib
from dataclasses import dataclass, field

from simgrade.expressions import CONSTANTS, FUNCTIONS, equivalent
from simgrade.key import Key, KeyItem
from simgrade.results import GRADER_ERROR, TestResult, internal_error

MAX_BYTES = 64 * 1024
"""Largest ``answers.toml`` read; a larger one is refused."""
WHY_MAX_CHARS = 2000
"""Each ``_why`` text is cut to this many characters."""
NO_FILE = "no answers.toml in the submission"
"""Output of every written test when the submission has no ``answers.toml``."""
NOT_ANSWERED = "not answered"
"""Start of the output of an item left blank or missing."""

YES = frozenset({"yes", "y", "true"})
NO = frozenset({"no", "n", "false"})
MAYBE = frozenset({"maybe"})
NONE_WORDS = frozenset({"none", "nothing"})
"""A set answer meaning "none of the options"."""
SPELLINGS = {"colour": "color", "colours": "color", "colors": "color", "shapes": "shape",
             "locations": "location"}
"""Built-in spelling variants of set and choice options (used only when the target is an option)."""

_MISSING = object()
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")


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


# ----------------------------------------------------------------------------- display helpers

def _show(value, depth: int = 0) -> str:
    """A short, safe rendering of a TOML value (bounded whatever its size or nesting)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 80 else value[:80] + "…"
        quoted = json.dumps(text, ensure_ascii=False)  # escapes quotes, backslashes, control characters
        return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in quoted)  # and bidi/format ones
    if isinstance(value, (int, float)):
        try:
            text = repr(value)
        except ValueError:  # an integer of more digits than Python converts to text
            return "a very large integer"
        return text if len(text) <= 80 else text[:80] + "…"
    if isinstance(value, list):
        if depth >= 2:
            return "[…]"
        inner = ", ".join(_show(v, depth + 1) for v in value[:8])
        return "[" + inner + (", …" if len(value) > 8 else "") + "]"
    if isinstance(value, dict):
        return "a table {…}"
    return _type_name(value)


def _type_name(value) -> str:
    if isinstance(value, bool):
        return "a boolean (true/false)"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (datetime.date, datetime.time)):
        return "a date/time"
    return "a value of another type"


def _name(key: str) -> str:
    """A student-chosen TOML key, made printable and short."""
    shown = key if len(key) <= 60 else key[:60] + "…"
    return shown if shown.isprintable() and shown.strip() == shown and shown else json.dumps(shown)


def form_of(item: KeyItem) -> str:
    """The form an item's answer takes, for the handout and the feedback (never the answer)."""
    kind = item.kind
    if kind == "yesno":
        return '"yes", "no" or "maybe"'
    if kind == "yesno_list":
        n = len(item.answer)
        return f'a list of {n} strings, each "yes", "no" or "maybe"'
    if kind == "choice":
        return "one of " + ", ".join(f'"{o}"' for o in item.options)
    if kind == "set":
        return ("a list of any of " + ", ".join(f'"{o}"' for o in item.options)
                + ' (["none"] for none of them)')
    if kind == "interval":
        return "two numbers, the lower end first: [low, high]"
    if kind == "expression":
        syms = ", ".join(item.symbols) or "no symbols"
        return (f"an expression in {syms}, in quotes (operators + - * / ^ and parentheses; "
                f"functions {', '.join(FUNCTIONS)}; constants {', '.join(CONSTANTS)})")
    return "(unknown form)"


# ----------------------------------------------------------------------------- normalisation

def _word(value: str) -> str:
    """Lower case, spaces collapsed, wrapping brackets and a final period dropped: ``' (II). '`` -> ``ii``."""
    s = " ".join(value.lower().split())
    s = s.rstrip(".").strip()
    while len(s) >= 2 and s[0] in "([" and s[-1] in ")]":
        s = s[1:-1].strip()
    if s.endswith(")") and "(" not in s:
        s = s[:-1].strip()
    return s


def _blank(value) -> bool:
    return isinstance(value, str) and not value.strip()


def _yesno(value) -> str | None:
    """``yes`` / ``no`` / ``maybe``, or None when the value is none of them."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, str):
        return None
    w = _word(value)
    if w in YES:
        return "yes"
    if w in NO:
        return "no"
    if w in MAYBE:
        return "maybe"
    return None


def _option_table(item: KeyItem) -> dict[str, str]:
    """Every accepted spelling -> the option it means (aliases ``alias=option`` and bare aliases of the answer)."""
    table = {_word(o): o for o in item.options}
    for word, target in SPELLINGS.items():
        if target in item.options:
            table.setdefault(word, target)
    for alias in item.accepted:
        if "=" in alias:
            left, right = alias.split("=", 1)
            if right.strip() in item.options:
                table.setdefault(_word(left), right.strip())
        elif item.kind == "choice":
            table.setdefault(_word(alias), item.answer)
    return table


def _number(value) -> float | None:
    """A finite number from a TOML number or a numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            x = float(value)
        except OverflowError:  # an integer past the float range
            return None
    elif isinstance(value, str):
        s = value.strip().replace("−", "-").replace("–", "-").replace(" ", "")
        if not _NUMBER.match(s):
            return None
        x = float(s)
    else:
        return None
    return x if math.isfinite(x) else None


# ----------------------------------------------------------------------------- graders per kind
# Each returns a list of (score, output): one entry per test of the item.

def _grade_yesno(item: KeyItem, value, key: Key) -> list[tuple[float, str]]:
    f, pts, form = item.field, float(item.points), form_of(item)
    if value is _MISSING or _blank(value):
        return [(0.0, f"{f}: {NOT_ANSWERED}. Expected {form}.")]
    if not isinstance(value, (str, bool)):
        return [(0.0, f"{f}: expected {form}, got {_type_name(value)} ({_show(value)}); scored 0.")]
    got = _yesno(value)
    if got is None:
        return [(0.0, f"{f}: {_show(value)} is not {form}; scored 0. "
                      f"(Explanations go in {item.key}_why.)")]
    if got == _yesno(item.answer):
        return [(pts, f"{f}: correct ({_show(value)}).")]
    return [(0.0, f"{f}: incorrect (you answered {_show(value)}).")]


def _grade_yesno_list(item: KeyItem, value, key: Key) -> list[tuple[float, str]]:
    f, pts, n = item.field, float(item.points), len(item.answer)
    each = '"yes", "no" or "maybe"'
    if value is _MISSING:
        return [(0.0, f"{f} ({i} of {n}): {NOT_ANSWERED}. Expected {form_of(item)}.") for i in range(1, n + 1)]
    if not isinstance(value, list):
        msg = (f"{f}: expected {form_of(item)}, written as a TOML list [\"…\", \"…\", …], "
               f"got {_type_name(value)} ({_show(value)}); scored 0.")
        return [(0.0, msg)] * n
    extra = f" (the list has {len(value)} entries, {n} expected; extras ignored)" if len(value) > n else ""
    out = []
    for i in range(n):
        label = f"{f} ({i + 1} of {n})"
        v = value[i] if i < len(value) else _MISSING
        if v is _MISSING:
            out.append((0.0, f"{label}: {NOT_ANSWERED} (the list has only {len(value)} entries). Expected {each}."))
        elif _blank(v):
            out.append((0.0, f"{label}: {NOT_ANSWERED}. Expected {each}.{extra}"))
        elif not isinstance(v, (str, bool)):
            out.append((0.0, f"{label}: expected {each}, got {_type_name(v)} ({_show(v)}); scored 0.{extra}"))
        elif _yesno(v) is None:
            out.append((0.0, f"{label}: {_show(v)} is not {each}; scored 0.{extra}"))
        elif _yesno(v) == _yesno(item.answer[i]):
            out.append((pts, f"{label}: correct ({_show(v)}).{extra}"))
        else:
            out.append((0.0, f"{label}: incorrect (you answered {_show(v)}).{extra}"))
    return out


def _grade_choice(item: KeyItem, value, key: Key) -> list[tuple[float, str]]:
    f, pts, form = item.field, float(item.points), form_of(item)
    if value is _MISSING or _blank(value):
        return [(0.0, f"{f}: {NOT_ANSWERED}. Expected {form}.")]
    if not isinstance(value, str):
        return [(0.0, f"{f}: expected {form}, in quotes; got {_type_name(value)} ({_show(value)}); scored 0.")]
    got = _option_table(item).get(_word(value))
    if got is None:
        return [(0.0, f"{f}: {_show(value)} is not {form}; scored 0.")]
    if got == item.answer:
        return [(pts, f"{f}: correct ({_show(value)}).")]
    return [(0.0, f"{f}: incorrect (you answered {_show(value)}).")]


def _grade_set(item: KeyItem, value, key: Key) -> list[tuple[float, str]]:
    f, pts, form = item.field, float(item.points), form_of(item)
    if value is _MISSING:
        return [(0.0, f"{f}: {NOT_ANSWERED}. Expected {form}.")]
    if isinstance(value, str):
        elements = value.split(",")
    elif isinstance(value, list):
        elements = value
    else:
        return [(0.0, f"{f}: expected {form}, got {_type_name(value)} ({_show(value)}); scored 0.")]
    bad = [e for e in elements if not isinstance(e, str)]
    if bad:
        return [(0.0, f"{f}: every entry must be a string in quotes; got {_type_name(bad[0])} "
                      f"({_show(bad[0])}); scored 0.")]
    words = [_word(e) for e in elements if e.strip()]
    if not words:
        return [(0.0, f"{f}: {NOT_ANSWERED}. Expected {form}.")]
    table = _option_table(item)
    chosen: set[str] = set()
    saw_none = False
    for w, raw in zip(words, [e for e in elements if e.strip()]):
        if w in NONE_WORDS:
            saw_none = True
        elif w in table:
            chosen.add(table[w])
        else:
            return [(0.0, f"{f}: {_show(raw)} is not one of " + ", ".join(f'"{o}"' for o in item.options)
                          + "; scored 0.")]
    if saw_none and chosen:
        return [(0.0, f'{f}: "none" together with other entries ({_show(value)}); scored 0.')]
    if chosen == set(item.answer):
        return [(pts, f"{f}: correct ({_show(value)}).")]
    return [(0.0, f"{f}: incorrect (you answered {_show(value)}).")]


def _grade_interval(item: KeyItem, value, key: Key) -> list[tuple[float, str]]:
    f, pts, form = item.field, float(item.points), form_of(item)
    if value is _MISSING or _blank(value):
        return [(0.0, f"{f}: {NOT_ANSWERED}. Expected {form}.")]
    if isinstance(value, str):
        s = value.strip()
        if len(s) >= 2 and s[0] in "[(" and s[-1] in "])":
            s = s[1:-1]
        ends = s.split(",")
    elif isinstance(value, list):
        ends = value
    else:
        return [(0.0, f"{f}: expected {form}, got {_type_name(value)} ({_show(value)}); scored 0.")]
    if all(_blank(e) for e in ends):
        return [(0.0, f"{f}: {NOT_ANSWERED}. Expected {form}.")]
    if len(ends) != 2:
        return [(0.0, f"{f}: {_show(value)} is not {form} (it has {len(ends)} entries); scored 0.")]
    nums = [_number(e) for e in ends]
    for e, x in zip(ends, nums):
        if x is None:
            return [(0.0, f"{f}: {_show(e)} is not a number (expected {form}); scored 0.")]
    low, high = nums
    if low > high:
        return [(0.0, f"{f}: {_show(value)}: the lower end comes first ([low, high]); scored 0.")]
    k_low, k_high = (float(x) for x in item.answer)
    close = all(abs(a - b) <= 1e-9 * max(1.0, abs(b)) for a, b in ((low, k_low), (high, k_high)))
    if close:
        return [(pts, f"{f}: correct ({_show(value)}).")]
    return [(0.0, f"{f}: incorrect (you answered {_show(value)}).")]


def _grade_expression(item: KeyItem, value, key: Key) -> list[tuple[float, str]]:
    f, pts, form = item.field, float(item.points), form_of(item)
    if value is _MISSING or _blank(value):
        return [(0.0, f"{f}: {NOT_ANSWERED}. Expected {form}.")]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and _number(value) is not None:
        value = repr(value)
    if not isinstance(value, str):
        return [(0.0, f"{f}: expected {form}; got {_type_name(value)} ({_show(value)}); scored 0.")]
    forms = [str(item.answer), *item.accepted]
    ok, why = equivalent(value, forms, item.symbols, dict(item.substitute), key.max_expression_length)
    if ok:
        return [(pts, f"{f}: correct ({_show(value)}: {why}).")]
    if why.startswith("not accepted"):
        return [(0.0, f"{f}: {_show(value)} is {why}. Expected {form}; scored 0.")]
    return [(0.0, f"{f}: incorrect (you answered {_show(value)}; {why}).")]


_GRADERS = {
    "yesno": _grade_yesno,
    "yesno_list": _grade_yesno_list,
    "choice": _grade_choice,
    "set": _grade_set,
    "interval": _grade_interval,
    "expression": _grade_expression,
}


# ----------------------------------------------------------------------------- the file

def _read(answers: bytes | None, notes: list[str]) -> tuple[dict | None, str]:
    """The parsed document, or None and the output every test gets."""
    if answers is None:
        notes.append(NO_FILE)
        return None, NO_FILE
    if not isinstance(answers, (bytes, bytearray)):
        notes.append("answers.toml could not be read")
        return None, "answers.toml could not be read; see the notes"
    unread = "every written item scores 0"
    if len(answers) > MAX_BYTES:
        notes.append(f"answers.toml is {len(answers):,} bytes, over the {MAX_BYTES // 1024} KiB limit: "
                      f"not read; {unread}")
        return None, f"answers.toml not read: over the {MAX_BYTES // 1024} KiB limit"
    if b"\x00" in answers:
        notes.append(f"answers.toml looks binary (it contains NUL bytes): not read; {unread}")
        return None, "answers.toml not read: it is not a text file"
    try:
        text = bytes(answers).decode("utf-8-sig")
    except UnicodeDecodeError as err:
        notes.append(f"answers.toml is not UTF-8 text (invalid byte at offset {err.start}): not read; "
                      f"{unread}; save it as UTF-8")
        return None, "answers.toml not read: it is not UTF-8 text"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = str(err)
        line = re.search(r"at line (\d+)", msg)
        hint = ""
        if line:
            n = int(line.group(1))
            lines = text.splitlines()
            src = lines[n - 1] if 0 < n <= len(lines) else ""
            if re.match(r"\s*[\w.\"-]+\s*=\s*[A-Za-z(]", src) and not re.match(r"\s*[\w.\"-]+\s*=\s*(true|false|inf|nan)\b", src):
                hint = '; text values need quotes, e.g. key = "yes"'
        where = f" at line {line.group(1)}" if line else ""
        notes.append(f"answers.toml is not valid TOML: {msg}{hint}; not read; {unread}")
        return None, f"answers.toml not read: TOML syntax error{where}; see the notes"
    except (RecursionError, MemoryError):
        notes.append(f"answers.toml could not be parsed (nested too deeply); {unread}")
        return None, "answers.toml not read; see the notes"
    except ValueError as err:  # e.g. an integer of more digits than Python converts
        notes.append(f"answers.toml could not be parsed ({str(err)[:200]}); {unread}")
        return None, "answers.toml not read; see the notes"
    return data, ""


def _collect(data: dict, key: Key, notes: list[str], why: dict[str, str]) -> None:
    """The ``_why`` texts, and a note on keys the key does not know."""
    sections: dict[str, set[str]] = {}
    for item in key.items:
        sections.setdefault(item.section, set()).add(item.key)
    leaf_to_field = {item.key: item.field for item in key.items}
    unknown: list[str] = []
    hints: list[str] = []
    bad_why: list[str] = []

    def take_why(name: str, value) -> None:
        if isinstance(value, str):
            why[name] = value[:WHY_MAX_CHARS]
        else:
            bad_why.append(_name(name))

    for top, value in data.items():
        if top.endswith("_why"):
            take_why(top, value)
            continue
        if top not in sections:
            unknown.append(_name(top))
            if top in leaf_to_field:
                hints.append(f"{_name(top)} belongs under [{leaf_to_field[top].split('.')[0]}]")
            continue
        if not isinstance(value, dict):
            notes.append(f"[{top}] must be a table (a [{top}] header with keys under it), "
                         f"found {_type_name(value)}; its items score 0")
            continue
        for sub, v in value.items():
            if sub.endswith("_why"):
                take_why(f"{top}.{sub}", v)
            elif sub not in sections[top]:
                unknown.append(_name(f"{top}.{sub}"))
                if sub in leaf_to_field and leaf_to_field[sub] != f"{top}.{sub}":
                    hints.append(f"{_name(sub)} belongs under [{leaf_to_field[sub].split('.')[0]}]")
    if unknown:
        shown = ", ".join(unknown[:20]) + (f" and {len(unknown) - 20} more" if len(unknown) > 20 else "")
        notes.append(f"unknown keys in answers.toml ignored: {shown}"
                     + (f" ({'; '.join(hints[:5])})" if hints else ""))
    if bad_why:
        notes.append("_why fields that are not strings ignored: " + ", ".join(bad_why[:20]))


def _lookup(data: dict, item: KeyItem):
    section = data.get(item.section, _MISSING)
    if section is _MISSING:
        return _MISSING, None
    if not isinstance(section, dict):
        return _MISSING, f"[{item.section}] is not a table ({_type_name(section)})"
    return section.get(item.key, _MISSING), None


def _test_count(item: KeyItem) -> int:
    return len(item.answer) if item.kind == "yesno_list" and isinstance(item.answer, list) else 1


def grade_written(answers: bytes | None, key: Key) -> WrittenGrade:
    """Grade the bytes of a submission's ``answers.toml`` (None: the submission has none)."""
    notes: list[str] = []
    why: dict[str, str] = {}
    flags: list[str] = []

    def internal(what: str, error: Exception) -> str:
        notes.append(internal_error(what, error))
        flags[:] = [GRADER_ERROR]
        return notes[-1]

    try:
        data, unread = _read(answers, notes)
    except Exception as error:  # noqa: BLE001 - a grader bug: every written item scores 0, flagged
        data, unread = None, internal("answers.toml", error)
    if data is not None:
        try:
            _collect(data, key, notes, why)
        except Exception as error:  # noqa: BLE001 - only notes and _why texts are lost
            internal("the keys of answers.toml", error)
    tests: list[TestResult] = []
    counters: dict[str, int] = {}
    for item in key.items:
        n = _test_count(item)
        if data is None:
            results = [(0.0, unread)] * n
        else:
            value, problem = _lookup(data, item)
            grader = _GRADERS.get(item.kind)
            if problem:
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
