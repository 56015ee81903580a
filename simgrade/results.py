"""What grading produces: one TestResult per graded property or item, gathered in a GradeResult,
and that result on disk.

``GradeResult.to_gradescope()`` is the ``results.json`` of docs/CONTRACT.md (Gradescope's schema).
Test outputs, notes and ``_why`` texts quote the submission (its errors, prints, file names,
answers): they pass through :func:`simgrade.text.untrusted` on their way out.

The one home of results I/O (used by the command line, ``--batch`` and the class report): atomic
writes (:func:`write_json_atomic`, :func:`write_text_atomic`), where a batch's result goes
(:func:`result_path`), reading one back (:func:`read_result`) and its points per question
(:func:`question_scores`). This module imports nothing of the grader but :mod:`simgrade.text`.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from simgrade.text import untrusted

OUTPUT_LIMIT = 20_000
"""Characters kept of one test's output, or of one note."""
VISIBILITIES = ("visible", "after_due_date", "hidden", "after_published")
"""Gradescope's visibilities of a test (an unknown one is written as ``hidden``)."""
GRADER_ERROR = "grader error"
"""The flag (``extra["flags"]``) of a grading that hit a bug of the grader: that part scored 0, for the TA to look at."""


_RUNNER_DIR = re.compile(r"(?<![\w.-])/(?:[\w.-]{1,255}/){0,16}simgrade-runner-[\w.-]{0,255}/?")
_WORKER_FILE = re.compile(r"(?<![\w.-])(?:/[\w.-]{1,255}){0,16}?/sandbox(?:/inside)?/[\w.-]{1,100}\.py(?::\d+)?")


def clean_paths(text) -> str:
    """``text`` without the sandbox's own paths: a file in the runner's scratch folder is named as in the
    submission (``/tmp/simgrade-runner-12-1/data.csv`` -> ``data.csv``), the worker as ``(the grader)``.
    Linear in the text's length (bounded repetitions, and only where the marker occurs)."""
    text = str(text)
    if "simgrade-runner-" in text:
        text = _RUNNER_DIR.sub("", text)
    if "/sandbox/" in text:
        text = _WORKER_FILE.sub("(the grader)", text)
    return text


def shown(text, limit: int = OUTPUT_LIMIT, multiline: bool = True) -> str:
    """``text`` cleaned of sandbox paths and escaped (:func:`untrusted`), at most ``limit`` characters; when
    cut, it says how much was left out (never a silent truncation)."""
    text = str(text)
    text = clean_paths(text[:2 * limit]) + text[2 * limit:]  # paths only where they can still be shown
    if len(text) <= limit:
        return untrusted(text, limit, multiline)
    marker = f" [cut: {len(text) - limit + 80:,} more characters not shown]"
    return untrusted(text[:limit - 80], limit - 80, multiline) + marker


def internal_error(what: str, error: Exception) -> str:
    """The note and test output of a part whose grading raised ``error`` (a grader bug, never the student's doing)."""
    return f"internal error while grading {what} (flagged for the TA): {type(error).__name__}: {error}"


@dataclass
class TestResult:
    """One line of the grade: a property of a code question or one written item."""

    number: str
    """``<question id>.<k>``, k counting from 1 within the question."""
    name: str
    """Short title shown to the student."""
    score: float
    """Points earned."""
    max_score: float
    """Points available."""
    output: str
    """What was tried and, on failure, why (smallest failing input, both values, the named mistake and its fix)."""
    tags: list[str] = field(default_factory=list)
    """Labels: the question id, ``code``/``written``, and the names of diagnosed mistakes."""
    visibility: str = "visible"
    """When the student sees it (Gradescope): ``visible``, ``after_due_date``, ``hidden``, ``after_published``."""
    passed: bool | None = None
    """Whether the property held, when the points alone don't say it (a rubric's partial credit); None: full points."""

    @property
    def question(self) -> str:
        """The question id: ``number`` without its ``.k``."""
        return self.number.rsplit(".", 1)[0]

    @property
    def status(self) -> str:
        """``passed`` when the property held (with full points, unless :attr:`passed` says), else ``failed``."""
        held = self.score >= self.max_score if self.passed is None else self.passed
        return "passed" if held else "failed"

    def to_gradescope(self) -> dict:
        """This test in Gradescope's schema."""
        return {
            "name": self.name,
            "number": self.number,
            "score": round(self.score, 4),
            "max_score": self.max_score,
            "status": self.status,
            "output": shown(self.output),
            "visibility": self.visibility if self.visibility in VISIBILITIES else "hidden",
            "tags": list(self.tags),
        }


@dataclass
class GradeResult:
    """The grade of one submission."""

    tests: list[TestResult]
    """Every graded test, ordered by question then k."""
    notes: list[str] = field(default_factory=list)
    """Submission-level messages: what was found, isolation status, refused files, time-outs."""
    execution_time: float = 0.0
    """Wall seconds the grading took."""
    extra: dict = field(default_factory=dict)
    """Data for the TA and the class report (diagnosed mistakes, flags, code fingerprints, _why answers)."""

    @property
    def score(self) -> float:
        """Total points earned."""
        return round(sum(t.score for t in self.tests), 4)

    @property
    def max_score(self) -> float:
        """Total points available."""
        return sum(t.max_score for t in self.tests)

    def with_visibility(self, visibility_of) -> "GradeResult":
        """This result with each test's visibility set to ``visibility_of(number, name, tags)`` (e.g.
        :meth:`simgrade.key.Key.visibility_of`)."""
        tests = [replace(t, visibility=visibility_of(t.number, t.name, tuple(t.tags))) for t in self.tests]
        return replace(self, tests=tests)

    def question_scores(self) -> dict[str, float]:
        """Points earned per question id, in test order."""
        scores: dict[str, float] = {}
        for t in self.tests:
            scores[t.question] = round(scores.get(t.question, 0.0) + t.score, 4)
        return scores

    def to_gradescope(self) -> dict:
        """The whole result as Gradescope's ``results.json``."""
        extra = dict(self.extra)
        if "why" in extra:
            extra["why"] = {untrusted(k, 200, multiline=False): untrusted(v) for k, v in extra["why"].items()}
        return {
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": round(self.execution_time, 3),
            "output": "\n".join(shown(note) for note in dict.fromkeys(self.notes)),
            "tests": [t.to_gradescope() for t in self.tests],
            "extra_data": extra,
        }


# ------------------------------------------------------------------------------- results on disk
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never a half-written file. The file
    gets the mode a plain ``open`` would give it (0644 under umask 022, group-readable under 002), not the
    temporary file's 0600: the TAs' group reads a class's results."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8",
                                     newline="") as f:
        f.write(text)
        os.fchmod(f.fileno(), 0o666 & ~_umask())
    os.replace(f.name, path)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON to ``path`` as :func:`write_text_atomic` does: never a half-written result."""
    write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def result_path(out_dir: Path, name: str) -> Path:
    """Where ``--batch`` writes the results.json of submission ``name``."""
    return Path(out_dir) / f"{name}.json"


def read_result(path: Path) -> dict | None:
    """A results.json written by a previous run, or None when missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list) or "score" not in data:
        return None
    return data


def question_scores(data: dict) -> dict[str, float]:
    """Points earned per question id in a results.json (a test ``2a.3`` counts for ``2a``)."""
    scores: dict[str, float] = {}
    for test in data.get("tests", []):
        question = str(test.get("number", "")).rsplit(".", 1)[0]
        scores[question] = round(scores.get(question, 0.0) + float(test.get("score", 0.0)), 4)
    return scores
