"""The answer key (``answers/key.toml``), read into small dataclasses."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from simgrade import KEY_PATH


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
class CodeQuestion:
    """A question graded by running the student's function."""

    question: str
    """Result-question id (``7b``, ``8a``)."""
    function: str
    """The function the handout asks for."""
    title: str
    """What it computes."""
    points: dict[str, float]
    """Points per property (see simgrade.compare)."""


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
    """Code questions."""
    manual: tuple[ManualItem, ...]
    """Items for the TA."""
    max_expression_length: int = 200
    """Longest expression answer the grader parses."""

    @property
    def question_ids(self) -> list[str]:
        """Every auto-graded question id, in CONTRACT.md's order."""
        order = ["1", "4a", "4c", "4e", "4f", "5a", "5b", "6", "7a", "7b", "7d", "8a", "8b"]
        present = {i.question for i in self.items} | {c.question for c in self.code}
        return [q for q in order if q in present] + sorted(present - set(order))


def load_key(path: Path = KEY_PATH) -> Key:
    """Read and validate the answer key."""
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    items = []
    for raw in data.get("item", []):
        raw = dict(raw)
        for name in ("options", "accepted", "symbols", "checks"):
            raw[name] = tuple(raw.get(name, ()))
        if not raw["checks"] and raw.get("basis", "check") != "staff":
            raise ValueError(f"key item {raw['field']}: no checks and no basis = 'staff'")
        items.append(KeyItem(**raw))
    code = tuple(CodeQuestion(**raw) for raw in data.get("code", []))
    manual = tuple(ManualItem(**raw) for raw in data.get("manual", []))
    meta = data.get("meta", {})
    return Key(tuple(items), code, manual, meta.get("max_expression_length", 200))
