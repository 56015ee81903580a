"""Reading ``answers.toml`` as the grader reads it: the file (TOML, else line by line), each item's value in the
key's terms, and the echo of what was read (``q4.e_i: read as "smaller"``).

Nothing here knows an answer. An item is read from its :class:`FieldForm`: its field, kind, options and their
other spellings, an expression's symbols, the length of a yes/no list; what the blank ``answers.toml`` of the
kit already shows. Grading (:mod:`simgrade.written`) compares what this module reads with the key;
``grader.py --check`` (:mod:`simgrade.check`) and the kit's ``check_submission.py`` echo it with :func:`echo`.
The kit holds a copy of this module and of the parser of :mod:`simgrade.expressions`, cut from their source
when the kit is written (:mod:`simgrade.check_script`), so a student's check reads exactly as the grader does;
hence this module imports nothing of the project but those two and :mod:`simgrade.text`, and only the
standard library at import time.

Answers are read as a TA would (docs/WRITTEN.md): a yes/no's leading verdict (the rest is kept as its
``_why``), options named in a phrase, synonyms (:data:`SPELLINGS`), sets and intervals written in words; a
file with TOML errors is read line by line (:func:`_read_by_line`), so that one broken line costs only its
own item and the note names the line and the fix. Nothing here raises on anything a submission holds.
"""
from __future__ import annotations

import datetime
import json
import math
import re
import tomllib
from dataclasses import dataclass
from typing import Callable

from simgrade.expressions import CONSTANTS, FUNCTIONS, ExpressionError, parse_expression, split_sides
from simgrade.text import untrusted

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

MISSING = object()
"""The value of an item the file does not hold."""
_NUMERIC = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")


@dataclass(frozen=True)
class FieldForm:
    """One item of ``answers.toml`` as reading sees it: where it is and the form its value takes, never its answer."""

    field: str
    """``<section>.<key>``, e.g. ``q4.e_i``."""
    kind: str
    """yesno | yesno_list | choice | set | interval | expression (a key's item kind; :data:`READERS`)."""
    options: tuple[str, ...] = ()
    """The options of a choice or set."""
    aliases: tuple[tuple[str, str], ...] = ()
    """Other spellings of options, in the key's order: ``(spelling, option)``."""
    secret: tuple[str, ...] = ()
    """Spellings among :attr:`aliases` that stand for the answer itself (a choice's bare ``accepted``): they are
    read, but the option they stand for is never shown, and :meth:`public` leaves them out."""
    symbols: tuple[str, ...] = ()
    """The names an expression may use."""
    products: tuple[tuple[str, str], ...] = ()
    """Inner products an expression may write: ``("u.v", "cos(theta)")`` reads ``u^T v`` as ``cos(theta)``."""
    entries: int = 1
    """The entries of a yes/no list (one test each); 1 for every other kind."""
    max_length: int = 200
    """The longest expression read."""

    @property
    def key(self) -> str:
        """The key inside its table, e.g. ``e_i``."""
        return self.field.split(".", 1)[1]

    def public(self) -> dict:
        """As plain data without the :attr:`secret` spellings: what the kit's ``check_submission.py`` holds."""
        return {"field": self.field, "kind": self.kind, "options": list(self.options),
                "aliases": [list(a) for a in self.aliases if a[0] not in self.secret], "symbols": list(self.symbols),
                "products": [list(p) for p in self.products], "entries": self.entries, "max_length": self.max_length}

    @classmethod
    def from_data(cls, data: dict) -> FieldForm:
        """The form :meth:`public` wrote."""
        return cls(data["field"], data["kind"], tuple(data["options"]), tuple(map(tuple, data["aliases"])), (),
                   tuple(data["symbols"]), tuple(map(tuple, data["products"])), data["entries"], data["max_length"])


# ----------------------------------------------------------------------------- display helpers


def show(value, depth: int = 0) -> str:
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
        inner = ", ".join(show(v, depth + 1) for v in value[:8])
        return "[" + inner + (", …" if len(value) > 8 else "") + "]"
    if isinstance(value, dict):
        return "a table {…}"
    return type_name(value)


def type_name(value) -> str:
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


def blank(value) -> bool:
    return isinstance(value, str) and not value.strip()


_VERDICTS = sorted([(w, "yes") for w in YES] + [(w, "no") for w in NO] + [(w, "maybe") for w in MAYBE],
                   key=lambda wv: -len(wv[0]))
_VERDICT_END = re.compile(r"\A(?:\Z|[\s,.;:!?()\-\u2013\u2014])")


def verdict(value) -> tuple[str | None, str]:
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
    for word, said in _VERDICTS:
        if low.startswith(word) and _VERDICT_END.match(low[len(word):]):
            rest = text[offset + len(word):].strip()
            after = re.match(r"[\s,.;:!?\-\u2013\u2014)\]]*", rest)
            rest = rest[after.end():].strip() if after else rest
            tail = rest.lower()
            first = re.match(r"[a-z]+", tail)
            if said == "no" and first and first.group(0) in NOT_A_VERDICT:
                return None, ""
            if re.match(r"(?:or|and|/)\s*(?:" + "|".join(re.escape(w) for w, _ in _VERDICTS) + r")\b", tail):
                return None, ""
            again = verdict(rest)[0] if rest and rest[:1].isalpha() else None
            if again is not None and again != said:  # "yes, no": two verdicts
                return None, ""
            if re.match(r"[/\\]", text[offset + len(word):].strip()):
                return None, ""
            if rest in (")", "]"):
                rest = ""
            return said, rest
    return None, ""


def _yesno(value) -> str | None:
    """``yes`` / ``no`` / ``maybe``, or None when the value is none of them (a leading verdict counts)."""
    return verdict(value)[0]


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


def _option_table(form: FieldForm) -> dict[str, str]:
    """Every accepted spelling -> the option it means (the built-in :data:`SPELLINGS`, then the key's aliases)."""
    table = {normalised_word(o): o for o in form.options}
    for word, target in SPELLINGS.items():
        if target in form.options:
            table.setdefault(word, target)
    for spelling, option in form.aliases:
        table.setdefault(normalised_word(spelling), option)
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
        if not _NUMERIC.match(s):
            return None
        x = float(s)
    else:
        return None
    return x if math.isfinite(x) else None


# ----------------------------------------------------------------------------- the kinds
# Each kind is an entry of READERS: its form (for the handout and the feedback), how the student's value is
# normalised into the key's terms, and how that is echoed. Grading adds the comparison with the key (written.py).

YESNO_FORM = '"yes", "no" or "maybe"'


class Refused(Exception):
    """The value is not of the item's form: it scores 0, and the message (after ``<field>: ``) says why."""


class Unanswered(Exception):
    """The value holds nothing (an empty list, blank entries): scored as not answered."""


@dataclass(frozen=True)
class Reader:
    """How one kind of item is read: the form its value takes, the value normalised, and how that is echoed."""

    form: Callable[[FieldForm], str]
    """The form its value takes (never the answer)."""
    normalise: Callable[[FieldForm, object], object]
    """The student's (non-blank) value in the key's terms; raises Refused or Unanswered."""
    shown: Callable[[FieldForm, object], str]
    """How a normalised value is echoed (``read as "smaller"``): the form the grader compares, never the answer;
    may raise Refused (an expression that does not parse)."""
    prepare: Callable[[object], object] = lambda value: value
    """The raw value before it is normalised and shown (expressions: a TOML number becomes its text)."""
    each: bool = False
    """The value is a list read element by element, one test each (``yesno_list``)."""


# yes / no / maybe, alone or in a list

def split_list(value: str, n: int):
    """``"yes, no, yes, no"`` (or ``"yes no yes no"``) as the list it writes, when it has exactly n entries;
    the string itself otherwise (refused as not a list)."""
    text = value.strip().strip("[]() ")
    parts = [p.strip().strip("\"'") for p in re.split(r"\s*[,;]\s*", text)] if re.search(r"[,;]", text) else text.split()
    return parts if len(parts) == n and all(parts) else value


def _yesno_of(value, hint: str = "") -> tuple[str, str]:
    if not isinstance(value, (str, bool)):
        raise Refused(f"expected {YESNO_FORM}, got {type_name(value)} ({show(value)}); scored 0.")
    got, rest = verdict(value)
    if got is None:
        raise Refused(f"{show(value)} does not start with {YESNO_FORM}; scored 0.{hint}")
    return got, rest


def _shown_verdict(form: FieldForm, got: tuple[str, str]) -> str:
    said, rest = got
    return f'read as "{said}"' + ("; the words after it are kept for the TA" if rest else "")


# one option of several

def _choice_form(form: FieldForm) -> str:
    return "one of " + ", ".join(f'"{o}"' for o in form.options)


def _choice_of(form: FieldForm, value) -> str:
    if not isinstance(value, str):
        raise Refused(f"expected {_choice_form(form)}, in quotes; got {type_name(value)} ({show(value)}); scored 0.")
    table = _option_table(form)
    got = table.get(normalised_word(value)) or _option_in(value, table)
    if got is None:
        raise Refused(f"{show(value)} is not {_choice_form(form)} (or names more than one, or negates it); scored 0.")
    return got


def _shown_choice(form: FieldForm, got: str) -> str:
    return f'read as "{got}"'


# a set of options, in any order

def _set_form(form: FieldForm) -> str:
    return "a list of any of " + ", ".join(f'"{o}"' for o in form.options) + ' (["none"] for none of them)'


_SET_SEPARATORS = re.compile(r"\s*(?:[,;/&+|]|\band\b|\bas well as\b)\s*", re.IGNORECASE)
"""A set written as one string: ``"shape and location"``, ``"shape & position"``, ``"location/shape"``."""


def _set_of(form: FieldForm, value) -> set[str]:
    if isinstance(value, str):
        elements = _SET_SEPARATORS.split(value)
    elif isinstance(value, list):
        elements = value
    else:
        raise Refused(f"expected {_set_form(form)}, got {type_name(value)} ({show(value)}); scored 0.")
    bad = [e for e in elements if not isinstance(e, str)]
    if bad:
        raise Refused(f"every entry must be a string in quotes; got {type_name(bad[0])} ({show(bad[0])}); scored 0.")
    given = [e for e in elements if e.strip()]
    if not given:
        raise Unanswered
    table = _option_table(form)
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
            raise Refused(f"{show(raw)} is not one of " + ", ".join(f'"{o}"' for o in form.options) + "; scored 0.")
    if saw_none and chosen:
        raise Refused(f'"none" together with other entries ({show(value)}); scored 0.')
    return chosen


def _shown_set(form: FieldForm, got: set[str]) -> str:
    return "read as none of the options" if not got else "read as the set {" + ", ".join(f'"{o}"' for o in sorted(got)) + "}"


# an interval [low, high]

INTERVAL_FORM = "two numbers, the lower end first: [low, high]"
_NUM = r"[+\-−–]?\s*(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_INTERVAL_WORDS = re.compile(rf"(?:from|between)?\s*({_NUM})\s*(?:to|and|\.\.\.?|…|,)\s*({_NUM})\s*(?:\(?inclusive\)?)?",
                             re.IGNORECASE)
_INTERVAL_INEQUALITY = re.compile(rf"({_NUM})\s*(<=|≤|=<|<)\s*[^<≤=]*?\s*(<=|≤|=<|<)\s*({_NUM})")


def _interval_of(form: FieldForm, value) -> tuple[float, float, bool]:
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
        raise Refused(f"expected {INTERVAL_FORM}, got {type_name(value)} ({show(value)}); scored 0.")
    if all(blank(e) for e in ends):
        raise Unanswered
    if len(ends) != 2:
        raise Refused(f"{show(value)} is not {INTERVAL_FORM} (it has {len(ends)} entries); scored 0.")
    nums = [_number(e) for e in ends]
    for e, x in zip(ends, nums):
        if x is None:
            raise Refused(f"{show(e)} is not a number (expected {INTERVAL_FORM}); scored 0.")
    low, high = nums
    if low > high:
        raise Refused(f"{show(value)}: the lower end comes first ([low, high]); scored 0.")
    return low, high, is_open


def _shown_interval(form: FieldForm, got: tuple[float, float, bool]) -> str:
    low, high, is_open = got
    return f"read as the interval [{low:g}, {high:g}]" + (" with an open end" if is_open else "")


# an expression, by symbolic equivalence

def _expression_form(form: FieldForm) -> str:
    syms = ", ".join(form.symbols) or "no symbols"
    return (f"an expression in {syms}, in quotes (operators + - * / ^ and parentheses; "
            f"functions {', '.join(FUNCTIONS)}; constants {', '.join(CONSTANTS)})")


def _expression_text(value):
    """A TOML number is read as the expression it writes."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and _number(value) is not None:
        return repr(value)
    return value


_EATEN_ESCAPES = {"\t": "\\t", "\b": "\\b", "\f": "\\f", "\r": "\\r", "\n": "\\n"}


def _expression_of(form: FieldForm, value) -> str:
    """The text; LaTeX whose backslash TOML read as an escape (``"\\theta"`` in double quotes is a tab
    and ``heta``) gets its backslash back: a control character never belongs in an expression."""
    if not isinstance(value, str):
        raise Refused(f"expected {_expression_form(form)}; got {type_name(value)} ({show(value)}); scored 0.")
    return re.sub(r"[\t\b\f\r\n](?=[A-Za-z])", lambda m: _EATEN_ESCAPES[m.group(0)], value)


def _shown_expression(form: FieldForm, text: str) -> str:
    """Each side the text states (``2 - 2u^Tv``, LaTeX, ``C = N``, a chain ``a = b``: expressions.split_sides), parsed
    as grading parses it before comparing; a side that does not parse is refused with grading's words."""
    try:
        if len(text) > form.max_length:
            raise ExpressionError(f"expression too long ({len(text)} characters; at most {form.max_length})")
        sides = split_sides(text, form.symbols, dict(form.products))
        if not all(sides):
            raise ExpressionError("an empty side of '='")
        parsed = [parse_expression(side, form.symbols, form.max_length) for side in sides]
    except ExpressionError as error:
        raise Refused(f"{show(text)} is not accepted: {error}. Expected {_expression_form(form)}; scored 0.") from None
    except ImportError:  # the kit on a Python without sympy (torch brings it): the grader parses it
        return f"read as the expression text {show(text)} (not parsed here: sympy is not installed)"
    return f"read as the expression{'s' if len(parsed) > 1 else ''} " + " = ".join(str(e) for e in parsed)


READERS: dict[str, Reader] = {
    "yesno": Reader(lambda form: YESNO_FORM,
                    lambda form, value: _yesno_of(value, f" (Start with the verdict; explanations may also go in {form.key}_why.)"),
                    _shown_verdict),
    "yesno_list": Reader(lambda form: f"a list of {form.entries} strings, each {YESNO_FORM}",
                         lambda form, value: _yesno_of(value), _shown_verdict, each=True),
    "choice": Reader(_choice_form, _choice_of, _shown_choice),
    "set": Reader(_set_form, _set_of, _shown_set),
    "interval": Reader(lambda form: INTERVAL_FORM, _interval_of, _shown_interval),
    "expression": Reader(_expression_form, _expression_of, _shown_expression, prepare=_expression_text),
}
"""Every kind of written item (``kind`` in answers/key.toml) and how its value is read."""


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


def collect(data: dict, forms: list[FieldForm], notes: list[str], why: dict[str, str]) -> None:
    """The ``_why`` texts, and a note on keys the key does not know."""
    sections: dict[str, set[str]] = {}
    for form in forms:
        sections.setdefault(form.field.split(".", 1)[0], set()).add(form.key)
    leaf_to_field = {form.key: form.field for form in forms}
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
                         f"found {type_name(value)}; its items score 0")
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


def lookup(data: dict, field: str) -> tuple[object, str | None]:
    name, key = field.split(".", 1)
    section = data.get(name, MISSING)
    if section is MISSING:
        return MISSING, None
    if not isinstance(section, dict):
        return MISSING, f"[{name}] is not a table ({type_name(section)})"
    return section.get(key, MISSING), None


# ----------------------------------------------------------------------------- the echo (--check, the kit)

NOT_SCORED = ("; scored 0.", " scored 0.", "; scored 0")
"""How a refusal of grading ends; the echo says nothing about points."""


def _plain(message: str) -> str:
    """A refusal without its scoring words."""
    text = str(message).strip()
    for tail in NOT_SCORED:
        if text.endswith(tail):
            text = text[: -len(tail)].rstrip(" ;.") + "."
    return text


def _secret(form: FieldForm, value) -> bool:
    """The value is one of the key's spellings of the answer itself: which option it stands for is not shown, as
    that would give the answer away."""
    word = normalised_word(value) if isinstance(value, str) else None
    return (word in {normalised_word(s) for s in form.secret}
            and word not in {normalised_word(o) for o in form.options})


def _read(form: FieldForm, reader: Reader, value) -> tuple[bool, str]:
    """(read, how or why not) for one value of an item (one entry of a yes/no list)."""
    if blank(value):
        return False, NOT_ANSWERED
    try:
        value = reader.prepare(value)
        normalised = reader.normalise(form, value)
        if _secret(form, value):
            return True, "read as an accepted spelling of one of the options"
        return True, reader.shown(form, normalised)
    except RecursionError:
        return False, "nests too deeply to read"
    except Unanswered:
        return False, NOT_ANSWERED
    except Exception as error:  # noqa: BLE001 - Refused, and whatever else a kind raises: never the check's end
        return False, _plain(str(error)) or NOT_ANSWERED


@dataclass
class Echo:
    """How the items of a file were read, or why not: what ``grader.py --check`` and the kit's check print."""

    notes: list[str]
    """File-level messages (no file, not UTF-8, a TOML error and the lines read instead, unknown keys), each once."""
    read: list[tuple[str, str]]
    """(entry, how it was read) per entry read (one per item, one per element of a yes/no list)."""
    unread: list[tuple[str, str]]
    """(entry, why not) per entry that could not be read."""
    entries: int
    """The entries the items have in all."""

    def lines(self) -> list[str]:
        """The check's section on the written answers, each piece of the student's text escaped."""
        lines = ["Written answers (answers.toml)"]
        lines += [f"  ! {untrusted(n, 2000)}".replace("\n", "\n    ") for n in self.notes]
        lines += [f"  {untrusted(entry, 120, multiline=False)}: {untrusted(how, 400, multiline=False)}"
                  for entry, how in self.read]
        if self.unread:
            lines += ["", f"  Not read ({len(self.unread)}; each scores 0 as it stands):"]
            lines += [f"  ! {untrusted(entry, 120, multiline=False)}: {untrusted(why, 600, multiline=False)}"
                      for entry, why in self.unread]
        return lines

    def summary(self) -> str:
        return f"{len(self.read)} of {self.entries} written entries read"


def echo(answers: bytes | None, forms: list[FieldForm]) -> Echo:
    """How grading reads every item of ``answers`` (the bytes of ``answers.toml``; None: no file), entry by entry,
    and why an entry cannot be read; nothing about right or wrong."""
    notes: list[str] = []
    broken: dict[str, str] = {}
    seen = Echo(notes, [], [], sum(form.entries for form in forms))
    data, _ = read_answers(answers, notes, broken)
    if data is None:
        seen.unread.append((f"all {seen.entries} entries", "the file was not read (see above)"))
        return seen
    collect(data, forms, notes, {})
    for form in forms:
        reader = READERS.get(form.kind)
        value, problem = lookup(data, form.field)
        if reader is None:
            seen.unread.append((form.field, f"unknown item kind {form.kind!r} (a problem of the key)"))
        elif value is MISSING and form.field in broken:
            seen.unread.append((form.field, _plain(broken[form.field])))
        elif problem:
            seen.unread.append((form.field, problem))
        elif value is MISSING:
            many = f"; {form.entries} entries" if form.entries > 1 else ""
            seen.unread.append((form.field, f"{NOT_ANSWERED} (expected {reader.form(form)}){many}"))
        elif reader.each:
            _echo_list(form, reader, value, seen)
        else:
            ok, how = _read(form, reader, value)
            if not ok and how == NOT_ANSWERED:
                how = f"{NOT_ANSWERED} (expected {reader.form(form)})"
            (seen.read if ok else seen.unread).append((form.field, how))
    return seen


def _echo_list(form: FieldForm, reader: Reader, value, seen: Echo) -> None:
    """The entries of a yes/no list, as grading takes them: a string that writes the list is split
    (:func:`split_list`), missing entries are not answered, extra ones ignored."""
    n = form.entries
    if isinstance(value, str):
        value = split_list(value, n)
    if not isinstance(value, list):
        seen.unread.append((form.field, f"expected {reader.form(form)}, written as a TOML list"))
        return
    for i in range(n):
        label = f"{form.field} ({i + 1} of {n})"
        if i >= len(value):
            seen.unread.append((label, f"{NOT_ANSWERED} (the list has only {len(value)} entries)"))
            continue
        ok, how = _read(form, reader, value[i])
        if not ok and how == NOT_ANSWERED:
            how = f"{NOT_ANSWERED} (expected {YESNO_FORM})"
        (seen.read if ok else seen.unread).append((label, how))
    if len(value) > n:
        seen.unread.append((form.field, f"the list has {len(value)} entries, {n} expected; extras ignored"))
