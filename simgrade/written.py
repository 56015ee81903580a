"""Written answers: a submission's ``answers.toml`` against the key's items (``answers/key.toml``).

One :class:`~simgrade.results.TestResult` per item, one per element of a ``yesno_list``,
numbered ``<question>.<k>`` with k counting from 1 within each question id in key order.
Forms and normalisation are docs/CONTRACT.md's; docs/WRITTEN.md is the TA's note. Each kind of
item is one entry of :data:`KINDS`: normalise the student's value, then compare it with the key.
Feedback says what form was expected and, on a wrong answer, what the student gave; it never
states the staff answer. Nothing here raises on anything a submission holds.

Answers are read as a TA would (docs/WRITTEN.md): a yes/no's leading verdict (the rest is kept as
its ``_why``), options named in a phrase, synonyms (:data:`SPELLINGS`), sets and intervals written in
words; a file with TOML errors is read line by line (:func:`_read_by_line`), so that one broken line
costs only its own item and the note names the line and the fix.
"""
from __future__ import annotations

import datetime
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from typing import Callable

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

YES = frozenset({"yes", "y", "true", "yeah", "yep", "yup", "yea", "ya", "yess"})
NO = frozenset({"no", "n", "false", "nope", "nah", "nop"})
MAYBE = frozenset({"maybe", "perhaps", "possibly", "it depends", "depends", "not necessarily"})
"""The verdicts of a yes/no item; a verdict may lead a sentence (``"No, because ..."``)."""
NOT_A_VERDICT = frozenset({"idea", "clue", "answer", "comment", "doubt"})
"""Words after ``no`` that make it not a verdict (``"no idea"``)."""
NONE_WORDS = frozenset({"none", "nothing", "neither", "none of them", "no invariance"})
"""A set answer meaning "none of the options"."""
SPELLINGS = {"colour": "color", "colours": "color", "colors": "color", "hue": "color", "hues": "color",
             "shapes": "shape",
             "locations": "location", "position": "location", "positions": "location",
             "translation": "location", "translations": "location", "place": "location",
             "shrink": "smaller", "shrinks": "smaller", "shrunk": "smaller", "shrinking": "smaller",
             "decrease": "smaller", "decreases": "smaller", "decreased": "smaller", "decreasing": "smaller",
             "reduce": "smaller", "reduces": "smaller", "reduced": "smaller", "small": "smaller",
             "lower": "smaller",
             "grow": "larger", "grows": "larger", "grew": "larger", "growing": "larger",
             "increase": "larger", "increases": "larger", "increased": "larger", "increasing": "larger",
             "bigger": "larger", "greater": "larger", "large": "larger", "big": "larger", "higher": "larger"}
"""Built-in spelling variants and synonyms of set and choice options (used only when the target is an option)."""
NEGATIONS = frozenset({"not", "no", "never", "neither", "nor", "t", "isn", "doesn", "don", "won", "cannot"})
"""Words that stop an option being read out of a phrase (``"not smaller"`` names no option)."""
FILLER_PHRASES = ("i think", "i believe", "i guess", "i would say", "i'd say")
"""Removed before options are looked for in a phrase (so the pronoun ``I`` is not option ``i``)."""

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
    kind = KINDS.get(item.kind)
    return kind.form(item) if kind is not None else "(unknown form)"


# ----------------------------------------------------------------------------- normalisation

def normalised_word(value: str) -> str:
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


_VERDICTS = sorted([(w, "yes") for w in YES] + [(w, "no") for w in NO] + [(w, "maybe") for w in MAYBE],
                   key=lambda wv: -len(wv[0]))
_VERDICT_END = re.compile(r"\A(?:\Z|[\s,.;:!?()\-\u2013\u2014])")


def _verdict(value) -> tuple[str | None, str]:
    """The leading verdict of a yes/no answer and the rest of the text (its reason, for the TA):
    ``"No, because ..."`` -> ``("no", "because ...")``; ``"YES!"`` -> ``("yes", "")``.
    None when the text does not start with a verdict, or gives two (``"yes/no"``, ``"yes or no"``)."""
    if isinstance(value, bool):
        return ("yes" if value else "no"), ""
    if not isinstance(value, str):
        return None, ""
    text = " ".join(value.split())
    low = text.lower().lstrip("([ \"'*")
    offset = len(text) - len(low)
    for word, verdict in _VERDICTS:
        if low.startswith(word) and _VERDICT_END.match(low[len(word):]):
            rest = text[offset + len(word):].strip()
            after = re.match(r"[\s,.;:!?\-\u2013\u2014)\]]*", rest)
            rest = rest[after.end():].strip() if after else rest
            tail = rest.lower()
            first = re.match(r"[a-z]+", tail)
            if verdict == "no" and first and first.group(0) in NOT_A_VERDICT:
                return None, ""
            if re.match(r"(?:or|and|/)\s*(?:" + "|".join(re.escape(w) for w, _ in _VERDICTS) + r")\b", tail):
                return None, ""
            again = _verdict(rest)[0] if rest and rest[:1].isalpha() else None
            if again is not None and again != verdict:  # "yes, no": two verdicts
                return None, ""
            if re.match(r"[/\\]", text[offset + len(word):].strip()):
                return None, ""
            if rest in (")", "]"):
                rest = ""
            return verdict, rest
    return None, ""


def _yesno(value) -> str | None:
    """``yes`` / ``no`` / ``maybe``, or None when the value is none of them (a leading verdict counts)."""
    return _verdict(value)[0]


def _option_in(text: str, table: dict[str, str]) -> str | None:
    """The one option a phrase names (``"(ii) most likely"``, ``"option ii"``, ``"they shrink"``), or None
    when it names none, several, or is negated (``"not smaller"``)."""
    low = " " + " ".join(text.lower().split()) + " "
    for phrase in FILLER_PHRASES:
        low = low.replace(" " + phrase + " ", " ")
    words = re.findall(r"[a-z0-9]+", low)
    if any(w in NEGATIONS for w in words):
        return None
    found = {table[w] for w in words if w in table}
    return found.pop() if len(found) == 1 else None


def _option_table(item: KeyItem) -> dict[str, str]:
    """Every accepted spelling -> the option it means (aliases ``alias=option`` and bare aliases of the answer)."""
    table = {normalised_word(o): o for o in item.options}
    for word, target in SPELLINGS.items():
        if target in item.options:
            table.setdefault(word, target)
    for alias in item.accepted:
        if "=" in alias:
            left, right = alias.split("=", 1)
            if right.strip() in item.options:
                table.setdefault(normalised_word(left), right.strip())
        elif item.kind == "choice":
            table.setdefault(normalised_word(alias), item.answer)
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


# ----------------------------------------------------------------------------- the kinds
# Each kind is an entry of KINDS: its form (for the handout and the feedback), how the student's
# value is normalised into the key's terms, and how that is compared with the key's answer. The
# wording of the feedback (not answered, refused, correct, incorrect) is the driver's, Kind.__call__.

YESNO_FORM = '"yes", "no" or "maybe"'


class _Refused(Exception):
    """The value is not of the item's form: it scores 0, and the message (after ``<field>: ``) says why."""


class _Unanswered(Exception):
    """The value holds nothing (an empty list, blank entries): scored as not answered."""


@dataclass(frozen=True)
class Kind:
    """One kind of written item: normalise the student's value, then compare it with the key."""

    form: Callable[[KeyItem], str]
    """The form its answer takes (never the answer)."""
    normalise: Callable[[KeyItem, object], object]
    """The student's (non-blank) value in the key's terms; raises _Refused or _Unanswered."""
    compare: Callable[[KeyItem, object, object, Key], tuple[bool, str]]
    """``(normalised, the key's answer)`` -> right or not, and a detail for the feedback (``""``: none); may raise _Refused."""
    prepare: Callable[[object], object] = lambda value: value
    """The raw value before it is normalised and shown (expressions: a TOML number becomes its text)."""
    each: bool = False
    """The answer is a list graded element by element, one test each (``yesno_list``)."""

    def __call__(self, item: KeyItem, value, key: Key) -> list[tuple[float, str]]:
        """(score, output) per test of ``item``."""
        if self.each:
            return self._elements(item, value, key)
        return [self._judge(item, value, item.answer, key, item.field, self.form(item))]

    def _judge(self, item: KeyItem, value, answer, key: Key, label: str, form: str, extra: str = "") -> tuple[float, str]:
        """One test: ``value`` (the student's) against ``answer`` (the key's)."""
        if value is _MISSING or _blank(value):
            return 0.0, f"{label}: {NOT_ANSWERED}. Expected {form}.{extra}"
        value = self.prepare(value)
        try:
            right, detail = self.compare(item, self.normalise(item, value), answer, key)
        except _Unanswered:
            return 0.0, f"{label}: {NOT_ANSWERED}. Expected {form}.{extra}"
        except _Refused as refused:
            return 0.0, f"{label}: {refused}{extra}"
        if right:
            return float(item.points), f"{label}: correct ({_show(value)}{': ' + detail if detail else ''}).{extra}"
        return 0.0, f"{label}: incorrect (you answered {_show(value)}{'; ' + detail if detail else ''}).{extra}"

    def _elements(self, item: KeyItem, value, key: Key) -> list[tuple[float, str]]:
        f, n = item.field, len(item.answer)
        if value is _MISSING:
            return [(0.0, f"{f} ({i} of {n}): {NOT_ANSWERED}. Expected {self.form(item)}.") for i in range(1, n + 1)]
        if isinstance(value, str):
            value = _split_list(value, n)
        if not isinstance(value, list):
            return [(0.0, f"{f}: expected {self.form(item)}, written as a TOML list [\"…\", \"…\", …], "
                          f"got {_type_name(value)} ({_show(value)}); scored 0.")] * n
        extra = f" (the list has {len(value)} entries, {n} expected; extras ignored)" if len(value) > n else ""
        out = []
        for i in range(n):
            label = f"{f} ({i + 1} of {n})"
            if i >= len(value):
                out.append((0.0, f"{label}: {NOT_ANSWERED} (the list has only {len(value)} entries). Expected {YESNO_FORM}."))
            else:
                out.append(self._judge(item, value[i], item.answer[i], key, label, YESNO_FORM, extra))
        return out


# yes / no / maybe, alone or in a list

def _split_list(value: str, n: int):
    """``"yes, no, yes, no"`` (or ``"yes no yes no"``) as the list it writes, when it has exactly n entries;
    the string itself otherwise (refused as not a list)."""
    text = value.strip().strip("[]() ")
    parts = [p.strip().strip("\"'") for p in re.split(r"\s*[,;]\s*", text)] if re.search(r"[,;]", text) else text.split()
    return parts if len(parts) == n and all(parts) else value


def _yesno_of(value, hint: str = "") -> tuple[str, str]:
    if not isinstance(value, (str, bool)):
        raise _Refused(f"expected {YESNO_FORM}, got {_type_name(value)} ({_show(value)}); scored 0.")
    got, rest = _verdict(value)
    if got is None:
        raise _Refused(f"{_show(value)} does not start with {YESNO_FORM}; scored 0.{hint}")
    return got, rest


def _same_yesno(item: KeyItem, got: tuple[str, str], answer, key: Key) -> tuple[bool, str]:
    verdict, rest = got
    return verdict == _yesno(answer), (f'read as "{verdict}"; the rest is kept for the TA' if rest else "")


# one option of several

def _choice_form(item: KeyItem) -> str:
    return "one of " + ", ".join(f'"{o}"' for o in item.options)


def _choice_of(item: KeyItem, value) -> str:
    if not isinstance(value, str):
        raise _Refused(f"expected {_choice_form(item)}, in quotes; got {_type_name(value)} ({_show(value)}); scored 0.")
    table = _option_table(item)
    got = table.get(normalised_word(value)) or _option_in(value, table)
    if got is None:
        raise _Refused(f"{_show(value)} is not {_choice_form(item)} (or names more than one, or negates it); scored 0.")
    return got


def _same(item: KeyItem, got, answer, key: Key) -> tuple[bool, str]:
    return got == answer, ""


# a set of options, in any order

def _set_form(item: KeyItem) -> str:
    return "a list of any of " + ", ".join(f'"{o}"' for o in item.options) + ' (["none"] for none of them)'


_SET_SEPARATORS = re.compile(r"\s*(?:[,;/&+|]|\band\b|\bas well as\b)\s*", re.IGNORECASE)
"""A set written as one string: ``"shape and location"``, ``"shape & position"``, ``"location/shape"``."""


def _set_of(item: KeyItem, value) -> set[str]:
    if isinstance(value, str):
        elements = _SET_SEPARATORS.split(value)
    elif isinstance(value, list):
        elements = value
    else:
        raise _Refused(f"expected {_set_form(item)}, got {_type_name(value)} ({_show(value)}); scored 0.")
    bad = [e for e in elements if not isinstance(e, str)]
    if bad:
        raise _Refused(f"every entry must be a string in quotes; got {_type_name(bad[0])} ({_show(bad[0])}); scored 0.")
    given = [e for e in elements if e.strip()]
    if not given:
        raise _Unanswered
    table = _option_table(item)
    chosen: set[str] = set()
    saw_none = False
    for raw in given:
        w = normalised_word(raw)
        if w in NONE_WORDS:
            saw_none = True
        elif w in table:
            chosen.add(table[w])
        elif _option_in(raw, table):
            chosen.add(_option_in(raw, table))
        else:
            raise _Refused(f"{_show(raw)} is not one of " + ", ".join(f'"{o}"' for o in item.options) + "; scored 0.")
    if saw_none and chosen:
        raise _Refused(f'"none" together with other entries ({_show(value)}); scored 0.')
    return chosen


def _same_set(item: KeyItem, got: set[str], answer, key: Key) -> tuple[bool, str]:
    return got == set(answer), ""


# an interval [low, high]

INTERVAL_FORM = "two numbers, the lower end first: [low, high]"
_NUM = r"[+\-−–]?\s*(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_INTERVAL_WORDS = re.compile(rf"(?:from|between)?\s*({_NUM})\s*(?:to|and|\.\.\.?|…|,)\s*({_NUM})\s*(?:\(?inclusive\)?)?",
                             re.IGNORECASE)
_INTERVAL_INEQUALITY = re.compile(rf"({_NUM})\s*(<=|≤|=<|<)\s*[^<≤=]*?\s*(<=|≤|=<|<)\s*({_NUM})")


def _interval_of(item: KeyItem, value) -> tuple[float, float, bool]:
    """``(low, high, open)``: ``open`` when the student excluded an end (``(-1, 1)``, ``[-1, 1)``, ``-1 < x < 1``).
    A TOML list, ``"-1 to 1"``, ``"between -1 and 1"`` and ``"-1 <= x <= 1"`` are closed."""
    is_open = False
    if isinstance(value, str):
        s = value.strip().rstrip(".").strip()
        ineq = _INTERVAL_INEQUALITY.fullmatch(s)
        words = _INTERVAL_WORDS.fullmatch(s)
        if ineq:
            ends, is_open = [ineq.group(1), ineq.group(4)], "<" in (ineq.group(2), ineq.group(3))
        elif words and not (s[:1] in "[(" and s[-1:] in "])"):
            ends = [words.group(1), words.group(2)]
        else:
            if len(s) >= 2 and s[0] in "[(" and s[-1] in "])":
                is_open = s[0] == "(" or s[-1] == ")"
                s = s[1:-1]
            ends = s.split(",")
    elif isinstance(value, list):
        ends = value
    else:
        raise _Refused(f"expected {INTERVAL_FORM}, got {_type_name(value)} ({_show(value)}); scored 0.")
    if all(_blank(e) for e in ends):
        raise _Unanswered
    if len(ends) != 2:
        raise _Refused(f"{_show(value)} is not {INTERVAL_FORM} (it has {len(ends)} entries); scored 0.")
    nums = [_number(e) for e in ends]
    for e, x in zip(ends, nums):
        if x is None:
            raise _Refused(f"{_show(e)} is not a number (expected {INTERVAL_FORM}); scored 0.")
    low, high = nums
    if low > high:
        raise _Refused(f"{_show(value)}: the lower end comes first ([low, high]); scored 0.")
    return low, high, is_open


def _same_interval(item: KeyItem, got: tuple[float, float, bool], answer, key: Key) -> tuple[bool, str]:
    """The key's intervals are closed: an open end is wrong whatever the numbers (and the feedback,
    the same for any numbers, does not tell whether they were right)."""
    low, high, is_open = got
    if is_open:
        return False, "an open end ( or ) or a strict < excludes that end"
    return all(abs(a - float(b)) <= 1e-9 * max(1.0, abs(float(b))) for a, b in zip((low, high), answer)), ""


# an expression, by symbolic equivalence

def _expression_form(item: KeyItem) -> str:
    syms = ", ".join(item.symbols) or "no symbols"
    return (f"an expression in {syms}, in quotes (operators + - * / ^ and parentheses; "
            f"functions {', '.join(FUNCTIONS)}; constants {', '.join(CONSTANTS)})")


def _expression_text(value):
    """A TOML number is read as the expression it writes."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and _number(value) is not None:
        return repr(value)
    return value


_EATEN_ESCAPES = {"\t": "\\t", "\b": "\\b", "\f": "\\f", "\r": "\\r", "\n": "\\n"}


def _expression_of(item: KeyItem, value) -> str:
    """The text; LaTeX whose backslash TOML read as an escape (``"\\theta"`` in double quotes is a tab
    and ``heta``) gets its backslash back: a control character never belongs in an expression."""
    if not isinstance(value, str):
        raise _Refused(f"expected {_expression_form(item)}; got {_type_name(value)} ({_show(value)}); scored 0.")
    return re.sub(r"[\t\b\f\r\n](?=[A-Za-z])", lambda m: _EATEN_ESCAPES[m.group(0)], value)


def _equivalent(item: KeyItem, got: str, answer, key: Key) -> tuple[bool, str]:
    ok, why = equivalent(got, [str(answer), *item.accepted], item.symbols, dict(item.substitute), key.max_expression_length)
    if not ok and why.startswith("not accepted"):
        raise _Refused(f"{_show(got)} is {why}. Expected {_expression_form(item)}; scored 0.")
    return ok, why


KINDS: dict[str, Kind] = {
    "yesno": Kind(lambda item: YESNO_FORM,
                  lambda item, value: _yesno_of(value, f" (Start with the verdict; explanations may also go in {item.key}_why.)"),
                  _same_yesno),
    "yesno_list": Kind(lambda item: f"a list of {len(item.answer)} strings, each {YESNO_FORM}",
                       lambda item, value: _yesno_of(value), _same_yesno, each=True),
    "choice": Kind(_choice_form, _choice_of, _same),
    "set": Kind(_set_form, _set_of, _same_set),
    "interval": Kind(lambda item: INTERVAL_FORM, _interval_of, _same_interval),
    "expression": Kind(_expression_form, _expression_of, _equivalent, prepare=_expression_text),
}
"""Every kind of written item (``kind`` in answers/key.toml): a grader ``(item, value, key) -> [(score, output)]``."""
_GRADERS = KINDS
"""The same table, under its former name."""


# ----------------------------------------------------------------------------- the file

_HEADER = re.compile(r"\s*\[\s*([A-Za-z0-9_-]+)\s*\]\s*(?:#.*)?\Z")
_STATEMENT = re.compile(r"\s*(?:[A-Za-z0-9_-]+|\"[^\"\n]*\"|'[^'\n]*')(?:\s*\.\s*[A-Za-z0-9_-]+)*\s*[=:]")
_KEY_OF = re.compile(r"\s*([A-Za-z0-9_.-]+|\"[^\"\n]*\"|'[^'\n]*')")
LENIENT_BUDGET = 2_000_000
"""Characters the line-by-line reader may hand to tomllib in all (chunks re-read as they grow)."""


def _fix_hint(line: str, error: str) -> str:
    """What to change on a line tomllib refused."""
    if re.search("[\u201c\u201d\u201e\u2018\u2019]", line):
        return 'curly quotes: use straight quotes, key = "…"'
    m = re.match(r"\s*([A-Za-z0-9_.-]+)\s*:", line)
    if m and "=" not in line[:m.end()]:
        return f"write = between the key and the value, not : ({m.group(1)} = …)"
    if "\\" in line and '"' in line:
        return ("a backslash inside \"…\" starts an escape: write LaTeX in single quotes "
                "(key = '2 - 2\\cos\\theta') or double each backslash")
    m = re.match(r"\s*([A-Za-z0-9_.-]+)\s*=\s*(.*)", line)
    if m and m.group(2) and m.group(2)[0] not in "\"'[{" and not re.match(r"[+-]?(\d|true\b|false\b|inf\b|nan\b)", m.group(2)):
        return f'text values need quotes: {m.group(1)} = "{m.group(2).strip()[:40]}"'
    if line.count('"') % 2 or line.count("'") % 2:
        return "a quote is not closed"
    return error


def _merge(target: dict, parsed: dict, where: str) -> list[str]:
    """parsed into target; the keys (dotted) that were already there."""
    clashes = []
    for k, v in parsed.items():
        if k in target and isinstance(target[k], dict) and isinstance(v, dict):
            clashes += _merge(target[k], v, f"{where}{k}.")
        elif k in target:
            clashes.append(f"{where}{k}")
        else:
            target[k] = v
    return clashes


def _read_by_line(text: str) -> tuple[dict, dict[str, str], list[str]]:
    """A document tomllib refused, read statement by statement (a statement: a ``key = value`` line and
    its continuation lines, or a ``[section]`` header). Returns the data that could be read, the broken
    fields (``q1.squared_distance`` -> what is wrong, with its line and the fix) and one line per
    broken line. A key given twice is broken (both values are dropped: which one was meant is unknown)."""
    lines = text.splitlines()
    data: dict = {}
    broken: dict[str, str] = {}
    problems: list[str] = []
    first_line: dict[str, int] = {}
    section: str | None = None
    budget = LENIENT_BUDGET

    def is_start(line: str) -> bool:
        return bool(_STATEMENT.match(line) or line.lstrip().startswith("["))

    def fail(n: int, name: str | None, what: str) -> None:
        shown = lines[n - 1].strip()
        shown = "".join(c if c.isprintable() else "?" for c in (shown if len(shown) <= 60 else shown[:60] + "…"))
        problem = f"line {n} (`{shown}`): {what}"
        problems.append(problem)
        if name:
            broken.setdefault(name, problem)

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        if stripped.startswith("["):
            m = _HEADER.match(line)
            if m is None:
                fail(i + 1, None, "not a section header this reader knows ([q1]); the keys under it are skipped")
                section = "\x00skip"
            else:
                section = m.group(1)
                if not isinstance(data.setdefault(section, {}), dict):
                    fail(i + 1, None, f"[{section}] is also given a value; the keys under it are skipped")
                    section = "\x00skip"
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not is_start(lines[j]):
            j += 1
        own_end = j  # where this statement ends unless it is a multi-line value
        key_m = _KEY_OF.match(line)
        name = key_m.group(1).strip("\"'") if key_m else None
        field_name = (f"{section}.{name}" if section else name) if name else None
        parsed, error = None, ""
        for _ in range(20):
            chunk = "\n".join(lines[i:j])
            budget -= len(chunk)
            if budget < 0:
                error = "not read (the file has too many broken lines)"
                break
            try:
                parsed = tomllib.loads(chunk)
                break
            except tomllib.TOMLDecodeError as err:
                error = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err))
            except (RecursionError, MemoryError, ValueError):
                error = "could not be parsed"
                break
            opened = chunk.count('"""') % 2 or chunk.count("'''") % 2 or chunk.count("[") > chunk.count("]")
            if not opened or j >= len(lines):
                break
            j += 1  # a multi-line value: take the next line too
            while j < len(lines) and not is_start(lines[j]):
                j += 1
        if parsed is None:
            fail(i + 1, field_name, _fix_hint(line, error))
            j = own_end  # the lines it tried to take along are read on their own (a header, the next key)
        elif section == "\x00skip":
            pass
        else:
            target = data if section is None else data[section]
            for clash in _merge(target, parsed, ""):
                full = f"{section}.{clash}" if section else clash
                fail(i + 1, full, f"{clash} is given twice (also on line {first_line.get(full, '?')}): keep one")
                parent, leaf = target, clash.split(".")
                for part in leaf[:-1]:
                    parent = parent.get(part, {}) if isinstance(parent, dict) else {}
                if isinstance(parent, dict):
                    parent.pop(leaf[-1], None)
            for k in parsed:
                first_line.setdefault(f"{section}.{k}" if section else k, i + 1)
        i = j
    return data, broken, problems


def read_answers(answers: bytes | None, notes: list[str], broken: dict[str, str] | None = None) -> tuple[dict | None, str]:
    """The parsed document, or None and the output every test gets. A document with TOML errors is read
    line by line (:func:`_read_by_line`): ``broken`` gets the fields of its broken lines."""
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
        if broken is not None:
            try:
                data, bad, problems = _read_by_line(text)
            except Exception:  # noqa: BLE001 - fall back to the whole-file message below
                data = None
            if data is not None:
                broken.update(bad)
                shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
                notes.append(f"answers.toml is not valid TOML ({err}); it was read line by line instead, and every "
                             f"item that could be read was graded" + (f". Lines to fix: {shown}" if problems else ""))
                return data, ""
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
        verdict, rest = _verdict(v)
        if verdict and rest:
            reasons.append(rest if item.kind == "yesno" else f"({k}) {rest}")
    if reasons:
        name = f"{item.field}_why"
        text = "\n".join(reasons + ([why[name]] if name in why else []))
        why[name] = text[:WHY_MAX_CHARS]


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

    broken: dict[str, str] = {}
    try:
        data, unread = read_answers(answers, notes, broken)
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
            grader = KINDS.get(item.kind)
            if item.field in broken and value is _MISSING:
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
