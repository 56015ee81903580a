"""The answer key (``answers/key.toml``), read into small dataclasses, with the registered code questions.

The written items and the TA's items are in ``key.toml``; every code question is a file of its own
(``answers/questions/*.py``, see :mod:`simgrade.questions` and ``docs/NEW_QUESTION.md``), its points in it.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from simgrade import KEY_PATH
from simgrade.question import CodeQuestion
from simgrade.results import VISIBILITIES
from simgrade.questions import QuestionError, load_questions, natural_key  # noqa: F401  (re-exported)

__all__ = ["AnswerKeyError", "CodeQuestion", "Key", "KeyItem", "ManualItem", "QuestionError", "load_key"]


DEFAULT_HANDOUT_FILE = "handout.py"
"""The handout module's file name when the key's ``[meta]`` names none."""


DEFAULT_WRITTEN_VISIBILITY = "after_due_date"
"""Written items are shown after the due date unless the key says otherwise: a visible right/wrong per
item lets a student find every answer by resubmitting (``python grader.py --check`` is the feedback before)."""
DEFAULT_CODE_VISIBILITY = "visible"
"""Code tests are visible: their inputs are drawn from the submission's digest, so nothing shown can be reused."""


class AnswerKeyError(ValueError):
    """An answer key that cannot be used (what is wrong, and what would be right)."""


@dataclass(frozen=True)
class KeyItem:
    """One auto-graded written item of ``answers.toml``."""

    question: str
    """Result-question id (CONTRACT.md); tests are numbered ``<question>.<k>``."""
    field: str
    """``<section>.<key>`` in the student's ``answers.toml``."""
    title: str
    """What the item asks, for the feedback."""
    kind: str
    """yesno | yesno_list | choice | set | interval | expression."""
    answer: object
    """The staff answer (a list for yesno_list, set, interval)."""
    points: float
    """Points (per element for yesno_list)."""
    options: tuple[str, ...] = ()
    """Allowed values of a choice or set."""
    accepted: tuple[str, ...] = ()
    """Other accepted spellings."""
    symbols: tuple[str, ...] = ()
    """Names an expression may use."""
    substitute: dict[str, str] = field(default_factory=dict)
    """Names mapped onto others before comparing (``K -> N``)."""
    checks: tuple[str, ...] = ()
    """Claim ids (checks/) that verify the answer."""
    basis: str = "check"
    """``check`` when verified by claim checks, ``staff`` when no machine check is possible."""
    visibility: str = ""
    """When the student sees this item's tests (Gradescope's ``visible``, ``after_due_date``, ``hidden``,
    ``after_published``); empty: the key's ``[meta] written_visibility``."""
    also_right: tuple[tuple[str, ...], ...] = ()
    """Other sets that earn full points on a ``set`` item: where the staff's prediction and the measurement
    disagree, a student who predicts what was measured is right too."""

    @property
    def section(self) -> str:
        """The TOML table, e.g. ``q1``."""
        return self.field.split(".", 1)[0]

    @property
    def key(self) -> str:
        """The key inside its table, e.g. ``num_classes``."""
        return self.field.split(".", 1)[1]

    @property
    def max_points(self) -> float:
        """All points of the item (every element of a list)."""
        return self.points * (len(self.answer) if self.kind == "yesno_list" else 1)


@dataclass(frozen=True)
class ManualItem:
    """An item graded by a TA, listed so the TA sees the staff answer."""

    question: str
    """Question id."""
    title: str
    """What it asks."""
    answer: str
    """The staff answer, in words."""


@dataclass(frozen=True)
class Key:
    """The whole answer key."""

    items: tuple[KeyItem, ...]
    """Auto-graded written items, in file order."""
    code: tuple[CodeQuestion, ...]
    """Code questions (from the question files), by question id."""
    manual: tuple[ManualItem, ...]
    """Items for the TA."""
    max_expression_length: int = 200
    """Longest expression answer the grader parses."""
    order: tuple[str, ...] = ()
    """``[meta] order``: question ids in the order of the results; the others follow in natural order."""
    handout_file: str = DEFAULT_HANDOUT_FILE
    """``[meta] handout_file``: the handout's module, holding the stubs of the code questions; discovery
    searches files of this name first."""
    written_visibility: str = DEFAULT_WRITTEN_VISIBILITY
    """``[meta] written_visibility``: the visibility of a written item's tests when the item sets none."""
    code_visibility: str = DEFAULT_CODE_VISIBILITY
    """``[meta] code_visibility``: the visibility of the code questions' tests."""

    def visibility_of(self, number: str, name: str = "", tags=()) -> str:
        """The visibility of the test ``number`` (``<question>.<k>``) named ``name``: its written item's, else the
        code questions'. A written test's name starts with its item's field (``q4.e_i: ...``)."""
        question = number.rsplit(".", 1)[0]
        if "written" in tags or any(i.question == question for i in self.items):
            for item in self.items:
                if item.question == question and name.startswith(item.field + ":"):
                    return item.visibility or self.written_visibility
            return self.written_visibility
        return self.code_visibility

    @property
    def question_ids(self) -> list[str]:
        """Every auto-graded question id: those of ``order`` first, the rest in natural order (``2a`` before ``10``)."""
        present = {i.question for i in self.items} | {c.question for c in self.code}
        listed = [q for q in dict.fromkeys(self.order) if q in present]
        return listed + sorted(present - set(listed), key=natural_key)


def load_key(path: Path = KEY_PATH) -> Key:
    """Read and validate the answer key and the code questions (raises ``ValueError`` with what is wrong)."""
    path = Path(path)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    items = []
    for raw in data.get("item", []):
        raw = dict(raw)
        for name in ("options", "accepted", "symbols", "checks"):
            raw[name] = tuple(raw.get(name, ()))
        raw["also_right"] = tuple(tuple(answer) for answer in raw.get("also_right", ()))
        if raw["also_right"] and (raw.get("kind") != "set" or not all(
                set(answer) <= set(raw["options"]) for answer in raw["also_right"])):
            raise AnswerKeyError(f"key item {raw['field']}: also_right is a list of other answers of a set item, "
                                 f"each a list of its options {list(raw['options'])}")
        if not raw["checks"] and raw.get("basis", "check") != "staff":
            raise AnswerKeyError(f"key item {raw['field']}: no checks and no basis = 'staff'")
        items.append(KeyItem(**raw))
    meta = data.get("meta", {})
    configured = meta.get("questions", [])
    configured = [configured] if isinstance(configured, str) else list(configured)
    code = load_questions([path.parent / p for p in configured])
    if "code" in data:
        registered = ", ".join(f"{q.question} ({q.function}, {q.source})" for q in code) or "none"
        raise AnswerKeyError(f"{path}: [[code]] is not read: a code question is one file in a questions folder, its points "
                        f"in it (docs/NEW_QUESTION.md); registered: {registered}")
    manual = tuple(ManualItem(**raw) for raw in data.get("manual", []))
    clash = sorted({c.question for c in code} & {i.question for i in items})
    if clash:
        raise AnswerKeyError(f"{path}: question ids {clash} are both written items and code questions")
    order = tuple(str(q) for q in meta.get("order", ()))
    handout_file = meta.get("handout_file", DEFAULT_HANDOUT_FILE)
    if (not isinstance(handout_file, str) or not handout_file.endswith(".py") or "/" in handout_file
            or "\\" in handout_file or handout_file.startswith(".") or len(handout_file) <= 3):
        raise AnswerKeyError(f"{path}: [meta] handout_file = {handout_file!r} must be a plain file name ending in .py "
                             f"(e.g. {DEFAULT_HANDOUT_FILE!r})")
    visibilities = {"written_visibility": meta.get("written_visibility", DEFAULT_WRITTEN_VISIBILITY),
                    "code_visibility": meta.get("code_visibility", DEFAULT_CODE_VISIBILITY)}
    for where, value in [*((f"[meta] {k}", v) for k, v in visibilities.items()),
                         *((f"key item {i.field}: visibility", i.visibility) for i in items if i.visibility)]:
        if value not in VISIBILITIES:
            raise AnswerKeyError(f"{path}: {where} = {value!r} is not one of {', '.join(VISIBILITIES)}")
    return Key(tuple(items), code, manual, meta.get("max_expression_length", 200), order, handout_file, **visibilities)
